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
    /// Operations per second, e.g. dictionary reads (higher is better).
    OpsPerS,
    /// Wall-clock seconds for the whole job (lower is better).
    Secs,
}

impl Metric {
    /// The key on the RESULT line.
    pub fn key(self) -> &'static str {
        match self {
            Metric::OneWayNs => "one_way_ns",
            Metric::MsgsPerS => "msgs_per_s",
            Metric::GbPerS => "gb_per_s",
            Metric::OpsPerS => "ops_per_s",
            Metric::Secs => "secs",
        }
    }

    /// Whether a smaller value is the better one (latency, elapsed time).
    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::OneWayNs | Metric::Secs)
    }

    /// How many times faster a value `this` is than `reference`: above 1
    /// means `this` is better, whichever direction the metric runs. Every
    /// ratio in the table, the report and the chart is one of these.
    pub fn speedup(self, this: f64, reference: f64) -> f64 {
        if self.lower_is_better() {
            reference / this
        } else {
            this / reference
        }
    }

    /// What a value of this metric is, for table headings.
    pub fn describe(self) -> &'static str {
        match self {
            Metric::OneWayNs => "one-way latency, lower is better",
            Metric::MsgsPerS => "messages per second, higher is better",
            Metric::GbPerS => "payload GB/s, higher is better",
            Metric::OpsPerS => "operations per second, higher is better",
            Metric::Secs => "seconds, lower is better",
        }
    }

    /// The unit shown in the table, and the factor from the RESULT value to it.
    pub fn display_unit(self) -> (&'static str, f64) {
        match self {
            Metric::OneWayNs => ("ns", 1.0),
            Metric::MsgsPerS => ("M msg/s", 1e-6),
            Metric::GbPerS => ("GB/s", 1.0),
            Metric::OpsPerS => ("k op/s", 1e-3),
            Metric::Secs => ("s", 1.0),
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

/// The workload a row runs: the table, the report and the chart are grouped
/// by it, and within one the toolkit's rows are compared to the peers' rows
/// (the systems a user would pick instead) and to the machine's limit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Workload {
    /// An 8-byte turn passed back and forth, both sides busy-polling.
    PingpongSpin,
    /// An 8-byte message passed back and forth, the receiver blocked (asleep).
    PingpongBlocking,
    /// A stream of 8-byte messages from one process to another.
    Tput8B,
    /// A stream of 4 KiB messages from one process to another.
    Tput4KiB,
    /// Reads of one key from a dictionary shared between processes.
    DictGet,
    /// A function mapped over a range by a pool of worker processes.
    PoolMap,
    /// Starting and joining a child process.
    ProcessStart,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 7] = [
        Workload::PingpongSpin,
        Workload::PingpongBlocking,
        Workload::Tput8B,
        Workload::Tput4KiB,
        Workload::DictGet,
        Workload::PoolMap,
        Workload::ProcessStart,
    ];

    /// The name `--workload` takes.
    pub fn slug(self) -> &'static str {
        match self {
            Workload::PingpongSpin => "pingpong-spin",
            Workload::PingpongBlocking => "pingpong-blocking",
            Workload::Tput8B => "tput-8B",
            Workload::Tput4KiB => "tput-4KiB",
            Workload::DictGet => "dict-get",
            Workload::PoolMap => "pool-map",
            Workload::ProcessStart => "process-start",
        }
    }

    /// The heading in the table, the report and the chart.
    pub fn title(self) -> &'static str {
        match self {
            Workload::PingpongSpin => "ping-pong 8 B, busy-polling",
            Workload::PingpongBlocking => "ping-pong 8 B, blocking receive",
            Workload::Tput8B => "throughput, 8 B messages",
            Workload::Tput4KiB => "throughput, 4 KiB messages",
            Workload::DictGet => "shared dictionary, get",
            Workload::PoolMap => "process pool, map",
            Workload::ProcessStart => "process start and join",
        }
    }

    pub fn from_slug(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.slug().eq_ignore_ascii_case(s))
    }
}

