//! [`RemotePool`] and [`Worker`]: a process pool whose workers run on any
//! host that reaches the server.
//!
//! Functions cannot travel between hosts, so tasks are named: a worker
//! registers each function under a name (`worker.task("square", |x: u64|
//! x * x)`), and the submitting process names the task it maps
//! (`pool.map::<u64, u64>("square", 0..100)`). Arguments and results are
//! serde values in postcard, as the local queue's `put_serde` writes them.
//!
//! # Protocol
//!
//! - A pool named `N` has a task queue, the [`RemoteQueue`] `N-tasks`
//!   (work-queue stream, one shared durable consumer), and a result stream
//!   `IPCR_N` (work-queue retention, subjects `ipcr.N.<job>`, results kept
//!   an hour at most).
//! - Each call (`map`, `imap_unordered`, `apply_async`) is a *job* with a
//!   fresh id; it reads its results through a consumer of its own,
//!   filtered on `ipcr.N.<job>`, which the server removes a minute after
//!   the submitter stops reading (a submitter that died leaves nothing).
//! - A task is `(job, index, task name, argument)`. A worker takes one
//!   unacknowledged, runs it, publishes the result (acknowledged by the
//!   server), and only then acknowledges the task. While it runs, a
//!   heartbeat tells the server every third of `redeliver_after` that the
//!   task is in progress, so a long task is not given to another worker;
//!   a worker (or its host) killed mid-task stops the heartbeat, and the
//!   server gives the task to another worker after `redeliver_after`.
//! - A task may therefore run twice (its worker died after publishing the
//!   result); the submitter keeps the first result of each index. A task
//!   that panics, returns an error, names an unknown function or gets an
//!   argument that does not decode fails its item with
//!   [`TaskFailed`](Error::TaskFailed); the pool goes on.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::stream::{self, RetentionPolicy};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::queue::{Delivery, RemoteQueue};
use crate::remote::{Remote, check_name, retrying, server_error, transient};
use ipc_core::Deadline;

use crate::runtime::{self, DeadlineExt};

/// How many task puts a submitter keeps in flight.
const PIPELINE: usize = 128;

/// A task as it travels.
#[derive(Serialize, Deserialize)]
struct TaskMsg {
    job: String,
    index: u64,
    task: String,
    arg: Vec<u8>,
}

/// A result as it travels: the value's bytes, or why it failed.
#[derive(Serialize, Deserialize)]
struct ResultMsg {
    index: u64,
    outcome: std::result::Result<Vec<u8>, String>,
}

fn results_stream(pool: &str) -> String {
    format!("IPCR_{pool}")
}

fn results_subject(pool: &str, job: &str) -> String {
    format!("ipcr.{pool}.{job}")
}

/// The submitting side of a pool: `map`, `imap_unordered`, `apply_async`
/// of named tasks, run by [`Worker`]s on any host.
///
/// ```no_run
/// use ipc_remote::{Remote, RemoteOptions, RemotePool};
///
/// let remote = Remote::connect(&RemoteOptions::new("nats://10.0.0.5:4222"))?;
/// let pool = RemotePool::open(&remote, "render")?;
/// let squares: Vec<u64> = pool.map("square", 0..100u64)?;
/// # Ok::<(), ipc_remote::Error>(())
/// ```
#[derive(Debug)]
pub struct RemotePool {
    remote: Remote,
    name: String,
    tasks: RemoteQueue,
}

impl RemotePool {
    /// Opens the pool named `name` (its task queue and result stream),
    /// creating them if needed. Workers redeliver a dead worker's task
    /// after 30 s; [`open_with`](Self::open_with) sets another delay.
    pub fn open(remote: &Remote, name: &str) -> Result<Self> {
        Self::open_with(remote, name, Duration::from_secs(30))
    }

