//! The facade: [`Pool`], its builder, and the calls that submit work.
//!
//! Everything public about a pool is here; what happens behind it is not.
//! The calls check their arguments, cut the input into chunks (sized to fit
//! one message, `chunksize` or Python's default), create the job with the
//! sink its results go to, and hand it to the pool's [`Engine`], which owns
//! the result queue and the parent's state and does all the waiting
//! (`engine.rs`). The handles a call returns (`handle.rs`) wait through the
//! same engine.

use std::fmt;
use std::sync::Arc;

use ipc_core::wait::Deadline;
use ipc_queue::{Message, Queue};

use crate::core::State;
use crate::engine::{Engine, Feeder};
use crate::handle::{AsyncResult, Imap, JobGuard};
use crate::jobs::Chunk;
use crate::jobs::OnComplete;
use crate::progress::Progress;
use crate::sink::{CollectSink, StreamSink, single_outcome};
use crate::task::{Args, BytesFn, InitFn, MapFn, StarCall, StarFn, TaskFn, TaskOutput, TaskResult};
use crate::wire::{FIXED, PREFIX, PREFIXED, ResultHeader, TASK_HEADER};
use crate::workers::{DEPTH, PoolConfig};
use crate::{Error, Result};

/// The default largest message (task or result frame) of a pool: 64 KiB.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 10;

/// The smallest `max_message` a pool accepts.
const MIN_MAX_MESSAGE: usize = 256;

/// A pool of worker processes, Python's `multiprocessing.Pool`.
///
/// Workers are forked from the calling process, so they share nothing with
/// it afterwards but the queues: tasks and results travel as `zerocopy`
/// [`Message`]s (or byte messages), written straight into shared memory.
/// Functions reach the workers by `fork` too: any
/// `Fn(A) -> O + Clone + Send + 'static` works, closures with captured state
/// included (see the crate documentation on
/// [functions and workers](crate#functions-and-workers)).
///
/// ```
/// use ipc_pool::Pool;
///
/// let pool = Pool::new(4)?;
/// let squares = pool.map(|x: u64| x * x, 0..10)?;
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
///
/// let sums = pool.starmap(|a: u32, b: u32| a + b, [(2, 3), (4, 5)])?;
/// assert_eq!(sums, [5, 9]);
/// # Ok::<(), ipc_pool::Error>(())
/// ```
///
/// All methods take `&self`; a pool can be shared between threads, and the
/// handles it returns ([`AsyncResult`], [`Imap`]) borrow it. There is no
/// background thread: whichever thread waits on the pool also feeds the
/// workers, collects results and replaces dead workers, so submitted work
/// progresses only while some thread calls into the pool (any wait, `ready`,
/// `join`, ...); at most two chunks per worker are queued ahead.
///
/// Dropping the pool terminates it: workers are killed and reaped, and the
/// queues (anonymous `memfd` segments) vanish with the last handle.
pub struct Pool {
    /// The result queue, the parent's state and the waiting on them (shared
    /// with the progress thread).
    engine: Arc<Engine>,
    /// Keeps `apply_async` work moving while the caller is busy.
    progress: Progress,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.engine.lock();
        f.debug_struct("Pool")
            .field("processes", &core.cfg.processes)
            .field("state", &core.state)
            .field("workers", &core.pids())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Pool`]: [`Pool::builder`], then the settings, then
/// [`build`](Self::build).
///
/// ```
/// use ipc_pool::Pool;
///
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(|| { /* open files, seed RNGs, ... once per worker */ })
///     .maxtasksperchild(100)
///     .retries(1)
///     .build()?;
/// assert_eq!(pool.processes(), 2);
/// # Ok::<(), ipc_pool::Error>(())
/// ```
#[must_use = "a builder does nothing until build is called"]
pub struct PoolBuilder {
    processes: Option<usize>,
    initializer: Option<Box<dyn InitFn>>,
    max_tasks: Option<u64>,
    retries: u32,
    max_message: usize,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("initializer", &self.initializer.is_some())
            .field("max_tasks", &self.max_tasks)
            .field("retries", &self.retries)
            .field("max_message", &self.max_message)
            .finish()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        Self {
            processes: None,
            initializer: None,
            max_tasks: None,
            retries: 0,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: the number of CPUs, as
    /// `os.cpu_count()` in Python). Zero is refused at build time.
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// A function each worker runs once, before its first task (Python's
    /// `initializer`; capture what would be `initargs`). If it panics, the
    /// pool is broken and every call returns [`Error::InitializerFailed`]
    /// (Python's pool would respawn workers forever).
    pub fn initializer<F: Fn() + Clone + Send + 'static>(mut self, f: F) -> Self {
        self.initializer = Some(Box::new(f));
        self
    }

