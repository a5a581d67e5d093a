//! [`Event`]: a flag that processes wait for (Python's `Event`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::shm_safe::ShmSafe;
use crate::wait::{Deadline, WaitWord, Waiter};
use crate::{Error, Result};

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
    /// 1 when set; any other value reads as clear.
    state: WaitWord,
}

const _: () = assert!(size_of::<Event>() == 8);

// SAFETY: one wait word; any value of `state` other than 1 reads as "clear".
#[allow(unsafe_code)]
unsafe impl ShmSafe for Event {}

impl Event {
    /// A cleared event.
    pub const fn new() -> Self {
        Self {
            state: WaitWord::new(0),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        if self.state.word().swap(1, Ordering::SeqCst) != 1 {
            self.state.wake_all();
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.state.word().store(0, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.word().load(Ordering::Acquire) == 1
    }

    /// Waits until the flag is set.
    pub fn wait(&self) -> Result<()> {
        self.wait_deadline(Deadline::Forever)
    }

    /// Waits until the flag is set, at most `timeout`; [`Error::Timeout`] otherwise.
    pub fn wait_for(&self, timeout: Duration) -> Result<()> {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// Waits until the flag is set or `deadline` passes ([`Error::Timeout`]).
    pub fn wait_until(&self, deadline: Instant) -> Result<()> {
        self.wait_deadline(Deadline::At(deadline))
    }

    /// Waits until the flag is set without blocking a thread (a future, for
    /// any async runtime; see [`Ready`](crate::wait::Ready)).
    pub async fn wait_async(&self) -> Result<()> {
        let set = |v| v == 1;
        crate::wait::Ready::new(&self.state.until(set), |_| {
            Ok::<_, Error>(set(self.state.load()).then_some(()))
        })
        .await
    }

    fn wait_deadline(&self, deadline: Deadline) -> Result<()> {
        let set = |v| v == 1;
        Waiter::new()
            .block(&self.state.until(set), deadline, |_| {
                Ok::<_, Error>(set(self.state.load()).then_some(()))
            })?
            .ok_or(Error::Timeout)
    }
}
