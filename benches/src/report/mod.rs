//! Output: the table and RESULT lines (stdout), `--list`, and the report
//! files (`report.md`, `chart.svg`, and `sweep.svg` when the size sweep
//! ran). Knows the harness's types only; what
//! it prints about the machine comes in as a [`Machine`].
//!
//! `sections` holds what the table, `markdown` and `svg` share.

mod machine;
mod markdown;
mod sections;
mod svg;
mod sweep_svg;

use std::path::{Path, PathBuf};

use crate::harness::{Bench, Outcome, Row, RunConfig, Workload};
pub use machine::Machine;
use sections::{cells, factors, section_units, sections, sig4};

/// The aligned table, one section per workload: group, bench, median, unit,
/// min..max and the speed relative to the row's limit; under each section,
/// every toolkit row's speed relative to each peer.
pub fn table(rows: &[Row<'_>]) -> String {
    let header = [
        "group",
        "bench",
        "median",
        "unit",
        "min..max",
        "speed vs limit",
    ]
    .map(String::from);
    let line_of = |row: &Row<'_>| {
        let (median, spread, note) = cells(row);
        [
            row.bench.group.name.to_string(),
            row.bench.id.to_string(),
            median,
            row.bench.metric.display_unit().0.to_string(),
            spread,
            note,
        ]
    };
    let all: Vec<[String; 6]> = std::iter::once(header.clone())
        .chain(rows.iter().map(line_of))
        .collect();
    let widths: Vec<usize> = (0..6)
        .map(|c| all.iter().map(|l| l[c].chars().count()).max().unwrap_or(0))
        .collect();
    let fmt = |l: &[String; 6]| {
        // Numbers right-aligned, text left-aligned; the last column unpadded.
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:>w4$}  {}",
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            l[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
        format!("{}\n", line.trim_end())
    };
    let rule = widths.iter().sum::<usize>() + 2 * 5 + "speed vs limit".len();
    let mut out = String::from(
        "Speeds are factors: how many times faster than the named row (> 1: faster, < 1: slower).\n",
    );
    out.push_str(&fmt(&header));
    for section in sections(rows) {
        out.push_str(&"-".repeat(rule));
        out.push('\n');
        out.push_str(&format!(
            "{} [{}] ({})\n",
            section.workload.title(),
            section.workload.slug(),
            section_units(&section)
        ));
        for row in &section.rows {
            out.push_str(&fmt(&line_of(row)));
        }
        let vs_peers: Vec<_> = section
            .rows
            .iter()
            .filter(|r| !r.peer_ratios.is_empty())
            .collect();
        if !vs_peers.is_empty() {
            out.push_str("  toolkit speed vs peers (> 1: the toolkit row is faster):\n");
            for row in vs_peers {
                out.push_str(&format!(
                    "    {:<w$}  {}\n",
                    row.bench.id,
                    factors(row, &row.peer_ratios),
                    w = widths[1]
                ));
            }
        }
    }
    out
}

