//! What [`inspect`](super::inspect) reads from a queue: its fill state and
//! its users, for tools (the `ipc` command) and monitoring.

pub use ipc_core::liveness::Holder;

/// A queue's state, read without taking its locks (each counter is exact
/// when read, but others may have moved on meanwhile).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueReport {
    /// The message type's name, as its creator recorded it.
    pub message_type: String,
    /// Slots.
    pub capacity: u64,
    /// Largest frame in bytes.
    pub max_frame: u64,
    /// Bytes of the byte ring frames take their length from; 0 for fixed
    /// slots.
    pub ring_bytes: u64,
    /// Bytes of the byte ring in use (frames in flight or held, and
    /// padding between them).
    pub ring_used: u64,
    /// Messages waiting.
    pub len: u64,
    /// Messages put since creation (a free-running count; with `gets`, what
    /// `ipc watch` turns into rates).
    pub puts: u64,
    /// Messages taken since creation.
    pub gets: u64,
    /// Messages put and not yet marked done (`JoinableQueue`).
    pub unfinished: u64,
    /// Whether `close` was called.
    pub closed: bool,
    /// Registered producing handles.
    pub producers: Vec<Holder>,
    /// Registered consuming handles.
    pub consumers: Vec<Holder>,
    /// Children forked while the queue was held that have not chosen a role
    /// yet (each may still produce or consume).
    pub inheritors: Vec<Holder>,
    /// Slots claimed by processes that are gone (a put or get cut short);
    /// the next call that meets one repairs it.
    pub dead_slots: u64,
    /// Callers asleep waiting for a message.
    pub waiting_getters: u32,
    /// Callers asleep waiting for room.
    pub waiting_putters: u32,
}
