//! The one error type of `ipc-queue`.

/// A convenient alias for `Result<T, ipc_queue::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong sending or receiving.
///
/// The outcomes of flow control (`Full`, `Empty`, `Timeout`,
/// `Disconnected`) are this crate's own variants, also when the layer below
/// reported them; every other error of `ipc-core` arrives as
/// [`Error::Core`], printed as itself (so `anyhow` shows it once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A non-blocking send found no free slot.
    #[error("full")]
    Full,
    /// A non-blocking receive found no message.
    #[error("empty")]
    Empty,
    /// A bounded wait ran out.
    #[error("timed out")]
    Timeout,
    /// The queue was closed, or the peer end dropped or died, and every
    /// message in flight has been received.
    #[error("disconnected")]
    Disconnected,
    /// A message longer than the largest frame chosen at creation; nothing was sent.
    #[error(
        "message of {len} bytes exceeds the {max}-byte frame (the builder's `max_frame` sets it; a byte ring's `ring_bytes` bounds it)"
    )]
    TooLarge {
        /// The message length.
        len: usize,
        /// The largest frame this queue or pipe carries.
        max: usize,
    },
    /// A frame whose length is not the size of the receiver's message type
    /// (the sender used the byte interface). The frame was consumed.
    #[error("frame of {found} bytes where a {expected}-byte message was expected")]
    WrongSize {
        /// `size_of` the expected type.
        expected: usize,
        /// The frame's length.
        found: usize,
    },
    /// The caller's buffer cannot hold the next frame; the frame stays queued.
    #[error("buffer of {got} bytes cannot hold a {needed}-byte frame")]
    BufferTooSmall {
        /// The frame's length.
        needed: usize,
        /// The buffer's length.
        got: usize,
    },
    /// A value could not be encoded (feature `serde`): its `Serialize`
    /// implementation failed. Nothing was sent.
    #[error("could not encode the value: {reason}")]
    Encode {
        /// What the encoder reported.
        reason: String,
    },
    /// A frame could not be decoded as the requested type (feature
    /// `serde`): the sender sent another type, or other bytes. The frame was
    /// consumed.
    #[error("could not decode the frame as {type_name}: {reason}")]
    Decode {
        /// The type asked for.
        type_name: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// The pipe end is held by another live process (a second opener of the
    /// same end); the end stays with its holder.
    #[error("the pipe end is in use by process {pid}")]
    InUse {
        /// The holder's process id.
        pid: u32,
    },
    /// A segment, header, lock or shared-state error from `ipc-core`
    /// (wrong type, corrupted indices, not found, ...).
    #[error(transparent)]
    Core(ipc_core::Error),
}

impl Error {
    /// Whether a bounded wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }

    /// Whether the other side is gone (closed, dropped, or dead) and
    /// nothing is left to receive.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Disconnected)
    }

    /// Whether shared state failed its checks (corrupted indices or slot
    /// states, a corrupt header).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Core(e) if e.is_corruption())
    }

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

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match &e {
            Error::Core(_) => match e {
                Error::Core(core) => return core.into(),
                _ => unreachable!(),
            },
            Error::Full | Error::Empty => K::WouldBlock,
            Error::Timeout => K::TimedOut,
            Error::Disconnected => K::BrokenPipe,
            Error::InUse { .. } => K::ResourceBusy,
            Error::TooLarge { .. }
            | Error::WrongSize { .. }
            | Error::BufferTooSmall { .. }
            | Error::Encode { .. }
            | Error::Decode { .. } => K::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}
