//! The worker processes as the parent sees them: forking them, checking
//! their health, retiring and replacing them, picking one for a chunk, and
//! killing them. Also the pool's settings ([`PoolConfig`]), which all concern the
//! workers: how many, their initializer, their task budget, their message
//! size, and how often their chunks are retried when one dies.
//!
//! # Lifecycle
//!
//! Each worker has a slot, its own task queue (room for [`DEPTH`] chunks
//! plus the one it is still answering), and a shared word in which it records
//! the chunk it is running. Workers start lazily, on the first submission,
//! so that they are forked knowing its function. A worker is replaced when it
//! dies, when it reaches its task budget, or when it does not know a new
//! function: it is then marked retiring, gets no more work, and once idle its
//! queue is closed (which ends its loop) and a fresh fork takes its slot; the
//! old process is reaped when it has exited.
//!
//! # Functions
//!
//! Workers get their functions by `fork` (see `Registry` in `task.rs`): a
//! worker knows every function registered before it was forked (below its
//! `known` horizon). When a chunk needs a function no current worker has,
//! the workers are retired ([`Workers::retire_stale`]) and replaced by fresh
//! forks, which have it.
//!
//! # Health
//!
//! Liveness is checked every [`HEALTH_PERIOD`] while the pool is busy, or at
//! the next pump after a wait for results timed out. This file only finds the
//! dead; what their death means for their chunks, and whether the pool can
//! go on (after [`MAX_EARLY_DEATHS`] workers in a row died before finishing
//! their initializer it cannot), is decided in `core.rs`.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use ipc_core::process::Process;
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_queue::Queue;

use crate::Result;
use crate::task::{InitFn, Registry};
use crate::wire::{ResultHeader, RunRecord, TaskHeader};
use crate::worker::{self, WorkerSetup};

/// Chunks queued to one worker at most (the running one included).
pub(crate) const DEPTH: usize = 2;
/// How often the workers' liveness is checked while the pool is busy.
pub(crate) const HEALTH_PERIOD: Duration = Duration::from_millis(10);
/// Workers in a row that may die before finishing their initializer before
/// the pool gives up (instead of respawning forever, as Python's does).
pub(crate) const MAX_EARLY_DEATHS: u32 = 3;
/// How long `join` waits for an idle worker to exit before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The pool's settings, fixed at build time.
pub(crate) struct PoolConfig {
    pub processes: usize,
    pub initializer: Option<Box<dyn InitFn>>,
    pub max_tasks: Option<u64>,
    pub retries: u32,
    pub max_message: usize,
}

/// One worker process and what the parent knows about it.
pub(crate) struct Worker {
    /// Distinguishes successive workers in one slot.
    pub(crate) serial: u64,
    pub(crate) process: Process,
    /// The parent's end of the worker's own task queue.
    pub(crate) tasks: Queue<TaskHeader>,
    /// The id of the chunk the worker last started (written by the worker).
    pub(crate) record: Shared<RunRecord>,
    /// The registry horizon at fork: the worker knows functions below it.
    known: u64,
    /// Chunks dispatched to it and not fully answered, oldest first.
    pub(crate) inflight: VecDeque<u64>,
    /// Chunks dispatched to it in all.
    pub(crate) dispatched: u64,
    /// It reported finishing its initializer.
    ready: bool,
    /// It gets no more work and is replaced once idle.
    pub(crate) retiring: bool,
}

/// The pool's worker slots and the processes on their way out.
pub(crate) struct Workers {
    slots: Vec<Option<Worker>>,
    /// Retired workers on their way out, reaped when they have exited.
    exiting: Vec<Process>,
    started: bool,
    next_serial: u64,
    early_deaths: u32,
    health_due: bool,
    last_health: Instant,
}

impl Workers {
    /// `processes` empty slots; nothing is forked yet.
    pub fn new(processes: usize) -> Self {
        Self {
            slots: (0..processes).map(|_| None).collect(),
            exiting: Vec::new(),
            started: false,
            next_serial: 1,
            early_deaths: 0,
            health_due: false,
            last_health: Instant::now(),
        }
    }

