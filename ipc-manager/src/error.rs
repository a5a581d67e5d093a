//! The one error type of `ipc-manager`.

use std::fmt;

/// A convenient alias for `Result<T, ipc_manager::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `ipc-manager`.
///
/// Errors of the layer below (segments, locks, processes) arrive as
/// [`Error::Core`]; those specific to the manager have their own variants.
/// No error leaves a shared object half-changed: a failed call changed
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A key longer than [`MAX_KEY_LEN`](crate::storage::layout::MAX_KEY_LEN).
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value longer than [`MAX_VALUE_LEN`](crate::storage::layout::MAX_VALUE_LEN) (or an
    /// element larger than a list or value accepts).
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An object name that is empty or longer than
    /// [`MAX_NAME_LEN`](crate::storage::layout::MAX_NAME_LEN).
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A stored value (or a list's elements, or a `Value`) has a different
    /// type than the typed view that read it.
    WrongType {
        /// The caller's type.
        expected: String,
        /// The stored type.
        found: String,
    },
    /// The name belongs to another kind of object (e.g. a list asked for as a
    /// dict), or the same kind created with other parameters.
    WrongKind {
        /// The object's name.
        name: String,
        /// What the caller asked for.
        expected: String,
        /// What the manager holds under that name.
        found: String,
    },
    /// A list index past the end.
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The list's length.
        len: u64,
    },
    /// The manager cannot grow any further: an anonymous manager's capacity
    /// or the maximum segment count is used up. (A full filesystem is
    /// `Core(NoSpace)`.)
    CapacityExhausted {
        /// Bytes that could not be found.
        requested: u64,
        /// Which limit was hit.
        reason: &'static str,
    },
    /// The manager's shared state is inconsistent (a ref out of bounds, a
    /// length that cannot be, a damaged block): someone wrote over it. The
    /// manager refuses to read through it.
    Corrupted {
        /// What failed to check out.
        reason: String,
    },
    /// The manager has no free reader slot (more than
    /// [`MAX_READERS`](crate::storage::layout::MAX_READERS) threads read it at once).
    TooManyReaders,
    /// An error of `ipc-core`: segments (including a full `/dev/shm` or disk,
    /// [`ipc_core::Error::NoSpace`]), headers, locks.
    Core(ipc_core::Error),
}

impl Error {
    /// Whether this error reports damaged shared state (the manager's own
    /// structures, or a segment header).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corrupted { .. }
                | Error::Core(ipc_core::Error::Corrupted { .. })
                | Error::Core(ipc_core::Error::CorruptHeader { .. })
        )
    }

    /// Whether this error reports that memory or disk ran out.
    pub fn is_out_of_space(&self) -> bool {
        matches!(
            self,
            Error::CapacityExhausted { .. } | Error::Core(ipc_core::Error::NoSpace { .. })
        )
    }
}

impl From<ipc_core::Error> for Error {
    fn from(e: ipc_core::Error) -> Self {
        Error::Core(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyTooLarge { len, max } => {
                write!(f, "key of {len} bytes exceeds the limit of {max}")
            }
            Error::ValueTooLarge { len, max } => {
                write!(f, "value of {len} bytes exceeds the limit of {max}")
            }
            Error::InvalidName { name, reason } => {
                write!(f, "invalid object name {name:?}: {reason}")
            }
            Error::WrongType { expected, found } => {
                write!(f, "wrong type: expected {expected}, stored {found}")
            }
            Error::WrongKind {
                name,
                expected,
                found,
            } => write!(f, "`{name}` is a {found}, not a {expected}"),
            Error::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for length {len}")
            }
            Error::CapacityExhausted { requested, reason } => {
                write!(f, "cannot find {requested} more bytes: {reason}")
            }
            Error::Corrupted { reason } => write!(f, "corrupted manager state: {reason}"),
            Error::TooManyReaders => write!(f, "no free reader slot"),
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

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e.into(),
            e => std::io::Error::other(e),
        }
    }
}

/// The error for shared state that breaks an invariant: memory another
/// process scribbled over, or a structure a crash left half-built that
/// recovery could not mend.
pub(crate) fn corrupted(reason: impl Into<String>) -> Error {
    Error::Corrupted {
        reason: reason.into(),
    }
}
