//! [`WaitWord`]: a futex word and its sleepers count, side by side.

use std::sync::atomic::{AtomicU32, Ordering};

use super::waitable::Waitable;
use crate::os::futex;
use crate::shm_safe::ShmSafe;

/// A word that waiters sleep on, and the count of those asleep, as they sit
/// in shared memory (8 bytes, `#[repr(C)]`).
///
/// The word is the caller's: a sequence number that wakers bump
/// ([`notify`](Self::notify)), or a state that wakers set and then wake
/// ([`wake`](Self::wake)). See the [module protocol](super) for the rule that
/// lets wakers skip the system call when nobody sleeps.
///
/// ```
/// use ipc_core::wait::{Deadline, WaitWord, Waiter};
/// use std::sync::atomic::Ordering;
///
/// let w = WaitWord::new(0);
/// // Wait (here: not at all) until the word is 1.
/// let got = Waiter::new().block(
///     &w.until(|v| v == 1),
///     Deadline::Now,
///     |_| Ok::<_, ()>((w.load() == 1).then_some(())),
/// );
/// assert_eq!(got, Ok(None));
/// w.word().store(1, Ordering::SeqCst);
/// w.wake_all();
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct WaitWord {
    word: AtomicU32,
    sleepers: AtomicU32,
}

const _: () = assert!(size_of::<WaitWord>() == 8);

// SAFETY: two atomics, no pointers; any word value is the caller's to
// interpret (and to validate), any sleepers count only costs or skips a
// wake-up system call (the sleepers' slices bound a skipped one).
#[allow(unsafe_code)]
unsafe impl ShmSafe for WaitWord {}

impl WaitWord {
    /// A word holding `value`, with nobody asleep.
    pub const fn new(value: u32) -> Self {
        Self {
            word: AtomicU32::new(value),
            sleepers: AtomicU32::new(0),
        }
    }

    /// The word itself.
    #[inline]
    pub fn word(&self) -> &AtomicU32 {
        &self.word
    }

    /// The sleepers count.
    #[inline]
    pub fn sleepers(&self) -> &AtomicU32 {
        &self.sleepers
    }

    /// The word's value (`SeqCst`: a snapshot to sleep on).
    #[inline]
    pub fn load(&self) -> u32 {
        self.word.load(Ordering::SeqCst)
    }

    /// Whether anyone is asleep (or about to be).
    #[inline]
    pub fn has_sleepers(&self) -> bool {
        self.sleepers.load(Ordering::SeqCst) != 0
    }

    /// For a sequence word: if anyone sleeps, bumps the word and wakes up to
    /// `n` of them. Call it after the change that satisfies their condition,
    /// which the waiters' readiness check must see (see
    /// [`bump`](Self::bump) where the bump itself is the event).
    #[inline]
    pub fn notify(&self, n: u32) {
        if self.has_sleepers() {
            self.word.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.word, n);
        }
    }

    /// [`notify`](Self::notify) for every sleeper.
    #[inline]
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }

    /// For a word whose change *is* the event (a condition variable's
    /// notification count): bumps the word whether or not anyone sleeps, so
    /// a waiter that is about to sleep sees it, and wakes up to `n` sleepers.
    #[inline]
    pub fn bump(&self, n: u32) {
        self.word.fetch_add(1, Ordering::SeqCst);
        if self.has_sleepers() {
            futex::wake(&self.word, n);
        }
    }

    /// Bumps the word and wakes every sleeper, whether or not the count says
    /// anyone sleeps (for rare, global events such as a close).
    pub fn bump_and_wake_all(&self) {
        self.word.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.word, u32::MAX);
    }

    /// For a state word the caller has just changed: if anyone sleeps, wakes
    /// up to `n` of them.
    #[inline]
    pub fn wake(&self, n: u32) {
        if self.has_sleepers() {
            futex::wake(&self.word, n);
        }
    }

    /// [`wake`](Self::wake) for every sleeper.
    #[inline]
    pub fn wake_all(&self) {
        self.wake(u32::MAX);
    }

    /// Wakes every sleeper, whether or not the count says anyone sleeps.
    pub fn force_wake_all(&self) {
        futex::wake(&self.word, u32::MAX);
    }

    /// This word as a [`Waitable`] that is ready when `ready(word)` holds.
    pub fn until<F: Fn(u32) -> bool>(&self, ready: F) -> Until<'_, F> {
        Until { word: self, ready }
    }
}

/// A [`WaitWord`] with a readiness test on its value (see [`WaitWord::until`]).
#[derive(Debug)]
pub struct Until<'a, F> {
    word: &'a WaitWord,
    ready: F,
}

impl<F: Fn(u32) -> bool> Waitable for Until<'_, F> {
    fn ready_word(&self) -> &AtomicU32 {
        &self.word.word
    }
    fn sleepers(&self) -> &AtomicU32 {
        &self.word.sleepers
    }
    fn is_ready(&self) -> bool {
        (self.ready)(self.word.word.load(Ordering::SeqCst))
    }
}
