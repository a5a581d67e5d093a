//! Handles to submitted work: [`AsyncResult`] (`apply_async`) and [`Imap`]
//! (`imap`, `imap_unordered`).
//!
//! A handle owns its job until it is dropped ([`JobGuard`]: the job is then
//! released, and its results discarded) and waits through the pool's
//! [`Engine`], which it borrows: every wait on a handle also keeps the whole
//! pool going. The handles only read their job's sink; the waiting itself
//! lives in `engine.rs`, below this file and the facade (`pool.rs`).

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::task::TaskResult;
use ipc_core::wait::Deadline;

use crate::core::Core;
use crate::engine::{Engine, Feeder};
use crate::sink::{StreamSink, decode_outcome, single_outcome};
use crate::{Error, Result};

/// Releases a job when the call or handle that owns it is done, however it
/// ends (result, error, timeout, panic).
pub(crate) struct JobGuard<'p> {
    engine: &'p Engine,
    job: u64,
}

impl<'p> JobGuard<'p> {
    pub fn new(engine: &'p Engine, job: u64) -> Self {
        Self { engine, job }
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        self.engine.lock().release_job(self.job);
    }
}

/// The pending result of [`Pool::apply_async`](crate::Pool::apply_async)
/// (Python's `AsyncResult`).
///
/// Waiting on it also keeps the pool going (it feeds workers and collects
/// results for every job). The result stays available: `get` can be called
/// again. Dropping the handle does not cancel the task.
pub struct AsyncResult<'p, R> {
    guard: JobGuard<'p>,
    _result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for AsyncResult<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("job", &self.guard.job)
            .finish_non_exhaustive()
    }
}

impl<'p, R: TaskResult> AsyncResult<'p, R> {
    pub(crate) fn new(engine: &'p Engine, job: u64) -> Self {
        Self {
            guard: JobGuard::new(engine, job),
            _result: PhantomData,
        }
    }

    /// The outcome, once known and its callback (if any) has run.
    fn poll(&self, core: &mut Core) -> Option<Result<R>> {
        let Some(job) = core.job(self.guard.job) else {
            return Some(Err(Error::vanished()));
        };
        if !job.is_settled() {
            return None;
        }
        single_outcome(&mut *job.sink)
    }

    /// Waits for the result (Python's `get()`): the task's value, or its
    /// error ([`Error::TaskFailed`] if it panicked, [`Error::WorkerDied`],
    /// [`Error::Terminated`], ...).
    pub fn get(&self) -> Result<R> {
        self.guard
            .engine
            .wait(Deadline::Forever, |core| self.poll(core))?
    }

    /// Waits at most `timeout` for the result (Python's `get(timeout)`);
    /// [`Error::Timeout`] if it is not ready by then (the task goes on).
    pub fn get_timeout(&self, timeout: Duration) -> Result<R> {
        self.guard
            .engine
            .wait(Deadline::after(timeout), |core| self.poll(core))?
    }

    /// Waits until the result is ready (Python's `wait()`).
    pub fn wait(&self) {
        let _ = self
            .guard
            .engine
            .wait(Deadline::Forever, |core| self.poll(core).map(drop));
    }

    /// Waits at most `timeout` for the result to be ready (Python's
    /// `wait(timeout)`); returns whether it is.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.guard
            .engine
            .wait(Deadline::after(timeout), |core| self.poll(core).map(drop))
            .is_ok()
    }

    /// Whether the result is ready, without waiting (Python's `ready()`).
    pub fn ready(&self) -> bool {
        self.guard
            .engine
            .wait(Deadline::Now, |core| self.poll(core).map(drop))
            .is_ok()
    }

    /// Whether the task completed without error: `None` while it is not
    /// ready (where Python raises `ValueError`).
    pub fn successful(&self) -> Option<bool> {
        self.guard
            .engine
            .wait(Deadline::Now, |core| self.poll(core).map(|r| r.is_ok()))
            .ok()
    }
}

/// The iterator of [`Pool::imap`](crate::Pool::imap) and
/// [`Pool::imap_unordered`](crate::Pool::imap_unordered) (Python's
/// `IMapIterator`): yields `Ok(result)` or the item's error, for every input
/// item.
///
/// Input is pulled lazily, a few chunks ahead of what has been taken, on the
/// thread calling `next` (never while the pool's lock is held, so the input
/// may itself come from the pool). A fatal pool error (terminated, broken)
/// is yielded once, and the iterator ends.
pub struct Imap<'p, R> {
    guard: JobGuard<'p>,
    feeder: Feeder<'p>,
    finished: bool,
    ordered: bool,
    _result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Imap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("job", &self.guard.job)
            .field("ordered", &self.ordered)
            .field("exhausted", &self.feeder.exhausted())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<'p, R: TaskResult> Imap<'p, R> {
    pub(crate) fn new(engine: &'p Engine, job: u64, feeder: Feeder<'p>, ordered: bool) -> Self {
        Self {
            guard: JobGuard::new(engine, job),
            feeder,
            finished: false,
            ordered,
            _result: PhantomData,
        }
    }

    /// The next result and its input position, waiting at most `timeout`.
    /// `None` at the end; `Some(Err(Timeout))` if nothing arrived in time
    /// (the iterator goes on).
    pub fn next_indexed_timeout(&mut self, timeout: Duration) -> Option<(usize, Result<R>)> {
        self.next_indexed_by(Deadline::after(timeout))
    }

    fn next_indexed_by(&mut self, deadline: Deadline) -> Option<(usize, Result<R>)> {
        if self.finished {
            return None;
        }
        let engine = self.guard.engine;
        let job = self.guard.job;
        let got = engine.run_job(job, &mut self.feeder, deadline, |core| {
            let Some(job) = core.job(job) else {
                return Some(Some((0, Err(Error::vanished()))));
            };
            let complete = job.is_complete();
            let sink = job.sink.as_any().downcast_mut::<StreamSink>()?;
            if let Some((index, outcome)) = sink.ready.pop_front() {
                return Some(Some((index, decode_outcome(&outcome))));
            }
            if let Some(e) = sink.fatal.take() {
                return Some(Some((0, Err(e))));
            }
            complete.then_some(None)
        });
        match got {
            Ok(Some((index, item))) => {
                if item.as_ref().is_err_and(|e| !e.is_item_error()) {
                    // A pool-wide failure ends the iteration.
                    self.finished = true;
                }
                Some((index, item))
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => Some((0, Err(e))),
        }
    }

    /// The next result with its position in the input (useful with
    /// `imap_unordered`).
    pub fn next_indexed(&mut self) -> Option<(usize, Result<R>)> {
        self.next_indexed_by(Deadline::Forever)
    }

    /// The next result, waiting at most `timeout` (Python's
    /// `next(timeout)`); `Some(Err(Error::Timeout))` if none arrived in time.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<R>> {
        self.next_indexed_timeout(timeout).map(|(_, r)| r)
    }
}

impl<R: TaskResult> Iterator for Imap<'_, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        self.next_indexed().map(|(_, r)| r)
    }
}

impl<R: TaskResult> std::iter::FusedIterator for Imap<'_, R> {}