    /// [`open`](Self::open), with the delay after which a task whose worker
    /// stopped sending heartbeats goes to another worker (set when the
    /// pool is first created).
    pub fn open_with(remote: &Remote, name: &str, redeliver_after: Duration) -> Result<Self> {
        check_name(name)?;
        let tasks = RemoteQueue::builder(remote, &format!("{name}-tasks"))
            .redeliver_after(redeliver_after)
            // A worker takes one task at a time: a prefetched task would
            // wait behind a long one while another worker is idle.
            .prefetch(1)
            .open_or_create()?;
        let config = stream::Config {
            name: results_stream(name),
            subjects: vec![format!("ipcr.{name}.*")],
            retention: RetentionPolicy::WorkQueue,
            max_age: Duration::from_secs(3600),
            description: Some("ipc-toolkit remote pool results".into()),
            ..Default::default()
        };
        let js = remote.js.clone();
        runtime::block_on(retrying(
            Deadline::after(remote.opts.connect_timeout),
            transient,
            || async {
                js.get_or_create_stream(config.clone())
                    .await
                    .map(drop)
                    .map_err(|e| server_error("create the pool's result stream", &e))
            },
        ))?;
        Ok(Self {
            remote: remote.clone(),
            name: name.to_owned(),
            tasks,
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the pool for every submitter and worker: submitting fails
    /// with `Disconnected`; workers finish the tasks already queued, then
    /// their [`run`](Worker::run) returns.
    pub fn close(&self) -> Result<()> {
        self.tasks.close()
    }

    /// Runs `task` on each item and returns the results in order; the
    /// first failure (in order of arrival) is returned instead.
    pub fn map<A, R>(&self, task: &str, items: impl IntoIterator<Item = A>) -> Result<Vec<R>>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        let mut job = self.submit(task, items)?;
        let mut out: Vec<Option<R>> = (0..job.total).map(|_| None).collect();
        for _ in 0..job.total {
            let (index, value) = job.next(Deadline::Forever)?;
            let slot = usize::try_from(index)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| Error::TaskFailed {
                    message: format!("a result for item {index}, which was not submitted"),
                })?;
            *slot = Some(decode(&value?)?);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Runs `task` on each item; the results as they arrive.
    pub fn imap_unordered<A, R>(
        &self,
        task: &str,
        items: impl IntoIterator<Item = A>,
    ) -> Result<ImapUnordered<R>>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        Ok(ImapUnordered {
            job: self.submit(task, items)?,
            left: 0,
            started: false,
            _r: std::marker::PhantomData,
        })
    }

    /// Runs `task` on `arg` in the background; the result when asked.
    pub fn apply_async<A, R>(&self, task: &str, arg: A) -> Result<RemoteAsyncResult<R>>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        Ok(RemoteAsyncResult {
            job: self.submit(task, [arg])?,
            value: None,
            _r: std::marker::PhantomData,
        })
    }

    /// Publishes a job's tasks (pipelined) and opens its result consumer.
    fn submit<A: Serialize>(&self, task: &str, items: impl IntoIterator<Item = A>) -> Result<Job> {
        let job = self.remote.unique_id().replace('.', "_");
        let mut frames = Vec::new();
        for (index, arg) in items.into_iter().enumerate() {
            frames.push(encode(&TaskMsg {
                job: job.clone(),
                index: index as u64,
                task: task.to_owned(),
                arg: encode(&arg)?.to_vec(),
            })?);
        }
        let total = frames.len() as u64;
        let subject = results_subject(&self.name, &job);
        let consumer = runtime::block_on(async {
            // The consumer first, so that no result can come before it.
            let stream = self
                .remote
                .js
                .get_stream(results_stream(&self.name))
                .await
                .map_err(|e| server_error("look up the pool's results", &e))?;
            let consumer: PullConsumer = stream
                .create_consumer(pull::Config {
                    filter_subject: subject,
                    ack_policy: AckPolicy::Explicit,
                    inactive_threshold: Duration::from_secs(60),
                    ..Default::default()
                })
                .await
                .map_err(|e| server_error("read the pool's results", &e))?;
            let mut puts = futures_util::stream::iter(frames)
                .map(|f| self.tasks.put_at(f, Deadline::Forever))
                .buffer_unordered(PIPELINE);
            while let Some(r) = puts.next().await {
                r?;
            }
            Ok::<_, Error>(consumer)
        })?;
        Ok(Job {
            consumer,
            total,
            seen: HashSet::new(),
            buffered: std::collections::VecDeque::new(),
        })
    }
}

/// One call's results: read through its own consumer, first of each index
/// kept.
struct Job {
    consumer: PullConsumer,
    total: u64,
    seen: HashSet<u64>,
    buffered: std::collections::VecDeque<ResultMsg>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("total", &self.total)
            .field("received", &self.seen.len())
            .finish()
    }
}

