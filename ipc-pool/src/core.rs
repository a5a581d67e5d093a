//! The parent's side of the pool: workers, jobs, chunks, and the scheduler
//! that moves chunks to workers and results back to jobs.
//!
//! Everything here runs in whichever thread of the parent is calling into
//! the pool (there is no background thread), under the pool's mutex:
//! [`Core::pump`] drains result frames, checks on the workers, replaces dead
//! or retired ones, and dispatches pending chunks.
//!
//! # Dispatch
//!
//! Each worker has its own task queue, and the parent decides who runs what:
//! a chunk goes to the least-loaded worker that knows its function, and at
//! most [`DEPTH`] chunks wait for a worker at once (one running, the next
//! ready so the worker never idles while the parent is busy). The parent
//! therefore always knows which chunks a worker holds, and nothing is lost
//! when one dies.
//!
//! # Worker death
//!
//! A worker that dies (any signal, or an exit in the middle of a task) is
//! noticed by the next health check ([`HEALTH_PERIOD`], or sooner when a wait
//! for results times out). Results it sent before dying are taken first.
//! Then the chunk it was running (its id is in the worker's shared record)
//! is charged with one attempt: retried if the pool's retry budget allows it,
//! otherwise its unanswered items fail with [`Error::WorkerDied`]. Chunks that
//! were only queued behind it go back to the front of the line untouched.
//! The worker is replaced at once.
//!
//! # Functions
//!
//! Workers get their functions by `fork` (see [`Registry`]). When a chunk
//! needs a function no current worker has, the workers are retired (each
//! once it is idle) and replaced by fresh forks, which have it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::liveness::current_pid;
use ipc_core::process::{ExitStatus, Process};
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_queue::{Error as QueueError, Queue};
use zerocopy::IntoBytes;

use crate::sink::Sink;
use crate::task::{InitFn, Registry, TaskFn};
use crate::wire::{
    self, FAILED, FIXED, INIT_FAILED, ItemIter, PREFIX, PREFIXED, READY, RESULTS, ResultHeader,
    TASK_HEADER, TaskHeader, failure,
};
use crate::worker::{self, WorkerSetup};
use crate::{Error, Result};

/// Chunks queued to one worker at most (the running one included).
pub(crate) const DEPTH: usize = 2;
/// How often the workers' liveness is checked while the pool is busy.
pub(crate) const HEALTH_PERIOD: Duration = Duration::from_millis(10);
/// Result frames handled per pump before dispatching again.
const DRAIN_BUDGET: usize = 256;
/// How long a dead worker's last results are waited for.
const DEATH_DRAIN: Duration = Duration::from_millis(50);
/// Workers in a row that may die before finishing their initializer before
/// the pool gives up (instead of respawning forever, as Python's does).
const MAX_EARLY_DEATHS: u32 = 3;
/// How long `join` waits for an idle worker to exit before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The pool's settings, fixed at build time.
pub(crate) struct Config {
    pub processes: usize,
    pub initializer: Option<Box<dyn InitFn>>,
    pub max_tasks: Option<u64>,
    pub retries: u32,
    pub max_message: usize,
}

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

/// One worker process and what the parent knows about it.
struct Worker {
    /// Distinguishes successive workers in one slot.
    serial: u64,
    process: Process,
    /// The parent's end of the worker's own task queue.
    tasks: Queue<TaskHeader>,
    /// The id of the chunk the worker last started (written by the worker).
    record: Shared<AtomicU64>,
    /// The registry horizon at fork: the worker knows functions below it.
    known: u64,
    /// Chunks dispatched to it and not fully answered, oldest first.
    inflight: VecDeque<u64>,
    /// Chunks dispatched to it in all.
    dispatched: u64,
    /// It reported finishing its initializer.
    ready: bool,
    /// It gets no more work and is replaced once idle.
    retiring: bool,
}

/// Consecutive items of a job, sent to one worker as one task.
pub(crate) struct Chunk {
    job: u64,
    func: u64,
    /// The job index of the first item.
    first: usize,
    count: usize,
    /// Items answered so far (a prefix: a worker answers in order).
    received: usize,
    /// Executions that ended with the worker's death.
    attempts: u32,
    encoding: u32,
    stride: u32,
    /// The items' encoded bytes (kept until answered, to re-dispatch them
    /// if the worker dies).
    args: Vec<u8>,
    /// The worker slot and serial it was dispatched to.
    slot: usize,
    serial: u64,
}

