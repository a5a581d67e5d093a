//! The blocking loop ([`Waiter::block`]) and the wait on several objects
//! ([`wait_any`]); the protocol is in the [module docs](super).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::backoff::{Backoff, SPIN_FOR};
use super::deadline::Deadline;
use super::waitable::Waitable;
use crate::os::futex::{self, Slept};

/// How often a sleeping waiter checks whether the processes it waits for
/// still live (a SIGKILLed process wakes nobody).
pub const PEER_CHECK_PERIOD: Duration = Duration::from_millis(20);

/// Which form of the operation [`Waiter::block`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The ordinary attempt.
    Fast,
    /// A sleep slice ran out without a wake-up: also look at whether the
    /// processes the operation waits for still live.
    Slow,
}

/// The blocking policy of one call: how long to spin before sleeping, and
/// how often to wake up and check on other processes.
///
/// ```
/// use ipc_core::wait::{Deadline, WaitWord, Waiter};
/// use std::time::Duration;
///
/// let flag = WaitWord::new(0);
/// let waiter = Waiter::new().spin(Duration::ZERO);
/// let got = waiter.block(
///     &flag.until(|v| v != 0),
///     Deadline::after(Duration::from_millis(5)),
///     |_| Ok::<_, ()>((flag.load() != 0).then_some("set")),
/// );
/// assert_eq!(got, Ok(None)); // nobody set it: the deadline passed
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    spin: Duration,
    slice: Option<Duration>,
}

impl Default for Waiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Waiter {
    /// Spins for [`SPIN_FOR`], then sleeps until woken or the deadline, with
    /// no slow checks.
    pub const fn new() -> Self {
        Self {
            spin: SPIN_FOR,
            slice: None,
        }
    }

    /// Spins for `spin` before each sleep (zero: never spins).
    pub const fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sleeps at most `period` at a time; after a sleep that ran out, the
    /// operation is tried in its [`Check::Slow`] form.
    pub const fn check_peers_every(mut self, period: Duration) -> Self {
        self.slice = Some(period);
        self
    }

    /// Runs `attempt` until it returns a value or an error, waiting on `on`
    /// between attempts; `Ok(None)` once `deadline` has passed (after a last
    /// attempt at or past it, so a condition that came true at the deadline
    /// is not missed).
    ///
    /// `attempt` is the operation itself (claim a slot under a lock, take a
    /// permit, ...) and returns `Ok(None)` when it would have to wait. It is
    /// called with [`Check::Slow`] after a sleep slice ran out unwoken.
    #[inline]
    pub fn block<W, T, E>(
        &self,
        on: &W,
        deadline: Deadline,
        mut attempt: impl FnMut(Check) -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E>
    where
        W: Waitable + ?Sized,
    {
        let mut check = Check::Fast;
        loop {
            if let Some(value) = attempt(check)? {
                return Ok(Some(value));
            }
            check = Check::Fast;
            if deadline.has_passed() {
                return Ok(None);
            }
            // The snapshot comes after the attempt, so the first attempt of a
            // call costs no extra load. A change the attempt missed is seen
            // by `is_ready`, in the spin or in the re-check after announcing.
            // The spin watches `is_ready` alone: it must see every change that
            // lets the attempt succeed anyway, and the poll loop of a hand-off
            // between two busy processes is the latency-critical path.
            let seen = on.ready_word().load(Ordering::SeqCst);
            let mut backoff = Backoff::spinning_for(self.spin);
            let mut ready = false;
            while backoff.spin() {
                if on.is_ready() {
                    ready = true;
                    break;
                }
            }
            if ready {
                continue;
            }
            let slice_end = match self.slice {
                Some(slice) => deadline.slice_end(slice),
                None => deadline.instant(),
            };
            if self.sleep(on, seen, slice_end) == Slept::TimedOut
                && self.slice.is_some()
                && !deadline.has_passed()
            {
                check = Check::Slow;
            }
        }
    }

    /// One announced sleep on `on` while its word holds `seen`.
    fn sleep<W: Waitable + ?Sized>(&self, on: &W, seen: u32, until: Option<Instant>) -> Slept {
        on.sleepers().fetch_add(1, Ordering::SeqCst);
        // Re-check after announcing: a waker that changed the state before
        // seeing our count would otherwise skip the wake-up.
        let slept = if on.is_ready() {
            Slept::Woken
        } else {
            futex::wait(on.ready_word(), seen, until)
        };
        on.sleepers().fetch_sub(1, Ordering::SeqCst);
        slept
    }
}

/// Wakes up to `n` processes sleeping on `word`, for layouts whose word and
/// sleepers count live apart (check the count first, as [`WaitWord::wake`]
/// does); returns how many were woken.
///
/// [`WaitWord::wake`]: super::WaitWord::wake
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    futex::wake(word, n)
}

