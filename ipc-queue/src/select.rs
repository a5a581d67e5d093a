//! Waiting on several queues and pipe ends at once (Python's
//! `multiprocessing.connection.wait`), through `ipc_core::wait::wait_any`.
//!
//! Every receivable object is a [`Waitable`]: a readiness word that changes
//! whenever a message arrives or the object is closed, a sleepers count that
//! tells senders to issue a wake-up, and a peer check run once per
//! [`PEER_CHECK_PERIOD`] of sleep (a SIGKILLed peer changes no word).

use std::time::Duration;

use ipc_core::wait::{Deadline, wait_any};
pub use ipc_core::wait::{PEER_CHECK_PERIOD, Waitable};

/// Waits until at least one of `objects` is ready to receive; returns the
/// indices of the ready ones, like Python's
/// `multiprocessing.connection.wait(objects)`.
///
/// ```
/// use ipc_queue::{Queue, wait, wait_timeout};
/// use std::time::Duration;
///
/// let a = Queue::<u64>::builder().capacity(4).create()?;
/// let b = Queue::<u64>::builder().capacity(4).create()?;
/// assert!(wait_timeout(&[&a, &b], Duration::from_millis(1)).is_empty());
/// b.put(&7)?;
/// assert_eq!(wait(&[&a, &b]), vec![1]);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub fn wait(objects: &[&dyn Waitable]) -> Vec<usize> {
    wait_any(objects, Deadline::Forever)
}

/// [`wait`] for at most `timeout` (Python's `wait(objects, timeout)`);
/// empty when nothing became ready in time.
pub fn wait_timeout(objects: &[&dyn Waitable], timeout: Duration) -> Vec<usize> {
    wait_any(objects, Deadline::after(timeout))
}
