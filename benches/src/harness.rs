//! The benchmark registry types and the runner.
//!
//! A benchmark is a function returning one sample (one number in its
//! metric's unit) for a given iteration count. The runner repeats every
//! selected benchmark `runs` times, round-robin, and reduces the samples to
//! median / min / max plus ratios to reference rows measured in the same run.

use std::collections::HashSet;
use std::error::Error;
use std::fmt;

use crate::report::Progress;

/// What a benchmark measures; fixes the RESULT key and the table unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Metric {
    /// One-way latency of a two-process handoff, nanoseconds (lower is better).
    OneWayNs,
    /// Messages per second through a two-process channel (higher is better).
    MsgsPerS,
    /// Payload bytes per second, in 10^9 bytes (higher is better).
    GbPerS,
}

impl Metric {
    /// The key on the RESULT line.
    pub fn key(self) -> &'static str {
        match self {
            Metric::OneWayNs => "one_way_ns",
            Metric::MsgsPerS => "msgs_per_s",
            Metric::GbPerS => "gb_per_s",
        }
    }

    /// The unit shown in the table, and the factor from the RESULT value to it.
    pub fn display_unit(self) -> (&'static str, f64) {
        match self {
            Metric::OneWayNs => ("ns", 1.0),
            Metric::MsgsPerS => ("M msg/s", 1e-6),
            Metric::GbPerS => ("GB/s", 1.0),
        }
    }
}

/// Iterations per sample: `full` is sized for ~50-200 ms per sample on this
/// machine, `quick` for a few ms (CI smoke run).
#[derive(Clone, Copy, Debug)]
pub struct Iters {
    pub full: u64,
    pub quick: u64,
}

/// Untimed iterations a sample runs before timing: a tenth of the timed ones,
/// enough to absorb the fork, page faults, and to wake the peer and the CPU.
pub fn warmup_for(iters: u64) -> u64 {
    (iters / 10).max(100)
}

/// One registered benchmark.
pub struct Bench {
    /// Unique id, the `bench=` value on the RESULT line.
    pub id: &'static str,
    /// Group name for `--group` and the table (e.g. "limits", "core").
    pub group: &'static str,
    pub metric: Metric,
    pub iters: Iters,
    /// Rows this one is divided by (same metric): each gives a ratio in the
    /// table and a `ratio_to_<id>=` key. They are measured whenever this row is.
    pub compare_to: &'static [&'static str],
    /// One-line description for `--list`.
    pub about: &'static str,
    /// Measures one sample with the given iteration count (including its own
    /// untimed warm-up) and returns it in `metric`'s RESULT unit.
    pub sample: fn(u64) -> Result<f64, SampleError>,
}

/// Why a sample has no value: the measurement went wrong (a peer stalled or
/// crashed, a system call failed, a message arrived out of order). The row
/// is reported as FAILED and the suite exits non-zero.
pub struct SampleError(Box<dyn Error + Send + Sync>);

impl SampleError {
    pub fn failed(msg: impl Into<String>) -> Self {
        SampleError(msg.into().into())
    }
}

// Lets `?` turn io::Error, Stalled, ipc_core::Error, ... into a SampleError.
// (SampleError itself is not an Error, so this does not overlap `From<T> for T`.)
impl<E: Error + Send + Sync + 'static> From<E> for SampleError {
    fn from(e: E) -> Self {
        SampleError(Box::new(e))
    }
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which benchmarks to run; empty lists select everything.
#[derive(Default, Debug)]
pub struct Selection {
    pub groups: Vec<String>,
    pub benches: Vec<String>,
}

/// Resolves a selection against the registry: the selected rows plus, for
/// ratios, every row they compare to (transitively). Registry order is kept,
/// so groups stay together in the table.
pub fn plan<'a>(registry: &'a [Bench], sel: &Selection) -> Result<Vec<&'a Bench>, String> {
    for g in &sel.groups {
        if !registry.iter().any(|b| b.group == g) {
            return Err(format!("unknown group {g:?} (see --list)"));
        }
    }
    for id in &sel.benches {
        if !registry.iter().any(|b| b.id == id) {
            return Err(format!("unknown bench {id:?} (see --list)"));
        }
    }
    let all = sel.groups.is_empty() && sel.benches.is_empty();
    let mut wanted: HashSet<&str> = registry
        .iter()
        .filter(|b| {
            all || sel.groups.iter().any(|g| g == b.group) || sel.benches.iter().any(|i| i == b.id)
        })
        .map(|b| b.id)
        .collect();
    // Pull in references until nothing new appears.
    loop {
        let refs: Vec<&str> = registry
            .iter()
            .filter(|b| wanted.contains(b.id))
            .flat_map(|b| b.compare_to.iter().copied())
            .filter(|r| !wanted.contains(r))
            .collect();
        if refs.is_empty() {
            break;
        }
        wanted.extend(refs);
    }
    Ok(registry.iter().filter(|b| wanted.contains(b.id)).collect())
}