/// Waits until at least one of `objects` is ready, or `deadline` passes;
/// returns the indices of the ready ones (empty on timeout), like Python's
/// `multiprocessing.connection.wait`.
///
/// Spins for [`SPIN_FOR`] first, then sleeps on every object's word at once
/// (`futex_waitv`), in slices of [`PEER_CHECK_PERIOD`] after which each
/// object's [`check_peer`](Waitable::check_peer) runs.
///
/// ```
/// use ipc_core::wait::{Deadline, WaitWord, wait_any};
/// use std::sync::atomic::Ordering;
/// use std::time::Duration;
///
/// let (a, b) = (WaitWord::new(0), WaitWord::new(0));
/// let (ra, rb) = (a.until(|v| v != 0), b.until(|v| v != 0));
/// assert!(wait_any(&[&ra, &rb], Deadline::after(Duration::from_millis(1))).is_empty());
/// b.word().store(1, Ordering::SeqCst);
/// assert_eq!(wait_any(&[&ra, &rb], Deadline::Forever), vec![1]);
/// ```
pub fn wait_any(objects: &[&dyn Waitable], deadline: Deadline) -> Vec<usize> {
    let ready = |peers: bool| -> Vec<usize> {
        objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_ready() || (peers && o.check_peer()))
            .map(|(i, _)| i)
            .collect()
    };
    let mut backoff = Backoff::new();
    let mut peers = false;
    loop {
        let seen: Vec<u32> = objects
            .iter()
            .map(|o| o.ready_word().load(Ordering::SeqCst))
            .collect();
        let now = ready(peers);
        if !now.is_empty() || objects.is_empty() || deadline.has_passed() {
            return now;
        }
        peers = false;
        if backoff.spin() {
            continue;
        }
        let Some(slice_end) = deadline.slice_end(PEER_CHECK_PERIOD) else {
            continue;
        };
        for o in objects {
            o.sleepers().fetch_add(1, Ordering::SeqCst);
        }
        let slept = if objects.iter().any(|o| o.is_ready()) {
            Slept::Woken
        } else {
            let words: Vec<(&AtomicU32, u32)> = objects
                .iter()
                .zip(&seen)
                .map(|(o, &v)| (o.ready_word(), v))
                .collect();
            futex::wait_any(&words, Some(slice_end))
        };
        for o in objects {
            o.sleepers().fetch_sub(1, Ordering::SeqCst);
        }
        peers = slept == Slept::TimedOut;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::WaitWord;

    #[test]
    fn block_times_out_not_early_and_tries_once_more() {
        let w = WaitWord::new(0);
        for ms in [1u64, 5, 20] {
            let start = Instant::now();
            let d = Deadline::At(start + Duration::from_millis(ms));
            let mut tries = 0;
            let r = Waiter::new().block(&w.until(|v| v == 1), d, |_| {
                tries += 1;
                Ok::<_, ()>(None::<()>)
            });
            assert_eq!(r, Ok(None));
            assert!(Instant::now() >= start + Duration::from_millis(ms));
            assert!(tries >= 2, "a last attempt at the deadline");
        }
    }

    #[test]
    fn ready_value_returns_at_once_and_now_does_not_wait() {
        let w = WaitWord::new(7);
        let r = Waiter::new().block(&w.until(|v| v == 7), Deadline::Forever, |_| {
            Ok::<_, ()>(Some(w.load()))
        });
        assert_eq!(r, Ok(Some(7)));
        let start = Instant::now();
        let r = Waiter::new().block(&w.until(|_| false), Deadline::Now, |_| {
            Ok::<_, ()>(None::<()>)
        });
        assert_eq!(r, Ok(None));
        assert!(start.elapsed() < Duration::from_millis(5));
    }

    #[test]
    fn slow_checks_come_once_per_slice() {
        let w = WaitWord::new(0);
        let mut slow = 0;
        let waiter = Waiter::new()
            .spin(Duration::ZERO)
            .check_peers_every(Duration::from_millis(2));
        let r = waiter.block(&w.until(|_| false), Deadline::Forever, |c| {
            if c == Check::Slow {
                slow += 1;
            }
            Ok::<_, ()>((slow == 3).then_some(()))
        });
        assert_eq!(r, Ok(Some(())));
    }

    #[test]
    fn errors_end_the_wait() {
        let w = WaitWord::new(0);
        let r: Result<Option<()>, &str> =
            Waiter::new().block(&w.until(|_| false), Deadline::Forever, |_| Err("gone"));
        assert_eq!(r, Err("gone"));
    }

    #[test]
    fn a_wake_from_another_thread_ends_the_sleep() {
        let w = std::sync::Arc::new(WaitWord::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.word().store(1, Ordering::SeqCst);
            w2.wake_all();
        });
        let start = Instant::now();
        let r = Waiter::new().block(&w.until(|v| v == 1), Deadline::Forever, |_| {
            Ok::<_, ()>((w.load() == 1).then_some(()))
        });
        assert_eq!(r, Ok(Some(())));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