    /// A worker exits after this many tasks (chunks) and is replaced by a
    /// fresh one (Python's `maxtasksperchild`). Default: unlimited. Zero
    /// means unlimited, as `None` does in Python.
    pub fn maxtasksperchild(mut self, n: u64) -> Self {
        self.max_tasks = (n > 0).then_some(n);
        self
    }

    /// How many more times an item is run when the worker running it dies
    /// (default 0: it fails with [`Error::WorkerDied`] at once). The item
    /// runs again on a fresh worker: use this only for tasks that are safe
    /// to run twice. (The other unanswered items of the dead worker's chunk
    /// always run again, uncharged: they were not what it died on, though
    /// those it finished before dying may have run once already.)
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// The largest task or result message in bytes (default
    /// [`DEFAULT_MAX_MESSAGE`], 64 KiB). Chunks are cut to fit; an argument or
    /// result type larger than this less a 40-byte header is refused with
    /// [`Error::TooLarge`]. Each worker's queue holds 3 messages and the
    /// result queue 3 per worker, so memory is about `6 * processes *
    /// max_message`.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Creates the pool. Its workers start with the first submission (so
    /// that they are forked knowing its function), or with [`Pool::pids`].
    pub fn build(self) -> Result<Pool> {
        let processes = match self.processes {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if processes == 0 {
            return Err(Error::InvalidArgument {
                reason: "a pool needs at least one process",
            });
        }
        if processes > 4096 {
            return Err(Error::InvalidArgument {
                reason: "more than 4096 processes",
            });
        }
        if !(MIN_MAX_MESSAGE..=ipc_queue::queue::MAX_FRAME).contains(&self.max_message) {
            return Err(Error::InvalidArgument {
                reason: "max_message must be between 256 bytes and 64 MiB",
            });
        }
        // Room for every chunk in flight (DEPTH per worker) plus slack, so
        // that workers rarely wait to hand in results.
        let results = Queue::<ResultHeader>::builder()
            .capacity((processes * (DEPTH + 1)).max(8))
            .max_frame(self.max_message)
            .create()?;
        let cfg = PoolConfig {
            processes,
            initializer: self.initializer,
            max_tasks: self.max_tasks,
            retries: self.retries,
            max_message: self.max_message,
        };
        Ok(Pool {
            engine: Arc::new(Engine::new(results, cfg)),
            progress: Progress::new(),
        })
    }
}

/// The per-call `chunksize` of Python's `map`, `imap`, ...: how many items
/// go to a worker as one task. Made by [`Pool::chunksize`].
///
/// ```
/// use ipc_pool::Pool;
///
/// let pool = Pool::new(2)?;
/// let doubled: Vec<u32> = pool.chunksize(100).map(|x: u32| 2 * x, 0..1000)?;
/// assert_eq!(doubled[999], 1998);
/// # Ok::<(), ipc_pool::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Chunked<'p> {
    pool: &'p Pool,
    chunksize: Option<usize>,
}

impl Pool {
    /// A pool of `processes` workers with the default settings (Python's
    /// `Pool(processes)`).
    pub fn new(processes: usize) -> Result<Pool> {
        Self::builder().processes(processes).build()
    }

