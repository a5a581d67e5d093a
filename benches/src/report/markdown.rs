//! `report.md`: the run's table as Markdown, one section per workload, with
//! the toolkit-vs-peer speed matrix under each.

use std::fmt::Write;

use super::machine::Machine;
use super::sections::{Section, cells, section_units, sections, sig4};
use crate::harness::{Kind, Row, RunConfig};

/// The whole report; `chart` (and `sweep`, if written) are the charts'
/// paths relative to the report.
pub fn report(
    rows: &[Row<'_>],
    cfg: RunConfig,
    machine: &Machine,
    chart: &str,
    sweep: Option<&str>,
) -> String {
    let mut out = String::new();
    let mode = if cfg.quick {
        "quick (smoke run: small counts, numbers only indicative)"
    } else {
        "full"
    };
    let extra: String = machine.extra.iter().map(|e| format!(", {e}")).collect();
    let _ = writeln!(out, "# ipc-bench report\n");
    let _ = writeln!(
        out,
        "{}, Linux {}{extra}. Mode: {mode}; every value is the median of {} interleaved runs, \
         with min..max beside it.\n",
        machine.summary(),
        machine.kernel,
        cfg.runs
    );
    let _ = writeln!(
        out,
        "*Speed* is a factor: how many times faster a row is than the named one, whichever way \
         its metric runs (> 1: faster, < 1: slower). Toolkit rows are compared to the machine's \
         limit and to every peer of the same workload, all measured in this run. How each row \
         is measured: `benches/METHOD.md`.\n"
    );
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        out,
        "Command: `cargo run --release -p ipc-benches --bin ipc-bench --{}{}`\n",
        if args.is_empty() { "" } else { " " },
        args.join(" ")
    );
    let _ = writeln!(out, "![chart]({chart})\n");
    if let Some(sweep) = sweep {
        let _ = writeln!(
            out,
            "The size sweep, latency and throughput by message size (copies grow, loans stay flat):\n\n![size sweep]({sweep})\n"
        );
    }
    for section in sections(rows) {
        write_section(&mut out, &section);
    }
    out
}

fn write_section(out: &mut String, section: &Section<'_, '_>) {
    let _ = writeln!(
        out,
        "## {} (`--workload {}`)\n\n{}\n",
        section.workload.title(),
        section.workload.slug(),
        section_units(section)
    );
    let _ = writeln!(
        out,
        "| kind | group | bench | median | unit | min..max | speed vs limit |\n|---|---|---|---:|---|---:|---|"
    );
    for row in &section.rows {
        let (median, spread, note) = cells(row);
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {median} | {} | {spread} | {} |",
            row.bench.kind().label(),
            row.bench.group.name,
            row.bench.id,
            row.bench.metric.display_unit().0,
            note.replace('|', "\\|"),
        );
    }
    out.push('\n');

    // The matrix: toolkit rows down, peers across.
    let toolkit: Vec<&Row<'_>> = section
        .rows
        .iter()
        .copied()
        .filter(|r| !r.peer_ratios.is_empty())
        .collect();
    let peers: Vec<&str> = section
        .rows
        .iter()
        .filter(|r| r.bench.kind() == Kind::Peer && r.stats().is_some())
        .map(|r| r.bench.id)
        .collect();
    if toolkit.is_empty() || peers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Toolkit speed vs each peer (> 1: the toolkit row is faster):\n"
    );
    let _ = writeln!(out, "| toolkit row | {} |", peers.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(peers.len()));
    for row in toolkit {
        let cells: Vec<String> = peers
            .iter()
            .map(|p| {
                row.peer_ratios
                    .iter()
                    .find(|(id, _)| id == p)
                    .map_or("-".into(), |(_, x)| format!("{}x", sig4(row.speedup(*x))))
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", row.bench.id, cells.join(" | "));
    }
    out.push('\n');
}
