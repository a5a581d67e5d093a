//! The one error type of `ipc-pool`.

use ipc_core::process::ExitStatus;

/// A convenient alias for `Result<T, ipc_pool::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong submitting work to a [`Pool`](crate::Pool) or
/// waiting for it.
///
/// Errors about one item carry its `index` in the input (see
/// [`Error::index`]): [`TaskFailed`](Error::TaskFailed),
/// [`WorkerDied`](Error::WorkerDied) and
/// [`ResultTooLarge`](Error::ResultTooLarge). The others concern the pool or
/// the whole call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The task panicked in its worker, or returned an `Err` (see
    /// [`TaskOutput`](crate::TaskOutput)): Python's `error_callback` case.
    /// The worker goes on with other tasks.
    #[error("task {index} failed: {message}{}", at(location))]
    TaskFailed {
        /// The item's position in the input (0 for `apply`).
        index: usize,
        /// The panic message, or the text of the returned error.
        message: String,
        /// Where it panicked (`file:line:column`), when known; `None` for a
        /// returned error.
        location: Option<String>,
    },
    /// The worker running this item died (killed by a signal, or it exited)
    /// before returning a result, and the retry budget
    /// ([`PoolBuilder::retries`](crate::PoolBuilder::retries)) was spent.
    #[error("task {index}: worker {pid} died ({status})")]
    WorkerDied {
        /// The item's position in the input.
        index: usize,
        /// The worker's process id.
        pid: u32,
        /// How the worker ended.
        status: ExitStatus,
    },
    /// The task returned a byte message larger than the pool's largest
    /// message ([`PoolBuilder::max_message`](crate::PoolBuilder::max_message)).
    #[error(
        "task {index}: result of {len} bytes exceeds the {max}-byte limit (the builder's `max_message` sets it)"
    )]
    ResultTooLarge {
        /// The item's position in the input.
        index: usize,
        /// The result's length in bytes.
        len: usize,
        /// The largest result that fits.
        max: usize,
    },
    /// An argument (or a result type) does not fit in one message of the pool
    /// ([`PoolBuilder::max_message`](crate::PoolBuilder::max_message));
    /// nothing was submitted.
    #[error(
        "{len} bytes do not fit in a pool message (at most {max}; the builder's `max_message` sets it)"
    )]
    TooLarge {
        /// The size in bytes that did not fit.
        len: usize,
        /// The largest size that fits.
        max: usize,
    },
    /// The initializer panicked in a worker, or workers kept dying before
    /// finishing it. The pool is broken: every call fails with this error.
    #[error("worker initializer failed: {message}")]
    InitializerFailed {
        /// The panic message, or how the workers died.
        message: String,
    },
    /// A bounded wait ran out; the work goes on and can be waited for again.
    #[error("timed out")]
    Timeout,
    /// The pool no longer accepts work: it was closed, terminated or joined.
    #[error("the pool is not running (closed or terminated)")]
    NotRunning,
    /// The pool was terminated before this work finished.
    #[error("the pool was terminated")]
    Terminated,
    /// The call does not fit the pool's state (e.g. `join` on a running pool).
    #[error("invalid state: {reason}")]
    InvalidState {
        /// What was wrong.
        reason: &'static str,
    },
    /// A caller-supplied argument is out of range (zero processes, ...).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What was wrong.
        reason: &'static str,
    },
    /// A worker sent a message that does not follow the pool's protocol
    /// (shared memory scribbled over); the items it concerned failed.
    #[error("pool protocol error: {reason}")]
    Protocol {
        /// What failed to check out.
        reason: String,
    },
    /// The pool's own queues were closed under it, or their other side is
    /// gone.
    #[error("disconnected")]
    Disconnected,
    /// A queue error from `ipc-queue` other than flow control and
    /// `ipc-core` errors (the pool's queues report sizes and types).
    #[error(transparent)]
    Queue(ipc_queue::Error),
    /// A segment or process error from `ipc-core` (e.g. `fork` failed),
    /// including those that reached the pool through its queues: a core
    /// error always arrives here, in one form.
    #[error(transparent)]
    Core(ipc_core::Error),
}

/// `" (at LOCATION)"`, or nothing.
fn at(location: &Option<String>) -> String {
    location
        .as_deref()
        .map_or_else(String::new, |l| format!(" (at {l})"))
}

impl Error {
    /// The input position of the item this error is about, for the per-item
    /// errors ([`TaskFailed`](Error::TaskFailed),
    /// [`WorkerDied`](Error::WorkerDied),
    /// [`ResultTooLarge`](Error::ResultTooLarge)).
    pub fn index(&self) -> Option<usize> {
        match self {
            Error::TaskFailed { index, .. }
            | Error::WorkerDied { index, .. }
            | Error::ResultTooLarge { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// Whether this error concerns one item only (the pool keeps working and
    /// the other items are unaffected).
    pub fn is_item_error(&self) -> bool {
        self.index().is_some()
    }

    /// Whether a bounded wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// Whether the pool's queues are gone under it.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Disconnected)
    }

    /// Whether shared state failed its checks (a protocol violation, or a
    /// corrupted queue or segment).
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Protocol { .. } => true,
            Error::Queue(e) => e.is_corruption(),
            Error::Core(e) => e.is_corruption(),
            _ => false,
        }
    }

    /// The same error about another item (used when a chunk fails as a whole).
    pub(crate) fn at_index(&self, new: usize) -> Error {
        let mut e = self.clone();
        match &mut e {
            Error::TaskFailed { index, .. }
            | Error::WorkerDied { index, .. }
            | Error::ResultTooLarge { index, .. } => *index = new,
            _ => {}
        }
        e
    }

    /// A job that disappeared while its handle waited: a bug, reported rather
    /// than waited on forever.
    pub(crate) fn vanished() -> Error {
        Error::InvalidState {
            reason: "the job's state is gone",
        }
    }
}

impl From<ipc_queue::Error> for Error {
    fn from(e: ipc_queue::Error) -> Self {
        match e {
            ipc_queue::Error::Timeout => Error::Timeout,
            ipc_queue::Error::Disconnected => Error::Disconnected,
            ipc_queue::Error::Core(e) => e.into(),
            e => Error::Queue(e),
        }
    }
}

impl From<ipc_core::Error> for Error {
    fn from(e: ipc_core::Error) -> Self {
        match e {
            ipc_core::Error::Timeout => Error::Timeout,
            ipc_core::Error::Disconnected => Error::Disconnected,
            e => Error::Core(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message along the `source()` chain, as `anyhow` prints it.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }

    #[test]
    fn a_wrapped_cause_prints_once_and_arrives_in_one_form() {
        let core = ipc_core::Error::NotFound {
            name: "/orders".into(),
        };
        let via_queue: Error = ipc_queue::Error::Core(core.clone()).into();
        let direct: Error = core.clone().into();
        assert_eq!(via_queue, direct, "one form for a core error");
        let msgs = chain(&via_queue);
        let hits = msgs.iter().filter(|m| m.contains("/orders")).count();
        assert_eq!(hits, 1, "{msgs:?}");
        let q = ipc_queue::Error::Core(core);
        let hits = chain(&q).iter().filter(|m| m.contains("/orders")).count();
        assert_eq!(hits, 1);
        let t: Error = ipc_queue::Error::Timeout.into();
        assert!(t.is_timeout());
    }
}