    /// A [`PoolBuilder`], for the initializer, `maxtasksperchild`, retries
    /// and message size.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// The number of worker processes.
    pub fn processes(&self) -> usize {
        self.engine.lock().cfg.processes
    }

    /// The pids of the current workers, starting them if they are not
    /// running yet. Workers replaced later (after a death, at
    /// `maxtasksperchild`, or to learn a new function) have new pids.
    pub fn pids(&self) -> Result<Vec<u32>> {
        self.engine.pids()
    }

    /// Sets the chunksize for the next call: `pool.chunksize(n).map(..)`.
    /// Zero means the default.
    pub fn chunksize(&self, chunksize: usize) -> Chunked<'_> {
        Chunked {
            pool: self,
            chunksize: (chunksize > 0).then_some(chunksize),
        }
    }

    fn default_chunks(&self) -> Chunked<'_> {
        Chunked {
            pool: self,
            chunksize: None,
        }
    }

    /// Applies `f` to every item, in parallel, and returns the results in
    /// input order (Python's `map`). The input is collected first; chunks
    /// default to `len / (4 * processes)` items, as in Python (see
    /// [`chunksize`](Self::chunksize)).
    ///
    /// Fails fast: if an item fails (its task panicked, its worker died),
    /// the first failure to arrive is returned at once. Chunks already handed
    /// to workers still run (as in Python) and their results are discarded;
    /// the rest of the input is not submitted.
    ///
    /// ```
    /// use ipc_pool::{Error, Pool};
    ///
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.map(|x: i32| -x, [1, 2, 3])?, [-1, -2, -3]);
    ///
    /// let err = pool
    ///     .map(|x: u32| if x == 7 { panic!("seven") } else { x }, 0..10)
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::TaskFailed { index: 7, ref message, .. } if message == "seven"));
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn map<F, A, O, M, I>(&self, f: F, items: I) -> Result<Vec<O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
    {
        self.default_chunks().map(f, items)
    }

    /// Like [`map`](Self::map), for functions of several arguments: each item
    /// is a tuple of [`Message`]s whose elements become the arguments
    /// (Python's `starmap`).
    ///
    /// ```
    /// use ipc_pool::Pool;
    ///
    /// fn power(base: u64, exp: u32) -> u64 {
    ///     base.pow(exp)
    /// }
    /// let pool = Pool::new(2)?;
    /// assert_eq!(pool.starmap(power, [(2, 10), (3, 3)])?, [1024, 27]);
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn starmap<F, T, O, M, I>(&self, f: F, items: I) -> Result<Vec<O::Value>>
    where
        F: StarCall<T, O>,
        T: Args,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        self.default_chunks().starmap(f, items)
    }

    /// A lazy [`map`](Self::map): an iterator over the results, in input
    /// order, yielding each as soon as it (and those before it) arrived
    /// (Python's `imap`). Input is consumed as results are taken, a few
    /// chunks ahead, so it may be endless. Each item is `Ok(result)` or its
    /// own error; the other items are unaffected. Default chunksize 1.
    ///
    /// ```
    /// use ipc_pool::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let mut cubes = pool.imap(|x: u64| x * x * x, 1..)?;
    /// assert_eq!(cubes.next(), Some(Ok(1)));
    /// assert_eq!(cubes.next(), Some(Ok(8)));
    /// let firsts: Vec<u64> = cubes.take(3).collect::<Result<_, _>>()?;
    /// assert_eq!(firsts, [27, 64, 125]);
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn imap<'p, F, A, O, M, I>(&'p self, f: F, items: I) -> Result<Imap<'p, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.default_chunks().imap(f, items)
    }

    /// Like [`imap`](Self::imap), but yields results in the order they
    /// arrive (Python's `imap_unordered`). [`Imap::next_indexed`] tells each
    /// result's input position.
    pub fn imap_unordered<'p, F, A, O, M, I>(&'p self, f: F, items: I) -> Result<Imap<'p, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.default_chunks().imap_unordered(f, items)
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    ///
    /// ```
    /// use ipc_pool::Pool;
    ///
    /// let pool = Pool::new(1)?;
    /// let pid = pool.apply(|_: ()| std::process::id(), ())?;
    /// assert_ne!(pid, std::process::id());
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn apply<F, A, O, M>(&self, f: F, arg: A) -> Result<O::Value>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
    {
        self.apply_async(f, arg)?.get()
    }

    /// Submits `f(arg)` and returns at once with a handle to its result
    /// (Python's `apply_async`): [`get`](AsyncResult::get),
    /// [`get_timeout`](AsyncResult::get_timeout), [`ready`](AsyncResult::ready),
    /// [`successful`](AsyncResult::successful). Dropping the handle does not
    /// cancel the task; its result is discarded.
    ///
    /// The task completes in the background: the pool's progress thread
    /// feeds the workers and collects results while the caller does
    /// something else (see [`apply_async_then`](Self::apply_async_then) to be
    /// called back).
    ///
    /// ```
    /// use ipc_pool::{Error, Pool};
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(2)?;
    /// let slow = pool.apply_async(|ms: u64| { std::thread::sleep(Duration::from_millis(ms)); ms }, 200)?;
    /// assert_eq!(slow.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
    /// assert_eq!(slow.get()?, 200);
    /// assert_eq!(slow.successful(), Some(true));
    ///
    /// let bad = pool.apply_async(|_: u8| -> u8 { panic!("no") }, 0)?;
    /// assert!(matches!(bad.get(), Err(Error::TaskFailed { .. })));
    /// assert_eq!(bad.successful(), Some(false));
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn apply_async<F, A, O, M>(&self, f: F, arg: A) -> Result<AsyncResult<'_, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
    {
        self.submit_async(f, arg, None)
    }

    /// [`apply_async`](Self::apply_async) with a callback, called once with
    /// the task's outcome as soon as it is known (Python's `callback` and
    /// `error_callback` in one: `Ok(value)` or the error), whether or not the
    /// handle is kept. The handle is ready once the callback has returned.
    ///
    /// Callbacks run on a thread of the pool (its progress thread, or a
    /// thread waiting on the pool when it collects the result): keep them
    /// short, as Python asks, and hand heavy work elsewhere. They may use
    /// the pool. A callback that panics is reported by the panic hook like
    /// any thread's panic; the pool goes on. Callbacks of tasks that have not
    /// finished when the pool is dropped are not called.
    ///
    /// ```
    /// use ipc_pool::Pool;
    /// use std::sync::mpsc;
    ///
    /// let pool = Pool::new(2)?;
    /// let (tx, rx) = mpsc::channel();
    /// for x in 0..4u64 {
    ///     let tx = tx.clone();
    ///     pool.apply_async_then(|x: u64| x * x, x, move |r| tx.send(r).unwrap())?;
    /// }
    /// let mut squares: Vec<u64> = (0..4).map(|_| rx.recv().unwrap()).collect::<Result<_, _>>()?;
    /// squares.sort();
    /// assert_eq!(squares, [0, 1, 4, 9]);
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn apply_async_then<F, A, O, M, C>(
        &self,
        f: F,
        arg: A,
        callback: C,
    ) -> Result<AsyncResult<'_, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        C: FnOnce(Result<O::Value>) + Send + 'static,
    {
        let on_complete: OnComplete = Box::new(move |sink| {
            let outcome =
                single_outcome::<O::Value>(sink).unwrap_or_else(|| Err(Error::vanished()));
            Box::new(move || callback(outcome))
        });
        self.submit_async(f, arg, Some(on_complete))
    }

    fn submit_async<F, A, O, M>(
        &self,
        f: F,
        arg: A,
        on_complete: Option<OnComplete>,
    ) -> Result<AsyncResult<'_, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
    {
        let max_items = self
            .engine
            .max_items(size_of::<A>(), size_of::<O::Value>())?;
        debug_assert!(max_items >= 1);
        let chunk = Chunk::new(0, 1, FIXED, size_of::<A>(), arg.as_bytes().to_vec());
        let job = self.engine.submit(
            MapFn::new(f),
            Box::new(StreamSink::new(true)),
            on_complete,
            |_| vec![chunk],
        )?;
        let handle = AsyncResult::new(&self.engine, job);
        self.progress.ensure(&self.engine)?;
        Ok(handle)
    }

    /// [`map`](Self::map) over byte messages: `f` takes each item's bytes and
    /// returns bytes of any length up to the pool's
    /// [`max_message`](PoolBuilder::max_message) (less 44 bytes); a longer
    /// result fails its item with [`Error::ResultTooLarge`].
    ///
    /// ```
    /// use ipc_pool::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let upper = pool.map_bytes(|s: &[u8]| s.to_ascii_uppercase(), ["hello", "pool"])?;
    /// assert_eq!(upper, [b"HELLO".to_vec(), b"POOL".to_vec()]);
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn map_bytes<F, I>(&self, f: F, items: I) -> Result<Vec<Vec<u8>>>
    where
        F: Fn(&[u8]) -> Vec<u8> + Clone + Send + 'static,
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.default_chunks().map_bytes(f, items)
    }

    /// Stops accepting work (Python's `close`); what was submitted still
    /// runs. Later submissions fail with [`Error::NotRunning`].
    pub fn close(&self) {
        let mut core = self.engine.lock();
        if core.state == State::Running {
            core.state = State::Closed;
        }
    }

    /// Kills the workers at once (`SIGKILL`) and reaps them (Python's
    /// `terminate`); unfinished work fails with [`Error::Terminated`].
    pub fn terminate(&self) {
        self.engine.lock().terminate();
    }

    /// Waits for all submitted work to finish, then for the workers to exit
    /// (Python's `join`). The pool must be closed or terminated first, else
    /// [`Error::InvalidState`].
    ///
    /// ```
    /// use ipc_pool::Pool;
    ///
    /// let pool = Pool::new(2)?;
    /// let pending = pool.apply_async(|x: u32| x + 1, 41)?;
    /// pool.close();
    /// pool.join()?;
    /// assert_eq!(pending.get()?, 42);
    /// # Ok::<(), ipc_pool::Error>(())
    /// ```
    pub fn join(&self) -> Result<()> {
        let state = {
            let core = self.engine.lock();
            core.check_owner()?;
            core.state
        };
        match state {
            State::Running => {
                return Err(Error::InvalidState {
                    reason: "join needs a closed or terminated pool",
                });
            }
            State::Joined | State::Terminated => return Ok(()),
            State::Closed => {}
        }
        self.engine.wait(Deadline::Forever, |core| {
            (core.is_settled() || core.broken.is_some() || core.state != State::Closed)
                .then_some(())
        })?;
        let mut core = self.engine.lock();
        if core.state == State::Closed {
            core.shut_down_workers()?;
        }
        Ok(())
    }
}

