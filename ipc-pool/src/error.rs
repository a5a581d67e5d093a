//! The one error type of `ipc-pool`.

use std::fmt;

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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The task panicked in its worker (Python's `error_callback` case). The
    /// worker caught the panic and goes on with other tasks.
    TaskFailed {
        /// The item's position in the input (0 for `apply`).
        index: usize,
        /// The panic message.
        message: String,
        /// Where it panicked (`file:line:column`), when known.
        location: Option<String>,
    },
    /// The worker running this item died (killed by a signal, or it exited)
    /// before returning a result, and the retry budget
    /// ([`PoolBuilder::retries`](crate::PoolBuilder::retries)) was spent.
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
    TooLarge {
        /// The size in bytes that did not fit.
        len: usize,
        /// The largest size that fits.
        max: usize,
    },
    /// The initializer panicked in a worker, or workers kept dying before
    /// finishing it. The pool is broken: every call fails with this error.
    InitializerFailed {
        /// The panic message, or how the workers died.
        message: String,
    },
    /// A bounded wait ran out; the work goes on and can be waited for again.
    Timeout,
    /// The pool no longer accepts work: it was closed, terminated or joined.
    NotRunning,
    /// The pool was terminated before this work finished.
    Terminated,
    /// The call does not fit the pool's state (e.g. `join` on a running pool).
    InvalidState {
        /// What was wrong.
        reason: &'static str,
    },
    /// A caller-supplied argument is out of range (zero processes, ...).
    InvalidArgument {
        /// What was wrong.
        reason: &'static str,
    },
    /// A worker sent a message that does not follow the pool's protocol
    /// (shared memory scribbled over); the items it concerned failed.
    Protocol {
        /// What failed to check out.
        reason: String,
    },
    /// A queue error from `ipc-queue`.
    Queue(ipc_queue::Error),
    /// A segment or process error from `ipc-core` (e.g. `fork` failed).
    Core(ipc_core::Error),
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
            e => Error::Queue(e),
        }
    }
}

impl From<ipc_core::Error> for Error {
    fn from(e: ipc_core::Error) -> Self {
        match e {
            ipc_core::Error::Timeout => Error::Timeout,
            e => Error::Core(e),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TaskFailed {
                index,
                message,
                location,
            } => {
                write!(f, "task {index} panicked: {message}")?;
                if let Some(at) = location {
                    write!(f, " (at {at})")?;
                }
                Ok(())
            }
            Error::WorkerDied { index, pid, status } => {
                write!(f, "task {index}: worker {pid} died ({status})")
            }
            Error::ResultTooLarge { index, len, max } => write!(
                f,
                "task {index}: result of {len} bytes exceeds the {max}-byte limit"
            ),
            Error::TooLarge { len, max } => write!(
                f,
                "{len} bytes do not fit in a pool message (at most {max}); see PoolBuilder::max_message"
            ),
            Error::InitializerFailed { message } => {
                write!(f, "worker initializer failed: {message}")
            }
            Error::Timeout => write!(f, "timed out"),
            Error::NotRunning => write!(f, "the pool is not running (closed or terminated)"),
            Error::Terminated => write!(f, "the pool was terminated"),
            Error::InvalidState { reason } => write!(f, "invalid state: {reason}"),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Error::Protocol { reason } => write!(f, "pool protocol error: {reason}"),
            Error::Queue(e) => e.fmt(f),
            Error::Core(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Queue(e) => Some(e),
            Error::Core(e) => Some(e),
            _ => None,
        }
    }
}
