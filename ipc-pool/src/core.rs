//! The parent's side of the pool: the coordinator that ties the workers
//! (`workers.rs`), the jobs (`jobs.rs`) and the chunks between them
//! (`dispatch.rs`) together, and moves results back to jobs.
//!
//! Everything here runs in whichever thread of the parent is calling into
//! the pool (there is no background thread), under the pool's mutex (see
//! `engine.rs`): [`Core::pump`] drains result frames, checks on the workers,
//! replaces dead or retired ones, and dispatches pending chunks. Each of
//! those steps is one struct's own business; what is here is only what needs
//! more than one of them: the pool's state, failing work when a worker dies
//! or the pool breaks, and handing results to their job.
//!
//! # Worker death
//!
//! A worker that dies (any signal, or an exit in the middle of a task) is
//! noticed by the next health check
//! ([`HEALTH_PERIOD`](crate::workers::HEALTH_PERIOD), or sooner when a wait
//! for results times out). Results it sent before dying are taken first.
//! Then the item it was running (the chunk id and item index are in the
//! worker's shared record) is charged with one attempt: retried if the
//! pool's retry budget allows it, otherwise it fails with
//! [`Error::WorkerDied`]. The chunk's other unanswered items and the chunks
//! only queued behind it go back to the front of the line untouched.
//! The worker is replaced at once.
//!
//! # Functions
//!
//! Workers get their functions by `fork` (see [`Registry`]). A job's function
//! is registered when the job is created and released once the job is
//! forgotten; [`Jobs`] reports which, since the registry is also read when
//! workers are forked. When a chunk needs a function no current worker has,
//! the workers are retired (each once it is idle) and replaced by fresh
//! forks, which have it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::liveness::current_pid;
use ipc_core::process::ExitStatus;
use ipc_queue::{Error as QueueError, Queue};

use crate::dispatch::Dispatch;
use crate::jobs::{Chunk, Due, Job, Jobs, OnComplete};
use crate::sink::Sink;
use crate::task::{Registry, TaskFn};
use crate::wire::{
    self, FAILED, INIT_FAILED, ItemIter, READY, RECORD_CHUNK, RECORD_ITEM, RESULTS, ResultHeader,
    failure,
};
use crate::workers::{MAX_EARLY_DEATHS, PoolConfig, Workers};
use crate::{Error, Result};

/// Result frames handled per pump before dispatching again.
const DRAIN_BUDGET: usize = 256;
/// How long a dead worker's last results are waited for.
const DEATH_DRAIN: Duration = Duration::from_millis(50);

/// Where the pool stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Accepting work.
    Running,
    /// `close`d: finishing what was submitted, accepting nothing new.
    Closed,
    /// `join`ed: the workers are gone.
    Joined,
    /// `terminate`d: the workers were killed, unfinished work failed.
    Terminated,
}

/// The parent's state, behind the pool's mutex.
pub(crate) struct Core {
    pub cfg: PoolConfig,
    registry: Registry,
    workers: Workers,
    jobs: Jobs,
    dispatch: Dispatch,
    pub state: State,
    /// Set when the pool cannot go on (initializer failed, workers cannot be
    /// started, the result queue broke); every call reports it.
    pub broken: Option<Error>,
    /// A thread is blocked receiving results outside the mutex.
    pub receiving: bool,
    /// The progress thread is asked to exit (the pool is being dropped).
    pub stopping: bool,
    /// The process that created the pool: the only one that may use it
    /// (a forked child has a copy, but not the workers).
    creator: u32,
}

impl Core {
    pub fn new(cfg: PoolConfig) -> Self {
        let workers = Workers::new(cfg.processes);
        Self {
            cfg,
            registry: Registry::new(),
            workers,
            jobs: Jobs::new(),
            dispatch: Dispatch::new(),
            state: State::Running,
            broken: None,
            receiving: false,
            stopping: false,
            creator: current_pid(),
        }
    }

    // ----- submitting -----

