//! Synchronisation in shared memory that survives processes killed at any
//! instant.
//!
//! - [`RobustMutex`]: glibc's robust process-shared mutex behind `lock_api`;
//!   a dead owner's lock passes to the next locker, who is told.
//! - Waiting goes through [`crate::wait`], the waiting core below this module.
//! - [`Event`], [`Semaphore`], [`Barrier`], [`Condvar`]: Python's names.
//!
//! Every type here is `#[repr(C)]` with a size fixed at compile time, holds
//! no pointers, and is placed in a segment with
//! [`Shared`](crate::segment::Shared) or inside a larger shared object.

mod barrier;
mod condvar;
mod event;
mod mutex;
mod semaphore;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::Condvar;
pub use event::Event;
pub use mutex::{
    LockError, LockResult, RawRobustMutex, RobustMutex, RobustMutexExt, RobustMutexGuard,
};
pub use semaphore::{SEMAPHORE_MAX, Semaphore};
