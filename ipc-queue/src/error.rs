//! The one error type of `ipc-queue`.

use std::fmt;

/// A convenient alias for `Result<T, ipc_queue::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong sending or receiving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A non-blocking send found no free slot.
    Full,
    /// A non-blocking receive found no message.
    Empty,
    /// A bounded wait ran out.
    Timeout,
    /// The queue was closed, or the peer end dropped or died, and every
    /// message in flight has been received.
    Disconnected,
    /// A message longer than the largest frame chosen at creation; nothing was sent.
    TooLarge {
        /// The message length.
        len: usize,
        /// The largest frame this queue or pipe carries.
        max: usize,
    },
    /// A frame whose length is not the size of the receiver's message type
    /// (the sender used the byte interface). The frame was consumed.
    WrongSize {
        /// `size_of` the expected type.
        expected: usize,
        /// The frame's length.
        found: usize,
    },
    /// The caller's buffer cannot hold the next frame; the frame stays queued.
    BufferTooSmall {
        /// The frame's length.
        needed: usize,
        /// The buffer's length.
        got: usize,
    },
    /// A segment, header, lock or shared-state error from `ipc-core`
    /// (wrong type, corrupted indices, not found, ...).
    Core(ipc_core::Error),
}

impl Error {
    /// Builds [`Error::Core`] with [`ipc_core::Error::Corrupted`].
    pub(crate) fn corrupted(reason: impl Into<String>) -> Self {
        Error::Core(ipc_core::Error::Corrupted {
            reason: reason.into(),
        })
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => write!(f, "full"),
            Error::Empty => write!(f, "empty"),
            Error::Timeout => write!(f, "timed out"),
            Error::Disconnected => write!(f, "disconnected"),
            Error::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the {max}-byte frame")
            }
            Error::WrongSize { expected, found } => {
                write!(
                    f,
                    "frame of {found} bytes where a {expected}-byte message was expected"
                )
            }
            Error::BufferTooSmall { needed, got } => {
                write!(f, "buffer of {got} bytes cannot hold a {needed}-byte frame")
            }
            Error::Core(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Core(e) => Some(e),
            _ => None,
        }
    }
}