impl Chunk {
    /// A chunk of `count` items from job index `first`, encoded in `args`.
    pub fn new(first: usize, count: usize, encoding: u32, stride: usize, args: Vec<u8>) -> Self {
        Self {
            job: 0,
            func: 0,
            first,
            count,
            received: 0,
            attempts: 0,
            encoding,
            stride: stride as u32,
            args,
            slot: usize::MAX,
            serial: 0,
        }
    }

    /// Items in the chunk.
    pub fn len(&self) -> usize {
        self.count
    }

    /// What is left to run: the unanswered items, as a chunk to dispatch
    /// again (under a new id).
    fn remainder(mut self) -> Chunk {
        let skip = self.received;
        if skip > 0 {
            let at = match self.encoding {
                FIXED => skip * self.stride as usize,
                _ => ItemIter::new(PREFIXED, 0, skip, &self.args)
                    .map(|item| item.map_or(0, |b| PREFIX + b.len()))
                    .sum(),
            };
            self.args.drain(..at.min(self.args.len()));
            self.first += skip;
            self.count -= skip;
            self.received = 0;
        }
        self
    }
}

/// One call's worth of work (a `map`, an `apply_async`, an `imap`).
pub(crate) struct Job {
    func: u64,
    pub sink: Box<dyn Sink>,
    /// Chunks pending or in flight.
    pub outstanding: usize,
    /// A handle still wants the results.
    owned: bool,
    /// All of its input has been submitted.
    pub fed: bool,
}

impl Job {
    /// Whether every submitted item has been answered and no more will come.
    pub fn is_complete(&self) -> bool {
        self.fed && self.outstanding == 0
    }
}

/// The parent's state, behind the pool's mutex.
pub(crate) struct Core {
    pub cfg: Config,
    registry: Registry,
    workers: Vec<Option<Worker>>,
    /// Retired workers on their way out, reaped when they have exited.
    exiting: Vec<Process>,
    started: bool,
    jobs: HashMap<u64, Job>,
    pending: VecDeque<Chunk>,
    inflight: HashMap<u64, Chunk>,
    next_job: u64,
    next_chunk: u64,
    next_serial: u64,
    pub state: State,
    /// Set when the pool cannot go on (initializer failed, workers cannot be
    /// started, the result queue broke); every call reports it.
    pub broken: Option<Error>,
    /// A thread is blocked receiving results outside the mutex.
    pub receiving: bool,
    health_due: bool,
    last_health: Instant,
    early_deaths: u32,
    /// The process that created the pool: the only one that may use it
    /// (a forked child has a copy, but not the workers).
    creator: u32,
}

impl Core {
    pub fn new(cfg: Config) -> Self {
        let workers = (0..cfg.processes).map(|_| None).collect();
        Self {
            cfg,
            registry: Registry::new(),
            workers,
            exiting: Vec::new(),
            started: false,
            jobs: HashMap::new(),
            pending: VecDeque::new(),
            inflight: HashMap::new(),
            next_job: 1,
            next_chunk: 1,
            next_serial: 1,
            state: State::Running,
            broken: None,
            receiving: false,
            health_due: false,
            last_health: Instant::now(),
            early_deaths: 0,
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

    /// Creates a job running `task`, with its results going to `sink`.
    pub fn new_job<T: TaskFn>(&mut self, task: T, sink: Box<dyn Sink>) -> u64 {
        let func = self.registry.register(task);
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(
            id,
            Job {
                func,
                sink,
                outstanding: 0,
                owned: true,
                fed: false,
            },
        );
        id
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
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.fed |= last;
        if let Some(e) = refused {
            job.fed = true;
            job.sink.fail_all(e);
            return;
        }
        job.outstanding += chunks.len();
        let func = job.func;
        self.pending.extend(chunks.into_iter().map(|mut c| {
            c.job = id;
            c.func = func;
            c
        }));
    }

    /// The job, while it exists.
    pub fn job(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.get_mut(&id)
    }

    /// The handle of job `id` is done with it: it is dropped now if nothing
    /// of it is in flight, else once its last chunk is answered. Input not
    /// yet submitted never will be.
    pub fn release_job(&mut self, id: u64) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.owned = false;
            job.fed = true;
        }
        self.forget_if_done(id);
    }

