//! [`Barrier`]: a meeting point for a fixed number of processes.
//!
//! The `generation` word counts completed rounds; its top bit marks the
//! barrier broken. A party arriving last resets the arrival count and bumps
//! the generation, which releases the others. A party that times out breaks
//! the barrier (as Python's `Barrier` does), so that the others do not wait for
//! someone who will never come, e.g. a process that was killed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::futex;
use crate::segment::ShmSafe;
use crate::{Error, Result};

const BROKEN: u32 = 1 << 31;

/// A reusable barrier for `parties` processes in shared memory.
///
/// ```
/// use ipc_core::segment::{SegmentOptions, Shared};
/// use ipc_core::sync::Barrier;
///
/// let b = Shared::create(&SegmentOptions::anonymous(), Barrier::new(1))?;
/// assert!(b.wait()?.is_leader()); // a barrier of one releases at once
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Barrier {
    parties: u32,
    arrived: AtomicU32,
    generation: AtomicU32,
    waiters: AtomicU32,
}

const _: () = assert!(size_of::<Barrier>() == 16);

// SAFETY: `parties` is written once before sharing; the rest are atomics. A
// garbage `arrived` count at worst releases a round early or breaks it, never
// touches memory out of place.
unsafe impl ShmSafe for Barrier {}

/// What [`Barrier::wait`] returns: exactly one party per round is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this party was the last to arrive (Python's `wait()` returning 0).
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier that releases each time `parties` processes have arrived
    /// (`parties` of 0 is treated as 1).
    pub const fn new(parties: u32) -> Self {
        Self {
            parties: if parties == 0 { 1 } else { parties },
            arrived: AtomicU32::new(0),
            generation: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// Waits for the other parties.
    pub fn wait(&self) -> Result<BarrierWaitResult> {
        self.wait_until(None)
    }

    /// Waits for the other parties at most `timeout`; on timeout the barrier
    /// breaks and every party gets an error.
    pub fn wait_for(&self, timeout: Duration) -> Result<BarrierWaitResult> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<BarrierWaitResult> {
        let generation = self.generation.load(Ordering::Acquire);
        if generation & BROKEN != 0 {
            return Err(Error::BrokenBarrier);
        }
        let arrived = self.arrived.fetch_add(1, Ordering::AcqRel) + 1;
        if arrived >= self.parties {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation
                .store(generation.wrapping_add(1) & !BROKEN, Ordering::SeqCst);
            futex::wake_all(&self.generation);
            return Ok(BarrierWaitResult { leader: true });
        }
        match futex::wait_for(&self.generation, Some(&self.waiters), deadline, |g| {
            g != generation
        }) {
            Ok(g) if g & BROKEN != 0 => Err(Error::BrokenBarrier),
            Ok(_) => Ok(BarrierWaitResult { leader: false }),
            Err(e) => {
                // Break the round unless it completed at the last moment.
                if self
                    .generation
                    .compare_exchange(
                        generation,
                        generation | BROKEN,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_ok()
                {
                    futex::wake_all(&self.generation);
                    Err(e)
                } else if self.generation.load(Ordering::Acquire) & BROKEN != 0 {
                    Err(Error::BrokenBarrier)
                } else {
                    Ok(BarrierWaitResult { leader: false })
                }
            }
        }
    }

    /// Breaks the barrier: current and future waiters get [`Error::BrokenBarrier`].
    pub fn abort(&self) {
        self.generation.fetch_or(BROKEN, Ordering::SeqCst);
        futex::wake_all(&self.generation);
    }

    /// Mends a broken barrier for a new round. Call it only when no party is waiting.
    pub fn reset(&self) {
        self.arrived.store(0, Ordering::Relaxed);
        let g = self.generation.load(Ordering::Relaxed);
        self.generation
            .store(g.wrapping_add(1) & !BROKEN, Ordering::SeqCst);
        futex::wake_all(&self.generation);
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.generation.load(Ordering::Acquire) & BROKEN != 0
    }

    /// The number of parties per round.
    pub fn parties(&self) -> u32 {
        self.parties
    }
}