impl<'p> Chunked<'p> {
    /// [`Pool::map`] with this chunksize.
    pub fn map<F, A, O, M, I>(self, f: F, items: I) -> Result<Vec<O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
    {
        let encode = |a: A, out: &mut Vec<u8>| out.extend_from_slice(a.as_bytes());
        let iter = items.into_iter();
        match iter.size_hint() {
            // The length is known: the input is encoded straight from the
            // iterator, a few chunks ahead of the workers.
            (lo, Some(hi)) if lo == hi => {
                self.collect(MapFn::new(f), lo, iter, size_of::<A>(), encode)
            }
            // Python's map makes a list of an iterable without a length, to
            // size the chunks: so do we.
            _ => {
                let items: Vec<A> = iter.collect();
                let len = items.len();
                self.collect(
                    MapFn::new(f),
                    len,
                    items.into_iter(),
                    size_of::<A>(),
                    encode,
                )
            }
        }
    }

    /// [`Pool::starmap`] with this chunksize.
    pub fn starmap<F, T, O, M, I>(self, f: F, items: I) -> Result<Vec<O::Value>>
    where
        F: StarCall<T, O>,
        T: Args,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = T>,
    {
        let encode = |t: T, out: &mut Vec<u8>| {
            let at = out.len();
            out.resize(at + T::SIZE, 0);
            // Cannot fail: exactly T::SIZE bytes were just made room for.
            let _ = t.write(&mut out[at..]);
        };
        let items: Vec<T> = items.into_iter().collect();
        let len = items.len();
        self.collect(StarFn::new(f), len, items.into_iter(), T::SIZE, encode)
    }

