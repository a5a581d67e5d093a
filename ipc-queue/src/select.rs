//! Waiting on several queues and pipe ends at once (Python's
//! `multiprocessing.connection.wait`).
//!
//! Every receivable object has a *readiness word*, a futex word that changes
//! whenever a message arrives or the object is closed, and a *sleepers* count
//! that tells senders to issue a wake-up. A waiter snapshots every word,
//! checks readiness, announces itself on every sleepers count, checks again,
//! and sleeps on all the words at once with `futex_waitv`. A sender that
//! changes a word after our snapshot makes the kernel refuse (or end) the
//! sleep, so no wake-up is lost.
//!
//! A peer that is SIGKILLed changes no word. Sleeps are therefore cut into
//! slices of [`PEER_CHECK_PERIOD`], after each of which every object is asked
//! whether its peer is still alive.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipc_core::sync::futex;

/// How often a sleeping receiver checks whether its peer process still lives.
pub const PEER_CHECK_PERIOD: Duration = Duration::from_millis(20);

/// Something a receiver can wait on: a queue, a pipe end, a receiver.
pub trait Waitable {
    /// The futex word that changes whenever [`is_ready`](Self::is_ready) may have become true.
    fn ready_word(&self) -> &AtomicU32;
    /// The count of sleepers; senders wake [`ready_word`](Self::ready_word) when it is non-zero.
    fn sleepers(&self) -> &AtomicU32;
    /// Whether a receive would return without blocking (a message, or a
    /// closed/disconnected state) right now. Cheap: no system calls.
    fn is_ready(&self) -> bool;
    /// The slow check, run once per [`PEER_CHECK_PERIOD`] of sleep: whether the
    /// peer has died, which makes the object ready (its receive reports
    /// `Disconnected`). The default has no peer to check.
    fn check_peer(&self) -> bool {
        false
    }
}

/// Sleeps until `ready()` holds on `obj` or `deadline` passes, without
/// spinning (the caller has spun already). Returns `false` on timeout.
pub(crate) fn block_until(obj: &dyn Waitable, deadline: Option<Instant>) -> bool {
    loop {
        let seen = obj.ready_word().load(Ordering::SeqCst);
        if obj.is_ready() {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        if sleep_once(&[obj], &[seen], deadline) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return obj.is_ready();
        }
    }
}

/// One announced sleep on all `objs`; returns whether any became ready
/// (including by the slow peer check at the end of a slice).
fn sleep_once(objs: &[&dyn Waitable], seen: &[u32], deadline: Option<Instant>) -> bool {
    for o in objs {
        o.sleepers().fetch_add(1, Ordering::SeqCst);
    }
    let ready_now = objs.iter().any(|o| o.is_ready());
    let slice_end = Instant::now() + PEER_CHECK_PERIOD;
    let outcome = if ready_now {
        futex::WaitOutcome::Woken
    } else {
        let words: Vec<(&AtomicU32, u32)> = objs
            .iter()
            .zip(seen)
            .map(|(o, &v)| (o.ready_word(), v))
            .collect();
        futex::wait_any(
            &words,
            Some(deadline.map_or(slice_end, |d| d.min(slice_end))),
        )
    };
    for o in objs {
        o.sleepers().fetch_sub(1, Ordering::SeqCst);
    }
    ready_now
        || objs.iter().any(|o| o.is_ready())
        || (outcome == futex::WaitOutcome::TimedOut && objs.iter().any(|o| o.check_peer()))
}

/// Waits until at least one of `objects` is ready to receive, or `timeout`
/// passes; returns the indices of the ready ones (empty on timeout), like
/// Python's `multiprocessing.connection.wait`.
///
/// ```
/// use ipc_queue::{Queue, wait};
/// use std::time::Duration;
///
/// let a = Queue::<u64>::builder().capacity(4).create()?;
/// let b = Queue::<u64>::builder().capacity(4).create()?;
/// assert!(wait(&[&a, &b], Some(Duration::from_millis(1))).is_empty());
/// b.put(&7)?;
/// assert_eq!(wait(&[&a, &b], None), vec![1]);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> Vec<usize> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let ready = |objs: &[&dyn Waitable]| -> Vec<usize> {
        objs.iter()
            .enumerate()
            .filter(|(_, o)| o.is_ready())
            .map(|(i, _)| i)
            .collect()
    };
    let mut backoff = futex::Backoff::new();
    loop {
        let seen: Vec<u32> = objects
            .iter()
            .map(|o| o.ready_word().load(Ordering::SeqCst))
            .collect();
        let now = ready(objects);
        if !now.is_empty() || objects.is_empty() {
            return now;
        }
        if backoff.spin() {
            continue;
        }
        if sleep_once(objects, &seen, deadline) {
            let r: Vec<usize> = objects
                .iter()
                .enumerate()
                .filter(|(_, o)| o.is_ready() || o.check_peer())
                .map(|(i, _)| i)
                .collect();
            if !r.is_empty() {
                return r;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return ready(objects);
        }
    }
}
