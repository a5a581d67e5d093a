//! Rows measuring `ipc_pool::Pool` and process start-up, through the
//! public API alone (what the pool's users call).

use std::time::Instant;

use ipc_core::process::Process;
use ipc_pool::Pool;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload};

pub const GROUP: Group = Group {
    name: "pool",
    kind: Kind::Toolkit,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "pool_map_1M",
            group: &GROUP,
            workload: Workload::PoolMap,
            metric: Metric::Secs,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "Pool with 2 workers maps x*x over 0..n (n = 1M; 20k in --quick), results checked",
            sample: |n| pool_map_secs(n, 2),
        },
        Bench {
            id: "process_spawn_join",
            group: &GROUP,
            workload: Workload::ProcessStart,
            metric: Metric::Secs,
            iters: Iters {
                full: 200,
                quick: 20,
            },
            compare_to: &[],
            about: "fork and join a child that does nothing; seconds per process",
            sample: process_spawn_join_secs,
        },
    ]
}

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Seconds taken by `pool.map(x * x, 0..n)` on a pool of `processes`
/// workers, default chunksize. The pool is created and warmed up (workers
/// forked, queues touched) before the clock starts, as a Python measurement
/// of `pool.map` alone would be; collecting the input range into a vector
/// is timed, as Python's `map` turning `range(n)` into a list is. The
/// results are checked.
fn pool_map_secs(n: u64, processes: usize) -> Result<f64, SampleError> {
    let pool = Pool::new(processes)?;
    pool.map(square, 0..(64 * 1024).min(n))?;
    let start = Instant::now();
    let out = pool.map(square, 0..n)?;
    let secs = start.elapsed().as_secs_f64();
    let wrong = (out.len() as u64 != n) || out.iter().zip(0u64..).any(|(&got, x)| got != square(x));
    if wrong {
        return Err(SampleError::failed("pool_map returned wrong results"));
    }
    Ok(secs)
}

/// Mean seconds to start a forked child that does nothing and join it,
/// over `count` children started one after the other (Python's
/// `Process(target=f).start(); join()`).
fn process_spawn_join_secs(count: u64) -> Result<f64, SampleError> {
    let count = count.max(1);
    let start = Instant::now();
    for _ in 0..count {
        let status = Process::spawn(|| {})?.join()?;
        if !status.success() {
            return Err(SampleError::failed(format!(
                "an empty child ended with {status}"
            )));
        }
    }
    Ok(start.elapsed().as_secs_f64() / count as f64)
}
