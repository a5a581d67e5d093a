//! [`Semaphore`]: a counter of permits shared between processes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::futex;
use crate::segment::ShmSafe;
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
    count: AtomicU32,
    waiters: AtomicU32,
}

const _: () = assert!(size_of::<Semaphore>() == 8);

// SAFETY: two atomics; every count is a valid count (values above
// SEMAPHORE_MAX only make `release` refuse), waiters only costs a syscall.
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
            count: AtomicU32::new(permits),
            waiters: AtomicU32::new(0),
        }
    }

    /// Takes one permit if one is free right now; [`Error::WouldBlock`] otherwise.
    pub fn try_acquire(&self) -> Result<()> {
        let mut c = self.count.load(Ordering::Acquire);
        while c > 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => c = now,
            }
        }
        Err(Error::WouldBlock)
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<()> {
        loop {
            if self.try_acquire().is_ok() {
                return Ok(());
            }
            futex::wait_for(&self.count, Some(&self.waiters), deadline, |v| v > 0)?;
        }
    }

    /// Takes one permit, waiting as long as it takes.
    pub fn acquire(&self) -> Result<()> {
        self.acquire_until(None)
    }

    /// Takes one permit, waiting at most `timeout` ([`Error::Timeout`]).
    pub fn acquire_for(&self, timeout: Duration) -> Result<()> {
        self.acquire_until(Some(Instant::now() + timeout))
    }

    /// Returns `n` permits and wakes up to `n` waiters. Refuses (and changes
    /// nothing) if the count would pass [`SEMAPHORE_MAX`].
    pub fn release(&self, n: u32) -> Result<()> {
        let mut c = self.count.load(Ordering::Relaxed);
        loop {
            let next =
                c.checked_add(n)
                    .filter(|&v| v <= SEMAPHORE_MAX)
                    .ok_or(Error::InvalidArgument {
                        reason: "semaphore count would exceed SEMAPHORE_MAX",
                    })?;
            match self
                .count
                .compare_exchange_weak(c, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        if self.waiters.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.count, n);
        }
        Ok(())
    }

    /// The number of free permits right now.
    pub fn value(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }
}
