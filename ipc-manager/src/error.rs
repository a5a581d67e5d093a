//! The one error type of `ipc-manager`.

/// A convenient alias for `Result<T, ipc_manager::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `ipc-manager`.
///
/// Errors of the layer below (segments, locks, processes) arrive as
/// [`Error::Core`]; those specific to the manager have their own variants.
/// No error leaves a shared object half-changed: a failed call changed
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key longer than [`MAX_KEY_LEN`](crate::storage::layout::MAX_KEY_LEN).
    #[error("key of {len} bytes exceeds the limit of {max}")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value longer than [`MAX_VALUE_LEN`](crate::storage::layout::MAX_VALUE_LEN) (or an
    /// element larger than a list or value accepts).
    #[error("value of {len} bytes exceeds the limit of {max}")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An object name that is empty or longer than
    /// [`MAX_NAME_LEN`](crate::storage::layout::MAX_NAME_LEN).
    #[error("invalid object name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A stored value (or a list's elements, or a `Value`) has a different
    /// type than the typed view that read it.
    #[error("wrong type: expected {expected}, stored {found}")]
    WrongType {
        /// The caller's type.
        expected: String,
        /// The stored type.
        found: String,
    },
    /// A value could not be encoded (feature `serde`): its `Serialize`
    /// implementation failed. Nothing was stored.
    #[error("could not encode the value: {reason}")]
    Encode {
        /// What the encoder reported.
        reason: String,
    },
    /// A stored serde value did not decode as the requested type (feature
    /// `serde`), though its type tag matched: the value was damaged, or the
    /// type's definition changed between the writer's build and this one.
    #[error("could not decode the stored value as {type_name}: {reason}")]
    Decode {
        /// The type asked for.
        type_name: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// The name belongs to another kind of object (e.g. a list asked for as a
    /// dict), or the same kind created with other parameters.
    #[error("`{name}` is a {found}, not a {expected}")]
    WrongKind {
        /// The object's name.
        name: String,
        /// What the caller asked for.
        expected: String,
        /// What the manager holds under that name.
        found: String,
    },
    /// A list index past the end.
    #[error("index {index} out of range for length {len}")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The list's length.
        len: u64,
    },
    /// The manager cannot grow any further: an anonymous manager's capacity
    /// or the maximum segment count is used up. (A full filesystem is
    /// `Core(NoSpace)`.)
    #[error("cannot find {requested} more bytes: {reason}")]
    CapacityExhausted {
        /// Bytes that could not be found.
        requested: u64,
        /// Which limit was hit.
        reason: &'static str,
    },
    /// The manager's shared state is inconsistent (a ref out of bounds, a
    /// length that cannot be, a damaged block): someone wrote over it. The
    /// manager refuses to read through it.
    #[error("corrupted manager state: {reason}")]
    Corrupted {
        /// What failed to check out.
        reason: String,
    },
    /// The manager has no free reader slot (more than
    /// [`MAX_READERS`](crate::storage::layout::MAX_READERS) threads read it at once).
    #[error("no free reader slot")]
    TooManyReaders,
    /// An error of `ipc-core`: segments (including a full `/dev/shm` or disk,
    /// [`ipc_core::Error::NoSpace`]), headers, locks.
    #[error(transparent)]
    Core(ipc_core::Error),
}

impl Error {
    /// Whether a bounded wait ran out (only opening a manager waits: for its
    /// creator, or for another opener's reset after a reboot).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Core(ipc_core::Error::Timeout))
    }

    /// Whether the other side is gone (never, for a manager's own calls:
    /// there is no other side; present so every crate's error answers the
    /// same questions).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Core(ipc_core::Error::Disconnected))
    }

    /// Whether this error reports damaged shared state (the manager's own
    /// structures, or a segment header).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corrupted { .. }
                | Error::Core(
                    ipc_core::Error::Corrupted { .. } | ipc_core::Error::CorruptHeader { .. }
                )
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
