//! Bounded waiting for the peer process: busy-spin and futex.
//!
//! Every wait in a timed loop is bounded by [`STALL_LIMIT`] without progress,
//! so a peer that died or wedged turns into an error (a panic in a child)
//! instead of a process spinning forever on a 2-core machine.

use std::fmt;
use std::hint::spin_loop;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// How long a wait may see no progress before the peer is declared stuck.
/// Far above any scheduling hiccup, far below "someone notices a hung CI".
pub const STALL_LIMIT: Duration = Duration::from_secs(5);

/// Spins between clock reads: `Instant::now` costs ~20 ns, a spin a few ns to
/// ~40 ns (PAUSE), so the clock stays out of the fast path.
const SPINS_PER_CHECK: u32 = 1 << 12;

/// Spins after which the waiter also yields the CPU. Pure spinning is the
/// point of the limit probes, but if the host ever puts both processes on one
/// vCPU a pure spinner burns its whole timeslice per handoff; yielding after
/// 2^16 spins (a few ms at ~40 ns per PAUSE) keeps that case slow instead of pathological.
const SPINS_BEFORE_YIELD: u32 = 1 << 16;

/// The peer made no progress for [`STALL_LIMIT`].
#[derive(Debug)]
pub struct Stalled;

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer made no progress for {STALL_LIMIT:?}")
    }
}

impl std::error::Error for Stalled {}

/// Busy-spins until `done()` returns true.
#[inline]
pub fn spin_until(mut done: impl FnMut() -> bool) -> Result<(), Stalled> {
    let mut spins: u32 = 0;
    let mut deadline = None;
    while !done() {
        spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(SPINS_PER_CHECK) {
            slow_path_check(spins, &mut deadline)?;
        }
    }
    Ok(())
}

#[cold]
fn slow_path_check(spins: u32, deadline: &mut Option<Instant>) -> Result<(), Stalled> {
    let now = Instant::now();
    match *deadline {
        None => *deadline = Some(now + STALL_LIMIT),
        Some(d) if now > d => return Err(Stalled),
        Some(_) => {}
    }
    if spins >= SPINS_BEFORE_YIELD {
        std::thread::yield_now();
    }
    Ok(())
}

/// Upper bound of one FUTEX_WAIT, so the stall check runs even if a wake is
/// lost (it is not, but a bug in a protocol must not hang the suite).
const FUTEX_SLICE: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// Sleeps until `word` no longer holds `current`, through FUTEX_WAIT.
///
/// Non-private futex ops: the word lives in memory shared by two processes,
/// and FUTEX_PRIVATE_FLAG would key the wait by this process's address space.
pub fn futex_wait_while(word: &AtomicU32, current: u32) -> Result<(), Stalled> {
    use std::sync::atomic::Ordering::Acquire;
    let deadline = Instant::now() + STALL_LIMIT;
    while word.load(Acquire) == current {
        if Instant::now() > deadline {
            return Err(Stalled);
        }
        // SAFETY: `word` is a live, aligned u32 for the duration of the call;
        // FUTEX_WAIT only reads it and sleeps. EAGAIN (value changed), EINTR
        // and ETIMEDOUT all mean "look again", which the loop does.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                current,
                &FUTEX_SLICE as *const libc::timespec,
            );
        }
    }
    Ok(())
}

/// Wakes at most one process sleeping in [`futex_wait_while`] on `word`.
pub fn futex_wake_one(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE does not access the
    // memory, it only looks up waiters keyed by it.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}
