//! `ipc-bench`: the suite comparing the toolkit to the systems a user would
//! pick instead (`peers`) and to the machine's own limits, all measured in
//! the same run. How: `benches/METHOD.md`.
//!
//! Layout: `harness` (registry types, workloads, interleaved runner,
//! statistics, progress; it knows no group), `report` (table, RESULT lines,
//! Markdown report, SVG chart; it knows the harness's types only),
//! `registry` (all rows: the only place that names the groups), and `rows`,
//! everything that measures: one module per group under `rows/limits`,
//! `rows/toolkit` (`core`, `queue`, `pipe`, `manager`, `pool`) and
//! `rows/peers`, and the shared pieces the rows are built from in
//! `rows/kit`: `shm` (shared mappings), `peer` (the second process), `wait`
//! (bounded spin/futex waits), `pingpong` (the latency-row driver). This file
//! wires them: cli → registry → harness → report.

mod cli;
mod harness;
mod registry;
mod report;
mod rows;

use std::process::ExitCode;

/// Counts allocations, for the rows' `allocs_per_op` (see `harness::allocs`).
#[global_allocator]
static ALLOCATOR: harness::allocs::Counting = harness::allocs::Counting;

use cli::{Options, USAGE};
use harness::{Outcome, RunConfig};
use report::Machine;
use rows::kit::python;

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ipc-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let registry = registry::all();
    if let Err(e) = harness::validate(&registry) {
        eprintln!("ipc-bench: broken registry: {e}");
        return ExitCode::FAILURE;
    }
    if opts.list {
        print!("{}", report::list(&registry));
        return ExitCode::SUCCESS;
    }
    let plan = match harness::plan(&registry, &opts.select) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ipc-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = RunConfig {
        runs: opts.runs(),
        quick: opts.quick,
    };
    let rows = harness::run(&plan, cfg);
    print!(
        "{}\n{}",
        report::table(&rows),
        report::result_lines(&rows, cfg)
    );
    // Facts only the rows know, for the report's heading.
    let mut machine = Machine::now();
    machine
        .extra
        .extend(python::version_seen().map(String::from));
    match report::write_files(&opts.out_dir(), &rows, cfg, &machine) {
        Ok(paths) => {
            println!();
            for (what, path) in ["report:", "chart: ", "sweep: "].iter().zip(&paths) {
                println!("{what} {}", path.display());
            }
        }
        Err(e) => eprintln!("ipc-bench: writing the report: {e}"),
    }
    if rows.iter().any(|r| matches!(r.outcome, Outcome::Failed(_))) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
