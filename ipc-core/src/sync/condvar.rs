//! [`Condvar`]: condition-style waiting on a [`RobustMutex`](super::RobustMutex).
//!
//! A sequence word counts notifications. A waiter reads it while holding the
//! mutex, unlocks, and sleeps on the futex while the word is unchanged; a
//! notifier bumps it (under the same mutex or not) and wakes. Reading before
//! unlocking is what prevents a lost wake-up: a notification after our read
//! changes the word, and the futex refuses to sleep on a changed word.

use std::time::{Duration, Instant};

use super::mutex::{RobustMutexExt, RobustMutexGuard};
use crate::shm_safe::ShmSafe;
use crate::wait::{Deadline, WaitWord, Waiter};
use crate::{Error, Result};

/// A condition variable in shared memory, used with a [`RobustMutex`](super::RobustMutex).
///
/// Like every condition variable it may wake spuriously: wait in a loop on the
/// condition, or use [`wait_while`](Self::wait_while).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Condvar {
    /// Counts notifications.
    seq: WaitWord,
}

const _: () = assert!(size_of::<Condvar>() == 8);

// SAFETY: one wait word; any value is a valid sequence number.
#[allow(unsafe_code)]
unsafe impl ShmSafe for Condvar {}

impl Condvar {
    /// A condition variable nobody waits on.
    pub const fn new() -> Self {
        Self {
            seq: WaitWord::new(0),
        }
    }

    /// Unlocks `guard`'s mutex, waits for a notification, and locks again.
    ///
    /// Returns [`Error::OwnerDied`] (with the lock held again) if the mutex had
    /// to be taken over from a dead owner when relocking.
    pub fn wait<T>(&self, guard: &mut RobustMutexGuard<'_, T>) -> Result<()> {
        self.wait_inner(guard, Deadline::Forever)
    }

    /// As [`wait`](Self::wait), giving up after `timeout` with
    /// [`Error::Timeout`] (the lock is held again either way).
    pub fn wait_for<T>(
        &self,
        guard: &mut RobustMutexGuard<'_, T>,
        timeout: Duration,
    ) -> Result<()> {
        self.wait_inner(guard, Deadline::after(timeout))
    }

    /// As [`wait`](Self::wait), giving up at `deadline`.
    pub fn wait_until<T>(
        &self,
        guard: &mut RobustMutexGuard<'_, T>,
        deadline: Instant,
    ) -> Result<()> {
        self.wait_inner(guard, Deadline::At(deadline))
    }

    /// Waits as long as `condition` holds on the protected value.
    pub fn wait_while<T>(
        &self,
        guard: &mut RobustMutexGuard<'_, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<()> {
        while condition(&mut *guard) {
            self.wait(guard)?;
        }
        Ok(())
    }

    /// [`wait_while`](Self::wait_while), giving up after `timeout` with
    /// [`Error::Timeout`] (the lock is held again either way; the condition
    /// may still hold).
    pub fn wait_while_for<T>(
        &self,
        guard: &mut RobustMutexGuard<'_, T>,
        timeout: Duration,
        condition: impl FnMut(&mut T) -> bool,
    ) -> Result<()> {
        self.wait_while_deadline(guard, Deadline::after(timeout), condition)
    }

    /// [`wait_while`](Self::wait_while), giving up at `deadline`.
    pub fn wait_while_until<T>(
        &self,
        guard: &mut RobustMutexGuard<'_, T>,
        deadline: Instant,
        condition: impl FnMut(&mut T) -> bool,
    ) -> Result<()> {
        self.wait_while_deadline(guard, Deadline::At(deadline), condition)
    }

    fn wait_while_deadline<T>(
        &self,
        guard: &mut RobustMutexGuard<'_, T>,
        deadline: Deadline,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<()> {
        while condition(&mut *guard) {
            self.wait_inner(guard, deadline)?;
        }
        Ok(())
    }

    fn wait_inner<T>(&self, guard: &mut RobustMutexGuard<'_, T>, deadline: Deadline) -> Result<()> {
        // Read under the lock: a notification after this read changes the
        // word, so the sleep below cannot miss it.
        let seq = self.seq.load();
        let notified = |v| v != seq;
        let outcome = lock_api::MutexGuard::unlocked(guard, || {
            Waiter::new().block(&self.seq.until(notified), deadline, |_| {
                Ok::<_, Error>(notified(self.seq.load()).then_some(()))
            })
        });
        let mutex = lock_api::MutexGuard::mutex(guard);
        if mutex.is_inconsistent() {
            return Err(Error::OwnerDied);
        }
        outcome?.ok_or(Error::Timeout)
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        self.seq.bump(1);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.seq.bump(u32::MAX);
    }
}