    /// `Ok` in the process that created the pool.
    pub fn check_owner(&self) -> Result<()> {
        if current_pid() == self.creator {
            Ok(())
        } else {
            Err(Error::InvalidState {
                reason: "a pool can only be used by the process that created it",
            })
        }
    }

    /// `Ok` if new work is accepted.
    pub fn check_accepting(&self) -> Result<()> {
        self.check_owner()?;
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        match self.state {
            State::Running => Ok(()),
            _ => Err(Error::NotRunning),
        }
    }

    /// Creates a job running `task`, with its results going to `sink`, and
    /// `on_complete` run once it completes.
    pub fn new_job<T: TaskFn>(
        &mut self,
        task: T,
        sink: Box<dyn Sink>,
        on_complete: Option<OnComplete>,
    ) -> u64 {
        let func = self.registry.register(task);
        self.jobs.new_job(func, sink, on_complete)
    }

    /// Callbacks of completed jobs, to run outside the lock.
    pub fn take_due(&mut self) -> Vec<Due> {
        self.jobs.take_due()
    }

    /// Whether callbacks wait to run.
    pub fn has_due(&self) -> bool {
        self.jobs.has_due()
    }

    /// Job `id`'s callback returned.
    pub fn callback_done(&mut self, id: u64) {
        self.jobs.callback_done(id);
    }

    /// Whether nothing is pending or in flight, and every callback returned.
    pub fn is_settled(&self) -> bool {
        self.is_idle() && !self.jobs.callbacks_pending()
    }

    /// Queues chunks of job `id`; `last` says the job's input ends here.
    /// Refused (the job fails) once the pool was terminated or joined.
    pub fn add_chunks(&mut self, id: u64, chunks: Vec<Chunk>, last: bool) {
        let refused = match (&self.broken, self.state) {
            (Some(e), _) => Some(e.clone()),
            (None, State::Terminated) => Some(Error::Terminated),
            (None, State::Joined) => Some(Error::NotRunning),
            _ => None,
        };
        let Some(job) = self.jobs.job(id) else {
            return;
        };
        job.fed |= last;
        if let Some(e) = refused {
            job.fed = true;
            job.sink.fail_all(e);
            self.jobs.settle(id);
            return;
        }
        job.outstanding += chunks.len();
        let func = job.func;
        self.dispatch.queue(id, func, chunks);
    }

    /// The job, while it exists.
    pub fn job(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.job(id)
    }

    /// The handle of job `id` is done with it: it is dropped now if nothing
    /// of it is in flight, else once its last chunk is answered. Input not
    /// yet submitted never will be.
    pub fn release_job(&mut self, id: u64) {
        if let Some(func) = self.jobs.release_job(id) {
            self.registry.release(func);
        }
    }

    /// Whether nothing is pending or in flight.
    pub fn is_idle(&self) -> bool {
        self.dispatch.is_idle()
    }

    // ----- workers -----

