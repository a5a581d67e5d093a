//! The one error type of `ipc-core`.
//!
//! Every fallible call in the crate returns [`Result<T>`](Result). The variants
//! are typed so that callers can react (retry on [`Error::Timeout`], repair on
//! [`Error::OwnerDied`], report [`Error::WrongType`] with both sides named)
//! instead of matching on strings.

use crate::os::errno;
use std::fmt;

/// A convenient alias for `Result<T, ipc_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `ipc-core`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A bounded wait ran out before the condition held.
    Timeout,
    /// A non-blocking call could not proceed without waiting.
    WouldBlock,
    /// The process that held a lock died while holding it; the lock was taken
    /// over, and the data it protects may need repair.
    OwnerDied,
    /// No object exists under this name or path.
    NotFound {
        /// The name or path that was looked up.
        name: String,
    },
    /// An object already exists under this name or path.
    AlreadyExists {
        /// The name or path that was taken.
        name: String,
    },
    /// The operating system refused access (mode bits, read-only mapping).
    PermissionDenied {
        /// The name or path that was refused.
        name: String,
    },
    /// A segment or object name that the namespace cannot hold.
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A size of zero, one too large to map, or one that does not fit the object.
    InvalidSize {
        /// The size that was asked for or found.
        size: u64,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A caller-supplied argument is out of range (other than a name or a size).
    InvalidArgument {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The filesystem behind a segment has no room for it (`ENOSPC`).
    NoSpace {
        /// The number of bytes that could not be reserved.
        requested: u64,
    },
    /// The segment holds a different kind of object than the caller expected.
    WrongKind {
        /// The kind the caller asked for.
        expected: &'static str,
        /// The kind recorded in the segment.
        found: String,
    },
    /// The segment's payload type differs from the caller's type.
    WrongType {
        /// The caller's type, as `name (size S, align A)`.
        expected: String,
        /// The type recorded in the segment.
        found: String,
    },
    /// The segment was written by an incompatible format version.
    WrongVersion {
        /// The version this build reads.
        expected: u32,
        /// The version recorded in the segment.
        found: u32,
    },
    /// The segment's header is not a valid toolkit header (foreign file,
    /// truncated file, or memory scribbled over by another process).
    CorruptHeader {
        /// What failed to check out.
        reason: String,
    },
    /// A shared structure's own state is inconsistent (an index out of range,
    /// a length that cannot be); the structure refuses to read through it.
    Corrupted {
        /// What failed to check out.
        reason: String,
    },
    /// The process creating the segment died before it finished initialising it.
    CreatorDied {
        /// The creator's process id, as recorded in the header.
        pid: u32,
    },
    /// The object was closed (a queue after `close`, a peer that went away).
    Disconnected,
    /// A barrier was broken: a party timed out, or it was aborted.
    BrokenBarrier,
    /// A system call failed with an errno that has no more specific variant.
    Os {
        /// The operation that failed, e.g. `"shm_open"`.
        op: &'static str,
        /// The raw `errno` value.
        errno: i32,
    },
}

impl Error {
    /// Builds an [`Error::Os`] from the calling thread's current `errno`.
    pub fn last_os(op: &'static str) -> Self {
        Self::from_errno(op, errno::errno())
    }

    /// Builds an [`Error::Os`] from an explicit errno value.
    pub fn from_errno(op: &'static str, errno: i32) -> Self {
        match errno {
            errno::ETIMEDOUT => Error::Timeout,
            errno::EAGAIN => Error::WouldBlock,
            errno::ENOSPC => Error::NoSpace { requested: 0 },
            _ => Error::Os { op, errno },
        }
    }

    /// Maps a name-related errno (`ENOENT`, `EEXIST`, `EACCES`, ...) to the typed
    /// variant that names the object, falling back to [`Error::Os`].
    pub fn for_name(op: &'static str, errno: i32, name: &str) -> Self {
        let name = name.to_owned();
        match errno {
            errno::ENOENT => Error::NotFound { name },
            errno::EEXIST => Error::AlreadyExists { name },
            errno::EACCES | errno::EPERM | errno::EROFS => Error::PermissionDenied { name },
            errno::ENAMETOOLONG => Error::InvalidName {
                name,
                reason: "name too long for the filesystem",
            },
            errno::EINVAL => Error::InvalidName {
                name,
                reason: "the operating system rejected the name",
            },
            _ => Error::from_errno(op, errno),
        }
    }

    /// The raw errno behind this error, when it came from a system call.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => write!(f, "timed out"),
            Error::WouldBlock => write!(f, "operation would block"),
            Error::OwnerDied => write!(f, "the previous owner died while holding the lock"),
            Error::NotFound { name } => write!(f, "`{name}` not found"),
            Error::AlreadyExists { name } => write!(f, "`{name}` already exists"),
            Error::PermissionDenied { name } => write!(f, "permission denied for `{name}`"),
            Error::InvalidName { name, reason } => write!(f, "invalid name `{name}`: {reason}"),
            Error::InvalidSize { size, reason } => write!(f, "invalid size {size}: {reason}"),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Error::NoSpace { requested } => {
                write!(f, "no space left on the device (needed {requested} bytes)")
            }
            Error::WrongKind { expected, found } => {
                write!(
                    f,
                    "wrong object kind: expected {expected}, segment holds {found}"
                )
            }
            Error::WrongType { expected, found } => {
                write!(
                    f,
                    "wrong payload type: expected {expected}, segment holds {found}"
                )
            }
            Error::WrongVersion { expected, found } => {
                write!(
                    f,
                    "wrong format version: expected {expected}, segment has {found}"
                )
            }
            Error::CorruptHeader { reason } => write!(f, "corrupt segment header: {reason}"),
            Error::Corrupted { reason } => write!(f, "corrupted shared state: {reason}"),
            Error::CreatorDied { pid } => {
                write!(
                    f,
                    "creator process {pid} died before initialising the segment"
                )
            }
            Error::Disconnected => write!(f, "disconnected"),
            Error::BrokenBarrier => write!(f, "barrier broken (a party timed out or aborted)"),
            Error::Os { op, errno } => write!(
                f,
                "{op} failed: {} (errno {errno})",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match &e {
            Error::Timeout => K::TimedOut,
            Error::WouldBlock => K::WouldBlock,
            Error::NotFound { .. } => K::NotFound,
            Error::AlreadyExists { .. } => K::AlreadyExists,
            Error::PermissionDenied { .. } => K::PermissionDenied,
            Error::InvalidName { .. }
            | Error::InvalidSize { .. }
            | Error::InvalidArgument { .. } => K::InvalidInput,
            Error::Os { errno, .. } => return std::io::Error::from_raw_os_error(*errno),
            _ => K::Other,
        };
        std::io::Error::new(kind, e)
    }
}