    fn forget_if_done(&mut self, id: u64) {
        let done = self
            .jobs
            .get(&id)
            .is_some_and(|job| !job.owned && job.is_complete());
        if done && let Some(job) = self.jobs.remove(&id) {
            self.registry.release(job.func);
        }
    }

    /// Whether nothing is pending or in flight.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.inflight.is_empty()
    }

    // ----- workers -----

    /// Starts the workers if they are not running yet (they start lazily, on
    /// the first submission, so that they are forked knowing its function).
    pub fn ensure_started(&mut self, results: &Queue<ResultHeader>) -> Result<()> {
        if self.started || self.broken.is_some() {
            return Ok(());
        }
        if !matches!(self.state, State::Running | State::Closed) {
            return Ok(());
        }
        self.started = true;
        for slot in 0..self.workers.len() {
            if let Err(e) = self.fill_slot(slot, results)
                && self.workers.iter().all(Option::is_none)
            {
                self.break_pool(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// The pids of the current workers.
    pub fn pids(&self) -> Vec<u32> {
        self.workers
            .iter()
            .flatten()
            .map(|w| w.process.pid())
            .collect()
    }

    fn spawn(&mut self, results: &Queue<ResultHeader>) -> Result<Worker> {
        // Capacity DEPTH + 1: the worker keeps the slot of the chunk it is
        // running until it has sent the results, and by then the parent may
        // already have dispatched DEPTH newer ones.
        let tasks = Queue::<TaskHeader>::builder()
            .capacity(DEPTH + 1)
            .max_frame(self.cfg.max_message)
            .create()?;
        let record = Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0))?;
        let setup = WorkerSetup {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
            record: record.try_clone()?,
            table: self.registry.snapshot(),
            initializer: self.cfg.initializer.as_ref().map(|f| f.clone_box()),
            max_tasks: self.cfg.max_tasks,
            parent: std::process::id(),
            max_frame: self.cfg.max_message,
        };
        let serial = self.next_serial;
        self.next_serial += 1;
        let process = Process::builder()
            .daemon(true)
            .name(format!("PoolWorker-{serial}"))
            .spawn(move || worker::run(setup))?;
        Ok(Worker {
            serial,
            process,
            tasks,
            record,
            known: self.registry.horizon(),
            inflight: VecDeque::new(),
            dispatched: 0,
            ready: false,
            retiring: false,
        })
    }

    /// Puts a fresh worker in an empty slot, unless the pool is winding down.
    fn fill_slot(&mut self, slot: usize, results: &Queue<ResultHeader>) -> Result<()> {
        let wanted = self.started
            && self.broken.is_none()
            && matches!(self.state, State::Running | State::Closed);
        if !wanted || self.workers.get(slot).is_none_or(Option::is_some) {
            return Ok(());
        }
        let worker = self.spawn(results)?;
        self.workers[slot] = Some(worker);
        Ok(())
    }

    /// Replaces retiring workers that have nothing left to do, and fills
    /// empty slots. Returns whether a worker was started.
    fn replace_retired(&mut self, results: &Queue<ResultHeader>) -> bool {
        let mut started = false;
        for slot in 0..self.workers.len() {
            let idle_retiree = self.workers[slot]
                .as_ref()
                .is_some_and(|w| w.retiring && w.inflight.is_empty());
            if idle_retiree && let Some(w) = self.workers[slot].take() {
                // Closing its queue ends its loop; it is reaped later.
                let _ = w.tasks.close();
                self.exiting.push(w.process);
            }
            if self.workers[slot].is_none() {
                match self.fill_slot(slot, results) {
                    Ok(()) => started |= self.workers[slot].is_some(),
                    Err(e) => {
                        if self.workers.iter().all(Option::is_none) {
                            self.break_pool(e);
                            return false;
                        }
                    }
                }
            }
        }
        started
    }

    /// Checks every worker; handles the dead ones; reaps exited retirees.
    fn check_health(&mut self, results: &Queue<ResultHeader>) {
        self.last_health = Instant::now();
        self.health_due = false;
        self.exiting.retain(|p| p.is_alive());
        for slot in 0..self.workers.len() {
            let dead = self.workers[slot]
                .as_ref()
                .is_some_and(|w| !w.process.is_alive());
            if dead {
                self.on_death(slot, results);
                if self.broken.is_some() {
                    return;
                }
            }
        }
    }

    /// Worker `slot` died: account for its chunks, then replace it.
    fn on_death(&mut self, slot: usize, results: &Queue<ResultHeader>) {
        // Results it sent before dying count: take them first.
        self.drain_after_death(results);
        let Some(w) = self.workers[slot].take() else {
            return;
        };
        // `is_alive` reaped it; an unknown status means someone else did.
        let status = w.process.exit_status().unwrap_or(ExitStatus::Exited(-1));
        let pid = w.process.pid();
        if !w.ready {
            self.early_deaths += 1;
        }
        let running = w.record.load(Ordering::SeqCst);
        let mut requeue = Vec::new();
        for id in &w.inflight {
            let Some(mut chunk) = self.inflight.remove(id) else {
                continue;
            };
            if *id == running {
                chunk.attempts += 1;
                if chunk.attempts > self.cfg.retries {
                    let first = chunk.first + chunk.received;
                    let err = Error::WorkerDied {
                        index: first,
                        pid,
                        status,
                    };
                    self.fail_items(&chunk, first, chunk.count - chunk.received, &err);
                    self.chunk_done(chunk);
                    continue;
                }
            }
            requeue.push(chunk.remainder());
        }
        for chunk in requeue.into_iter().rev() {
            self.pending.push_front(chunk);
        }
        drop(w);
        if self.early_deaths >= MAX_EARLY_DEATHS {
            self.break_pool(Error::InitializerFailed {
                message: format!(
                    "{MAX_EARLY_DEATHS} workers in a row died before finishing their \
                     initializer (the last one, pid {pid}: {status})"
                ),
            });
            return;
        }
        if let Err(e) = self.fill_slot(slot, results)
            && self.workers.iter().all(Option::is_none)
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
                Err(QueueError::Timeout | QueueError::Empty) => {}
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
        self.kill_workers();
    }

    /// Fails every unfinished job with `error` and forgets all chunks.
    fn fail_everything(&mut self, error: Error) {
        self.pending.clear();
        self.inflight.clear();
        for w in self.workers.iter_mut().flatten() {
            w.inflight.clear();
        }
        for job in self.jobs.values_mut() {
            if !job.is_complete() {
                job.sink.fail_all(error.clone());
                job.outstanding = 0;
                job.fed = true;
            }
        }
        let ids: Vec<u64> = self.jobs.keys().copied().collect();
        for id in ids {
            self.forget_if_done(id);
        }
    }

    /// Kills (SIGKILL) and reaps every worker.
    fn kill_workers(&mut self) {
        let workers: Vec<Worker> = self.workers.iter_mut().filter_map(Option::take).collect();
        for w in &workers {
            let _ = w.process.kill();
        }
        for p in &self.exiting {
            let _ = p.kill();
        }
        // Dropping a daemon handle reaps it.
        drop(workers);
        self.exiting.clear();
    }

    /// Python's `terminate`: kill the workers now, fail unfinished work.
    pub fn terminate(&mut self) {
        if self.state != State::Joined {
            self.state = State::Terminated;
        }
        self.fail_everything(Error::Terminated);
        self.kill_workers();
    }

    /// For `join`, once no work is left: closes every worker's queue and
    /// waits for it to exit (killing one that takes longer than
    /// [`EXIT_GRACE`]).
    pub fn shut_down_workers(&mut self) -> Result<()> {
        self.state = State::Joined;
        let workers: Vec<Worker> = self.workers.iter_mut().filter_map(Option::take).collect();
        for w in &workers {
            let _ = w.tasks.close();
        }
        let mut outcome = Ok(());
        let processes = workers
            .into_iter()
            .map(|w| w.process)
            .chain(self.exiting.drain(..));
        for p in processes {
            if let Err(ipc_core::Error::Timeout) = p.join_timeout(EXIT_GRACE) {
                let _ = p.kill();
            }
            if let Err(e) = p.join() {
                outcome = Err(e.into());
            }
        }
        outcome
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
        if self.health_due || self.last_health.elapsed() >= HEALTH_PERIOD {
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
        self.health_due = true;
    }

    /// Handles up to `budget` frames that are ready now.
    fn drain(&mut self, results: &Queue<ResultHeader>, budget: usize) {
        for _ in 0..budget {
            match results.try_recv_guard() {
                Ok(guard) => self.on_frame(guard.bytes()),
                Err(QueueError::Empty | QueueError::Timeout) => return,
                Err(e) => {
                    self.break_pool(e.into());
                    return;
                }
            }
        }
    }

    /// Sends pending chunks to workers, oldest first, while any worker has room.
    fn dispatch(&mut self, results: &Queue<ResultHeader>) {
        if self.pending.is_empty() {
            return;
        }
        if self.ensure_started(results).is_err() {
            return;
        }
        while let Some(func) = self.pending.front().map(|c| c.func) {
            if let Some(slot) = self.pick_worker(func) {
                if let Some(chunk) = self.pending.pop_front() {
                    self.send_chunk(slot, chunk);
                }
                continue;
            }
            // Nobody has room, or nobody knows the function: in the second
            // case, retire the workers that do not know it, and replace those
            // that are idle right away.
            let retired = self.retire_stale(func);
            if !(retired && self.replace_retired(results)) {
                break;
            }
        }
    }

    /// The least-loaded worker with room that knows `func`.
    fn pick_worker(&self, func: u64) -> Option<usize> {
        self.workers
            .iter()
            .enumerate()
            .filter_map(|(slot, w)| Some((slot, w.as_ref()?)))
            .filter(|(_, w)| !w.retiring && func < w.known && w.inflight.len() < DEPTH)
            .min_by_key(|(_, w)| w.inflight.len())
            .map(|(slot, _)| slot)
    }

    /// If no active worker knows `func`, retires every worker (they predate
    /// it). Returns whether any was retired.
    fn retire_stale(&mut self, func: u64) -> bool {
        let active = || self.workers.iter().flatten().filter(|w| !w.retiring);
        if active().any(|w| func < w.known) {
            return false;
        }
        let mut retired = false;
        for w in self.workers.iter_mut().flatten() {
            if !w.retiring && func >= w.known {
                w.retiring = true;
                retired = true;
            }
        }
        retired
    }

    /// Writes `chunk` into worker `slot`'s queue, in place.
    fn send_chunk(&mut self, slot: usize, mut chunk: Chunk) {
        let id = self.next_chunk;
        let Some(w) = self.workers.get_mut(slot).and_then(Option::as_mut) else {
            self.pending.push_front(chunk);
            return;
        };
        let header = TaskHeader {
            func: chunk.func,
            chunk: id,
            first: chunk.first as u64,
            count: chunk.count as u32,
            encoding: chunk.encoding,
            stride: chunk.stride,
            _pad: 0,
        };
        let mut loan = match w.tasks.try_loan() {
            Ok(loan) => loan,
            Err(_) => {
                // Cannot happen with DEPTH accounting; if the queue is
                // unusable, replace the worker and send the chunk elsewhere.
                w.retiring = true;
                self.pending.push_front(chunk);
                return;
            }
        };
        let frame = loan.bytes_mut();
        let (head, body) = frame.split_at_mut(TASK_HEADER);
        head.copy_from_slice(header.as_bytes());
        let written = body.get_mut(..chunk.args.len()).map(|dst| {
            dst.copy_from_slice(&chunk.args);
            chunk.args.len()
        });
        let Some(len) = written else {
            // Sizes are checked at submission; this would be a bug. Fail
            // the items rather than send garbage or wait forever.
            drop(loan);
            let err = Error::Protocol {
                reason: "a chunk did not fit its message".into(),
            };
            self.fail_items(&chunk, chunk.first, chunk.count, &err);
            self.chunk_done(chunk);
            return;
        };
        loan.commit_bytes(TASK_HEADER + len);
        self.next_chunk += 1;
        w.inflight.push_back(id);
        w.dispatched += 1;
        if self.cfg.max_tasks.is_some_and(|max| w.dispatched >= max) {
            // It exits by itself after this many; replaced once idle.
            w.retiring = true;
        }
        chunk.slot = slot;
        chunk.serial = w.serial;
        self.inflight.insert(id, chunk);
    }

    // ----- results -----

    /// Handles one frame from a worker.
    pub fn on_frame(&mut self, frame: &[u8]) {
        let Ok((header, payload)) = zerocopy::FromBytes::read_from_prefix(frame) else {
            return;
        };
        let header: ResultHeader = header;
        match header.kind {
            READY => {
                if let Some(w) = self
                    .workers
                    .iter_mut()
                    .flatten()
                    .find(|w| w.process.pid() == header.pid)
                {
                    w.ready = true;
                    self.early_deaths = 0;
                }
            }
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
        let Some(chunk) = self.inflight.get(&h.chunk) else {
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
            if let Some(chunk) = self.take_inflight(h.chunk) {
                self.fail_items(&chunk, expected, left, &err);
                self.chunk_done(chunk);
            }
            return;
        }
        let failed = if h.kind == RESULTS {
            let items = ItemIter::new(h.encoding, h.stride as usize, n, payload);
            let stored = items
                .validate()
                .and_then(|()| match self.jobs.get_mut(&job_id) {
                    Some(job) => job.sink.put(expected, items),
                    None => Ok(()),
                });
            stored.err().map(|reason| Error::Protocol { reason })
        } else {
            Some(failure_error(h.failure, payload, expected))
        };
        if let Some(err) = failed
            && let Some(job) = self.jobs.get_mut(&job_id)
        {
            for index in expected..expected + n {
                job.sink.fail(index, err.at_index(index));
            }
        }
        let Some(chunk) = self.inflight.get_mut(&h.chunk) else {
            return;
        };
        chunk.received += n;
        if chunk.received == chunk.count
            && let Some(chunk) = self.take_inflight(h.chunk)
        {
            self.chunk_done(chunk);
        }
    }

    /// Removes chunk `id` from the chunks in flight and from its worker's.
    fn take_inflight(&mut self, id: u64) -> Option<Chunk> {
        let chunk = self.inflight.remove(&id)?;
        if let Some(w) = self.workers.get_mut(chunk.slot).and_then(Option::as_mut)
            && w.serial == chunk.serial
        {
            w.inflight.retain(|&other| other != id);
        }
        Some(chunk)
    }

    /// Fails `n` items of `chunk` from job index `first`.
    fn fail_items(&mut self, chunk: &Chunk, first: usize, n: usize, err: &Error) {
        if let Some(job) = self.jobs.get_mut(&chunk.job) {
            for index in first..first + n {
                job.sink.fail(index, err.at_index(index));
            }
        }
    }

    /// A chunk is finished (answered or failed): its job has one less.
    fn chunk_done(&mut self, chunk: Chunk) {
        if let Some(job) = self.jobs.get_mut(&chunk.job) {
            job.outstanding = job.outstanding.saturating_sub(1);
        }
        self.forget_if_done(chunk.job);
    }
}

/// The error for items reported failed by a worker.
fn failure_error(code: u32, payload: &[u8], index: usize) -> Error {
    let (message, location) = wire::decode_failure(payload);
    match code {
        failure::PANICKED => Error::TaskFailed {
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

impl Drop for Core {
    fn drop(&mut self) {
        // The workers are killed and reaped (Python's terminate on exit);
        // the queues' anonymous segments go with the last handle.
        self.kill_workers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Core {
        Core::new(Config {
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
    fn remainder_skips_answered_items() {
        let mut fixed = Chunk::new(10, 4, FIXED, 2, vec![1, 1, 2, 2, 3, 3, 4, 4]);
        fixed.received = 3;
        let rest = fixed.remainder();
        assert_eq!((rest.first, rest.count, rest.args), (13, 1, vec![4, 4]));

        let mut bytes = Vec::new();
        for item in [&b"ab"[..], b"", b"xyz"] {
            wire::push_prefixed(&mut bytes, item);
        }
        let mut prefixed = Chunk::new(0, 3, PREFIXED, 0, bytes);
        prefixed.received = 2;
        let rest = prefixed.remainder();
        let mut expected = Vec::new();
        wire::push_prefixed(&mut expected, b"xyz");
        assert_eq!((rest.first, rest.count, rest.args), (2, 1, expected));
    }

    #[test]
    fn submissions_after_terminate_fail_their_job() {
        let mut core = core();
        core.terminate();
        assert_eq!(core.check_accepting(), Err(Error::NotRunning));
        let job = core.new_job(
            crate::task::MapFn::<_, u64, u64>::new(|x: u64| x),
            Box::new(crate::sink::StreamSink::new(true)),
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
