//! Output: the progress line (stderr), the table and RESULT lines (stdout),
//! and `--list`.

use std::io::{IsTerminal, Write};

mod machine;
mod markdown;
mod svg;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::harness::{Bench, Kind, Metric, Outcome, Row, RunConfig, Workload};
pub use machine::Machine;

/// One progress line on stderr. On a terminal it is rewritten in place; in a
/// log (CI) each step is its own line, so a hang shows where it happened.
pub struct Progress {
    total: usize,
    done: usize,
    tty: bool,
    start: Instant,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }

    /// Announces the sample about to be taken.
    pub fn step(&mut self, workload: Workload, round: u32, runs: u32, id: &str) {
        self.done += 1;
        let line = format!(
            "[{}/{}] {:>5.1}s  {} round {round}/{runs}: {id}",
            self.done,
            self.total,
            self.start.elapsed().as_secs_f64(),
            workload.slug()
        );
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }

    /// Counts a sample that is not taken (its row failed or was skipped).
    pub fn skip(&mut self) {
        self.done += 1;
    }

    /// Prints a message on its own line without losing the progress line.
    pub fn note(&mut self, msg: &str) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
        eprintln!("{msg}");
    }

    /// Clears the progress line.
    pub fn finish(&mut self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}

/// Formats a value with about four significant digits (values >= 1000 as
/// integers), for both the table and the RESULT lines.
pub fn sig4(v: f64) -> String {
    if v.abs() >= 1000.0 {
        return format!("{v:.0}");
    }
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (3 - magnitude).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// The rows of one workload, in plan order.
pub struct Section<'r, 'a> {
    pub workload: Workload,
    pub rows: Vec<&'r Row<'a>>,
}

impl<'r, 'a> Section<'r, 'a> {
    /// The row every other row of the section is drawn relative to: the limit
    /// the section's rows compare to, else a limit of the workload, else its
    /// first toolkit row, else its first row; only measured rows qualify.
    pub fn reference(&self) -> Option<&'r Row<'a>> {
        let measured = |r: &&Row<'_>| r.stats().is_some();
        let by_id = |id: &str| {
            self.rows
                .iter()
                .copied()
                .filter(measured)
                .find(|r| r.bench.id == id)
        };
        self.rows
            .iter()
            .filter(|r| r.bench.kind() != Kind::Limit)
            .flat_map(|r| r.bench.compare_to.iter())
            .find_map(|id| by_id(id))
            .or_else(|| {
                let of = |k: Kind| {
                    self.rows
                        .iter()
                        .copied()
                        .filter(measured)
                        .find(|r| r.bench.kind() == k)
                };
                of(Kind::Limit).or_else(|| of(Kind::Toolkit))
            })
            .or_else(|| self.rows.iter().copied().find(measured))
    }
}

/// Splits rows (in plan order, so grouped by workload) into sections.
pub fn sections<'r, 'a>(rows: &'r [Row<'a>]) -> Vec<Section<'r, 'a>> {
    let mut out: Vec<Section<'r, 'a>> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some(s) if s.workload == row.bench.workload => s.rows.push(row),
            _ => out.push(Section {
                workload: row.bench.workload,
                rows: vec![row],
            }),
        }
    }
    out
}

/// A list of speed factors: `1.234x limit_spin_pingpong; 0.5x other`.
fn factors(row: &Row<'_>, ratios: &[(&str, f64)]) -> String {
    ratios
        .iter()
        .map(|(r, x)| format!("{}x {r}", sig4(row.speedup(*x))))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The metrics used by a section's rows, described once: "ns: one-way ...".
fn section_units(section: &Section<'_, '_>) -> String {
    let mut seen: Vec<Metric> = Vec::new();
    for r in &section.rows {
        if !seen.contains(&r.bench.metric) {
            seen.push(r.bench.metric);
        }
    }
    seen.iter()
        .map(|m| format!("{}: {}", m.display_unit().0, m.describe()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The median, spread and note columns of a row.
fn cells(row: &Row<'_>) -> (String, String, String) {
    let (_, scale) = row.bench.metric.display_unit();
    match &row.outcome {
        Outcome::Measured(s) => (
            sig4(s.median * scale),
            format!("{}..{}", sig4(s.min * scale), sig4(s.max * scale)),
            factors(row, &row.ratios),
        ),
        Outcome::Failed(e) => ("-".into(), "-".into(), format!("FAILED: {e}")),
        Outcome::Skipped(why) => ("-".into(), "-".into(), format!("skipped: {why}")),
    }
}

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
            row.bench.group.to_string(),
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
    let g = registry.iter().map(|b| b.group.len()).max().unwrap_or(0);
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
        b.group,
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

/// Writes `report.md` and `chart.svg` into `dir` (created if missing) and
/// returns their paths.
pub fn write_files(dir: &Path, rows: &[Row<'_>], cfg: RunConfig) -> std::io::Result<[PathBuf; 2]> {
    let machine = Machine::now();
    std::fs::create_dir_all(dir)?;
    let md = dir.join("report.md");
    let chart = dir.join("chart.svg");
    std::fs::write(&md, markdown::report(rows, cfg, &machine, "chart.svg"))?;
    std::fs::write(&chart, svg::chart(rows, cfg, &machine))?;
    Ok([md, chart])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{Iters, SampleError};

    fn bench(
        id: &'static str,
        group: &'static str,
        workload: Workload,
        metric: Metric,
        compare_to: &'static [&'static str],
        sample: fn(u64) -> Result<f64, SampleError>,
    ) -> Bench {
        Bench {
            id,
            group,
            workload,
            metric,
            iters: Iters { full: 1, quick: 1 },
            compare_to,
            about: "",
            sample,
        }
    }

    /// Two workloads: one with a limit, a toolkit row and two peers (one
    /// skipped), one with only a peer.
    fn registry() -> Vec<Bench> {
        use Metric::*;
        use Workload::*;
        vec![
            bench("lim", "limits", Tput8B, MsgsPerS, &[], |_| Ok(100e6)),
            bench("mine", "queue", Tput8B, MsgsPerS, &["lim"], |_| Ok(4e6)),
            bench("ice", "iceoryx2", Tput8B, MsgsPerS, &["lim"], |_| Ok(2e6)),
            bench("py", "python", Tput8B, MsgsPerS, &["lim"], |_| {
                Err(SampleError::skipped("python3 not found"))
            }),
            bench("pool", "python", PoolMap, Secs, &[], |_| Ok(0.25)),
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
        let md = markdown::report(&rows, cfg, &machine, "chart.svg");
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
