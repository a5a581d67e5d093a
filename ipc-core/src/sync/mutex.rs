//! A mutex in shared memory that survives its owner's death.
//!
//! The raw primitive, [`RawRobustMutex`], is glibc's process-shared *robust*
//! `pthread_mutex_t`. Robustness comes from the kernel: each thread registers a
//! list of the robust mutexes it holds, and when the thread dies (`SIGKILL`
//! included) the kernel marks each one `FUTEX_OWNER_DIED` and wakes one waiter.
//! That waiter's lock call returns `EOWNERDEAD`: it owns the mutex, and the
//! data behind it may be half-updated. No waiter is left blocked.
//!
//! We mark the pthread mutex consistent at once (so it never becomes
//! `ENOTRECOVERABLE`) and remember the fact in our own `inconsistent` word,
//! which stays set until the program says the data is repaired. That gives the
//! semantics of `std`'s poisoning, across processes:
//! [`RobustMutexExt::lock_robust`] returns [`LockError::OwnerDied`] with the
//! guard inside, as long as the flag is set.
//!
//! The safe, generic wrapper is `lock_api`'s: [`RobustMutex<T>`] is
//! `lock_api::Mutex<RawRobustMutex, T>`, with the familiar guard API. Its plain
//! `lock()` takes over a dead owner's lock silently; [`RobustMutexExt`] adds the
//! calls that report it.
//!
//! Locking spins briefly on `trylock` before sleeping in the kernel, so a
//! hand-off between two busy processes avoids a system call.
//!
//! Trust boundary: the pthread mutex's own words are trusted, as in every
//! peer that uses robust mutexes. A process that scribbles over a *held*
//! mutex's internal list pointers can crash the owner on unlock.
// Unsafe code is allowed here: the pthread mutex bytes in shared memory.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lock_api::{MutexGuard, RawMutex, RawMutexTimed};

use crate::os::pthread::{self, Locked, MutexBytes, robust_pshared_initializer};
use crate::shm_safe::ShmSafe;
use crate::wait::{Backoff, Deadline};
use crate::{Error, Result};

/// The raw robust, process-shared mutex (64 bytes, one cache line).
///
/// Implements [`lock_api::RawMutex`] and [`lock_api::RawMutexTimed`]; use it
/// through [`RobustMutex<T>`].
#[repr(C, align(64))]
pub struct RawRobustMutex {
    mutex: UnsafeCell<MutexBytes>,
    /// Non-zero from the moment a lock was taken over from a dead owner until
    /// [`RobustMutexExt::mark_consistent`].
    inconsistent: AtomicU32,
    _reserved: [u8; 20],
}

const _: () = assert!(size_of::<RawRobustMutex>() == 64);
const _: () = assert!(align_of::<RawRobustMutex>() == 64);

// SAFETY: the pthread mutex is process-shared and thread-safe by design; every
// access to it goes through pthread calls, the flag is atomic.
unsafe impl Sync for RawRobustMutex {}
// SAFETY: a robust pshared mutex is not tied to the thread that initialised it.
unsafe impl Send for RawRobustMutex {}

/// What a successful acquisition found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acquired {
    Clean,
    FromDeadOwner,
}

impl RawRobustMutex {
    fn ptr(&self) -> *mut MutexBytes {
        self.mutex.get()
    }

    /// Interprets a lock call's result.
    fn acquired(&self, locked: Locked, op: &'static str) -> Result<Option<Acquired>> {
        match locked {
            Locked::Yes => Ok(Some(Acquired::Clean)),
            Locked::FromDeadOwner => {
                // We own the mutex now. Make the pthread state consistent right
                // away so the mutex stays usable, and keep the fact in our flag.
                self.inconsistent.store(1, Ordering::Release);
                // SAFETY: `ptr` is our initialised mutex, and we hold it
                // (EOWNERDEAD means acquired), as make_consistent requires.
                unsafe { pthread::make_consistent(self.ptr()) }
                    .map_err(|rc| Error::from_errno("pthread_mutex_consistent", rc))?;
                Ok(Some(Acquired::FromDeadOwner))
            }
            Locked::No => Ok(None),
            Locked::Unusable(rc) => Err(Error::Corrupted {
                reason: format!("robust mutex refused by {op} (errno {rc})"),
            }),
            Locked::Failed(rc) => Err(Error::from_errno(op, rc)),
        }
    }