    /// Whether the workers were started (they start on the first submission).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether no slot holds a worker.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The worker in `slot`, if any.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Worker> {
        self.slots.get_mut(slot).and_then(Option::as_mut)
    }

    /// The pids of the current workers.
    pub fn pids(&self) -> Vec<u32> {
        self.slots
            .iter()
            .flatten()
            .map(|w| w.process.pid())
            .collect()
    }

    /// Starts a worker in every slot. Fails only if none could be started.
    pub fn start(
        &mut self,
        cfg: &PoolConfig,
        registry: &Registry,
        results: &Queue<ResultHeader>,
    ) -> Result<()> {
        self.started = true;
        for slot in 0..self.slots.len() {
            if let Err(e) = self.fill_slot(slot, true, cfg, registry, results)
                && self.is_empty()
            {
                return Err(e);
            }
        }
        Ok(())
    }

    fn spawn(
        &mut self,
        cfg: &PoolConfig,
        registry: &Registry,
        results: &Queue<ResultHeader>,
    ) -> Result<Worker> {
        // Capacity DEPTH + 1: the worker keeps the slot of the chunk it is
        // running until it has sent the results, and by then the parent may
        // already have dispatched DEPTH newer ones.
        let tasks = Queue::<TaskHeader>::builder()
            .capacity(DEPTH + 1)
            .max_frame(cfg.max_message)
            .create()?;
        let record = Shared::create(
            &SegmentOptions::anonymous(),
            [AtomicU64::new(0), AtomicU64::new(0)],
        )?;
        let setup = WorkerSetup {
            tasks: tasks.try_clone()?,
            results: results.try_clone()?,
            record: record.try_clone()?,
            table: registry.snapshot(),
            initializer: cfg.initializer.as_ref().map(|f| f.clone_box()),
            max_tasks: cfg.max_tasks,
            parent: std::process::id(),
            max_frame: cfg.max_message,
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
            known: registry.horizon(),
            inflight: VecDeque::new(),
            dispatched: 0,
            ready: false,
            retiring: false,
        })
    }

    /// Puts a fresh worker in an empty slot, unless the workers were not
    /// started yet or the pool is winding down (`live` is false: it is
    /// broken, joined or terminated).
    pub fn fill_slot(
        &mut self,
        slot: usize,
        live: bool,
        cfg: &PoolConfig,
        registry: &Registry,
        results: &Queue<ResultHeader>,
    ) -> Result<()> {
        let wanted = self.started && live;
        if !wanted || self.slots.get(slot).is_none_or(Option::is_some) {
            return Ok(());
        }
        let worker = self.spawn(cfg, registry, results)?;
        self.slots[slot] = Some(worker);
        Ok(())
    }

    /// Replaces retiring workers that have nothing left to do, and fills
    /// empty slots (see [`fill_slot`](Self::fill_slot) for `live`). Returns
    /// whether a worker was started; fails only if no slot holds a worker
    /// any more (the pool cannot go on).
    pub fn replace_retired(
        &mut self,
        live: bool,
        cfg: &PoolConfig,
        registry: &Registry,
        results: &Queue<ResultHeader>,
    ) -> Result<bool> {
        let mut started = false;
        for slot in 0..self.slots.len() {
            let idle_retiree = self.slots[slot]
                .as_ref()
                .is_some_and(|w| w.retiring && w.inflight.is_empty());
            if idle_retiree && let Some(w) = self.slots[slot].take() {
                // Closing its queue ends its loop; it is reaped later.
                let _ = w.tasks.close();
                self.exiting.push(w.process);
            }
            if self.slots[slot].is_none() {
                match self.fill_slot(slot, live, cfg, registry, results) {
                    Ok(()) => started |= self.slots[slot].is_some(),
                    Err(e) => {
                        if self.is_empty() {
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(started)
    }

    /// Whether a health check is due: asked for, or [`HEALTH_PERIOD`] passed
    /// since the last one.
    pub fn health_due(&self) -> bool {
        self.health_due || self.last_health.elapsed() >= HEALTH_PERIOD
    }

    /// Asks for a health check at the next pump (a wait timed out).
    pub fn health_check_due(&mut self) {
        self.health_due = true;
    }

    /// Checks every worker and reaps exited retirees. Returns the slots whose
    /// worker died (reaped by the check), for the caller to handle.
    pub fn check_health(&mut self) -> Vec<usize> {
        self.last_health = Instant::now();
        self.health_due = false;
        self.exiting.retain(|p| p.is_alive());
        (0..self.slots.len())
            .filter(|&slot| {
                self.slots[slot]
                    .as_ref()
                    .is_some_and(|w| !w.process.is_alive())
            })
            .collect()
    }

    /// Takes the dead worker out of `slot`, counting it if it died before
    /// finishing its initializer.
    pub fn take_dead(&mut self, slot: usize) -> Option<Worker> {
        let w = self.slots.get_mut(slot)?.take()?;
        if !w.ready {
            self.early_deaths += 1;
        }
        Some(w)
    }

    /// Whether [`MAX_EARLY_DEATHS`] workers in a row died before finishing
    /// their initializer.
    pub fn too_many_early_deaths(&self) -> bool {
        self.early_deaths >= MAX_EARLY_DEATHS
    }

    /// Worker `pid` reported finishing its initializer.
    pub fn mark_ready(&mut self, pid: u32) {
        if let Some(w) = self
            .slots
            .iter_mut()
            .flatten()
            .find(|w| w.process.pid() == pid)
        {
            w.ready = true;
            self.early_deaths = 0;
        }
    }

    /// The least-loaded worker with room that knows `func`.
    pub fn pick_worker(&self, func: u64) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, w)| Some((slot, w.as_ref()?)))
            .filter(|(_, w)| !w.retiring && func < w.known && w.inflight.len() < DEPTH)
            .min_by_key(|(_, w)| w.inflight.len())
            .map(|(slot, _)| slot)
    }

    /// If no active worker knows `func`, retires every worker (they predate
    /// it). Returns whether any was retired.
    pub fn retire_stale(&mut self, func: u64) -> bool {
        let active = || self.slots.iter().flatten().filter(|w| !w.retiring);
        if active().any(|w| func < w.known) {
            return false;
        }
        let mut retired = false;
        for w in self.slots.iter_mut().flatten() {
            if !w.retiring && func >= w.known {
                w.retiring = true;
                retired = true;
            }
        }
        retired
    }

    /// Forgets which chunks every worker holds (the pool failed them all).
    pub fn clear_inflight(&mut self) {
        for w in self.slots.iter_mut().flatten() {
            w.inflight.clear();
        }
    }

    /// Kills (SIGKILL) and reaps every worker.
    pub fn kill_all(&mut self) {
        let workers: Vec<Worker> = self.slots.iter_mut().filter_map(Option::take).collect();
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

    /// For `join`, once no work is left: closes every worker's queue and
    /// waits for it to exit (killing one that takes longer than
    /// [`EXIT_GRACE`]).
    pub fn shut_down(&mut self) -> Result<()> {
        let workers: Vec<Worker> = self.slots.iter_mut().filter_map(Option::take).collect();
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
}

impl Drop for Workers {
    fn drop(&mut self) {
        // The workers are killed and reaped (Python's terminate on exit);
        // the queues' anonymous segments go with the last handle.
        self.kill_all();
    }
}
