//! Wait/notify on a 32-bit word in shared memory: the Linux futex.
//!
//! Every blocking primitive in this crate ends here. Three rules shape it:
//!
//! - The futexes are *shared* (no `FUTEX_PRIVATE_FLAG`): the word lives in a
//!   `MAP_SHARED` mapping and the waker is usually another process, so the kernel
//!   must key the wait queue on the page, not on this process's address.
//! - Deadlines are absolute instants on `CLOCK_MONOTONIC`, passed to the kernel
//!   with `FUTEX_WAIT_BITSET`, so a wait that is interrupted and restarted never
//!   stretches, and a wall-clock jump never shortens or lengthens it.
//! - [`wait_until`] may return spuriously (a signal, a racing wake, a changed
//!   value); callers re-check their condition in a loop. It never returns
//!   *early* with [`WaitOutcome::TimedOut`]: the kernel reports `ETIMEDOUT` only
//!   once the monotonic clock has passed the deadline.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How a single [`wait_until`] call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken, interrupted, or the word no longer held the expected value.
    /// The caller re-checks its condition.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// A point on `CLOCK_MONOTONIC`, the clock `std::time::Instant` uses on Linux.
///
/// `Instant` does not expose its `timespec`, so the deadline is rebuilt from
/// the current monotonic reading plus the remaining duration.
pub(crate) fn monotonic_deadline(deadline: Instant) -> libc::timespec {
    // Read `Instant` first and the raw clock second: the raw reading is then the
    // later one, so the kernel's deadline can only fall after `deadline`.
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let mut sec = now
        .tv_sec
        .saturating_add(remaining.as_secs().min(i64::MAX as u64 / 2) as i64);
    let mut nsec = now.tv_nsec + i64::from(remaining.subsec_nanos());
    if nsec >= 1_000_000_000 {
        sec = sec.saturating_add(1);
        nsec -= 1_000_000_000;
    }
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

/// The time since boot on `CLOCK_MONOTONIC_COARSE`: a few nanoseconds to read
/// (a fifth of `Instant::now`), at the kernel tick's resolution (1 to 10 ms).
/// For rate-limiting slow checks on paths that run once per message.
pub fn coarse_now() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE
    // exists on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    Duration::new(
        now.tv_sec.max(0) as u64,
        now.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Sleeps while `word` holds `expected`, until woken or until `deadline`.
///
/// With `deadline == None` the wait is unbounded. See the module docs for the
/// spurious-wakeup contract.
pub fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
    let ts = deadline.map(monotonic_deadline);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 for the whole call; the kernel only
    // reads it. `ts_ptr` is null or points to a timespec on this stack frame.
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        WaitOutcome::TimedOut
    } else if rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT) {
        // Only possible on a mapping the kernel cannot read as a futex; fall
        // back to a short sleep so callers still make progress.
        std::thread::sleep(Duration::from_micros(200));
        match deadline {
            Some(d) if Instant::now() >= d => WaitOutcome::TimedOut,
            _ => WaitOutcome::Woken,
        }
    } else {
        WaitOutcome::Woken
    }
}

/// Most words one [`wait_any`] call can sleep on (the kernel's limit).
pub const WAIT_ANY_MAX: usize = 128;

/// `struct futex_waitv` of `futex_waitv(2)` (Linux 5.16).
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: the words are 32-bit; no `FUTEX2_PRIVATE`, they are shared.
const FUTEX2_SIZE_U32: u32 = 0x02;
const SYS_FUTEX_WAITV: libc::c_long = 449;

/// Sleeps until any `word` no longer holds its expected value, or until one
/// of them is woken, or until `deadline` (Linux 5.16's `futex_waitv`).
///
/// Older kernels fall back to short sleeps, so callers see the same contract
/// as [`wait_until`]: spurious returns allowed, never an early `TimedOut`.
/// At most [`WAIT_ANY_MAX`] words; with more, only the first are watched and
/// the wait is cut to a short slice so the rest are re-checked by the caller.
pub fn wait_any(words: &[(&AtomicU32, u32)], deadline: Option<Instant>) -> WaitOutcome {
    let slice = Instant::now() + Duration::from_millis(1);
    let deadline = if words.len() > WAIT_ANY_MAX {
        Some(deadline.map_or(slice, |d| d.min(slice)))
    } else {
        deadline
    };
    let waiters: Vec<FutexWaitv> = words
        .iter()
        .take(WAIT_ANY_MAX)
        .map(|(w, v)| FutexWaitv {
            val: u64::from(*v),
            uaddr: w.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        })
        .collect();
    let ts = deadline.map(monotonic_deadline);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `waiters` is a live array of `len` futex_waitv structs whose
    // addresses point at live AtomicU32s borrowed for this call; `ts_ptr` is
    // null or a timespec on this frame. The kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            SYS_FUTEX_WAITV,
            waiters.as_ptr(),
            waiters.len() as libc::c_uint,
            0,
            ts_ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if rc >= 0 {
        return WaitOutcome::Woken;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ETIMEDOUT) => WaitOutcome::TimedOut,
        Some(libc::ENOSYS) => {
            std::thread::sleep(Duration::from_micros(500));
            match deadline {
                Some(d) if Instant::now() >= d => WaitOutcome::TimedOut,
                _ => WaitOutcome::Woken,
            }
        }
        _ => WaitOutcome::Woken,
    }
}

