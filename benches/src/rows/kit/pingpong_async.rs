//! The driver of the async ping-pong rows: each side runs a current-thread
//! tokio runtime of its own (the peer's is built after the fork: a process
//! with threads must not fork), and the parent times its loop from inside
//! its runtime, so no `block_on` per round trip is counted.

use std::time::Instant;

use crate::harness::SampleError;
use crate::harness::allocs;
use crate::harness::tail::{self, TAIL_ROUND_TRIPS};
use crate::rows::kit::peer;

/// A current-thread runtime with the I/O driver (for the socket peer).
pub fn runtime() -> Result<tokio::runtime::Runtime, SampleError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| SampleError::failed(format!("tokio runtime: {e}")))
}

/// Forks `peer(total)` (which builds its own runtime), then runs
/// `round_trip` `warmup` (at least 1) times untimed and `round_trips` times
/// timed inside one runtime; returns round trip / 2 in ns.
pub fn async_round_trips_ns<S>(
    warmup: u64,
    round_trips: u64,
    peer: impl FnOnce(u64) + 'static,
    mut state: S,
    mut round_trip: impl AsyncFnMut(&mut S) -> Result<(), SampleError>,
) -> Result<f64, SampleError> {
    let warmup = warmup.max(1);
    let tail_trips = round_trips.min(TAIL_ROUND_TRIPS);
    let total = warmup + round_trips + tail_trips;
    let child = peer::spawn("async-pingpong-peer", move || peer(total))?;
    let rt = runtime()?;
    let elapsed = rt.block_on(async {
        for _ in 0..warmup {
            round_trip(&mut state).await?;
        }
        let allocations = allocs::count();
        let start = Instant::now();
        for _ in 0..round_trips {
            round_trip(&mut state).await?;
        }
        let elapsed = start.elapsed();
        allocs::record((allocs::count() - allocations) as f64 / round_trips as f64);
        // The tail pass: every round trip timed on its own (see `tail`).
        let mut hist = tail::histogram();
        for _ in 0..tail_trips {
            let t = Instant::now();
            round_trip(&mut state).await?;
            let _ = hist.record((t.elapsed().as_nanos() as u64 / 2).max(1));
        }
        tail::record(hist);
        Ok::<_, SampleError>(elapsed)
    })?;
    drop(rt);
    peer::join(child)?;
    Ok(elapsed.as_nanos() as f64 / (2 * round_trips) as f64)
}
