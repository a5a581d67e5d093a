//! What the table, the report and the chart share: rows split into
//! sections by workload, each section's reference row, and the formatting
//! of values, units and speed factors.

use crate::harness::{Kind, Metric, Outcome, Row, Workload};

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
pub fn factors(row: &Row<'_>, ratios: &[(&str, f64)]) -> String {
    ratios
        .iter()
        .map(|(r, x)| format!("{}x {r}", sig4(row.speedup(*x))))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The metrics used by a section's rows, described once: "ns: one-way ...".
pub fn section_units(section: &Section<'_, '_>) -> String {
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
pub fn cells(row: &Row<'_>) -> (String, String, String) {
    let (_, scale) = row.bench.metric.display_unit();
    match &row.outcome {
        Outcome::Measured(s) => {
            let mut note = factors(row, &row.ratios);
            let mut add = |extra: String| {
                note = if note.is_empty() {
                    extra
                } else {
                    format!("{note}  {extra}")
                };
            };
            if let Some(a) = row.allocs_per_op {
                add(format!("[alloc/op {}]", sig4(a)));
            }
            if let Some(b) = row.shm_bytes {
                add(format!("[shm {}]", crate::harness::footprint::human(b)));
            }
            if let Some(t) = row.tail {
                // One-way nanoseconds of the individual round trips.
                add(format!("[p50 {} p99 {} p99.9 {} ns]", t.p50, t.p99, t.p999));
            }
            (
                sig4(s.median * scale),
                format!("{}..{}", sig4(s.min * scale), sig4(s.max * scale)),
                note,
            )
        }
        Outcome::Failed(e) => ("-".into(), "-".into(), format!("FAILED: {e}")),
        Outcome::Skipped(why) => ("-".into(), "-".into(), format!("skipped: {why}")),
    }
}
