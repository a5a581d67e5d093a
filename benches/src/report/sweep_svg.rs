//! `sweep.svg`: the size sweep (issue 15) as two log-log plots, one line per
//! system: one-way latency by message size (left) and throughput by
//! message size (right). Copies grow with the size; loans stay flat. Drawn
//! by hand, like `chart.svg`; the bar chart leaves the sweep's workloads
//! out (bars of five sizes side by side would compare nothing).

use std::fmt::Write;

use super::machine::Machine;
use super::svg::esc;
use crate::harness::{
    Metric, Row, RunConfig, SWEEP_SIZES as SWEEP, Workload, sweep_size_of as size_of_id,
};

const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 430.0;
/// Plot areas: (x0, x1) of the two panels, and y0 (top), y1 (bottom).
const PANELS: [(f64, f64); 2] = [(80.0, 450.0), (570.0, 940.0)];
const Y0: f64 = 90.0;
const Y1: f64 = 370.0;
const COLORS: [&str; 6] = [
    "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b",
];

/// One system's points: (size, median) by metric.
struct Line {
    system: String,
    latency: Vec<(usize, f64)>,
    tput: Vec<(usize, f64)>,
}

/// The system a sweep row belongs to: its id without `_pingpong_<size>`,
/// `_tput_<size>`, or (a limit such as `limit_copy_<size>`) `_<size>`.
fn system_of(id: &str) -> Option<&str> {
    let (label, _) = SWEEP
        .iter()
        .find(|(label, _)| id.ends_with(&format!("_{label}")))?;
    let base = &id[..id.len() - label.len() - 1];
    Some(
        base.strip_suffix("_pingpong")
            .or_else(|| base.strip_suffix("_tput"))
            .unwrap_or(base),
    )
}