impl Job {
    /// The next new result: its index and its value's bytes, or the task's
    /// failure as `TaskFailed`.
    fn next(&mut self, deadline: Deadline) -> Result<(u64, Result<Vec<u8>>)> {
        runtime::block_on(deadline.run(async {
            loop {
                while let Some(r) = self.buffered.pop_front() {
                    if self.seen.insert(r.index) {
                        let value = r.outcome.map_err(|message| Error::TaskFailed { message });
                        return Ok((r.index, value));
                    }
                }
                // What has arrived, then (if nothing) a long poll for one.
                self.pull(None).await;
                if self.buffered.is_empty() {
                    let wait = deadline
                        .slice(Duration::from_secs(1))
                        .max(Duration::from_millis(10));
                    if !self.pull(Some(wait)).await {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                if self.buffered.is_empty() && deadline.has_passed() {
                    return Err(Error::Timeout);
                }
            }
        }))
    }

    /// Reads results into `buffered`, acknowledging each: all that are
    /// there (`wait` None), or one within `wait`. Every message of a pull
    /// is read: one left unread would come again only after the
    /// consumer's acknowledgement wait. False if the pull failed.
    async fn pull(&mut self, wait: Option<Duration>) -> bool {
        let batch = match wait {
            None => self.consumer.fetch().max_messages(256).messages().await,
            Some(w) => {
                self.consumer
                    .batch()
                    .max_messages(1)
                    .expires(w)
                    .messages()
                    .await
            }
        };
        let Ok(mut batch) = batch else { return false };
        while let Some(m) = batch.next().await {
            let Ok(m) = m else { break };
            let _ = m.ack().await;
            if let Ok(r) = decode::<ResultMsg>(&m.payload) {
                self.buffered.push_back(r);
            }
        }
        true
    }
}

/// The results of [`RemotePool::imap_unordered`], as they arrive.
#[derive(Debug)]
pub struct ImapUnordered<R> {
    job: Job,
    left: u64,
    started: bool,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> Iterator for ImapUnordered<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        if !self.started {
            self.started = true;
            self.left = self.job.total;
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(match self.job.next(Deadline::Forever) {
            Ok((_, Ok(bytes))) => decode(&bytes),
            Ok((_, Err(e))) | Err(e) => Err(e),
        })
    }
}

/// The result of [`RemotePool::apply_async`].
#[derive(Debug)]
pub struct RemoteAsyncResult<R> {
    job: Job,
    value: Option<Vec<u8>>,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> RemoteAsyncResult<R> {
    /// Waits for the result.
    pub fn get(mut self) -> Result<R> {
        self.wait(Deadline::Forever)
    }

    /// Waits at most `timeout` (`Timeout`; the result may still be taken
    /// later).
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<R> {
        self.wait(Deadline::after(timeout))
    }

    fn wait(&mut self, deadline: Deadline) -> Result<R> {
        if self.value.is_none() {
            let (_, value) = self.job.next(deadline)?;
            self.value = Some(value?);
        }
        decode(self.value.as_deref().unwrap_or_default())
    }
}

/// A named task's function, over encoded arguments and results.
type TaskFn = Box<dyn Fn(&[u8]) -> std::result::Result<Vec<u8>, String> + Send + Sync>;

/// A worker process's side of a pool: the tasks it can run, and the loop
/// that takes and runs them ([`run`](Self::run)). Start as many as wanted,
/// on any host; a worker killed mid-task has its task run by another.
///
/// ```no_run
/// use ipc_remote::{Remote, RemoteOptions, Worker};
///
/// let remote = Remote::connect(&RemoteOptions::new("nats://10.0.0.5:4222"))?;
/// Worker::new(&remote, "render")?
///     .task("square", |x: u64| x * x)
///     .run()?;
/// # Ok::<(), ipc_remote::Error>(())
/// ```
pub struct Worker {
    remote: Remote,
    pool: String,
    tasks: RemoteQueue,
    functions: HashMap<String, TaskFn>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("pool", &self.pool)
            .field("tasks", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Worker {
    /// A worker of the pool named `pool` (created if needed, as
    /// [`RemotePool::open`] does).
    pub fn new(remote: &Remote, pool: &str) -> Result<Self> {
        let p = RemotePool::open(remote, pool)?;
        Ok(Self {
            remote: remote.clone(),
            pool: pool.to_owned(),
            tasks: p.tasks,
            functions: HashMap::new(),
        })
    }

    /// Registers `f` as the task `name`.
    #[must_use]
    pub fn task<A, R>(mut self, name: &str, f: impl Fn(A) -> R + Send + Sync + 'static) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
    {
        let run: TaskFn = Box::new(move |arg: &[u8]| {
            let a: A = decode(arg).map_err(|e| e.to_string())?;
            let r = catch_unwind(AssertUnwindSafe(|| f(a))).map_err(|p| panic_message(&*p))?;
            encode(&r).map(|b| b.to_vec()).map_err(|e| e.to_string())
        });
        self.functions.insert(name.to_owned(), run);
        self
    }

    /// Takes and runs tasks until the pool's task queue is closed.
    pub fn run(&self) -> Result<u64> {
        self.run_until(&AtomicBool::new(false))
    }

    /// [`run`](Self::run), also returning once `stop` is set (looked at
    /// between tasks, at least every 100 ms). Returns the tasks run.
    pub fn run_until(&self, stop: &AtomicBool) -> Result<u64> {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let d = match self.tasks.get_delivery_timeout(Duration::from_millis(100)) {
                Ok(d) => d,
                Err(Error::Timeout) => continue,
                Err(Error::Disconnected) => break,
                Err(e) => return Err(e),
            };
            self.run_one(d)?;
            n += 1;
        }
        Ok(n)
    }

    fn run_one(&self, d: Delivery) -> Result<()> {
        let Ok(t) = d.decode::<TaskMsg>() else {
            // Not a task of this toolkit: dropped (acknowledged) rather
            // than handed round for ever.
            return d.ack();
        };
        let outcome = match self.functions.get(&t.task) {
            None => Err(format!("no task named `{}` in this worker", t.task)),
            Some(f) => {
                let (done, finished) = std::sync::mpsc::channel::<()>();
                let beat = self.tasks.redeliver_after() / 3;
                std::thread::scope(|s| {
                    let d = &d;
                    s.spawn(move || heartbeat(d, &finished, beat));
                    let r = f(&t.arg);
                    // Wakes the heartbeat at once: the scope waits for it.
                    drop(done);
                    r
                })
            }
        };
        let frame = encode(&ResultMsg {
            index: t.index,
            outcome,
        })?;
        self.publish_result(&t.job, frame)?;
        d.ack()
    }

    fn publish_result(&self, job: &str, frame: Bytes) -> Result<()> {
        let subject = results_subject(&self.pool, job);
        let js = self.remote.js.clone();
        runtime::block_on(retrying(Deadline::Forever, transient, || async {
            let ack = js
                .publish(subject.clone(), frame.clone())
                .await
                .map_err(|e| server_error("publish a result", &e))?;
            ack.await
                .map(drop)
                .map_err(|e| server_error("publish a result", &e))
        }))
    }
}

/// Tells the server every `period` that the task is still being worked
/// on, until the task's end drops the sender of `finished`.
fn heartbeat(d: &Delivery, finished: &std::sync::mpsc::Receiver<()>, period: Duration) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(period) {
        let _ = d.in_progress();
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("task panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("task panicked: {s}")
    } else {
        "task panicked".into()
    }
}
