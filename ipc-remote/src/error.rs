//! The crate's one error type: the local objects' flow-control outcomes
//! (`Full`, `Empty`, `Timeout`, `Disconnected`, `TooLarge`) under the same
//! names, and what only a network adds (an unreachable server, a refused
//! credential, a name JetStream does not take, a server-side refusal).

/// What a remote operation reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A non-blocking put found the queue at its capacity.
    #[error("full")]
    Full,
    /// A non-blocking get found no message.
    #[error("empty")]
    Empty,
    /// A bounded wait ran out (the server may be unreachable meanwhile).
    #[error("timed out")]
    Timeout,
    /// The queue was closed and every message in it has been received (a
    /// get), or it was closed (a put).
    #[error("disconnected")]
    Disconnected,
    /// A message longer than the object carries; nothing was sent.
    #[error(
        "message of {len} bytes exceeds the {max}-byte limit (the builder's `max_message`, itself at most the server's max_payload)"
    )]
    TooLarge {
        /// The message length.
        len: usize,
        /// The largest message accepted.
        max: usize,
    },
    /// A value's `Serialize` implementation failed; nothing was sent.
    #[error("could not encode the value: {reason}")]
    Encode {
        /// What the encoder reported.
        reason: String,
    },
    /// A message did not decode as the requested type. It was consumed.
    #[error("could not decode the message as {type_name}: {reason}")]
    Decode {
        /// The type asked for.
        type_name: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// A queue, dict or pool name JetStream cannot use (see
    /// [`check_name`](crate::check_name)).
    #[error("`{name}` is not a valid remote object name: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key the dict cannot store (empty, or longer than the limit).
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `open` found no such object on the server.
    #[error("`{name}` does not exist on the server")]
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// `create` found the object already there.
    #[error("`{name}` already exists on the server")]
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// No server answered at `url` (refused, unresolvable, or silent past
    /// the connect timeout).
    #[error("cannot reach a NATS server at {url}: {reason}")]
    Unreachable {
        /// The address tried.
        url: String,
        /// What the client reported.
        reason: String,
    },
    /// The server refused the credentials (a wrong password, token, NKey
    /// or credentials file), or required some and none were given.
    #[error("the NATS server refused the connection: {reason}")]
    Unauthorized {
        /// What the client reported.
        reason: String,
    },
    /// The TLS handshake or the TLS setup failed (a CA that does not sign
    /// the server's certificate, an unreadable certificate file).
    #[error("TLS: {reason}")]
    Tls {
        /// What the client reported.
        reason: String,
    },
    /// The options cannot be used (an unreadable credentials file, an
    /// invalid NKey seed).
    #[error("invalid connection options: {reason}")]
    Options {
        /// What is wrong.
        reason: String,
    },
    /// The server has no JetStream (start it with `-js`).
    #[error("the NATS server has no JetStream enabled (start it with -js): {reason}")]
    NoJetStream {
        /// What the server reported.
        reason: String,
    },
    /// The server refused a JetStream request for another reason.
    #[error("the NATS server refused to {op}: {reason}")]
    Server {
        /// What was asked.
        op: &'static str,
        /// What the server reported.
        reason: String,
    },
    /// A pool task failed in its worker (a panic, an `Err`, an unknown task
    /// name, arguments that did not decode).
    #[error("task failed: {message}")]
    TaskFailed {
        /// What the worker reported.
        message: String,
    },
    /// A local queue failed (the local side of a gateway, a local queue
    /// through [`ByteQueue`](crate::ByteQueue)) for a reason other than
    /// flow control.
    #[error(transparent)]
    Local(#[from] ipc_queue::Error),
    /// A local dict failed (through [`ByteDict`](crate::ByteDict)) for a
    /// reason other than flow control.
    #[error(transparent)]
    Manager(#[from] ipc_manager::Error),
}

impl Error {
    /// A local queue's error with its flow-control outcomes under this
    /// crate's names (as [`ByteQueue`](crate::ByteQueue) reports them).
    pub fn from_local(e: ipc_queue::Error) -> Self {
        match e {
            ipc_queue::Error::Full => Error::Full,
            ipc_queue::Error::Empty => Error::Empty,
            ipc_queue::Error::Timeout => Error::Timeout,
            ipc_queue::Error::Disconnected => Error::Disconnected,
            ipc_queue::Error::TooLarge { len, max } => Error::TooLarge { len, max },
            e => Error::Local(e),
        }
    }

    /// A local dict's error, its timeout under this crate's name.
    pub fn from_manager(e: ipc_manager::Error) -> Self {
        if e.is_timeout() {
            Error::Timeout
        } else {
            Error::Manager(e)
        }
    }

    /// Whether a bounded wait ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout) || matches!(self, Error::Local(e) if e.is_timeout())
    }

    /// Whether the object is closed and drained.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Disconnected)
            || matches!(self, Error::Local(e) if e.is_disconnected())
            || matches!(self, Error::Manager(e) if e.is_disconnected())
    }

    /// Whether stored data is damaged. A remote object's messages are
    /// checked by the server; only a gateway's local side can say so.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Local(e) if e.is_corruption())
            || matches!(self, Error::Manager(e) if e.is_corruption())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
