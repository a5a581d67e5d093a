//! Output: the progress line (stderr), the table and RESULT lines (stdout),
//! and `--list`.

use std::io::{IsTerminal, Write};

use crate::harness::{Bench, Outcome, Row, RunConfig};

/// One progress line on stderr. On a terminal it is rewritten in place; in a
/// log (CI) each step is its own line, so a hang shows where it happened.
pub struct Progress {
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Announces the sample about to be taken.
    pub fn step(&mut self, round: u32, runs: u32, id: &str) {
        self.done += 1;
        let line = format!("[{}/{}] round {round}/{runs}: {id}", self.done, self.total);
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
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

/// The aligned table: group, bench, median, unit, min..max, ratio.
pub fn table(rows: &[Row<'_>]) -> String {
    let header = ["group", "bench", "median", "unit", "min..max", "ratio"].map(String::from);
    let mut lines = vec![header];
    for row in rows {
        let b = row.bench;
        let (unit, scale) = b.metric.display_unit();
        let (median, spread, ratio) = match &row.outcome {
            Outcome::Measured(s) => (
                sig4(s.median * scale),
                format!("{}..{}", sig4(s.min * scale), sig4(s.max * scale)),
                row.ratios
                    .iter()
                    .map(|(r, x)| format!("{}x {r}", sig4(*x)))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Outcome::Failed(e) => ("-".into(), "-".into(), format!("FAILED: {e}")),
        };
        lines.push([
            b.group.into(),
            b.id.into(),
            median,
            unit.into(),
            spread,
            ratio,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, l) in lines.iter().enumerate() {
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
        out.push_str(line.trim_end());
        out.push('\n');
        if n == 0 {
            let rule = widths.iter().sum::<usize>() + 2 * 5;
            out.push_str(&"-".repeat(rule));
            out.push('\n');
        }
    }
    out
}

/// One machine-readable line per row:
/// `RESULT bench=<id> <key>=<median> min=<v> max=<v> runs=<n> mode=<full|quick> [ratio_to_<id>=<r>]...`
/// or `RESULT bench=<id> status=failed`.
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
                for (r, x) in &row.ratios {
                    l.push_str(&format!(" ratio_to_{r}={}", sig4(*x)));
                }
                l
            }
            Outcome::Failed(_) => format!("RESULT bench={id} status=failed"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `--list`: id, group, RESULT key, references, description.
pub fn list(registry: &[Bench]) -> String {
    let w = registry.iter().map(|b| b.id.len()).max().unwrap_or(0);
    let g = registry.iter().map(|b| b.group.len()).max().unwrap_or(0);
    let mut out = String::new();
    for b in registry {
        let refs = if b.compare_to.is_empty() {
            String::new()
        } else {
            format!(" (vs {})", b.compare_to.join(", "))
        };
        out.push_str(&format!(
            "{:<w$}  {:<g$}  {:<10}  {}{refs}\n",
            b.id,
            b.group,
            b.metric.key(),
            b.about
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sig4;

    #[test]
    fn four_significant_digits() {
        assert_eq!(sig4(74.234), "74.23");
        assert_eq!(sig4(1.9349), "1.935");
        assert_eq!(sig4(0.01234), "0.01234");
        assert_eq!(sig4(85_312_345.6), "85312346");
        assert_eq!(sig4(0.0), "0.000");
    }
}
