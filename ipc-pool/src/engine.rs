//! The waiting engine behind the pool's facade and its handles: the result
//! queue, the parent's state ([`Core`]) behind a mutex, and the loop that
//! pumps the pool while a caller waits.
//!
//! # Waiting
//!
//! Whichever thread waits on the pool also feeds the workers, collects
//! results and replaces dead workers; while work submitted with
//! `apply_async` is in flight, the pool's progress thread (`progress.rs`)
//! is one more such waiter, so that it completes while the caller does
//! something else. Every wait
//! ([`Engine::wait`], [`Engine::run_job`]) is the same loop: pump under the
//! lock, check whether the caller's condition holds, else block for at most
//! [`SLICE`] and pump again. Blocking is bounded so that a dead worker is
//! noticed (by the health check of the next pump) even when no result comes.
//!
//! One thread at a time blocks receiving from the result queue, outside the
//! mutex (`Core::receiving` says one does), so that other threads can submit
//! meanwhile; the others wait on the condition variable `turn`, which the
//! receiver signals once it handled a frame (or its slice ran out). A wait
//! that times out asks for a health check at the next pump.
//!
//! # Callbacks
//!
//! A job that completes queues its callback (`jobs.rs`); whichever thread
//! pumped runs the queued callbacks right after the pump, outside the lock,
//! so a callback may use the pool. A panicking callback is reported by the
//! panic hook as usual and does not stop the thread that ran it.
//!
//! # Feeding
//!
//! Lazy jobs (`imap`, and `map` over an iterator) pull their input through a
//! [`Feeder`], a window of chunks ahead of the workers, and always outside
//! the lock: the input may be slow, or may itself use the pool.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ipc_core::wait::Deadline;
use ipc_queue::{Error as QueueError, Queue};

use crate::core::Core;
use crate::jobs::{Chunk, OnComplete};
use crate::sink::Sink;
use crate::task::TaskFn;
use crate::wire::{RESULT_HEADER, ResultHeader, TASK_HEADER};
use crate::workers::{DEPTH, PoolConfig};
use crate::{Error, Result};

/// The longest a waiting thread blocks on the result queue before checking
/// on the workers again.
const SLICE: Duration = Duration::from_millis(10);

/// The pool's shared state and the waiting on it; the [`Pool`](crate::Pool)
/// and its handles hold one (the handles by reference).
pub(crate) struct Engine {
    /// Results from every worker; outside the mutex so that one thread can
    /// block on it while others use the pool.
    results: Queue<ResultHeader>,
    core: Mutex<Core>,
    /// Signalled whenever the receiving thread handled a frame.
    turn: Condvar,
    /// Wakes the parked progress thread: work or a callback is waiting, or
    /// the pool is going away.
    work: Condvar,
}

impl Engine {
    /// An engine over the result queue `results`, for a pool set up by `cfg`.
    pub(crate) fn new(results: Queue<ResultHeader>, cfg: PoolConfig) -> Self {
        Self {
            results,
            core: Mutex::new(Core::new(cfg)),
            turn: Condvar::new(),
            work: Condvar::new(),
        }
    }

    /// The pids of the current workers, starting them if they are not
    /// running yet.
    pub(crate) fn pids(&self) -> Result<Vec<u32>> {
        let mut core = self.lock();
        core.check_accepting()?;
        core.ensure_started(&self.results)?;
        Ok(core.pids())
    }

    /// The parent's state, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock (a bug) leaves consistent-enough
        // state: every mutation is a small step.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most items of `in_size` and `out_size` bytes one chunk can carry.
    pub(crate) fn max_items(&self, in_size: usize, out_size: usize) -> Result<usize> {
        let max_message = self.lock().cfg.max_message;
        let room_in = max_message - TASK_HEADER;
        let room_out = max_message - RESULT_HEADER;
        if in_size > room_in {
            return Err(Error::TooLarge {
                len: in_size,
                max: room_in,
            });
        }
        if out_size > room_out {
            return Err(Error::TooLarge {
                len: out_size,
                max: room_out,
            });
        }
        let by_in = room_in.checked_div(in_size).unwrap_or(usize::MAX);
        let by_out = room_out.checked_div(out_size).unwrap_or(usize::MAX);
        // `count` travels as a u32.
        Ok(by_in.min(by_out).min(u32::MAX as usize))
    }

    /// Registers `task` and a job for it (with `on_complete` to run when it
    /// completes), queues all of its chunks (`make` gets the pool's process
    /// count), and starts dispatching.
    pub(crate) fn submit<T: TaskFn>(
        &self,
        task: T,
        sink: Box<dyn Sink>,
        on_complete: Option<OnComplete>,
        make: impl FnOnce(usize) -> Vec<Chunk>,
    ) -> Result<u64> {
        let mut core = self.lock();
        core.check_accepting()?;
        let chunks = make(core.cfg.processes);
        let job = core.new_job(task, sink, on_complete);
        core.add_chunks(job, chunks, true);
        if let Err(e) = core.ensure_started(&self.results) {
            core.release_job(job);
            return Err(e);
        }
        core.pump(&self.results);
        Ok(job)
    }

    /// Feeds job `job` from `feeder` (a window of chunks ahead, pulling the
    /// input without holding the lock) while pumping, until `check` returns
    /// a value or `deadline` passes ([`Error::Timeout`]).
    pub(crate) fn run_job<T>(
        &self,
        job: u64,
        feeder: &mut Feeder<'_>,
        deadline: Deadline,
        check: impl FnMut(&mut Core) -> Option<T>,
    ) -> Result<T> {
        self.pump_until(deadline, Some((job, feeder)), check)
    }