    /// Runs a job of `len` fixed-size items from `iter` and collects its
    /// results in order.
    fn collect<T, A, R, It>(
        self,
        task: T,
        len: usize,
        iter: It,
        in_size: usize,
        encode: impl Fn(A, &mut Vec<u8>) + 'p,
    ) -> Result<Vec<R>>
    where
        T: TaskFn,
        R: TaskResult,
        It: Iterator<Item = A> + 'p,
    {
        let engine = &self.pool.engine;
        let max_items = engine.max_items(in_size, size_of::<R>())?;
        if len == 0 && iter.size_hint().1 == Some(0) {
            return Ok(Vec::new());
        }
        let job = {
            let mut core = engine.lock();
            core.check_accepting()?;
            let processes = core.cfg.processes;
            let size = self
                .chunksize
                .unwrap_or_else(|| len.div_ceil(4 * processes))
                .clamp(1, max_items);
            let job = core.new_job(task, Box::new(CollectSink::<R>::new(len)), None);
            (job, size)
        };
        let (job, size) = job;
        let _guard = JobGuard::new(engine, job);
        let mut feeder = Feeder::new(fixed_chunks(iter, size, in_size, encode));
        let mut out = engine.run_job(job, &mut feeder, Deadline::Forever, |core| {
            let Some(job) = core.job(job) else {
                return Some(Err(Error::vanished()));
            };
            let complete = job.is_complete();
            let sink = job.sink.as_any().downcast_mut::<CollectSink<R>>()?;
            if let Some(e) = sink.error.take() {
                return Some(Err(e));
            }
            if !complete {
                return None;
            }
            Some(sink.take().ok_or_else(|| Error::Protocol {
                reason: "a map finished with items never answered".into(),
            }))
        })??;
        // An iterator whose length hint was wrong gave fewer items.
        out.truncate(feeder.items());
        Ok(out)
    }