/// Whose row it is; derived from the group (see [`Bench::kind`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    /// The machine's own limit (group `limits`).
    Limit,
    /// This toolkit.
    Toolkit,
    /// A system a user would pick instead (a group in `peers::GROUPS`).
    Peer,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Limit => "limit",
            Kind::Toolkit => "toolkit",
            Kind::Peer => "peer",
        }
    }
}

/// One registered benchmark.
pub struct Bench {
    /// Unique id, the `bench=` value on the RESULT line.
    pub id: &'static str,
    /// Group name for `--group` and the table (e.g. "limits", "core").
    pub group: &'static str,
    /// The workload it measures: rows of one workload are run interleaved
    /// and compared with each other.
    pub workload: Workload,
    pub metric: Metric,
    pub iters: Iters,
    /// Rows this one is divided by (same metric): each gives a ratio in the
    /// table and a `ratio_to_<id>=` key. They are measured whenever this row
    /// is. For toolkit and peer rows: the limit of their workload.
    pub compare_to: &'static [&'static str],
    /// One-line description for `--list`.
    pub about: &'static str,
    /// Measures one sample with the given iteration count (including its own
    /// untimed warm-up) and returns it in `metric`'s RESULT unit.
    pub sample: fn(u64) -> Result<f64, SampleError>,
}

impl Bench {
    /// Limit, toolkit or peer, by group: everything that is neither the
    /// limits nor a peer system is the toolkit's (so new toolkit groups
    /// need no registration here).
    pub fn kind(&self) -> Kind {
        if self.group == crate::limits::GROUP {
            Kind::Limit
        } else if crate::peers::GROUPS.contains(&self.group) {
            Kind::Peer
        } else {
            Kind::Toolkit
        }
    }
}

/// Why a sample has no value. Usually the measurement went wrong (a peer
/// stalled or crashed, a system call failed, a message arrived out of
/// order): the row is reported as FAILED and the suite exits non-zero. A
/// row that cannot run here at all (python3 missing) is *skipped* instead:
/// it says why, and the rest of the suite counts as a success.
pub struct SampleError {
    error: Box<dyn Error + Send + Sync>,
    skip: bool,
}

impl SampleError {
    pub fn failed(msg: impl Into<String>) -> Self {
        SampleError {
            error: msg.into().into(),
            skip: false,
        }
    }

    /// The row cannot run on this machine; `why` is shown in its place.
    pub fn skipped(why: impl Into<String>) -> Self {
        SampleError {
            error: why.into().into(),
            skip: true,
        }
    }

    pub fn is_skip(&self) -> bool {
        self.skip
    }
}

// Lets `?` turn io::Error, Stalled, ipc_core::Error, ... into a SampleError.
// (SampleError itself is not an Error, so this does not overlap `From<T> for T`.)
impl<E: Error + Send + Sync + 'static> From<E> for SampleError {
    fn from(e: E) -> Self {
        SampleError {
            error: Box::new(e),
            skip: false,
        }
    }
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// Which benchmarks to run; empty lists select everything.
#[derive(Default, Debug)]
pub struct Selection {
    pub groups: Vec<String>,
    pub workloads: Vec<String>,
    pub benches: Vec<String>,
}