    fn try_acquire(&self) -> Result<Option<Acquired>> {
        // SAFETY: `ptr` points to a pthread mutex initialised (as robust,
        // pshared) by INIT and living as long as `self`.
        let locked = unsafe { pthread::try_lock(self.ptr()) };
        self.acquired(locked, "pthread_mutex_trylock")
    }

    /// Acquires, spinning briefly first, waiting as `deadline` allows.
    /// `Ok(None)` means the deadline passed.
    fn acquire(&self, deadline: Deadline) -> Result<Option<Acquired>> {
        if let Some(a) = self.try_acquire()? {
            return Ok(Some(a));
        }
        let mut backoff = Backoff::new();
        while backoff.spin() {
            if let Some(a) = self.try_acquire()? {
                return Ok(Some(a));
            }
        }
        if deadline == Deadline::Now {
            // Waited out a hand-off between busy processes; no sleep.
            return Ok(None);
        }
        // SAFETY: as in `try_acquire`.
        let locked = unsafe { pthread::lock(self.ptr(), deadline.instant()) };
        self.acquired(locked, "pthread_mutex_lock")
    }

    /// Puts a mutex that is held by nobody alive back into its initial,
    /// unlocked state, if it is not free: after a reboot, a mutex in a
    /// persistent file may still record an owner thread of the previous boot,
    /// which no kernel will ever release. Returns whether it had to.
    ///
    /// # Safety
    ///
    /// No thread of any running process holds the mutex or waits on it (for
    /// example: every process that used it belonged to an earlier boot).
    pub unsafe fn reset_if_held(&self) -> bool {
        if let Ok(Some(_)) = self.try_acquire() {
            // SAFETY: we just acquired it on this thread.
            unsafe { pthread::unlock(self.ptr()) };
            return false;
        }
        // SAFETY: nobody uses the mutex (the caller's contract), so writing
        // the initialiser's bytes, which is all pthread_mutex_init does,
        // races with no one.
        unsafe { self.ptr().write_volatile(robust_pshared_initializer()) };
        self.inconsistent.store(0, Ordering::Release);
        true
    }

    /// Whether the data is flagged as possibly inconsistent (a previous owner
    /// died holding the lock and nobody marked it repaired).
    pub fn is_inconsistent(&self) -> bool {
        self.inconsistent.load(Ordering::Acquire) != 0
    }
}

// SAFETY: `lock`/`try_lock` return only once the pthread mutex is held by the
// calling thread, which excludes every other thread and process until
// `unlock`. INIT is a valid robust pshared mutex (see the initialiser).
unsafe impl RawMutex for RawRobustMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        mutex: UnsafeCell::new(robust_pshared_initializer()),
        inconsistent: AtomicU32::new(0),
        _reserved: [0; 20],
    };

    // The robust list that makes death detection work is per thread: the guard
    // must be released by the thread that took the lock.
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        if let Err(e) = self.acquire(Deadline::Forever) {
            // Only a mutex whose memory was overwritten gets here; the
            // infallible lock_api call has no way to report it.
            panic!("robust mutex unusable: {e}");
        }
    }

    fn try_lock(&self) -> bool {
        matches!(self.try_acquire(), Ok(Some(_)))
    }

    unsafe fn unlock(&self) {
        // SAFETY: `ptr` is our initialised mutex, and the caller (lock_api)
        // guarantees this thread holds the lock.
        unsafe { pthread::unlock(self.ptr()) };
    }
}

// SAFETY: the timed calls hold the same guarantee as `lock` when they return true.
unsafe impl RawMutexTimed for RawRobustMutex {
    type Duration = Duration;
    type Instant = Instant;

