//! The one error type of `ipc-core`.
//!
//! Every fallible call in the crate returns [`Result<T>`](Result). The variants
//! are typed so that callers can react (retry on [`Error::Timeout`], repair on
//! [`Error::OwnerDied`], report [`Error::WrongType`] with both sides named)
//! instead of matching on strings.

use crate::os::errno;

/// A convenient alias for `Result<T, ipc_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `ipc-core`.
///
/// The errors about what a segment holds (kind, type, version, header,
/// creator) name the segment in `object` (`/name`, a path, or `anonymous
/// segment`); it is empty only where no segment was involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bounded wait ran out before the condition held.
    #[error("timed out")]
    Timeout,
    /// A non-blocking call could not proceed without waiting.
    #[error("operation would block")]
    WouldBlock,
    /// The process that held a lock died while holding it; the lock was taken
    /// over, and the data it protects may need repair.
    #[error("the previous owner died while holding the lock")]
    OwnerDied,
    /// No object exists under this name or path.
    #[error("`{name}` not found")]
    NotFound {
        /// The name or path that was looked up.
        name: String,
    },
    /// An object already exists under this name or path.
    #[error("`{name}` already exists")]
    AlreadyExists {
        /// The name or path that was taken.
        name: String,
    },
    /// The operating system refused access (mode bits, read-only mapping).
    #[error("permission denied for `{name}`")]
    PermissionDenied {
        /// The name or path that was refused.
        name: String,
    },
    /// A segment or object name that the namespace cannot hold.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A size of zero, one too large to map, or one that does not fit the object.
    #[error("invalid size {size}: {reason}")]
    InvalidSize {
        /// The size that was asked for or found.
        size: u64,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A caller-supplied argument is out of range (other than a name or a size).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The filesystem behind a segment has no room for it (`ENOSPC`).
    #[error("no space left on the device (needed {requested} bytes)")]
    NoSpace {
        /// The number of bytes that could not be reserved.
        requested: u64,
    },
    /// The segment holds a different kind of object than the caller expected.
    #[error(
        "{}wrong object kind: expected {expected}, segment holds {found}",
        prefix(object)
    )]
    WrongKind {
        /// The segment concerned.
        object: String,
        /// The kind the caller asked for.
        expected: &'static str,
        /// The kind recorded in the segment.
        found: String,
    },
    /// The segment's payload type differs from the caller's type.
    #[error(
        "{}wrong payload type: expected {expected}, segment holds {found}",
        prefix(object)
    )]
    WrongType {
        /// The segment concerned.
        object: String,
        /// The caller's type, as `name (size S, align A)`.
        expected: String,
        /// The type recorded in the segment.
        found: String,
    },
    /// The segment was written by an incompatible format version.
    #[error(
        "{}wrong format version: expected {expected}, segment has {found}",
        prefix(object)
    )]
    WrongVersion {
        /// The segment concerned.
        object: String,
        /// The version this build reads.
        expected: u32,
        /// The version recorded in the segment.
        found: u32,
    },
    /// The segment's header is not a valid toolkit header (foreign file,
    /// truncated file, or memory scribbled over by another process).
    #[error("{}corrupt segment header: {reason}", prefix(object))]
    CorruptHeader {
        /// The segment concerned.
        object: String,
        /// What failed to check out.
        reason: String,
    },
    /// A shared structure's own state is inconsistent (an index out of range,
    /// a length that cannot be); the structure refuses to read through it.
    #[error("corrupted shared state: {reason}")]
    Corrupted {
        /// What failed to check out.
        reason: String,
    },
    /// The process creating the segment died before it finished initialising it.
    #[error(
        "{}creator process {pid} died before initialising the segment",
        prefix(object)
    )]
    CreatorDied {
        /// The segment concerned.
        object: String,
        /// The creator's process id, as recorded in the header.
        pid: u32,
    },
    /// The object was closed (a queue after `close`, a peer that went away).
    #[error("disconnected")]
    Disconnected,
    /// A barrier was broken: a party timed out, or it was aborted.
    #[error("barrier broken (a party timed out or aborted)")]
    BrokenBarrier,
    /// A child process did not succeed: it exited with a non-zero code (101
    /// when its closure panicked) or was killed by a signal. Returned by
    /// [`Process::join_ok`](crate::process::Process::join_ok).
    #[error("child process {pid} failed: {}", exit_description(*exitcode))]
    ChildFailed {
        /// The child's process id.
        pid: u32,
        /// Python's `exitcode`: the exit code, or the negated signal number.
        exitcode: i32,
    },
    /// A system call failed with an errno that has no more specific variant.
    #[error("{op} failed: {} (errno {errno})", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// The operation that failed, e.g. `"shm_open"`.
        op: &'static str,
        /// The raw `errno` value.
        errno: i32,
    },
}

/// "exit code 101" (a panicked closure) or "killed by signal 9".
fn exit_description(exitcode: i32) -> String {
    if exitcode < 0 {
        format!("killed by signal {}", -exitcode)
    } else {
        format!("exit code {exitcode}")
    }
}

/// `"`name`: "` before a message about a named segment, nothing otherwise.
fn prefix(object: &str) -> String {
    if object.is_empty() {
        String::new()
    } else {
        format!("`{object}`: ")
    }
}

impl Error {
    /// Whether a bounded wait ran out ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// Whether the other side is gone ([`Error::Disconnected`]).
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Disconnected)
    }

    /// Whether shared state failed its checks: a corrupt header or an
    /// inconsistent structure (memory scribbled over, a foreign file).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupted { .. } | Error::CorruptHeader { .. })
    }

    /// Names the segment in the errors about a segment's contents that do
    /// not name one yet (the header check does not know the name; the
    /// segment that ran it does).
    pub fn about(mut self, name: &str) -> Self {
        match &mut self {
            Error::WrongKind { object, .. }
            | Error::WrongType { object, .. }
            | Error::WrongVersion { object, .. }
            | Error::CorruptHeader { object, .. }
            | Error::CreatorDied { object, .. }
                if object.is_empty() =>
            {
                *object = name.to_owned();
            }
            _ => {}
        }
        self
    }

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
