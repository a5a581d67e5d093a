//! Measurements for the benchmark binary (`ipc-bench`), here so that the
//! rows time exactly what the pool's users call.

use std::time::Instant;

use ipc_core::process::Process;

use crate::{Error, Pool, Result};

fn square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Seconds taken by `pool.map(x * x, 0..n)` on a pool of `processes`
/// workers, default chunksize: the row `pool_map_1M` (`n` = 1,000,000,
/// `processes` = 2; Python's `Pool(2).map` takes 0.22-0.36 s on the
/// reference machine).
///
/// The pool is created and warmed up (workers forked, queues touched) before
/// the clock starts, as a Python measurement of `pool.map` alone would be;
/// collecting the input range into a vector is timed, as Python's `map`
/// turning `range(n)` into a list is. The results are checked; a wrong one
/// is an [`Error::Protocol`].
///
/// ```
/// let secs = ipc_pool::bench::pool_map_secs(10_000, 2)?;
/// assert!(secs > 0.0);
/// # Ok::<(), ipc_pool::Error>(())
/// ```
pub fn pool_map_secs(n: u64, processes: usize) -> Result<f64> {
    let pool = Pool::new(processes)?;
    pool.map(square, 0..(64 * 1024).min(n))?;
    let start = Instant::now();
    let out = pool.map(square, 0..n)?;
    let secs = start.elapsed().as_secs_f64();
    let wrong = (out.len() as u64 != n) || out.iter().zip(0u64..).any(|(&got, x)| got != square(x));
    if wrong {
        return Err(Error::Protocol {
            reason: "pool_map returned wrong results".into(),
        });
    }
    Ok(secs)
}

/// Mean seconds to start a forked child that does nothing and join it,
/// over `count` children started one after the other: the row
/// `process_spawn_join` (Python's `Process(target=f).start(); join()`).
///
/// ```
/// let secs = ipc_pool::bench::process_spawn_join_secs(5)?;
/// assert!(secs > 0.0);
/// # Ok::<(), ipc_pool::Error>(())
/// ```
pub fn process_spawn_join_secs(count: u64) -> Result<f64> {
    let count = count.max(1);
    let start = Instant::now();
    for _ in 0..count {
        let status = Process::spawn(|| {})?.join()?;
        if !status.success() {
            return Err(Error::Protocol {
                reason: format!("an empty child ended with {status}"),
            });
        }
    }
    Ok(start.elapsed().as_secs_f64() / count as f64)
}
