//! The Linux futex: sleep while a 32-bit word in shared memory holds a value,
//! and wake the sleepers.
//!
//! - The futexes are *shared* (no `FUTEX_PRIVATE_FLAG`): the word lives in a
//!   `MAP_SHARED` mapping and the waker is usually another process, so the
//!   kernel must key the wait queue on the page, not on this process's address.
//! - Deadlines are absolute instants on `CLOCK_MONOTONIC`, passed to the kernel
//!   with `FUTEX_WAIT_BITSET` (and `futex_waitv`'s clock argument), so a wait
//!   that is interrupted and restarted never stretches, and a wall-clock jump
//!   never shortens or lengthens it.
//! - A sleep may end spuriously (a signal, a racing wake, a changed value);
//!   callers re-check their condition. It never ends *early* with
//!   [`Slept::TimedOut`]: the kernel reports `ETIMEDOUT` only once the
//!   monotonic clock has passed the deadline.

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use super::clock::monotonic_timespec;

/// How one sleep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slept {
    /// Woken, interrupted, or the word no longer held the expected value.
    Woken,
    /// The deadline passed.
    TimedOut,
}

fn errno() -> Option<i32> {
    std::io::Error::last_os_error().raw_os_error()
}

/// After a sleep the kernel refused for a reason that is not "changed value"
/// (a mapping it cannot use as a futex, a kernel without the call): a short
/// plain sleep, so callers still make progress, with the same contract.
fn fallback_sleep(pause: Duration, deadline: Option<Instant>) -> Slept {
    std::thread::sleep(pause);
    match deadline {
        Some(d) if Instant::now() >= d => Slept::TimedOut,
        _ => Slept::Woken,
    }
}

/// Sleeps while `word` holds `expected`, until woken or until `deadline`
/// (`None`: no limit).
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Slept {
    let ts = deadline.map(monotonic_timespec);
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
    if rc == 0 {
        return Slept::Woken;
    }
    match errno() {
        Some(libc::ETIMEDOUT) => Slept::TimedOut,
        Some(libc::EFAULT) => fallback_sleep(Duration::from_micros(200), deadline),
        _ => Slept::Woken,
    }
}

/// Most words one [`wait_any`] call can sleep on (the kernel's limit).
pub(crate) const WAIT_ANY_MAX: usize = 128;

/// `struct futex_waitv` of `futex_waitv(2)` (Linux 5.16).
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

const _: () = assert!(size_of::<FutexWaitv>() == 24);

/// `FUTEX2_SIZE_U32`: the words are 32-bit; no `FUTEX2_PRIVATE`, they are shared.
const FUTEX2_SIZE_U32: u32 = 0x02;
const SYS_FUTEX_WAITV: libc::c_long = 449;

/// Sleeps until any word no longer holds its expected value or is woken, or
/// until `deadline` (Linux 5.16's `futex_waitv`). Older kernels fall back to
/// short sleeps. At most [`WAIT_ANY_MAX`] words are watched; with more, the
/// sleep is cut to a millisecond so the caller re-checks the rest.
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], deadline: Option<Instant>) -> Slept {
    let deadline = if words.len() > WAIT_ANY_MAX {
        let slice = Instant::now() + Duration::from_millis(1);
        Some(deadline.map_or(slice, |d| d.min(slice)))
    } else {
        deadline
    };
    let addrs: Vec<(u64, u32)> = words
        .iter()
        .take(WAIT_ANY_MAX)
        .map(|(w, v)| (w.as_ptr() as u64, *v))
        .collect();
    match wait_any_addr(&addrs, deadline) {
        WaitvEnded::TimedOut => Slept::TimedOut,
        // No futex_waitv (after its short sleep): the deadline decides.
        WaitvEnded::Failed if deadline.is_some_and(|d| Instant::now() >= d) => Slept::TimedOut,
        WaitvEnded::Woken(_) | WaitvEnded::Changed | WaitvEnded::Failed => Slept::Woken,
    }
}

/// How a [`wait_any_addr`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitvEnded {
    /// Word `i` of the list was woken.
    Woken(usize),
    /// Some word did not hold its expected value when the wait began (or a
    /// signal interrupted it): which one is not known.
    Changed,
    /// The deadline passed.
    TimedOut,
    /// The kernel could not read a word (an address no longer mapped), or
    /// has no `futex_waitv`: the caller re-checks everything.
    Failed,
}

/// [`wait_any`] over raw addresses, reporting which word was woken: for the
/// async reactor, which must not keep references to words whose owners may
/// drop them at any time. Only the kernel reads the words (a stale address
/// makes the call fail with `EFAULT`, or wait on whatever is there now; it
/// never makes this process read or write memory it does not own).
pub(crate) fn wait_any_addr(words: &[(u64, u32)], deadline: Option<Instant>) -> WaitvEnded {
    let waiters: Vec<FutexWaitv> = words
        .iter()
        .take(WAIT_ANY_MAX)
        .map(|&(addr, val)| FutexWaitv {
            val: u64::from(val),
            uaddr: addr,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        })
        .collect();
    let ts = deadline.map(monotonic_timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `waiters` is a live array of futex_waitv structs and `ts_ptr`
    // is null or a timespec on this frame; the kernel reads both. The
    // addresses inside are only passed to the kernel, which validates them
    // (EFAULT) and compares the word there with `val`; nothing in this
    // process dereferences them.
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
        return WaitvEnded::Woken(rc as usize);
    }
    match errno() {
        Some(libc::ETIMEDOUT) => WaitvEnded::TimedOut,
        Some(libc::EAGAIN | libc::EINTR) => WaitvEnded::Changed,
        Some(libc::ENOSYS) => {
            // No futex_waitv: a short sleep, after which everything is
            // re-checked.
            std::thread::sleep(Duration::from_micros(500));
            WaitvEnded::Failed
        }
        _ => WaitvEnded::Failed,
    }
}

/// Wakes up to `n` processes sleeping on `word`; returns how many were woken.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE does not access memory
    // beyond looking up the wait queue keyed on its address.
    let rc = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    rc.max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_any_returns_on_changed_word_and_times_out_not_early() {
        let (a, b) = (AtomicU32::new(0), AtomicU32::new(5));
        // b is not 4: returns at once.
        assert_eq!(wait_any(&[(&a, 0), (&b, 4)], None), Slept::Woken);
        let d = Instant::now() + Duration::from_millis(10);
        assert_eq!(wait_any(&[(&a, 0), (&b, 5)], Some(d)), Slept::TimedOut);
        assert!(Instant::now() >= d);
    }

    #[test]
    fn timed_wait_never_returns_early() {
        let w = AtomicU32::new(0);
        for ms in [1u64, 5, 20] {
            let d = Instant::now() + Duration::from_millis(ms);
            while wait(&w, 0, Some(d)) == Slept::Woken {}
            assert!(Instant::now() >= d, "returned before the deadline");
        }
    }

    #[test]
    fn wake_with_no_waiters_is_harmless() {
        assert_eq!(wake(&AtomicU32::new(0), u32::MAX), 0);
    }
}
