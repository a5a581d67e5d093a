//! Python's `multiprocessing.Pool` for Rust: a fixed number of forked worker
//! processes fed through [`ipc_queue`] queues in shared memory, with no
//! serialization: arguments and results are `zerocopy` [`Message`] types
//! (or byte messages), copied straight into the queues' slots.
//!
//! ```
//! use ipc_pool::Pool;
//!
//! fn worker(x: u64) -> u64 {
//!     x * x
//! }
//!
//! let pool = Pool::new(4)?;
//! let results = pool.map(worker, 0..10)?;
//! assert_eq!(results, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
//! # Ok::<(), ipc_pool::Error>(())
//! ```
//!
//! | Python | here |
//! |---|---|
//! | `Pool(processes, initializer, initargs, maxtasksperchild)` | [`Pool::new`], [`Pool::builder`] |
//! | `map(f, it, chunksize)` | [`Pool::map`], [`pool.chunksize(n).map(..)`](Pool::chunksize) |
//! | `starmap` | [`Pool::starmap`] (tuples of up to four messages) |
//! | `imap`, `imap_unordered` | [`Pool::imap`], [`Pool::imap_unordered`]: lazy iterators |
//! | `apply`, `apply_async` → `AsyncResult` | [`Pool::apply`], [`Pool::apply_async`] → [`AsyncResult`] |
//! | `apply_async(.., callback, error_callback)` | [`Pool::apply_async_then`]: one callback with `Ok(value)` or the error |
//! | raising in a task | panicking, or returning `Err` (see [`TaskOutput`]): the item's [`Error::TaskFailed`] |
//! | `close`, `terminate`, `join` | [`Pool::close`], [`Pool::terminate`], [`Pool::join`] |
//! | `with Pool(...) as p:` | dropping the pool terminates it |
//!
//! # Functions and workers
//!
//! Workers are forked (Python's *fork* start method), and functions reach
//! them the same way: the pool keeps each function it is given, and a worker
//! forked afterwards has a copy. Any `Fn(A) -> R + Clone + Send + 'static`
//! works, closures with captured state included; nothing is serialized.
//!
//! A worker forked before a function was first given to the pool does not
//! have it, so the pool replaces its workers (each once it is idle) the first
//! time it meets a function. The workers therefore start lazily, on the
//! first submission. Functions that carry no state (`fn` items, closures that
//! capture nothing) are recognised by type and are new only once; a closure
//! that captures state may hold different state each call, so **every call
//! with a capturing closure forks fresh workers** (about a millisecond per
//! worker). Pass state through the arguments, or an `fn`, on hot paths.
//!
//! Like every fork-based API ([`Process::spawn`](ipc_core::process::Process::spawn)),
//! the pool is meant for single-threaded parents, or parents whose other
//! threads hold no lock a worker might need.
//!
//! # Failures
//!
//! - **A task panics**, or returns an `Err` (see [`TaskOutput`]): the
//!   worker catches the panic (its message and location are reported, not
//!   printed), fails that item with [`Error::TaskFailed`], and goes on. `map` returns the first failure to
//!   arrive; `imap` yields it in the item's place; an [`AsyncResult`]'s `get`
//!   returns it and `successful()` is `Some(false)`.
//! - **A worker dies** (SIGKILL from outside, a crash, an `exit` inside a
//!   task): the pool notices within about 10 ms whenever some thread is
//!   waiting on it (or `apply_async` work is in flight), forks a
//!   replacement, and re-dispatches the chunks that were only queued to the
//!   dead worker. The *item* it was running is retried up to
//!   [`PoolBuilder::retries`] times (default 0); then it fails alone with
//!   [`Error::WorkerDied`]. The other unanswered items of its chunk run
//!   again. Results the worker sent before dying are kept. Nothing hangs (Python's pool does,
//!   bpo-22393).
//! - **The initializer panics**, or three workers in a row die before
//!   finishing it: the pool is broken, and every call returns
//!   [`Error::InitializerFailed`] (Python's pool respawns forever).
//! - **The parent dies**: idle workers notice within 200 ms and exit.
//!
//! Dropping the pool kills and reaps every worker; its queues are anonymous
//! (`memfd`) segments, so nothing is left in `/dev/shm`.
#![deny(unsafe_code)]

// Bottom to top; a module imports only from modules before it in this list:
// error, wire, exec, task, sink, worker, jobs, workers, dispatch, core,
// engine, progress, handle, pool.
mod core;
mod dispatch;
mod engine;
mod error;
mod exec;
mod handle;
mod jobs;
mod pool;
mod progress;
mod sink;
mod task;
mod wire;
mod worker;
mod workers;

pub use error::{Error, Result};
pub use handle::{AsyncResult, Imap};
pub use ipc_core::Message;
pub use ipc_core::process::ExitStatus;
/// The `zerocopy` crate, for its derives (see [`Message`]).
pub use ipc_core::zerocopy;
pub use pool::{Chunked, DEFAULT_MAX_MESSAGE, Pool, PoolBuilder};
pub use task::{Args, Fallible, Plain, StarCall, TaskOutput, TaskResult};
