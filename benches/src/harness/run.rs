//! The runner: samples the plan workload by workload, interleaved, and
//! reduces each row's samples to median / min / max and ratios.

use super::bench::{Bench, Kind, SampleError};
use super::progress::Progress;

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
    /// p50 / p99 / p99.9 of the individual round trips, for the ping-pong
    /// rows whose driver timed them (see `tail`).
    pub tail: Option<super::tail::Tail>,
    /// Bytes of shared memory the row's objects map, when it reports them.
    pub shm_bytes: Option<u64>,
    /// Allocations per operation in the measuring process's timed loop
    /// (the largest over the rounds), when the row's driver counts them.
    pub allocs_per_op: Option<f64>,
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
    let mut tails: Vec<Option<hdrhistogram::Histogram<u64>>> = plan.iter().map(|_| None).collect();
    let mut footprints: Vec<Option<u64>> = vec![None; plan.len()];
    let mut allocs: Vec<Option<f64>> = vec![None; plan.len()];
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
                let _ = super::tail::take();
                let _ = super::footprint::take();
                let _ = super::allocs::take();
                match (bench.sample)(iters) {
                    Ok(v) if v.is_finite() && v > 0.0 => {
                        samples[i].push(v);
                        if let Some(a) = super::allocs::take() {
                            allocs[i] = Some(allocs[i].map_or(a, |x| x.max(a)));
                        }
                        if let Some(b) = super::footprint::take() {
                            footprints[i] = Some(footprints[i].map_or(b, |f| f.max(b)));
                        }
                        if let Some(h) = super::tail::take() {
                            match &mut tails[i] {
                                Some(all) => {
                                    let _ = all.add(&h);
                                }
                                none => *none = Some(h),
                            }
                        }
                    }
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
        .zip(tails)
        .zip(footprints)
        .zip(allocs)
        .map(
            |(((((bench, outcome), samples), tail), shm_bytes), allocs_per_op)| Row {
                bench,
                outcome,
                samples,
                ratios: Vec::new(),
                peer_ratios: Vec::new(),
                tail: tail.as_ref().and_then(super::tail::Tail::of),
                shm_bytes,
                allocs_per_op,
            },
        )
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
                // A peer named in `compare_to` has its ratio there already.
                .filter(|p| !row.bench.compare_to.contains(&p.bench.id))
                // In the size sweep, only rows of the same message size.
                .filter(|p| {
                    !row.bench.workload.is_sweep()
                        || super::sweep_size_of(p.bench.id) == super::sweep_size_of(row.bench.id)
                })
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
    use crate::harness::fixtures::{LIMITS, OS, PYTHON, QUEUE, bench};

    use crate::harness::{Metric, Workload};

    #[test]
    fn median_odd_even() {
        let s = Stats::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Stats::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn ratios_pair_the_samples_of_each_round() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // The host's noise band flips between rounds: 1x, 25x, 25x.
        static LIM: AtomicUsize = AtomicUsize::new(0);
        static MINE: AtomicUsize = AtomicUsize::new(0);
        const BAND: [f64; 3] = [1.0, 25.0, 25.0];
        let reg = [
            bench(
                "lim",
                &LIMITS,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &[],
                |_| Ok(1000.0 * BAND[LIM.fetch_add(1, Ordering::Relaxed) % 3]),
            ),
            bench(
                "mine",
                &QUEUE,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &["lim"],
                |_| {
                    // 1.1x the limit in each round but one, where it caught the
                    // quiet band: the medians alone (1100 / 25000) would make it
                    // 23 times faster than the limit.
                    let k = MINE.fetch_add(1, Ordering::Relaxed);
                    Ok(1100.0 * [1.0, 1.0, 25.0][k % 3])
                },
            ),
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

    /// In the size sweep a toolkit row is set against the peers' rows of its
    /// own message size only.
    #[test]
    fn sweep_rows_compare_like_sizes() {
        use Metric::OneWayNs;
        use Workload::SweepPingpong;
        let reg = [
            bench(
                "q_pingpong_64B",
                &QUEUE,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(1.0),
            ),
            bench(
                "q_pingpong_4MiB",
                &QUEUE,
                SweepPingpong,
                OneWayNs,
                &[],
                |_| Ok(1.0),
            ),
            bench("p_pingpong_64B", &OS, SweepPingpong, OneWayNs, &[], |_| {
                Ok(2.0)
            }),
            bench("p_pingpong_4MiB", &OS, SweepPingpong, OneWayNs, &[], |_| {
                Ok(8.0)
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
        assert_eq!(rows[0].peer_ratios, [("p_pingpong_64B", 0.5)]);
        assert_eq!(rows[1].peer_ratios, [("p_pingpong_4MiB", 0.125)]);
    }

    #[test]
    fn run_computes_limit_and_peer_ratios_and_skips() {
        let reg = [
            bench(
                "lim",
                &LIMITS,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &[],
                |_| Ok(100.0),
            ),
            bench(
                "mine",
                &QUEUE,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &["lim"],
                |_| Ok(400.0),
            ),
            bench(
                "pipe",
                &OS,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &["lim"],
                |_| Ok(200.0),
            ),
            bench(
                "py",
                &PYTHON,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &[],
                |_| Err(SampleError::skipped("python3 not found")),
            ),
            bench(
                "bad",
                &OS,
                Workload::PingpongBlocking,
                Metric::OneWayNs,
                &[],
                |_| Err(SampleError::failed("boom")),
            ),
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
}
