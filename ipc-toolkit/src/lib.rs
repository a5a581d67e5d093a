//! The whole ipc-toolkit behind one dependency: Python's `multiprocessing`
//! (Process, Queue, Pipe, Manager, Pool, the sync objects) for Rust, in
//! shared memory, with no serialization.
//!
//! ```
//! use ipc_toolkit::{Process, Queue};
//!
//! let q = Queue::<u64>::new(16)?;
//! let child = Process::spawn({
//!     let q = q.clone();
//!     move || {
//!         for x in 1..=3 {
//!             q.put(&(x * x)).unwrap();
//!         }
//!     }
//! })?;
//! let squares: Vec<u64> = (0..3).map(|_| q.get().unwrap()).collect();
//! assert_eq!(squares, [1, 4, 9]);
//! child.join_ok()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | Python | here |
//! |---|---|
//! | `multiprocessing.Process` | [`Process`] |
//! | `Queue`, `JoinableQueue`, `SimpleQueue` | [`Queue`] |
//! | `Pipe()` | [`Pipe`], and a one-way [`channel`] |
//! | `connection.wait` | [`wait()`] |
//! | `Manager()` and its `dict`, `list`, `Value`, `Lock`, ... | [`Manager`] |
//! | `Pool` | [`Pool`] |
//! | `Lock`, `Event`, `Semaphore`, `Barrier`, `Condition` | [`sync`] |
//! | `shared_memory.SharedMemory` | [`segment`] |
//!
//! Each part is also a crate of its own (`ipc-toolkit-core`,
//! `ipc-toolkit-queue`, `ipc-toolkit-manager`, `ipc-toolkit-pool`), whose
//! library names (`ipc_core`, `ipc_queue`, `ipc_manager`, `ipc_pool`) are
//! the ones their documentation uses; the modules below re-export them
//! whole. The `tracing` feature turns on the events of every part.
#![deny(unsafe_code)]

pub use ipc_core::process::{ExitStatus, Process};
pub use ipc_core::{Message, ShmSafe, zerocopy};
pub use ipc_core::{liveness, process, segment, sync, wait};
pub use ipc_manager::Manager;
pub use ipc_pool::Pool;
pub use ipc_queue::{Pipe, Queue, channel, pipe, wait};

/// The toolkit's errors, one enum per part; each converts into
/// `std::io::Error` and boxes into `Box<dyn Error>`.
pub mod error {
    pub use ipc_core::Error as CoreError;
    pub use ipc_manager::Error as ManagerError;
    pub use ipc_pool::Error as PoolError;
    pub use ipc_queue::Error as QueueError;
}

/// Everything of `ipc_core`: segments, sync objects, processes, waiting.
pub mod core {
    pub use ipc_core::*;
}

/// Everything of `ipc_queue`: the Queue, the Pipe and channel, `wait`.
pub mod queue {
    pub use ipc_queue::*;
}

/// Everything of `ipc_manager`: the Manager and its objects.
pub mod manager {
    pub use ipc_manager::*;
}

/// Everything of `ipc_pool`: the Pool, its handles and errors.
pub mod pool {
    pub use ipc_pool::*;
}