/// Wakes up to `n` processes sleeping on `word`; returns how many were woken.
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE does not access memory
    // beyond looking up the wait queue keyed on its address.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    rc.max(0) as usize
}

/// Wakes every process sleeping on `word`.
pub fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX as u32)
}

/// How long [`Backoff`] spins before it tells the caller to sleep.
///
/// Measured on the 2-vCPU VM this project runs on: a process woken from a
/// futex sleep whose vCPU had gone idle takes 1 to 25 µs to run again, while a
/// hand-off between two spinning processes takes 0.1 to 0.5 µs. A spin of
/// 20 µs catches a peer's reply in a request/response exchange without ever
/// letting either vCPU idle; an idle waiter gives up the CPU after 20 µs,
/// which is nothing next to any real idle period.
pub const SPIN_FOR: Duration = Duration::from_micros(20);

/// Spin, checking the condition between `pause` instructions, until
/// [`SPIN_FOR`] has passed: the "spin briefly before sleeping" policy shared
/// by every blocking primitive.
///
/// The clock is read every 32 rounds, not every round; one `pause` per round
/// keeps the check frequent, and avoids long `pause` bursts, which a
/// hypervisor may take for a lock-holder-preemption spin and deschedule.
#[derive(Debug)]
pub struct Backoff {
    rounds: u32,
    start: Option<Instant>,
    limit: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// A fresh backoff that spins for [`SPIN_FOR`].
    pub fn new() -> Self {
        Self::spinning_for(SPIN_FOR)
    }

    /// A fresh backoff that spins for `limit` instead (zero: not at all, for
    /// waiters that must not use CPU while they wait).
    pub fn spinning_for(limit: Duration) -> Self {
        Self {
            rounds: 0,
            start: None,
            limit,
        }
    }

    /// Spins once more; returns `false` once the caller should stop spinning
    /// and sleep on the futex instead.
    pub fn spin(&mut self) -> bool {
        if self.rounds.is_multiple_of(32) {
            if self.limit.is_zero() {
                return false;
            }
            let start = *self.start.get_or_insert_with(Instant::now);
            if self.rounds > 0 && start.elapsed() >= self.limit {
                return false;
            }
        }
        std::hint::spin_loop();
        self.rounds = self.rounds.wrapping_add(1);
        true
    }

    /// Forgets the spin so far (after progress was made).
    pub fn reset(&mut self) {
        *self = Self::spinning_for(self.limit);
    }
}

/// Blocks until `ready(word.load())` holds, spinning first and then sleeping on
/// the futex; gives up at `deadline`.
///
/// `waiters`, when given, is incremented around the sleep so that wakers can
/// skip the `FUTEX_WAKE` system call when nobody sleeps.
pub fn wait_for(
    word: &AtomicU32,
    waiters: Option<&AtomicU32>,
    deadline: Option<Instant>,
    mut ready: impl FnMut(u32) -> bool,
) -> crate::Result<u32> {
    let mut backoff = Backoff::new();
    loop {
        let v = word.load(Ordering::Acquire);
        if ready(v) {
            return Ok(v);
        }
        if backoff.spin() {
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(crate::Error::Timeout);
        }
        if let Some(w) = waiters {
            w.fetch_add(1, Ordering::SeqCst);
        }
        // Re-check after announcing ourselves: a waker that changed the word
        // before seeing our waiter count would otherwise skip the wake.
        let v = word.load(Ordering::SeqCst);
        let outcome = if ready(v) {
            WaitOutcome::Woken
        } else {
            wait_until(word, v, deadline)
        };
        if let Some(w) = waiters {
            w.fetch_sub(1, Ordering::SeqCst);
        }
        if outcome == WaitOutcome::TimedOut && deadline.is_some_and(|d| Instant::now() >= d) {
            // One last look: the condition may have become true at the deadline.
            let v = word.load(Ordering::Acquire);
            return if ready(v) {
                Ok(v)
            } else {
                Err(crate::Error::Timeout)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_wait_never_returns_early() {
        let w = AtomicU32::new(0);
        for ms in [1u64, 5, 20] {
            let start = Instant::now();
            let d = start + Duration::from_millis(ms);
            let r = wait_for(&w, None, Some(d), |v| v == 1);
            assert_eq!(r, Err(crate::Error::Timeout));
            assert!(Instant::now() >= d, "returned before the deadline");
        }
    }

    #[test]
    fn ready_value_returns_at_once() {
        let w = AtomicU32::new(7);
        assert_eq!(wait_for(&w, None, None, |v| v == 7), Ok(7));
    }

    #[test]
    fn wait_any_returns_on_changed_word_and_times_out_not_early() {
        let (a, b) = (AtomicU32::new(0), AtomicU32::new(5));
        // b is not 4: returns at once.
        assert_eq!(wait_any(&[(&a, 0), (&b, 4)], None), WaitOutcome::Woken);
        let d = Instant::now() + Duration::from_millis(10);
        assert_eq!(
            wait_any(&[(&a, 0), (&b, 5)], Some(d)),
            WaitOutcome::TimedOut
        );
        assert!(Instant::now() >= d);
    }

    #[test]
    fn wake_with_no_waiters_is_harmless() {
        let w = AtomicU32::new(0);
        assert_eq!(wake_all(&w), 0);
    }
}