/// One machine-readable line per row:
/// `RESULT bench=<id> <key>=<median> min=<v> max=<v> runs=<n> mode=<full|quick> [ratio_to_<id>=<r>]...`
/// or `RESULT bench=<id> status=failed|skipped`. A `ratio_to_` is the raw
/// ratio this / that, paired by round (`Row::raw_ratio`; for `one_way_ns`
/// and `secs` below 1 means faster): one
/// per `compare_to` reference, and on toolkit rows one per peer of the
/// workload.
pub fn result_lines(rows: &[Row<'_>], cfg: RunConfig) -> String {
    let mode = if cfg.quick { "quick" } else { "full" };
    let mut out = String::new();
    for row in rows {
        let id = row.bench.id;
        let line = match &row.outcome {
            Outcome::Measured(s) => {
                let mut l = format!(
                    "RESULT bench={id} {}={} min={} max={} runs={} mode={mode}",
                    row.bench.metric.key(),
                    sig4(s.median),
                    sig4(s.min),
                    sig4(s.max),
                    s.runs,
                );
                if let Some(b) = row.shm_bytes {
                    l.push_str(&format!(" shm_bytes={b}"));
                }
                if let Some(a) = row.allocs_per_op {
                    l.push_str(&format!(" allocs_per_op={}", sig4(a)));
                }
                if let Some(t) = row.tail {
                    l.push_str(&format!(
                        " p50_ns={} p99_ns={} p999_ns={}",
                        t.p50, t.p99, t.p999
                    ));
                }
                for (r, x) in row.ratios.iter().chain(&row.peer_ratios) {
                    l.push_str(&format!(" ratio_to_{r}={}", sig4(*x)));
                }
                l
            }
            Outcome::Failed(_) => format!("RESULT bench={id} status=failed"),
            Outcome::Skipped(_) => format!("RESULT bench={id} status=skipped"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `--list`: id, group, RESULT key, references, description; by workload.
pub fn list(registry: &[Bench]) -> String {
    let w = registry.iter().map(|b| b.id.len()).max().unwrap_or(0);
    let g = registry
        .iter()
        .map(|b| b.group.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for workload in Workload::ALL {
        let mut rows: Vec<&Bench> = registry.iter().filter(|b| b.workload == workload).collect();
        // As the table orders them.
        rows.sort_by_key(|b| b.kind());
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "{} [--workload {}]\n",
            workload.title(),
            workload.slug()
        ));
        for b in rows {
            out.push_str("  ");
            out.push_str(&list_line(b, w, g));
        }
    }
    out
}

fn list_line(b: &Bench, w: usize, g: usize) -> String {
    let refs = if b.compare_to.is_empty() {
        String::new()
    } else {
        format!(" (vs {})", b.compare_to.join(", "))
    };
    format!(
        "{:<w$}  {:<g$}  {:<10}  {}{refs}\n",
        b.id,
        b.group.name,
        b.metric.key(),
        b.about
    )
}

/// Where the report goes by default: `bench-report/` at the workspace root
/// (git-ignored; a copy of a full run's is committed under `docs/bench/`).
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("bench-report")
}

/// Writes `report.md`, `chart.svg` and (if the size sweep ran)
/// `sweep.svg` into `dir` (created if missing) and returns their paths.
/// `machine` is what their headings say about the run.
pub fn write_files(
    dir: &Path,
    rows: &[Row<'_>],
    cfg: RunConfig,
    machine: &Machine,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join("report.md");
    let chart = dir.join("chart.svg");
    let sweep = sweep_svg::chart(rows, cfg, machine);
    let sweep_name = sweep.as_ref().map(|_| "sweep.svg");
    std::fs::write(
        &md,
        markdown::report(rows, cfg, machine, "chart.svg", sweep_name),
    )?;
    std::fs::write(&chart, svg::chart(rows, cfg, machine))?;
    let mut written = vec![md, chart];
    if let Some(svg) = sweep {
        let path = dir.join("sweep.svg");
        std::fs::write(&path, svg)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::fixtures::{ICEORYX2, LIMITS, PYTHON, QUEUE, bench};
    use crate::harness::{Metric, SampleError};

    /// Two workloads: one with a limit, a toolkit row and two peers (one
    /// skipped), one with only a peer.
    fn registry() -> Vec<Bench> {
        use Metric::*;
        use Workload::*;
        vec![
            bench("lim", &LIMITS, Tput8B, MsgsPerS, &[], |_| Ok(100e6)),
            bench("mine", &QUEUE, Tput8B, MsgsPerS, &["lim"], |_| Ok(4e6)),
            bench("ice", &ICEORYX2, Tput8B, MsgsPerS, &["lim"], |_| Ok(2e6)),
            bench("py", &PYTHON, Tput8B, MsgsPerS, &["lim"], |_| {
                Err(SampleError::skipped("python3 not found"))
            }),
            bench("pool", &PYTHON, PoolMap, Secs, &[], |_| Ok(0.25)),
        ]
    }

    fn rows(reg: &[Bench]) -> Vec<Row<'_>> {
        let plan: Vec<&Bench> = reg.iter().collect();
        let cfg = RunConfig {
            runs: 3,
            quick: true,
        };
        crate::harness::run(&plan, cfg)
    }

    #[test]
    fn table_groups_by_workload_with_speed_factors() {
        let reg = registry();
        let rows = rows(&reg);
        let t = table(&rows);
        assert!(t.contains("throughput, 8 B messages [tput-8B]"), "{t}");
        assert!(t.contains("process pool, map [pool-map]"), "{t}");
        assert!(t.contains("0.04000x lim"), "{t}");
        assert!(t.contains("2.000x ice"), "{t}");
        assert!(t.contains("skipped: python3 not found"), "{t}");
        let results = result_lines(
            &rows,
            RunConfig {
                runs: 3,
                quick: true,
            },
        );
        assert!(results.contains("RESULT bench=mine msgs_per_s=4000000 min=4000000 max=4000000 runs=3 mode=quick ratio_to_lim=0.04000 ratio_to_ice=2.000\n"), "{results}");
        assert!(results.contains("RESULT bench=py status=skipped\n"));
    }

    #[test]
    fn sections_pick_the_limit_else_a_toolkit_row_as_reference() {
        let reg = registry();
        let rows = rows(&reg);
        let secs = sections(&rows);
        assert_eq!(secs.len(), 2);
        assert_eq!(secs[0].reference().unwrap().bench.id, "lim");
        assert_eq!(secs[1].reference().unwrap().bench.id, "pool");
    }

    #[test]
    fn markdown_and_svg_name_every_row() {
        let reg = registry();
        let rows = rows(&reg);
        let cfg = RunConfig {
            runs: 3,
            quick: false,
        };
        let machine = Machine::now();
        let md = markdown::report(&rows, cfg, &machine, "chart.svg", None);
        assert!(md.contains("| toolkit row | ice |"), "{md}");
        assert!(md.contains("| `mine` | 2.000x |"), "{md}");
        let svg = svg::chart(&rows, cfg, &machine);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        for b in &reg {
            assert!(svg.contains(&format!(">{}</text>", b.id)), "{}", b.id);
        }
        assert!(svg.contains("vCPU"));
        // Every opened element is closed (a cheap well-formedness check).
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    #[test]
    fn four_significant_digits() {
        assert_eq!(sig4(74.234), "74.23");
        assert_eq!(sig4(1.9349), "1.935");
        assert_eq!(sig4(0.01234), "0.01234");
        assert_eq!(sig4(85_312_345.6), "85312346");
        assert_eq!(sig4(0.0), "0.000");
    }
}