/// Checks the registry's internal consistency (a programming error otherwise).
pub fn validate(registry: &[Bench]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for b in registry {
        if !seen.insert(b.id) {
            return Err(format!("duplicate bench id {}", b.id));
        }
        if b.iters.full == 0 || b.iters.quick == 0 {
            return Err(format!("{}: zero iterations", b.id));
        }
        for r in b.compare_to {
            match registry.iter().find(|x| x.id == *r) {
                None => return Err(format!("{}: compares to unknown {r}", b.id)),
                Some(x) if x.metric != b.metric => {
                    return Err(format!(
                        "{}: compares to {r}, which has another metric",
                        b.id
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// How to run.
#[derive(Clone, Copy, Debug)]
pub struct RunConfig {
    pub runs: u32,
    pub quick: bool,
}

/// The reduced result of one row.
pub struct Row<'a> {
    pub bench: &'a Bench,
    pub outcome: Outcome,
    /// (reference id, this median / reference median), for references that
    /// produced a value.
    pub ratios: Vec<(&'static str, f64)>,
}

pub enum Outcome {
    Measured(Stats),
    Failed(String),
}

#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stats {
    /// Median, min and max; `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Stats> {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => s[n / 2],
            _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
        };
        Some(Stats {
            median,
            min: s[0],
            max: s[n - 1],
            runs: n,
        })
    }
}

/// Runs the plan: `runs` rounds, each taking one sample of every row in
/// order (A B C A B C ...), so a slow band of the host hits all rows alike
/// and ratios between rows stay meaningful. (Round-robin spans the whole plan,
/// not just one group, because ratios cross groups.)
///
/// A row that fails is not retried in later rounds.
pub fn run<'a>(plan: &[&'a Bench], cfg: RunConfig) -> Vec<Row<'a>> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); plan.len()];
    let mut stopped: Vec<Option<SampleError>> = plan.iter().map(|_| None).collect();
    let mut progress = Progress::new(cfg.runs as usize * plan.len());
    for round in 1..=cfg.runs {
        for (i, bench) in plan.iter().enumerate() {
            if stopped[i].is_some() {
                continue;
            }
            progress.step(round, cfg.runs, bench.id);
            let iters = if cfg.quick {
                bench.iters.quick
            } else {
                bench.iters.full
            };
            match (bench.sample)(iters) {
                Ok(v) if v.is_finite() && v > 0.0 => samples[i].push(v),
                Ok(v) => stopped[i] = Some(SampleError::failed(format!("bad sample {v}"))),
                Err(e) => {
                    progress.note(&format!("{} failed: {e}", bench.id));
                    stopped[i] = Some(e);
                }
            }
        }
    }
    progress.finish();

    let outcomes: Vec<Outcome> = samples
        .iter()
        .zip(stopped)
        .map(|(s, stop)| match stop {
            Some(e) => Outcome::Failed(e.to_string()),
            None => Outcome::Measured(Stats::of(s).expect("runs >= 1")),
        })
        .collect();
    let median_of = |id: &str| {
        plan.iter().zip(&outcomes).find_map(|(b, o)| match o {
            Outcome::Measured(s) if b.id == id => Some(s.median),
            _ => None,
        })
    };
    let ratios: Vec<Vec<(&'static str, f64)>> = plan
        .iter()
        .zip(&outcomes)
        .map(|(b, o)| match o {
            Outcome::Measured(s) => b
                .compare_to
                .iter()
                .filter_map(|r| median_of(r).map(|m| (*r, s.median / m)))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    plan.iter()
        .zip(outcomes)
        .zip(ratios)
        .map(|((bench, outcome), ratios)| Row {
            bench,
            outcome,
            ratios,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even() {
        let s = Stats::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn registry_is_consistent() {
        validate(&crate::registry::all()).unwrap();
    }

    #[test]
    fn plan_pulls_in_references() {
        let reg = crate::registry::all();
        let sel = Selection {
            groups: vec![],
            benches: vec!["core_mutex_pingpong".into()],
        };
        let ids: Vec<_> = plan(&reg, &sel).unwrap().iter().map(|b| b.id).collect();
        assert_eq!(ids, ["limit_spin_pingpong", "core_mutex_pingpong"]);
        let bad = Selection {
            groups: vec!["nope".into()],
            benches: vec![],
        };
        assert!(plan(&reg, &bad).is_err());
    }
}
