//! Fault injection for the crate's own tests (feature `testing`): pauses
//! at chosen points of a write, so that a test can SIGKILL a writer exactly
//! there. Without the feature every pause is an empty inline function.

/// Where a write may pause.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) enum Point {
    /// Between the steps of an arena growth.
    Growth = 0,
    /// Inside a dictionary `clear`, after the table was unlinked and before
    /// the length was zeroed.
    Clear = 1,
}

#[cfg(feature = "testing")]
mod enabled {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::Point;

    static PAUSE_US: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

    /// Makes this process pause for `d` at `point` (`Duration::ZERO`: off).
    pub(crate) fn set(point: Point, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        PAUSE_US[point as usize].store(us, Ordering::Relaxed);
    }

    pub(crate) fn pause(point: Point) {
        let us = PAUSE_US[point as usize].load(Ordering::Relaxed);
        if us != 0 {
            std::thread::sleep(std::time::Duration::from_micros(us));
        }
    }
}

#[cfg(feature = "testing")]
pub(crate) use enabled::{pause, set};

/// Without the `testing` feature, nothing pauses.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(crate) fn pause(_point: Point) {}