    fn try_lock_for(&self, timeout: Duration) -> bool {
        matches!(self.acquire(Deadline::after(timeout)), Ok(Some(_)))
    }

    fn try_lock_until(&self, deadline: Instant) -> bool {
        matches!(self.acquire(Deadline::At(deadline)), Ok(Some(_)))
    }
}

/// A mutex in shared memory that survives its owner's death; see the module docs.
///
/// ```
/// use ipc_core::segment::{SegmentOptions, Shared};
/// use ipc_core::sync::{RobustMutex, RobustMutexExt};
///
/// let m = Shared::create(&SegmentOptions::anonymous(), RobustMutex::new(0u64))?;
/// *m.lock() += 1;
/// match m.lock_robust() {
///     Ok(guard) => assert_eq!(*guard, 1),
///     Err(e) => panic!("no owner died here: {e:?}"),
/// }
/// # Ok::<(), ipc_core::Error>(())
/// ```
pub type RobustMutex<T> = lock_api::Mutex<RawRobustMutex, T>;

/// The guard of a [`RobustMutex`].
pub type RobustMutexGuard<'a, T> = MutexGuard<'a, RawRobustMutex, T>;

// SAFETY: the protected value is only reached while the lock is held, so
// cross-process access is serialised; `T: FromBytes` means any bytes a killed
// owner left behind are a valid `T`, and rules out pointers.
unsafe impl<T: zerocopy::FromBytes + Send + 'static> ShmSafe for RobustMutex<T> {}

/// Why a reporting lock call did not simply return a guard.
#[derive(Debug)]
pub enum LockError<G> {
    /// The lock is held (by `guard`), but a previous owner died holding it and
    /// the data was not yet marked repaired.
    OwnerDied(G),
    /// The deadline passed (timed calls).
    Timeout,
    /// The lock is held by someone else (`try_` calls).
    WouldBlock,
    /// The mutex's memory is not a valid mutex (overwritten by someone).
    Corrupted(Error),
}

impl<G> LockError<G> {
    /// The guard, if the lock was acquired despite the error.
    pub fn into_guard(self) -> Option<G> {
        match self {
            LockError::OwnerDied(g) => Some(g),
            _ => None,
        }
    }
}

impl<G> std::fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::OwnerDied(_) => write!(f, "the previous owner died holding the lock"),
            LockError::Timeout => write!(f, "timed out waiting for the lock"),
            LockError::WouldBlock => write!(f, "the lock is held"),
            LockError::Corrupted(e) => write!(f, "{e}"),
        }
    }
}

impl<G: std::fmt::Debug> std::error::Error for LockError<G> {}

impl<G> From<LockError<G>> for Error {
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::OwnerDied(_) => Error::OwnerDied,
            LockError::Timeout => Error::Timeout,
            LockError::WouldBlock => Error::WouldBlock,
            LockError::Corrupted(e) => e,
        }
    }
}

/// The result of a reporting lock call.
pub type LockResult<G> = std::result::Result<G, LockError<G>>;

/// Lock calls that report a dead previous owner, for [`RobustMutex`].
pub trait RobustMutexExt<T> {
    /// Locks, blocking; `Err(OwnerDied(guard))` if the data may be inconsistent.
    fn lock_robust(&self) -> LockResult<RobustMutexGuard<'_, T>>;
    /// Locks if free right now.
    fn try_lock_robust(&self) -> LockResult<RobustMutexGuard<'_, T>>;
    /// Locks, giving up after `timeout` (never earlier).
    fn lock_robust_for(&self, timeout: Duration) -> LockResult<RobustMutexGuard<'_, T>>;
    /// Locks, giving up at `deadline` (never earlier).
    fn lock_robust_until(&self, deadline: Instant) -> LockResult<RobustMutexGuard<'_, T>>;
    /// Locks as `deadline` allows: the form a blocking operation uses to
    /// carry its caller's deadline into the lock it takes.
    /// [`Deadline::Now`] spins for up to [`SPIN_FOR`](crate::wait::SPIN_FOR)
    /// (a hand-off between busy processes) but never sleeps, and then
    /// reports [`LockError::WouldBlock`].
    fn lock_robust_deadline(&self, deadline: Deadline) -> LockResult<RobustMutexGuard<'_, T>>;
    /// Whether a previous owner died and the data was not marked repaired.
    fn is_inconsistent(&self) -> bool;
    /// Declares the data repaired: later lock calls stop reporting `OwnerDied`.
    fn mark_consistent(guard: &RobustMutexGuard<'_, T>);
}

impl<T> RobustMutexExt<T> for RobustMutex<T> {
    fn lock_robust(&self) -> LockResult<RobustMutexGuard<'_, T>> {
        self.lock_robust_deadline(Deadline::Forever)
    }

