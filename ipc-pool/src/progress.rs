//! The pool's progress thread: it keeps `apply_async` work moving while the
//! caller does something else (Python's pool has its result-handler thread
//! for the same reason).
//!
//! Without it, nothing happens unless some thread waits on the pool (see
//! `engine.rs`): ten 200 ms tasks on two workers, submitted by a parent that
//! then computes for a second, would have only the first four done by then.
//! The thread starts with the first `apply_async` and is one more waiter of
//! the engine's loop: it pumps while anything is in flight or a callback is
//! due, and parks on the engine's `work` condition variable (no CPU, no
//! wake-ups) while the pool is idle. `map` and `imap` alone never start it,
//! so their hot paths keep one waiter.
//!
//! A thread in the parent matters for `fork`: workers may be forked from it
//! (it replaces dead ones), which is safe, since a worker only runs its own
//! loop; and a process the caller forks while it holds the pool's lock gets
//! a locked copy, which is harmless as long as that child does not use the
//! pool (it may not anyway: a pool belongs to the process that made it).

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use ipc_core::wait::Deadline;

use crate::engine::Engine;
use crate::{Error, Result};

/// The progress thread of one pool, started on demand.
pub(crate) struct Progress {
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    /// No thread yet.
    pub fn new() -> Self {
        Self {
            thread: Mutex::new(None),
        }
    }

    /// Starts the thread if it is not running, and wakes it.
    pub fn ensure(&self, engine: &Arc<Engine>) -> Result<()> {
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if thread.is_none() {
            let engine = Arc::clone(engine);
            let handle = std::thread::Builder::new()
                .name("ipc-pool-progress".into())
                .spawn(move || run(&engine))
                .map_err(|e| {
                    Error::Core(ipc_core::Error::from_errno(
                        "spawn the pool's progress thread",
                        e.raw_os_error().unwrap_or(0),
                    ))
                })?;
            *thread = Some(handle);
        }
        engine.kick();
        Ok(())
    }

    /// Asks the thread to exit and waits for it (at most one wait slice of
    /// the engine, 10 ms). Called from a callback on the thread itself (the
    /// last handle on the pool dropped there), it only asks.
    pub fn stop(&self, engine: &Engine) {
        engine.lock().stopping = true;
        engine.kick();
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }
}

/// The thread's loop: pump until idle, park until there is work, until told
/// to stop.
fn run(engine: &Engine) {
    loop {
        let pumped = engine.wait(Deadline::Forever, |core| {
            (core.stopping || core.is_idle()).then_some(())
        });
        if pumped.is_err() || !engine.park_until_work() {
            return;
        }
    }
}
