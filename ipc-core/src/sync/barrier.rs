//! [`Barrier`]: a meeting point for a fixed number of processes.
//!
//! The `generation` word counts completed rounds; its top bit marks the
//! barrier broken. A party arriving last resets the arrival count and bumps
//! the generation, which releases the others. A party that times out breaks
//! the barrier (as Python's `Barrier` does), so that the others do not wait for
//! someone who will never come, e.g. a process that was killed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::shm_safe::ShmSafe;
use crate::wait::{Deadline, WaitWord, Waiter};
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
    /// Completed rounds, with [`BROKEN`] as its top bit.
    generation: WaitWord,
}

const _: () = assert!(size_of::<Barrier>() == 16);

// SAFETY: `parties` is written once before sharing; the rest are atomics. A
// garbage `arrived` count at worst releases a round early or breaks it, never
// touches memory out of place.
#[allow(unsafe_code)]
unsafe impl ShmSafe for Barrier {}

/// What [`Barrier::wait`] returns: exactly one party per round is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
    index: u32,
}

impl BarrierWaitResult {
    /// Whether this party was the last to arrive (the one whose arrival
    /// released the others; Python's `wait()` returns it `parties - 1`).
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// This party's place in the order of arrival: 0 for the first to
    /// arrive, `parties - 1` for the last (the leader). Python's
    /// `Barrier.wait()` returns it.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Barrier {
    /// A barrier that releases each time `parties` processes have arrived
    /// (`parties` of 0 is treated as 1).
    pub const fn new(parties: u32) -> Self {
        Self {
            parties: if parties == 0 { 1 } else { parties },
            arrived: AtomicU32::new(0),
            generation: WaitWord::new(0),
        }
    }

    /// Waits for the other parties.
    pub fn wait(&self) -> Result<BarrierWaitResult> {
        self.wait_deadline(Deadline::Forever)
    }

    /// Waits for the other parties at most `timeout`; on timeout the barrier
    /// breaks and every party gets an error.
    pub fn wait_for(&self, timeout: Duration) -> Result<BarrierWaitResult> {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// Waits for the other parties until `deadline` at most; then, as
    /// [`wait_for`](Self::wait_for), the barrier breaks.
    pub fn wait_until(&self, deadline: Instant) -> Result<BarrierWaitResult> {
        self.wait_deadline(Deadline::At(deadline))
    }

    /// As [`wait_until`](Self::wait_until) (`None`: no deadline), looking
    /// up every `every` while it sleeps: when `give_up()` returns true, the
    /// round breaks as on a timeout and [`Error::Timeout`] is returned. For
    /// a caller that must not sleep unseen for long (a Python binding, which
    /// checks for Ctrl-C between sleeps).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc_core::sync::Barrier;
    ///
    /// let b = Barrier::new(2);
    /// let mut looks = 0;
    /// let r = b.wait_checking(None, Duration::from_millis(1), || {
    ///     looks += 1;
    ///     looks == 3
    /// });
    /// assert!(matches!(r, Err(ipc_core::Error::Timeout)));
    /// assert!(b.is_broken());
    /// ```
    pub fn wait_checking(
        &self,
        deadline: Option<Instant>,
        every: Duration,
        mut give_up: impl FnMut() -> bool,
    ) -> Result<BarrierWaitResult> {
        let deadline = deadline.map_or(Deadline::Forever, Deadline::At);
        self.wait_inner(deadline, Some((every, &mut give_up)))
    }

    /// How many parties wait in the current round (Python's `n_waiting`).
    pub fn waiting(&self) -> u32 {
        self.arrived.load(Ordering::Acquire).min(self.parties)
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<BarrierWaitResult> {
        self.wait_inner(deadline, None)
    }

    fn wait_inner(
        &self,
        deadline: Deadline,
        mut looks: Option<(Duration, &mut dyn FnMut() -> bool)>,
    ) -> Result<BarrierWaitResult> {
        let word = self.generation.word();
        let generation = word.load(Ordering::Acquire);
        if generation & BROKEN != 0 {
            return Err(Error::BrokenBarrier);
        }
        // Wrapping: the count lives in shared memory another process may have
        // scribbled over (a garbage count is handled below, never a panic).
        let arrived = self.arrived.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        if arrived >= self.parties {
            self.arrived.store(0, Ordering::Relaxed);
            word.store(generation.wrapping_add(1) & !BROKEN, Ordering::SeqCst);
            self.generation.wake_all();
            return Ok(BarrierWaitResult {
                leader: true,
                index: self.parties.saturating_sub(1),
            });
        }
        let moved = |g| g != generation;
        let outcome = loop {
            // With looks, sleep a slice at a time and look in between.
            let sleep = match &looks {
                None => deadline,
                Some((every, _)) => deadline
                    .slice_end(*every)
                    .map_or(Deadline::Now, Deadline::At),
            };
            let r = Waiter::new().block(&self.generation.until(moved), sleep, |_| {
                Ok::<_, Error>(Some(self.generation.load()).filter(|&g| moved(g)))
            });
            if let (Ok(None), Some((_, give_up))) = (&r, looks.as_mut())
                && !deadline.has_passed()
                && !give_up()
            {
                continue;
            }
            break r;
        };
        match outcome {
            Ok(Some(g)) if g & BROKEN != 0 => Err(Error::BrokenBarrier),
            Ok(Some(_)) => Ok(BarrierWaitResult {
                leader: false,
                index: arrived
                    .saturating_sub(1)
                    .min(self.parties.saturating_sub(1)),
            }),
            Ok(None) | Err(_) => {
                // Break the round unless it completed at the last moment.
                if word
                    .compare_exchange(
                        generation,
                        generation | BROKEN,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_ok()
                {
                    self.generation.wake_all();
                    Err(Error::Timeout)
                } else if word.load(Ordering::Acquire) & BROKEN != 0 {
                    Err(Error::BrokenBarrier)
                } else {
                    Ok(BarrierWaitResult {
                        leader: false,
                        index: arrived
                            .saturating_sub(1)
                            .min(self.parties.saturating_sub(1)),
                    })
                }
            }
        }
    }

    /// Breaks the barrier: current and future waiters get [`Error::BrokenBarrier`].
    pub fn abort(&self) {
        self.generation.word().fetch_or(BROKEN, Ordering::SeqCst);
        self.generation.wake_all();
    }

    /// Mends a broken barrier for a new round. Call it only when no party is waiting.
    pub fn reset(&self) {
        self.arrived.store(0, Ordering::Relaxed);
        let word = self.generation.word();
        let g = word.load(Ordering::Relaxed);
        word.store(g.wrapping_add(1) & !BROKEN, Ordering::SeqCst);
        self.generation.wake_all();
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.generation.word().load(Ordering::Acquire) & BROKEN != 0
    }

    /// The number of parties per round.
    pub fn parties(&self) -> u32 {
        self.parties
    }
}
