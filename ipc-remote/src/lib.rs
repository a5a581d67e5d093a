//! The toolkit's Queue, dict and Pool across hosts, on NATS JetStream.
//!
//! Shared memory ends at the host. This crate gives the same objects, with
//! the same methods, errors and timeout conventions, on a NATS server with
//! JetStream, so that a program moves to several hosts by changing how it
//! opens its objects, not its calls; the [`ByteQueue`] and [`ByteDict`]
//! traits are implemented by the local objects and the remote ones alike.
//! No home-made network protocol: JetStream's own objects carry the
//! semantics.
//!
//! | here | JetStream | local twin |
//! |---|---|---|
//! | [`RemoteQueue`] | a work-queue stream and one durable pull consumer with explicit acknowledgement | [`ipc_queue::Queue`] |
//! | [`RemoteDict`] | a key-value bucket; compare-and-swap on the key's revision | [`ipc_manager::Dict`] |
//! | [`RemotePool`], [`Worker`] | a task queue and a result stream per submitter | [`ipc_pool::Pool`](https://docs.rs/ipc-toolkit-pool) |
//! | [`gateway`] | forwards a local queue to a remote one and back | |
//!
//! Blocking methods for blocking code (they run on a one-thread runtime of
//! the crate's own), `_async` twins for async code. A server restart is
//! waited out by every call within its deadline; an acknowledged put is
//! never lost (with the default file storage); a message whose getter died
//! before it was handed over goes to another getter.
//!
//! A process that uses this crate runs threads (the runtime's keeper, and
//! whatever else calls it), so it starts child processes with
//! [`Process::entry`](ipc_core::process::Process::entry), not by forking:
//! a child forked while another thread was inside a one-time
//! initialization (async-nats builds its key regex on first use) waits for
//! it forever. A client connected before a fork is not usable in the child
//! either; each process connects on its own.
//!
//! ```no_run
//! use ipc_remote::{Remote, RemoteOptions, RemoteQueue};
//!
//! let remote = Remote::connect(&RemoteOptions::new("nats://127.0.0.1:4222"))?;
//! let q = RemoteQueue::builder(&remote, "jobs").open_or_create()?;
//! q.put_bytes(b"resize photo 17")?;
//! assert_eq!(q.get_bytes()?, b"resize photo 17");
//! # Ok::<(), ipc_remote::Error>(())
//! ```
#![deny(unsafe_code)]

mod error;
mod options;
mod remote;
mod runtime;

mod codec;
mod dict;
mod queue;

pub mod gateway;
mod objects;
mod pipe;
mod pool;

pub use dict::{Change, MAX_KEY_LEN, RemoteDict, RemoteDictBuilder, Watch};
pub use error::{Error, Result};
pub use objects::{ByteDict, ByteQueue};
pub use options::{Auth, RemoteOptions};
pub use pipe::{PipeSide, RemotePipeEnd};
pub use pool::{ImapUnordered, RemoteAsyncResult, RemotePool, Worker};
pub use queue::{Delivery, RemoteQueue, RemoteQueueBuilder};
pub use remote::{MAX_NAME_LEN, Remote, check_name};