    /// Starts the workers if they are not running yet (they start lazily, on
    /// the first submission, so that they are forked knowing its function).
    pub fn ensure_started(&mut self, results: &Queue<ResultHeader>) -> Result<()> {
        if self.workers.started() || self.broken.is_some() {
            return Ok(());
        }
        if !matches!(self.state, State::Running | State::Closed) {
            return Ok(());
        }
        if let Err(e) = self.workers.start(&self.cfg, &self.registry, results) {
            self.break_pool(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// The pids of the current workers.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.pids()
    }

    /// Whether the pool wants its worker slots filled: it is neither broken
    /// nor winding down.
    fn wants_workers(&self) -> bool {
        self.broken.is_none() && matches!(self.state, State::Running | State::Closed)
    }

    /// Puts a fresh worker in an empty slot, unless the pool is winding down.
    fn fill_slot(&mut self, slot: usize, results: &Queue<ResultHeader>) -> Result<()> {
        let live = self.wants_workers();
        self.workers
            .fill_slot(slot, live, &self.cfg, &self.registry, results)
    }

    /// Replaces retiring workers that have nothing left to do, and fills
    /// empty slots. Returns whether a worker was started.
    fn replace_retired(&mut self, results: &Queue<ResultHeader>) -> bool {
        let live = self.wants_workers();
        match self
            .workers
            .replace_retired(live, &self.cfg, &self.registry, results)
        {
            Ok(started) => started,
            Err(e) => {
                self.break_pool(e);
                false
            }
        }
    }

    /// Checks every worker; handles the dead ones; reaps exited retirees.
    fn check_health(&mut self, results: &Queue<ResultHeader>) {
        for slot in self.workers.check_health() {
            self.on_death(slot, results);
            if self.broken.is_some() {
                return;
            }
        }
    }

    /// Worker `slot` died: account for its chunks, then replace it.
    fn on_death(&mut self, slot: usize, results: &Queue<ResultHeader>) {
        // Results it sent before dying count: take them first.
        self.drain_after_death(results);
        let Some(w) = self.workers.take_dead(slot) else {
            return;
        };
        // `is_alive` reaped it; an unknown status means someone else did.
        let status = w.process.exit_status().unwrap_or(ExitStatus::Exited(-1));
        let pid = w.process.pid();
        let running = (
            w.record[RECORD_CHUNK].load(Ordering::SeqCst),
            w.record[RECORD_ITEM].load(Ordering::SeqCst),
        );
        let (spent, extra) = self
            .dispatch
            .requeue_dead(&w.inflight, running, self.cfg.retries);
        for job in extra {
            self.jobs.add_outstanding(job);
        }
        ipc_core::trace_event!(
            warn,
            pid,
            status = %status,
            failed_items = spent.iter().map(|c| c.count - c.received).sum::<usize>(),
            "a pool worker died; replacing it, its work is retried or failed"
        );
        for chunk in spent {
            let first = chunk.first + chunk.received;
            let err = Error::WorkerDied {
                index: first,
                pid,
                status,
            };
            self.jobs
                .fail_items(&chunk, first, chunk.count - chunk.received, &err);
            self.chunk_done(chunk);
        }
        drop(w);
        if self.workers.too_many_early_deaths() {
            self.break_pool(Error::InitializerFailed {
                message: format!(
                    "{MAX_EARLY_DEATHS} workers in a row died before finishing their \
                     initializer (the last one, pid {pid}: {status})"
                ),
            });
            return;
        }
        if let Err(e) = self.fill_slot(slot, results)
            && self.workers.is_empty()
        {
            self.break_pool(e);
        }
    }

    /// Takes every result frame already sent, waiting briefly for frames
    /// still being written (a dead writer's slot is stepped over by the
    /// queue once it notices the writer is gone).
    fn drain_after_death(&mut self, results: &Queue<ResultHeader>) {
        self.drain(results, usize::MAX);
        let deadline = Instant::now() + DEATH_DRAIN;
        while !results.is_empty() && Instant::now() < deadline {
            match results.recv_guard_timeout(Duration::from_millis(5)) {
                Ok(guard) => self.on_frame(guard.bytes()),
                // Disconnected: every worker is gone for now; the health
                // check replaces them.
                Err(QueueError::Timeout | QueueError::Empty | QueueError::Disconnected) => {}
                Err(e) => {
                    self.break_pool(e.into());
                    return;
                }
            }
        }
    }

    /// Stops the pool for good: fails every unfinished job with `error`,
    /// kills the workers.
    pub fn break_pool(&mut self, error: Error) {
        if self.broken.is_none() {
            self.broken = Some(error.clone());
        }
        self.fail_everything(error);
        self.workers.kill_all();
    }

    /// Fails every unfinished job with `error` and forgets all chunks.
    fn fail_everything(&mut self, error: Error) {
        self.dispatch.clear();
        self.workers.clear_inflight();
        for func in self.jobs.fail_all(error) {
            self.registry.release(func);
        }
    }

    /// Python's `terminate`: kill the workers now, fail unfinished work.
    pub fn terminate(&mut self) {
        if self.state != State::Joined {
            self.state = State::Terminated;
        }
        self.fail_everything(Error::Terminated);
        self.workers.kill_all();
    }

    /// For `join`, once no work is left: closes every worker's queue and
    /// waits for it to exit (see `Workers::shut_down`).
    pub fn shut_down_workers(&mut self) -> Result<()> {
        self.state = State::Joined;
        self.workers.shut_down()
    }

    // ----- the pump -----

    /// Takes available results, checks the workers when due, replaces
    /// retired ones, and dispatches what it can. Never blocks for long.
    pub fn pump(&mut self, results: &Queue<ResultHeader>) {
        if self.broken.is_some()
            || matches!(self.state, State::Terminated | State::Joined)
            || self.check_owner().is_err()
        {
            return;
        }
        self.drain(results, DRAIN_BUDGET);
        if self.workers.health_due() {
            self.check_health(results);
        }
        if self.broken.is_some() {
            return;
        }
        self.replace_retired(results);
        self.dispatch(results);
    }

    /// Asks for a health check at the next pump (a wait timed out).
    pub fn health_check_due(&mut self) {
        self.workers.health_check_due();
    }

    /// Handles up to `budget` frames that are ready now.
    fn drain(&mut self, results: &Queue<ResultHeader>, budget: usize) {
        for _ in 0..budget {
            match results.try_recv_guard() {
                Ok(guard) => self.on_frame(guard.bytes()),
                Err(QueueError::Empty | QueueError::Timeout | QueueError::Disconnected) => return,
                Err(e) => {
                    self.break_pool(e.into());
                    return;
                }
            }
        }
    }

    /// Sends pending chunks to workers, oldest first, while any worker has
    /// room. Coordination, not `Dispatch`'s own: it starts, retires and
    /// replaces workers (which may break the pool) and fails the items of a
    /// chunk that cannot be sent.
    fn dispatch(&mut self, results: &Queue<ResultHeader>) {
        if !self.dispatch.has_pending() {
            return;
        }
        if self.ensure_started(results).is_err() {
            return;
        }
        while let Some(func) = self.dispatch.next_func() {
            if let Some(slot) = self.workers.pick_worker(func) {
                let misfit = self
                    .dispatch
                    .send_next(&mut self.workers, slot, self.cfg.max_tasks);
                if let Some(chunk) = misfit {
                    // Sizes are checked at submission; this would be a bug.
                    // Fail the items rather than send garbage or wait forever.
                    let err = Error::Protocol {
                        reason: "a chunk did not fit its message".into(),
                    };
                    self.jobs.fail_items(&chunk, chunk.first, chunk.count, &err);
                    self.chunk_done(chunk);
                }
                continue;
            }
            // Nobody has room, or nobody knows the function: in the second
            // case, retire the workers that do not know it, and replace those
            // that are idle right away.
            let retired = self.workers.retire_stale(func);
            if !(retired && self.replace_retired(results)) {
                break;
            }
        }
    }

    // ----- results -----

    /// Handles one frame from a worker.
    pub fn on_frame(&mut self, frame: &[u8]) {
        let Ok((header, payload)) = zerocopy::FromBytes::read_from_prefix(frame) else {
            return;
        };
        let header: ResultHeader = header;
        match header.kind {
            READY => self.workers.mark_ready(header.pid),
            INIT_FAILED => {
                let (message, location) = wire::decode_failure(payload);
                let message = match location {
                    Some(at) => format!("{message} (at {at})"),
                    None => message,
                };
                self.break_pool(Error::InitializerFailed { message });
            }
            RESULTS | FAILED => self.on_result(&header, payload),
            // Unknown kinds are ignored: nothing waits on them.
            _ => {}
        }
    }

    fn on_result(&mut self, h: &ResultHeader, payload: &[u8]) {
        // Frames of a chunk that was re-dispatched or failed meanwhile are
        // late duplicates: the chunk's new id gets its own answers.
        let Some(chunk) = self.dispatch.in_flight(h.chunk) else {
            return;
        };
        let expected = chunk.first + chunk.received;
        let left = chunk.count - chunk.received;
        let n = h.count as usize;
        let job_id = chunk.job;
        if h.first != expected as u64 || n == 0 || n > left {
            let err = Error::Protocol {
                reason: format!(
                    "a worker answered items {}..+{n} where {expected}..+{left} were due",
                    h.first
                ),
            };
            if let Some(chunk) = self.dispatch.take_inflight(&mut self.workers, h.chunk) {
                self.jobs.fail_items(&chunk, expected, left, &err);
                self.chunk_done(chunk);
            }
            return;
        }
        let failed = if h.kind == RESULTS {
            let items = ItemIter::new(h.encoding, h.stride as usize, n, payload);
            let stored = items.validate().and_then(|()| match self.jobs.job(job_id) {
                Some(job) => job.sink.put(expected, items),
                None => Ok(()),
            });
            stored.err().map(|reason| Error::Protocol { reason })
        } else {
            Some(failure_error(h.failure, payload, expected))
        };
        if let Some(err) = failed
            && let Some(job) = self.jobs.job(job_id)
        {
            for index in expected..expected + n {
                job.sink.fail(index, err.at_index(index));
            }
        }
        let Some(chunk) = self.dispatch.in_flight_mut(h.chunk) else {
            return;
        };
        chunk.received += n;
        if chunk.received == chunk.count
            && let Some(chunk) = self.dispatch.take_inflight(&mut self.workers, h.chunk)
        {
            self.chunk_done(chunk);
        }
    }

    /// A chunk is finished (answered or failed): its job has one less, and
    /// the job's function is released if that was the job's end.
    fn chunk_done(&mut self, chunk: Chunk) {
        if let Some(func) = self.jobs.chunk_done(chunk) {
            self.registry.release(func);
        }
    }
}

/// The error for items reported failed by a worker.
fn failure_error(code: u32, payload: &[u8], index: usize) -> Error {
    let (message, location) = wire::decode_failure(payload);
    match code {
        failure::PANICKED | failure::RETURNED_ERROR => Error::TaskFailed {
            index,
            message,
            location,
        },
        failure::TOO_LARGE => {
            let mut parts = message.split('/').map(|n| n.parse().unwrap_or(0));
            let len = parts.next().unwrap_or(0);
            let max = parts.next().unwrap_or(0);
            Error::ResultTooLarge { index, len, max }
        }
        _ => Error::Protocol { reason: message },
    }
}

#[cfg(test)]
mod tests {
    use zerocopy::IntoBytes;

    use super::*;
    use crate::wire::FIXED;

    fn core() -> Core {
        Core::new(PoolConfig {
            processes: 1,
            initializer: None,
            max_tasks: None,
            retries: 0,
            max_message: 1024,
        })
    }

    #[test]
    fn junk_frames_are_ignored() {
        let mut core = core();
        core.on_frame(&[]);
        core.on_frame(&[0xff; 7]);
        core.on_frame(&[0xff; 200]);
        let mut frame = ResultHeader {
            kind: RESULTS,
            pid: 1,
            chunk: 12345,
            first: 0,
            count: 1,
            encoding: FIXED,
            stride: 8,
            failure: 0,
        }
        .as_bytes()
        .to_vec();
        frame.extend_from_slice(&[0; 8]);
        core.on_frame(&frame);
        assert!(core.is_idle());
        assert!(core.broken.is_none());
    }

    #[test]
    fn submissions_after_terminate_fail_their_job() {
        let mut core = core();
        core.terminate();
        assert_eq!(core.check_accepting(), Err(Error::NotRunning));
        let job = core.new_job(
            crate::task::MapFn::<_, u64, u64, crate::task::Plain>::new(|x: u64| x),
            Box::new(crate::sink::StreamSink::new(true)),
            None,
        );
        core.add_chunks(job, vec![Chunk::new(0, 1, FIXED, 8, vec![0; 8])], true);
        let job = core.job(job).unwrap();
        assert!(job.is_complete());
        let sink = job
            .sink
            .as_any()
            .downcast_mut::<crate::sink::StreamSink>()
            .unwrap();
        assert_eq!(sink.fatal, Some(Error::Terminated));
    }
}
