//! Shared-memory building blocks for processes on one Linux machine.
//!
//! The crate is layered, from the bottom up (a module imports only from
//! modules above it in this list):
//!
//! - `os`: the operating-system boundary, the only code of the workspace
//!   that calls libc (thin wrappers over the system calls).
//! - [`error`]: the crate's error type.
//! - [`liveness`], [`ShmSafe`], [`Message`]: who a process is (and whether it
//!   still runs), which types may live in shared memory, which travel as
//!   plain bytes.
//! - [`wait`]: the waiting core: deadlines, futex words with sleeper counts,
//!   the one blocking loop, waiting on several objects.
//! - [`segment`]: named (POSIX `shm_open`), anonymous (`memfd`) and file-backed
//!   memory segments behind one mapping type, and segments that hold a toolkit
//!   object behind a checked header.
//! - [`sync`]: synchronisation that lives in shared memory and survives a
//!   process killed at any instant.
//! - [`process`]: Python's `Process` for Rust: start a child (a forked closure or
//!   a program), join it with or without a timeout, terminate or kill it.
//!
//! Linux with glibc only: the robust mutex is glibc's process-shared robust
//! `pthread_mutex_t`, and waiting uses the futex system call directly.
#![deny(unsafe_code)]

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
compile_error!("ipc-core supports Linux with glibc only");

pub mod error;
pub mod liveness;
mod message;
mod os;
pub mod process;
pub mod segment;
mod shm_safe;
pub mod sync;
pub mod trace;
pub mod wait;

pub use error::{Error, Result};
pub use message::Message;
pub use segment::{ObjectSegment, Segment, SegmentOptions, Shared};
pub use shm_safe::ShmSafe;
pub use sync::{Barrier, Condvar, Event, RawRobustMutex, RobustMutex, RobustMutexExt, Semaphore};
pub use wait::{Deadline, Waitable};
/// The `zerocopy` crate this toolkit is built on, for its derives (see [`Message`]).
pub use zerocopy;
