//! Two-process ping-pong: the shape of every latency row.
//!
//! A row supplies a [`Baton`] in shared memory (a spinning cache line, a
//! futex word, a mutex-guarded turn, later a peer system's primitive); this
//! module forks the peer, warms up, times round trips in the parent and
//! reports the one-way latency.

use std::ops::Deref;
use std::rc::Rc;
use std::time::Instant;

use super::peer;
use super::wait::Stalled;
use crate::harness::SampleError;
use crate::harness::allocs;
use crate::harness::tail::{self, TAIL_ROUND_TRIPS};

/// Which process acts on a turn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// The timing process; moves first.
    Parent,
    /// The forked peer.
    Child,
}

impl Side {
    /// The turn counter's parity on which this side acts: turns alternate
    /// parent, child, parent, ... starting from 0.
    pub fn parity(self) -> u64 {
        match self {
            Side::Parent => 0,
            Side::Child => 1,
        }
    }
}

/// A turn that two processes pass back and forth.
pub trait Baton: Sync {
    /// Waits until it is `side`'s turn, then hands the turn to the other side.
    /// Errors if the other side stops making progress.
    fn take_and_pass(&self, side: Side) -> Result<(), Stalled>;
}

/// Forks a peer and measures `round_trips` round trips after `warmup` (at
/// least 1) untimed ones; returns the one-way latency (round trip / 2) in ns.
///
/// `baton` is any handle to a baton in shared memory (`ShmBox`, the
/// toolkit's `Shared`, ...); the `Rc` lets the peer's closure own a clone, as
/// `Process::spawn` needs a `'static` closure. After the fork that clone
/// points into the same shared mapping.
///
/// The warm-up absorbs the peer's start-up and page faults and wakes both
/// sides (CPU frequency, scheduler placement). Both loops have a fixed length
/// and every wait is stall-bounded, so neither side can outlive an error in
/// the other; the peer is killed on drop if the parent bails out early.
pub fn one_way_ns<H>(baton: Rc<H>, warmup: u64, round_trips: u64) -> Result<f64, SampleError>
where
    H: Deref + 'static,
    H::Target: Baton,
{
    let theirs = Rc::clone(&baton);
    round_trips_ns(
        warmup,
        round_trips,
        move |total| {
            for _ in 0..total {
                theirs
                    .take_and_pass(Side::Child)
                    .unwrap_or_else(|e| panic!("ping-pong peer: {e}"));
            }
        },
        || Ok(baton.take_and_pass(Side::Parent)?),
    )
}

/// The driver under [`one_way_ns`], for systems that are not a [`Baton`]
/// (pipes, sockets, channels): forks `peer(total)`, which must answer
/// `total = warmup + round_trips` steps, then calls `step` `warmup` (at
/// least 1) times untimed and `round_trips` times timed; each step after the
/// first completes one round trip. Returns round trip / 2 in ns.
///
/// `peer` owns what it captured: whatever it moved in is closed in the
/// parent right after the fork, so if the peer dies, a blocking `step` sees
/// end-of-file instead of waiting forever.
pub fn round_trips_ns(
    warmup: u64,
    round_trips: u64,
    peer: impl FnOnce(u64) + 'static,
    mut step: impl FnMut() -> Result<(), SampleError>,
) -> Result<f64, SampleError> {
    // Without a warm-up step, the first timed one might not wait for a reply.
    let warmup = warmup.max(1);
    let tail_trips = round_trips.min(TAIL_ROUND_TRIPS);
    let total = warmup + round_trips + tail_trips;
    let child = peer::spawn("pingpong-peer", move || peer(total))?;
    for _ in 0..warmup {
        step()?;
    }
    let allocs = allocs::count();
    let start = Instant::now();
    for _ in 0..round_trips {
        step()?;
    }
    let elapsed = start.elapsed();
    allocs::record((allocs::count() - allocs) as f64 / round_trips as f64);
    // The tail pass: every round trip timed on its own (see `tail`).
    let mut hist = tail::histogram();
    for _ in 0..tail_trips {
        let t = Instant::now();
        step()?;
        let _ = hist.record((t.elapsed().as_nanos() as u64 / 2).max(1));
    }
    tail::record(hist);
    peer::join(child)?;
    Ok(elapsed.as_nanos() as f64 / (2 * round_trips) as f64)
}