    /// [`Pool::imap`] with this chunksize (default 1).
    pub fn imap<F, A, O, M, I>(self, f: F, items: I) -> Result<Imap<'p, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.lazy(f, items, true)
    }

    /// [`Pool::imap_unordered`] with this chunksize (default 1).
    pub fn imap_unordered<F, A, O, M, I>(self, f: F, items: I) -> Result<Imap<'p, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        self.lazy(f, items, false)
    }

    fn lazy<F, A, O, M, I>(self, f: F, items: I, ordered: bool) -> Result<Imap<'p, O::Value>>
    where
        F: Fn(A) -> O + Clone + Send + 'static,
        A: Message,
        O: TaskOutput<M>,
        M: 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'p,
    {
        let engine = &self.pool.engine;
        let max_items = engine.max_items(size_of::<A>(), size_of::<O::Value>())?;
        let size = self.chunksize.unwrap_or(1).clamp(1, max_items);
        let job = {
            let mut core = engine.lock();
            core.check_accepting()?;
            core.new_job(MapFn::new(f), Box::new(StreamSink::new(ordered)), None)
        };
        let encode = |a: A, out: &mut Vec<u8>| out.extend_from_slice(a.as_bytes());
        let feeder = Feeder::new(fixed_chunks(
            items.into_iter(),
            size,
            size_of::<A>(),
            encode,
        ));
        Ok(Imap::new(engine, job, feeder, ordered))
    }

    /// [`Pool::map_bytes`] with this chunksize.
    pub fn map_bytes<F, I>(self, f: F, items: I) -> Result<Vec<Vec<u8>>>
    where
        F: Fn(&[u8]) -> Vec<u8> + Clone + Send + 'static,
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let engine = &self.pool.engine;
        let items: Vec<I::Item> = items.into_iter().collect();
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let room = engine.lock().cfg.max_message - TASK_HEADER;
        if let Some(big) = items
            .iter()
            .map(|i| i.as_ref().len())
            .find(|&l| l + PREFIX > room)
        {
            return Err(Error::TooLarge {
                len: big,
                max: room - PREFIX,
            });
        }
        let len = items.len();
        let chunksize = self.chunksize;
        let job = engine.submit(
            BytesFn(f),
            Box::new(StreamSink::new(true)),
            None,
            |processes| {
                let size = chunksize
                    .unwrap_or_else(|| len.div_ceil(4 * processes))
                    .max(1);
                let mut chunks = Vec::new();
                let mut first = 0;
                let mut bytes = Vec::new();
                let mut count = 0;
                for (index, item) in items.iter().enumerate() {
                    let item = item.as_ref();
                    if count == size || bytes.len() + PREFIX + item.len() > room {
                        let full = std::mem::take(&mut bytes);
                        chunks.push(Chunk::new(first, count, PREFIXED, 0, full));
                        first = index;
                        count = 0;
                    }
                    crate::wire::push_prefixed(&mut bytes, item);
                    count += 1;
                }
                chunks.push(Chunk::new(first, count, PREFIXED, 0, bytes));
                chunks
            },
        )?;
        let _guard = JobGuard::new(engine, job);
        let mut out = Vec::with_capacity(len);
        engine.wait(Deadline::Forever, |core| {
            let Some(job) = core.job(job) else {
                return Some(Err(Error::vanished()));
            };
            let complete = job.is_complete();
            let sink = job.sink.as_any().downcast_mut::<StreamSink>()?;
            while let Some((_, outcome)) = sink.ready.pop_front() {
                match outcome {
                    Ok(bytes) => out.push(bytes),
                    Err(e) => return Some(Err(e)),
                }
            }
            if let Some(e) = sink.fatal.take() {
                return Some(Err(e));
            }
            complete.then_some(Ok(()))
        })??;
        Ok(out)
    }
}

/// Cuts `iter` into chunks of `size` items of `in_size` bytes, encoded by
/// `encode`, numbered from 0.
fn fixed_chunks<'a, A>(
    mut iter: impl Iterator<Item = A> + 'a,
    size: usize,
    in_size: usize,
    encode: impl Fn(A, &mut Vec<u8>) + 'a,
) -> impl FnMut() -> Option<Chunk> + 'a {
    let mut first = 0;
    move || {
        let mut bytes = Vec::with_capacity(size.saturating_mul(in_size));
        let mut count = 0;
        for item in iter.by_ref().take(size) {
            encode(item, &mut bytes);
            count += 1;
        }
        (count > 0).then(|| {
            let chunk = Chunk::new(first, count, FIXED, in_size, bytes);
            first += count;
            chunk
        })
    }
}

impl Drop for Pool {
    /// Terminates: stops the progress thread, kills and reaps every worker
    /// (see [`Pool::terminate`]); callbacks not run yet never will be.
    fn drop(&mut self) {
        self.progress.stop(&self.engine);
        self.engine.lock().terminate();
    }
}
