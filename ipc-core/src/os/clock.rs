//! The monotonic clocks: the precise one `Instant` reads, as a `timespec` for
//! the kernel's absolute deadlines, and the coarse one for rate limits.

use std::time::{Duration, Instant};

fn read(clock: libc::clockid_t) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the clocks passed here
    // (CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE) exist on every Linux this
    // crate supports, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut now) };
    now
}

/// `deadline` as an absolute `CLOCK_MONOTONIC` time, the clock `Instant` uses
/// on Linux.
///
/// `Instant` does not expose its `timespec`, so the deadline is rebuilt from
/// the current monotonic reading plus the remaining duration. `Instant` is
/// read first and the raw clock second: the raw reading is then the later
/// one, so the kernel's deadline can only fall after `deadline`, never before.
pub(crate) fn monotonic_timespec(deadline: Instant) -> libc::timespec {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let now = read(libc::CLOCK_MONOTONIC);
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
pub(crate) fn coarse_now() -> Duration {
    let now = read(libc::CLOCK_MONOTONIC_COARSE);
    Duration::new(
        now.tv_sec.max(0) as u64,
        now.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}