    fn try_lock_robust(&self) -> LockResult<RobustMutexGuard<'_, T>> {
        self.finish(self.raw_ref().try_acquire())
            .map_err(|e| match e {
                LockError::Timeout => LockError::WouldBlock,
                e => e,
            })
    }

    fn lock_robust_for(&self, timeout: Duration) -> LockResult<RobustMutexGuard<'_, T>> {
        self.lock_robust_deadline(Deadline::after(timeout))
    }

    fn lock_robust_until(&self, deadline: Instant) -> LockResult<RobustMutexGuard<'_, T>> {
        self.lock_robust_deadline(Deadline::At(deadline))
    }

    fn lock_robust_deadline(&self, deadline: Deadline) -> LockResult<RobustMutexGuard<'_, T>> {
        self.finish(self.raw_ref().acquire(deadline))
            .map_err(|e| match (e, deadline) {
                (LockError::Timeout, Deadline::Now) => LockError::WouldBlock,
                (e, _) => e,
            })
    }

    fn is_inconsistent(&self) -> bool {
        self.raw_ref().is_inconsistent()
    }

    fn mark_consistent(guard: &RobustMutexGuard<'_, T>) {
        // Holding the guard means holding the lock: nobody else reads the flag
        // as part of a lock decision right now.
        lock_api::MutexGuard::mutex(guard)
            .raw_ref()
            .inconsistent
            .store(0, Ordering::Release);
    }
}

/// Private helpers on the lock_api mutex.
trait RawAccess<T> {
    fn raw_ref(&self) -> &RawRobustMutex;
    fn finish(&self, r: Result<Option<Acquired>>) -> LockResult<RobustMutexGuard<'_, T>>;
}

impl<T> RawAccess<T> for RobustMutex<T> {
    fn raw_ref(&self) -> &RawRobustMutex {
        // SAFETY: we only use the raw mutex for lock calls whose success we
        // turn into a guard below (or for reading the flag); it is never
        // unlocked behind lock_api's back.
        unsafe { self.raw() }
    }

    fn finish(&self, r: Result<Option<Acquired>>) -> LockResult<RobustMutexGuard<'_, T>> {
        match r {
            Ok(Some(_)) => {
                // SAFETY: the raw lock was just acquired by this thread.
                let guard = unsafe { self.make_guard_unchecked() };
                if self.raw_ref().is_inconsistent() {
                    Err(LockError::OwnerDied(guard))
                } else {
                    Ok(guard)
                }
            }
            Ok(None) => Err(LockError::Timeout),
            Err(e) => Err(LockError::Corrupted(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_unlock_try_lock() {
        let m = RobustMutex::new(5u32);
        {
            let g = m.lock();
            assert!(m.try_lock().is_none());
            assert!(matches!(m.try_lock_robust(), Err(LockError::WouldBlock)));
            drop(g);
        }
        assert_eq!(*m.try_lock().unwrap(), 5);
    }

    #[test]
    fn timed_lock_times_out_not_early() {
        let m = std::sync::Arc::new(RobustMutex::new(()));
        let m2 = m.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _g = m2.lock();
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        rx.recv().unwrap();
        let start = Instant::now();
        let r = m.lock_robust_for(Duration::from_millis(30));
        assert!(matches!(r, Err(LockError::Timeout)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