/// Resolves a selection against the registry: the selected rows plus, for
/// ratios, every row they compare to (transitively). The plan is ordered by
/// workload (the order of [`Workload::ALL`]), then limits, toolkit rows and
/// peers, then registry order, so that a workload's rows run and print
/// together.
pub fn plan<'a>(registry: &'a [Bench], sel: &Selection) -> Result<Vec<&'a Bench>, String> {
    for g in &sel.groups {
        if !registry.iter().any(|b| b.group == g) {
            return Err(format!("unknown group {g:?} (see --list)"));
        }
    }
    let mut workloads = Vec::new();
    for w in &sel.workloads {
        match Workload::from_slug(w) {
            Some(w) => workloads.push(w),
            None => return Err(format!("unknown workload {w:?} (see --list)")),
        }
    }
    for id in &sel.benches {
        if !registry.iter().any(|b| b.id == id) {
            return Err(format!("unknown bench {id:?} (see --list)"));
        }
    }
    let all = sel.groups.is_empty() && sel.benches.is_empty() && workloads.is_empty();
    let mut wanted: HashSet<&str> = registry
        .iter()
        .filter(|b| {
            all || sel.groups.iter().any(|g| g == b.group)
                || workloads.contains(&b.workload)
                || sel.benches.iter().any(|i| i == b.id)
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
    let mut plan: Vec<&Bench> = registry.iter().filter(|b| wanted.contains(b.id)).collect();
    // Stable: registry order survives within a workload and kind.
    plan.sort_by_key(|b| (b.workload, b.kind()));
    Ok(plan)
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
    /// The samples, in the order of the rounds that took them.
    pub samples: Vec<f64>,
    /// (reference id, [`raw_ratio`](Row::raw_ratio) to it), for the
    /// `compare_to` references that produced a value. Raw ratios, in the
    /// metric's direction: the RESULT lines' `ratio_to_<id>`.
    pub ratios: Vec<(&'static str, f64)>,
    /// For a toolkit row: (peer id, raw ratio) for every peer row of the
    /// same workload that produced a value, in plan order.
    pub peer_ratios: Vec<(&'static str, f64)>,
}

impl Row<'_> {
    pub fn stats(&self) -> Option<&Stats> {
        match &self.outcome {
            Outcome::Measured(s) => Some(s),
            _ => None,
        }
    }

    /// A raw ratio (this / reference) as a speed factor: above 1 means this
    /// row is the faster one.
    pub fn speedup(&self, raw_ratio: f64) -> f64 {
        self.bench.metric.speedup(raw_ratio, 1.0)
    }

    /// This row / `reference`, `None` unless both were measured. Paired
    /// when both were sampled round by round in the same workload (sample k
    /// of one right beside sample k of the other): the median of the
    /// per-round ratios, so that both sides of each ratio saw the same band
    /// of host noise. Otherwise the ratio of the medians.
    pub fn raw_ratio(&self, reference: &Row<'_>) -> Option<f64> {
        let (mine, theirs) = (self.stats()?, reference.stats()?);
        let (a, b) = (&self.samples, &reference.samples);
        if self.bench.workload == reference.bench.workload && a.len() == b.len() {
            let per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
            Stats::of(&per_round).map(|s| s.median)
        } else {
            Some(mine.median / theirs.median)
        }
    }
}

pub enum Outcome {
    Measured(Stats),
    Failed(String),
    Skipped(String),
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

/// Runs the plan one workload at a time: `runs` rounds per workload, each
/// taking one sample of every row of it in order (limit, toolkit rows,
/// peers, then again: A B C A B C ...), so a slow band of the host hits the
/// rows being compared alike, and the limit is measured in the same stretch
/// of time as the rows divided by it. A reference from another workload
/// (`limit_futex_pingpong` vs `limit_spin_pingpong`) is still from this run.
///
/// A row that fails or is skipped is not sampled again.
pub fn run<'a>(plan: &[&'a Bench], cfg: RunConfig) -> Vec<Row<'a>> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); plan.len()];
    let mut stopped: Vec<Option<SampleError>> = plan.iter().map(|_| None).collect();
    let mut progress = Progress::new(cfg.runs as usize * plan.len());
    let mut start = 0;
    while start < plan.len() {
        let workload = plan[start].workload;
        let end = start
            + plan[start..]
                .iter()
                .take_while(|b| b.workload == workload)
                .count();
        for round in 1..=cfg.runs {
            for i in start..end {
                let bench = plan[i];
                if stopped[i].is_some() {
                    progress.skip();
                    continue;
                }
                progress.step(workload, round, cfg.runs, bench.id);
                let iters = if cfg.quick {
                    bench.iters.quick
                } else {
                    bench.iters.full
                };
                match (bench.sample)(iters) {
                    Ok(v) if v.is_finite() && v > 0.0 => samples[i].push(v),
                    Ok(v) => stopped[i] = Some(SampleError::failed(format!("bad sample {v}"))),
                    Err(e) => {
                        let what = if e.is_skip() { "skipped" } else { "failed" };
                        progress.note(&format!("{} {what}: {e}", bench.id));
                        stopped[i] = Some(e);
                    }
                }
            }
        }
        start = end;
    }
    progress.finish();

    let outcomes: Vec<Outcome> = samples
        .iter()
        .zip(stopped)
        .map(|(s, stop)| match stop {
            Some(e) if e.is_skip() => Outcome::Skipped(e.to_string()),
            Some(e) => Outcome::Failed(e.to_string()),
            None => Outcome::Measured(Stats::of(s).expect("runs >= 1")),
        })
        .collect();
    let mut rows: Vec<Row<'a>> = plan
        .iter()
        .zip(outcomes)
        .zip(samples)
        .map(|((bench, outcome), samples)| Row {
            bench,
            outcome,
            samples,
            ratios: Vec::new(),
            peer_ratios: Vec::new(),
        })
        .collect();
    let find = |rows: &[Row<'a>], id: &str| rows.iter().position(|r| r.bench.id == id);
    for i in 0..rows.len() {
        let row = &rows[i];
        if row.stats().is_none() {
            continue;
        }
        let ratios: Vec<_> = row
            .bench
            .compare_to
            .iter()
            .filter_map(|r| Some((*r, row.raw_ratio(&rows[find(&rows, r)?])?)))
            .collect();
        let peer_ratios: Vec<_> = if row.bench.kind() == Kind::Toolkit {
            rows.iter()
                .filter(|p| p.bench.workload == row.bench.workload && p.bench.kind() == Kind::Peer)
                // Only like with like: a GB/s row has no ratio to an op/s peer.
                .filter(|p| p.bench.metric == row.bench.metric)
                .filter_map(|p| Some((p.bench.id, row.raw_ratio(p)?)))
                .collect()
        } else {
            Vec::new()
        };
        rows[i].ratios = ratios;
        rows[i].peer_ratios = peer_ratios;
    }
    rows
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
    fn speedup_points_the_same_way_for_every_metric() {
        // Half the latency and twice the rate are both 2x faster.
        assert_eq!(Metric::OneWayNs.speedup(50.0, 100.0), 2.0);
        assert_eq!(Metric::Secs.speedup(1.0, 2.0), 2.0);
        assert_eq!(Metric::MsgsPerS.speedup(2e6, 1e6), 2.0);
        assert_eq!(Metric::OpsPerS.speedup(1.0, 4.0), 0.25);
    }

    #[test]
    fn registry_is_consistent() {
        validate(&crate::registry::all()).unwrap();
    }

    #[test]
    fn every_workload_has_a_slug_that_parses() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_slug(w.slug()), Some(w));
        }
        assert!(Workload::ALL.is_sorted());
    }

    #[test]
    fn peers_compare_to_a_limit_of_their_workload_or_none() {
        let reg = crate::registry::all();
        for b in reg.iter().filter(|b| b.kind() == Kind::Peer) {
            for r in b.compare_to {
                let r = reg.iter().find(|x| x.id == *r).unwrap();
                assert_eq!(r.kind(), Kind::Limit, "{}", b.id);
                assert_eq!(r.workload, b.workload, "{}", b.id);
            }
        }
    }

    #[test]
    fn plan_pulls_in_references() {
        let reg = crate::registry::all();
        let sel = Selection {
            benches: vec!["core_mutex_pingpong".into()],
            ..Selection::default()
        };
        let ids: Vec<_> = plan(&reg, &sel).unwrap().iter().map(|b| b.id).collect();
        assert_eq!(ids, ["limit_spin_pingpong", "core_mutex_pingpong"]);
        let bad = Selection {
            groups: vec!["nope".into()],
            ..Selection::default()
        };
        assert!(plan(&reg, &bad).is_err());
    }

    fn bench(
        id: &'static str,
        group: &'static str,
        metric: Metric,
        compare_to: &'static [&'static str],
        sample: fn(u64) -> Result<f64, SampleError>,
    ) -> Bench {
        Bench {
            id,
            group,
            workload: Workload::PingpongBlocking,
            metric,
            iters: Iters { full: 1, quick: 1 },
            compare_to,
            about: "",
            sample,
        }
    }

    #[test]
    fn ratios_pair_the_samples_of_each_round() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // The host's noise band flips between rounds: 1x, 25x, 25x.
        static LIM: AtomicUsize = AtomicUsize::new(0);
        static MINE: AtomicUsize = AtomicUsize::new(0);
        const BAND: [f64; 3] = [1.0, 25.0, 25.0];
        let reg = [
            bench("lim", "limits", Metric::OneWayNs, &[], |_| {
                Ok(1000.0 * BAND[LIM.fetch_add(1, Ordering::Relaxed) % 3])
            }),
            bench("mine", "queue", Metric::OneWayNs, &["lim"], |_| {
                // 1.1x the limit in each round but one, where it caught the
                // quiet band: the medians alone (1100 / 25000) would make it
                // 23 times faster than the limit.
                let k = MINE.fetch_add(1, Ordering::Relaxed);
                Ok(1100.0 * [1.0, 1.0, 25.0][k % 3])
            }),
        ];
        let plan: Vec<&Bench> = reg.iter().collect();
        let cfg = RunConfig {
            runs: 3,
            quick: true,
        };
        let rows = run(&plan, cfg);
        // Per round: 1.1, 0.044, 1.1; the median is 1.1.
        let (id, r) = rows[1].ratios[0];
        assert_eq!(id, "lim");
        assert!((r - 1.1).abs() < 1e-9, "{r}");
    }

    #[test]
    fn run_computes_limit_and_peer_ratios_and_skips() {
        let reg = [
            bench("lim", "limits", Metric::OneWayNs, &[], |_| Ok(100.0)),
            bench("mine", "queue", Metric::OneWayNs, &["lim"], |_| Ok(400.0)),
            bench("pipe", "os", Metric::OneWayNs, &["lim"], |_| Ok(200.0)),
            bench("py", "python", Metric::OneWayNs, &[], |_| {
                Err(SampleError::skipped("python3 not found"))
            }),
            bench("bad", "os", Metric::OneWayNs, &[], |_| {
                Err(SampleError::failed("boom"))
            }),
        ];
        let plan: Vec<&Bench> = reg.iter().collect();
        let rows = run(
            &plan,
            RunConfig {
                runs: 3,
                quick: true,
            },
        );
        let mine = &rows[1];
        assert_eq!(mine.ratios, [("lim", 4.0)]);
        // Only peers that produced a value; the limit is not a peer.
        assert_eq!(mine.peer_ratios, [("pipe", 2.0)]);
        // Latency: twice the time is half the speed.
        assert_eq!(mine.speedup(mine.peer_ratios[0].1), 0.5);
        assert!(rows[2].peer_ratios.is_empty());
        assert!(matches!(&rows[3].outcome, Outcome::Skipped(w) if w == "python3 not found"));
        assert!(matches!(&rows[4].outcome, Outcome::Failed(e) if e == "boom"));
        assert_eq!(rows[0].stats().unwrap().runs, 3);
    }

    #[test]
    fn plan_is_grouped_by_workload() {
        let reg = crate::registry::all();
        let all = plan(&reg, &Selection::default()).unwrap();
        assert_eq!(all.len(), reg.len());
        assert!(all.is_sorted_by_key(|b| (b.workload, b.kind())));
        let sel = Selection {
            workloads: vec!["pingpong-blocking".into()],
            ..Selection::default()
        };
        let one = plan(&reg, &sel).unwrap();
        // The workload's rows plus the spin limit its futex limit refers to.
        assert!(one.iter().any(|b| b.id == "limit_futex_pingpong"));
        assert!(one.iter().any(|b| b.id == "limit_spin_pingpong"));
        assert!(
            one.iter()
                .all(|b| b.workload == Workload::PingpongBlocking || b.id == "limit_spin_pingpong")
        );
    }
}
