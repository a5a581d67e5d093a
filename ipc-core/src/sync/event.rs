//! [`Event`]: a flag that processes wait for (Python's `Event`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::futex;
use crate::Result;
use crate::segment::ShmSafe;

/// A flag in shared memory: `set` wakes every process waiting for it, and it
/// stays set until `clear`.
///
/// ```
/// use ipc_core::segment::{SegmentOptions, Shared};
/// use ipc_core::sync::Event;
/// use std::time::Duration;
///
/// let ev = Shared::create(&SegmentOptions::anonymous(), Event::new())?;
/// assert!(ev.wait_for(Duration::from_millis(1)).is_err()); // not set: times out
/// ev.set();
/// ev.wait()?; // returns at once
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct Event {
    state: AtomicU32,
    waiters: AtomicU32,
}

const _: () = assert!(size_of::<Event>() == 8);

// SAFETY: two atomics; any value of `state` other than 1 reads as "clear", any
// `waiters` value only costs a spurious wake syscall.
unsafe impl ShmSafe for Event {}

impl Event {
    /// A cleared event.
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        if self.state.swap(1, Ordering::SeqCst) != 1 && self.waiters.load(Ordering::SeqCst) != 0 {
            futex::wake_all(&self.state);
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.state.store(0, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) == 1
    }

    /// Waits until the flag is set.
    pub fn wait(&self) -> Result<()> {
        futex::wait_for(&self.state, Some(&self.waiters), None, |v| v == 1).map(drop)
    }

    /// Waits until the flag is set, at most `timeout`; [`Error::Timeout`](crate::Error::Timeout) otherwise.
    pub fn wait_for(&self, timeout: Duration) -> Result<()> {
        self.wait_until(Instant::now() + timeout)
    }

    /// Waits until the flag is set or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) -> Result<()> {
        futex::wait_for(&self.state, Some(&self.waiters), Some(deadline), |v| v == 1).map(drop)
    }
}