/// The systems of the sweep (from its ping-pong rows, in plan order) and
/// their points; a system's throughput at 4 KiB may come from its row of
/// the 4 KiB workload (`<system>_tput_4KiB`).
fn lines(rows: &[Row<'_>]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.bench.workload == Workload::SweepPingpong)
    {
        let Some(system) = system_of(r.bench.id) else {
            continue;
        };
        if !out.iter().any(|l| l.system == system) {
            out.push(Line {
                system: system.to_string(),
                latency: Vec::new(),
                tput: Vec::new(),
            });
        }
    }
    for r in rows {
        let (Some(stats), Some(size), Some(system)) =
            (r.stats(), size_of_id(r.bench.id), system_of(r.bench.id))
        else {
            continue;
        };
        let Some(line) = out.iter_mut().find(|l| l.system == system) else {
            continue;
        };
        match r.bench.metric {
            Metric::OneWayNs if r.bench.workload == Workload::SweepPingpong => {
                line.latency.push((size, stats.median));
            }
            Metric::GbPerS if r.bench.id.contains("_tput_") => line.tput.push((size, stats.median)),
            _ => {}
        }
    }
    for line in &mut out {
        line.latency.sort_by_key(|p| p.0);
        line.tput.sort_by_key(|p| p.0);
    }
    out
}

/// The chart, or `None` if the run measured no sweep row.
pub fn chart(rows: &[Row<'_>], cfg: RunConfig, machine: &Machine) -> Option<String> {
    let lines = lines(rows);
    if lines
        .iter()
        .all(|l| l.latency.is_empty() && l.tput.is_empty())
    {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="24" font-size="16" font-weight="bold">ipc-bench size sweep: copies grow with the message, loans do not</text>"#
    );
    let mode = if cfg.quick {
        "quick mode (smoke run)"
    } else {
        "full mode"
    };
    let _ = writeln!(
        out,
        r##"<text x="16" y="42" font-size="12" fill="#333">{} — {mode}, medians of {} runs; both axes logarithmic</text>"##,
        esc(&machine.summary()),
        cfg.runs
    );
    let pick = [
        ("one-way latency (ns, lower is better)", true),
        (
            "throughput (GB/s, higher is better; a loan moves no bytes)",
            false,
        ),
    ];
    for (panel, (title, latency)) in pick.iter().enumerate() {
        let points = |l: &Line| {
            if *latency {
                l.latency.clone()
            } else {
                l.tput.clone()
            }
        };
        let values: Vec<f64> = lines.iter().flat_map(&points).map(|p| p.1).collect();
        if values.is_empty() {
            continue;
        }
        let lo = values
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .log10()
            .floor() as i32;
        let hi = (values.iter().copied().fold(0.0, f64::max).log10().ceil() as i32).max(lo + 1);
        let (x0, x1) = PANELS[panel];
        let (s0, s1) = (SWEEP[0].1 as f64, SWEEP[SWEEP.len() - 1].1 as f64);
        let x_of = |size: usize| x0 + (x1 - x0) * (size as f64 / s0).ln() / (s1 / s0).ln();
        let y_of = |v: f64| Y1 - (Y1 - Y0) * (v.log10() - lo as f64) / (hi - lo) as f64;
        let _ = writeln!(
            out,
            r#"<text x="{x0}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            Y0 - 14.0,
            esc(title)
        );
        for e in lo..=hi {
            let y = y_of(10f64.powi(e));
            let _ = writeln!(
                out,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end">1e{e}</text>"##,
                x0 - 6.0,
                y + 3.0
            );
        }
        for (label, size) in SWEEP {
            let x = x_of(size);
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{Y0}" x2="{x:.1}" y2="{Y1}" stroke="#eee"/><text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">{label}</text>"##,
                Y1 + 14.0
            );
        }
        for (i, line) in lines.iter().enumerate() {
            let pts = points(line);
            if pts.is_empty() {
                continue;
            }
            let color = COLORS[i % COLORS.len()];
            let path: Vec<String> = pts
                .iter()
                .map(|&(s, v)| format!("{:.1},{:.1}", x_of(s), y_of(v)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                path.join(" ")
            );
            for &(s, v) in &pts {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                    x_of(s),
                    y_of(v)
                );
            }
        }
    }
    // Legend, under both panels.
    let mut lx = 80.0;
    for (i, line) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="{}" width="14" height="4" fill="{color}"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            HEIGHT - 26.0,
            lx + 18.0,
            HEIGHT - 21.0,
            esc(&line.system)
        );
        lx += 150.0;
    }
    out.push_str("</svg>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::fixtures::{ICEORYX2, LIMITS, QUEUE, bench};
    use crate::harness::{Bench, Metric::*, Workload::*};

    fn rows(reg: &[Bench]) -> Vec<Row<'_>> {
        let plan: Vec<&Bench> = reg.iter().collect();
        crate::harness::run(
            &plan,
            RunConfig {
                runs: 3,
                quick: true,
            },
        )
    }

    /// A line per system, a point per measured size, both panels; the
    /// 4 KiB workload's `<system>_tput_4KiB` joins its line.
    #[test]
    fn one_line_per_system_through_its_sizes() {
        let reg = vec![
            bench(
                "mine_pingpong_64B",
                &QUEUE,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(900.0),
            ),
            bench(
                "mine_pingpong_4MiB",
                &QUEUE,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(950.0),
            ),
            bench(
                "ice_pingpong_64B",
                &ICEORYX2,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(1.4e3),
            ),
            bench(
                "ice_pingpong_4MiB",
                &ICEORYX2,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(2e5),
            ),
            bench("ice_tput_4KiB", &ICEORYX2, Tput4KiB, GbPerS, &[], |_| {
                Ok(3.8)
            }),
            bench("ice_tput_1MiB", &ICEORYX2, SweepTput, GbPerS, &[], |_| {
                Ok(24.0)
            }),
            bench(
                "limit_copy_64B",
                &LIMITS,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(5.0),
            ),
        ];
        let rows = rows(&reg);
        let lines = lines(&rows);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].latency, [(64, 900.0), (4 << 20, 950.0)]);
        assert_eq!(lines[1].tput, [(4 << 10, 3.8), (1 << 20, 24.0)]);
        assert_eq!(lines[2].system, "limit_copy");
        let svg = chart(
            &rows,
            RunConfig {
                runs: 3,
                quick: true,
            },
            &Machine::now(),
        )
        .unwrap();
        assert_eq!(svg.matches("<polyline").count(), 4, "{svg}");
        assert!(svg.contains(">mine<") && svg.contains(">ice<"));
    }

    /// Without sweep rows there is no sweep chart.
    #[test]
    fn no_sweep_no_chart() {
        let reg = vec![bench("x_tput_4KiB", &QUEUE, Tput4KiB, GbPerS, &[], |_| {
            Ok(1.0)
        })];
        let rows = rows(&reg);
        assert!(
            chart(
                &rows,
                RunConfig {
                    runs: 3,
                    quick: true
                },
                &Machine::now()
            )
            .is_none()
        );
    }
}
