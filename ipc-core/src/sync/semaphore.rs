//! [`Semaphore`]: a counter of permits shared between processes.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::shm_safe::ShmSafe;
use crate::wait::{Deadline, WaitWord, Waiter};
use crate::{Error, Result};

/// Largest count a semaphore holds (as POSIX's `SEM_VALUE_MAX`).
pub const SEMAPHORE_MAX: u32 = i32::MAX as u32;

/// A counting semaphore in shared memory.
///
/// Permits are not owned: a process killed while "holding" one does not give
/// it back (as with POSIX semaphores). Use a [`RobustMutex`](super::RobustMutex)
/// where a dead holder must be detected.
///
/// ```
/// use ipc_core::segment::{SegmentOptions, Shared};
/// use ipc_core::sync::Semaphore;
///
/// let sem = Shared::create(&SegmentOptions::anonymous(), Semaphore::new(2))?;
/// sem.acquire()?;
/// sem.acquire()?;
/// assert!(sem.try_acquire().is_err());
/// sem.release(1)?;
/// assert_eq!(sem.value(), 1);
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Semaphore {
    /// The free permits; waiters sleep on it while it is zero.
    count: WaitWord,
}

const _: () = assert!(size_of::<Semaphore>() == 8);

// SAFETY: one wait word; every count is a valid count (values above
// SEMAPHORE_MAX only make `release` refuse).
#[allow(unsafe_code)]
unsafe impl ShmSafe for Semaphore {}

impl Semaphore {
    /// A semaphore holding `permits` (clamped to [`SEMAPHORE_MAX`]).
    pub const fn new(permits: u32) -> Self {
        let permits = if permits > SEMAPHORE_MAX {
            SEMAPHORE_MAX
        } else {
            permits
        };
        Self {
            count: WaitWord::new(permits),
        }
    }

    /// Takes one permit if one is free right now; [`Error::WouldBlock`] otherwise.
    pub fn try_acquire(&self) -> Result<()> {
        let count = self.count.word();
        let mut c = count.load(Ordering::Acquire);
        while c > 0 {
            match count.compare_exchange_weak(c, c - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => c = now,
            }
        }
        Err(Error::WouldBlock)
    }

    fn acquire_deadline(&self, deadline: Deadline) -> Result<()> {
        Waiter::new()
            .block(&self.count.until(|v| v > 0), deadline, |_| {
                Ok::<_, Error>(self.try_acquire().ok())
            })?
            .ok_or(Error::Timeout)
    }

    /// Takes one permit without blocking a thread (a future, for any async
    /// runtime; see [`Ready`](crate::wait::Ready)). Dropping the future
    /// before it completes takes no permit.
    pub async fn acquire_async(&self) -> Result<()> {
        crate::wait::Ready::new(&self.count.until(|v| v > 0), |_| {
            Ok::<_, Error>(self.try_acquire().ok())
        })
        .await
    }

    /// Takes one permit, waiting as long as it takes.
    pub fn acquire(&self) -> Result<()> {
        self.acquire_deadline(Deadline::Forever)
    }

    /// Takes one permit, waiting at most `timeout` ([`Error::Timeout`]).
    pub fn acquire_for(&self, timeout: Duration) -> Result<()> {
        self.acquire_deadline(Deadline::after(timeout))
    }

    /// Takes one permit, waiting until `deadline` at most ([`Error::Timeout`]).
    pub fn acquire_until(&self, deadline: Instant) -> Result<()> {
        self.acquire_deadline(Deadline::At(deadline))
    }

    /// Returns `n` permits and wakes up to `n` waiters. Refuses (and changes
    /// nothing) if the count would pass [`SEMAPHORE_MAX`].
    pub fn release(&self, n: u32) -> Result<()> {
        self.release_within(n, SEMAPHORE_MAX)
    }

    /// [`release`](Self::release) that refuses (and changes nothing) if the
    /// count would pass `bound`: a bounded semaphore (Python's
    /// `BoundedSemaphore`), whose releases never outnumber its acquires,
    /// checked in the same atomic step as the release.
    ///
    /// ```
    /// use ipc_core::sync::Semaphore;
    ///
    /// let s = Semaphore::new(1);
    /// s.acquire()?;
    /// s.release_within(1, 1)?;
    /// assert!(s.release_within(1, 1).is_err());
    /// assert_eq!(s.value(), 1);
    /// # Ok::<(), ipc_core::Error>(())
    /// ```
    pub fn release_within(&self, n: u32, bound: u32) -> Result<()> {
        let bound = bound.min(SEMAPHORE_MAX);
        let count = self.count.word();
        let mut c = count.load(Ordering::Relaxed);
        loop {
            let next = c
                .checked_add(n)
                .filter(|&v| v <= bound)
                .ok_or(Error::InvalidArgument {
                    reason: "semaphore released too many times (the count would pass its bound)",
                })?;
            match count.compare_exchange_weak(c, next, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        self.count.wake(n);
        Ok(())
    }

    /// The number of free permits right now.
    pub fn value(&self) -> u32 {
        self.count.word().load(Ordering::Acquire)
    }
}