    /// Pumps and waits until `check` returns a value, or `deadline` passes
    /// ([`Error::Timeout`]).
    pub(crate) fn wait<T>(
        &self,
        deadline: Deadline,
        check: impl FnMut(&mut Core) -> Option<T>,
    ) -> Result<T> {
        self.pump_until(deadline, None, check)
    }

    /// The pool's one waiting loop: handle the results that arrived, ask
    /// `check`, feed the job's input when the workers want more (never under
    /// the lock: the input may be slow, or use this pool), else wait for
    /// progress in slices of the caller's deadline.
    fn pump_until<T>(
        &self,
        deadline: Deadline,
        mut feed: Option<(u64, &mut Feeder<'_>)>,
        mut check: impl FnMut(&mut Core) -> Option<T>,
    ) -> Result<T> {
        let mut core = self.lock();
        core.check_owner()?;
        loop {
            core.pump(&self.results);
            core = self.run_due(core);
            if let Some(value) = check(&mut core) {
                return Ok(value);
            }
            if let Some((job, feeder)) = feed.as_mut() {
                let wanted = feeder.wanted(&mut core, *job);
                if wanted > 0 {
                    drop(core);
                    let chunks = feeder.pull(wanted);
                    core = self.lock();
                    core.add_chunks(*job, chunks, feeder.exhausted());
                    continue;
                }
            }
            let until = deadline.slice_end(SLICE).ok_or(Error::Timeout)?;
            core = self.wait_progress(core, until);
        }
    }

    /// Runs the callbacks of completed jobs, outside the lock.
    fn run_due<'a>(&'a self, mut core: MutexGuard<'a, Core>) -> MutexGuard<'a, Core> {
        if !core.has_due() {
            return core;
        }
        let due = core.take_due();
        drop(core);
        let mut done = Vec::with_capacity(due.len());
        for (job, call) in due {
            // The panic hook has reported it; the pool goes on.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
            done.push(job);
        }
        let mut core = self.lock();
        for job in done {
            core.callback_done(job);
        }
        core
    }

    /// Wakes the progress thread if it is parked.
    pub(crate) fn kick(&self) {
        self.work.notify_all();
    }

    /// For the progress thread: parks until there is work in flight or a
    /// callback to run (`true`), or the pool is going away (`false`).
    pub(crate) fn park_until_work(&self) -> bool {
        let mut core = self.lock();
        loop {
            if core.stopping {
                return false;
            }
            if !core.is_idle() || core.has_due() {
                return true;
            }
            core = self.work.wait(core).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Blocks until a result frame was handled (by this thread or another)
    /// or `until` passes; the lock is released while blocked. One thread
    /// receives from the result queue; the others wait for it to signal.
    pub(crate) fn wait_progress<'a>(
        &'a self,
        core: MutexGuard<'a, Core>,
        until: Instant,
    ) -> MutexGuard<'a, Core> {
        let timeout = until.saturating_duration_since(Instant::now());
        if timeout.is_zero() {
            return core;
        }
        if core.receiving {
            let (core, _) = self
                .turn
                .wait_timeout(core, timeout)
                .unwrap_or_else(PoisonError::into_inner);
            return core;
        }
        let mut core = core;
        core.receiving = true;
        drop(core);
        let got = self.results.recv_guard_timeout(timeout);
        let mut core = self.lock();
        core.receiving = false;
        match got {
            Ok(guard) => core.on_frame(guard.bytes()),
            // Disconnected: every worker exited or died (retired, killed);
            // the health check replaces them.
            Err(QueueError::Timeout | QueueError::Empty | QueueError::Disconnected) => {
                core.health_check_due()
            }
            Err(e) => core.break_pool(e.into()),
        }
        self.turn.notify_all();
        core
    }
}

/// Pulls a job's input a chunk at a time, keeping a window of chunks in
/// flight ahead of the consumer.
pub(crate) struct Feeder<'a> {
    next: Box<dyn FnMut() -> Option<Chunk> + 'a>,
    exhausted: bool,
    items: usize,
}

impl<'a> Feeder<'a> {
    pub fn new(next: impl FnMut() -> Option<Chunk> + 'a) -> Self {
        Self {
            next: Box::new(next),
            exhausted: false,
            items: 0,
        }
    }

    /// Whether the input has ended.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Items pulled so far.
    pub fn items(&self) -> usize {
        self.items
    }

    /// How many chunks to add now: enough to keep every worker busy (two
    /// per worker beyond what the workers hold), few enough to bound memory.
    pub fn wanted(&self, core: &mut Core, job: u64) -> usize {
        let window = core.cfg.processes * DEPTH * 2;
        match core.job(job) {
            Some(job) if !self.exhausted => window.saturating_sub(job.outstanding),
            _ => 0,
        }
    }

    /// Pulls up to `n` chunks.
    pub fn pull(&mut self, n: usize) -> Vec<Chunk> {
        let mut chunks = Vec::with_capacity(n);
        while chunks.len() < n {
            match (self.next)() {
                Some(chunk) => {
                    self.items += chunk.len();
                    chunks.push(chunk);
                }
                None => {
                    self.exhausted = true;
                    break;
                }
            }
        }
        chunks
    }
}
