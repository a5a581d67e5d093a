//! `chart.svg`, written by hand (rectangles and text; no plotting crate).
//!
//! One panel per workload. Each measured row is a horizontal bar whose
//! length is its speed relative to the panel's reference row (the limit the
//! rows compare to, else the first toolkit row), on a log scale: longer is
//! faster, whatever the metric, and the dashed line marks the reference
//! (1x). The bar's label gives the median in its unit and the factor.

use std::fmt::Write;

use super::machine::Machine;
use super::sections::{Section, sections, sig4};
use crate::harness::{Kind, Outcome, Row, RunConfig};

const WIDTH: f64 = 980.0;
const LABEL_X: f64 = 16.0;
const BAR_X0: f64 = 270.0;
const BAR_X1: f64 = 700.0;
const ROW_H: f64 = 20.0;
const BAR_H: f64 = 13.0;
/// A white outline drawn under text, so grid lines do not run through it.
const HALO: &str = r##"stroke="#fff" stroke-width="3" paint-order="stroke""##;

fn color(kind: Kind) -> &'static str {
    match kind {
        Kind::Limit => "#8c8c8c",
        Kind::Toolkit => "#1f77b4",
        Kind::Peer => "#ff7f0e",
    }
}

/// Escapes text for SVG content and attribute values.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `10^e` as a tick label: 0.01x, 1x, 100x.
fn tick_label(e: i32) -> String {
    if (-3..=0).contains(&e) {
        format!("{}x", 10f64.powi(e))
    } else if (1..=4).contains(&e) {
        format!("{}x", 10u64.pow(e as u32))
    } else {
        format!("1e{e}x")
    }
}

pub fn chart(rows: &[Row<'_>], cfg: RunConfig, machine: &Machine) -> String {
    let mut body = String::new();
    let mut y = 64.0;
    // The size sweep has a chart of its own (`sweep_svg`).
    for section in sections(rows).iter().filter(|s| !s.workload.is_sweep()) {
        y = panel(&mut body, section, y) + 18.0;
    }
    let height = y + 8.0;
    let mode = if cfg.quick {
        "quick mode (smoke run)"
    } else {
        "full mode"
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{LABEL_X}" y="24" font-size="16" font-weight="bold">ipc-bench: the toolkit vs the systems a user would pick instead vs the machine's limit</text>"#
    );
    let _ = writeln!(
        out,
        r##"<text x="{LABEL_X}" y="42" font-size="12" fill="#333">{} — {mode}, medians of {} interleaved runs</text>"##,
        esc(&machine.summary()),
        cfg.runs
    );
    // Legend.
    let mut lx = LABEL_X;
    for kind in [Kind::Limit, Kind::Toolkit, Kind::Peer] {
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="50" width="10" height="10" fill="{}"/><text x="{}" y="59" font-size="11">{}</text>"#,
            color(kind),
            lx + 14.0,
            kind.label()
        );
        lx += 70.0;
    }
    let _ = writeln!(
        out,
        r##"<text x="{lx}" y="59" font-size="11" fill="#333">bar: speed relative to the dashed reference, log scale, longer = faster; label: median and factor</text>"##
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Draws one workload's panel from `y` down; returns the y below it.
fn panel(out: &mut String, section: &Section<'_, '_>, mut y: f64) -> f64 {
    let reference = section.reference();
    let factor = |row: &Row<'_>| -> Option<f64> {
        let r = reference?;
        if r.bench.metric != row.bench.metric {
            return None;
        }
        // Paired by round where possible, like the table's ratios.
        Some(row.speedup(row.raw_ratio(r)?))
    };
    let factors: Vec<f64> = section.rows.iter().filter_map(|r| factor(r)).collect();
    let lo_f = factors.iter().copied().fold(f64::INFINITY, f64::min);
    let hi_f = factors.iter().copied().fold(0.0, f64::max);
    // Half a decade of room below the slowest bar, a little above the fastest.
    let (lo, hi) = if factors.is_empty() {
        (-1, 1)
    } else {
        let lo = (lo_f.log10() - 0.3).floor() as i32;
        let hi = ((hi_f.log10() + 0.05).ceil() as i32).max(lo + 1);
        (lo, hi)
    };
    let x_of = |f: f64| {
        let t = (f.log10() - f64::from(lo)) / f64::from(hi - lo);
        BAR_X0 + t.clamp(0.0, 1.0) * (BAR_X1 - BAR_X0)
    };

    y += 16.0;
    let reference_text = match reference {
        Some(r) => format!("1x = {}", r.bench.id),
        None => "nothing measured".into(),
    };
    let _ = writeln!(
        out,
        r##"<text x="{LABEL_X}" y="{y}" font-size="14"><tspan font-weight="bold">{}</tspan><tspan dx="12" font-size="11" fill="#555">{}</tspan></text>"##,
        esc(section.workload.title()),
        esc(&reference_text)
    );
    y += 8.0;
    let top = y;
    let bottom = top + ROW_H * section.rows.len() as f64;
    // Axis: decade ticks and the reference line, under the bars; labels
    // get a white halo so that the lines do not cross them.
    for e in (lo..=hi).filter(|_| reference.is_some()) {
        let x = x_of(10f64.powi(e));
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" font-size="10" fill="#555" text-anchor="middle">{}</text>"##,
            bottom + 2.0,
            bottom + 13.0,
            tick_label(e)
        );
    }
    if reference.is_some() {
        let x = x_of(1.0);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="#000" stroke-dasharray="4 3"/>"##,
            bottom + 2.0
        );
    }
    for row in &section.rows {
        let b = row.bench;
        let mid = y + ROW_H / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="12" font-family="monospace">{}</text>"#,
            LABEL_X + 8.0,
            mid + 4.0,
            esc(b.id)
        );
        let (unit, scale) = b.metric.display_unit();
        match (&row.outcome, factor(row)) {
            (Outcome::Measured(s), Some(f)) => {
                let x = x_of(f);
                let label = if reference.is_some_and(|r| r.bench.id == b.id) {
                    format!("{} {unit}", sig4(s.median * scale))
                } else {
                    format!("{} {unit} · {}x", sig4(s.median * scale), sig4(f))
                };
                let _ = writeln!(
                    out,
                    r##"<rect x="{BAR_X0}" y="{}" width="{:.1}" height="{BAR_H}" fill="{}"/><text x="{:.1}" y="{}" font-size="11" {HALO}>{}</text>"##,
                    mid - BAR_H / 2.0,
                    (x - BAR_X0).max(1.0),
                    color(b.kind()),
                    x + 5.0,
                    mid + 4.0,
                    esc(&label)
                );
            }
            (Outcome::Measured(s), None) => {
                let _ = writeln!(
                    out,
                    r##"<text x="{BAR_X0}" y="{}" font-size="11" fill="#555">{} {unit} (no reference)</text>"##,
                    mid + 4.0,
                    sig4(s.median * scale)
                );
            }
            (Outcome::Failed(e) | Outcome::Skipped(e), _) => {
                let what = if matches!(row.outcome, Outcome::Failed(_)) {
                    "FAILED"
                } else {
                    "skipped"
                };
                let _ = writeln!(
                    out,
                    r##"<text x="{BAR_X0}" y="{}" font-size="11" fill="#a00">{what}: {}</text>"##,
                    mid + 4.0,
                    esc(e)
                );
            }
        }
        y += ROW_H;
    }
    y + 14.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_escaping() {
        assert_eq!(tick_label(-2), "0.01x");
        assert_eq!(tick_label(0), "1x");
        assert_eq!(tick_label(2), "100x");
        assert_eq!(tick_label(-5), "1e-5x");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
