//! [`Queue`]: a bounded many-producer, many-consumer queue in shared memory,
//! with Python's `Queue` and `JoinableQueue` API.
//!
//! The protocol is described in `raw.rs`; the layout in `layout.rs`. This file
//! holds the typed, public face: copying puts and gets, batches, byte frames,
//! zero-copy loans ([`Loan`]) and receive guards ([`RecvGuard`]).

mod fork;
mod layout;
mod raw;
mod report;
#[cfg(feature = "futures")]
pub mod stream;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use ipc_core::segment::{ObjectSegment, SegmentOptions, TypeDesc};

use ipc_core::wait::Deadline;
use layout::QueueGeometry;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use layout::offsets;
pub use layout::{MAX_ALIGN, MAX_CAPACITY, MAX_FRAME};
pub use report::{Holder, QueueReport};

/// The object-kind code in a queue segment's header (for tools that tell
/// segments apart: see [`ipc_core::segment::peek`]).
pub const KIND_CODE: u32 = raw::QUEUE_KIND.code;

/// Reads the state and users of the queue at `opts` (any message type)
/// through a read-only mapping, without taking its locks or registering:
/// what the `ipc` tool shows. Fails like an open (`NotFound`, a foreign or
/// damaged segment, `PermissionDenied`).
///
/// ```
/// use ipc_queue::Queue;
/// use ipc_core::segment::SegmentOptions;
///
/// let name = format!("doc-inspect-{}", std::process::id());
/// let q = Queue::<u64>::builder().named(&name).capacity(8).create()?;
/// q.put(&7)?;
/// let report = ipc_queue::queue::inspect(&SegmentOptions::named(&name))?;
/// assert_eq!((report.len, report.capacity, report.puts), (1, 8, 1));
/// assert_eq!(report.producers[0].pid, std::process::id());
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub fn inspect(opts: &SegmentOptions) -> Result<QueueReport> {
    RawQueue::inspect(opts)
}
use raw::RawQueue;

use crate::{Error, Message, Result};
use ipc_core::wait::Waitable;

/// Slots in a queue made with [`Queue::new`] or a builder left at its default.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A bounded MPMC queue of `T` messages (and byte frames) in shared memory.
///
/// Any number of processes may put and get at once. A process killed at any
/// instant — mid-put, mid-get, holding the lock, holding a loan — never makes
/// another process deliver a torn message, lose a committed one, or hang.
///
/// **Disconnection.** A handle becomes a producer at its first put and a
/// consumer at its first get; it stops being one when it is dropped (its
/// last clone, in its process) or its process dies (noticed within about
/// [`PEER_CHECK_PERIOD`](crate::PEER_CHECK_PERIOD) of a blocked call's
/// sleep).
///
/// A child that [`Process::spawn`](ipc_core::process::Process::spawn)
/// starts with a handle of the queue in its closure (`move || ...` of a
/// clone) counts as a possible producer *and* consumer from the fork until
/// it makes its first call (then it has its role), or dies: so a consumer
/// does not hear the producers are gone while a freshly forked producer has
/// yet to start. A child given a handle that it never uses but that runs
/// on therefore keeps the other side waiting, as a cloned `Sender` moved
/// into a thread would in crossbeam; children given none do not count.
/// Processes that open a named queue count from their first call.
///
/// - A get on an **empty** queue whose producers are all gone returns
///   [`Error::Disconnected`] (a blocked get wakes for it). A consumer that
///   starts before any producer waits: no producer has come and gone yet.
/// - A put into a **full** queue whose consumers are all gone returns
///   [`Error::Disconnected`] instead of waiting. While there is room,
///   messages are queued: producers may fill a queue before its consumers
///   start (Python's usual order), and a consumer that comes later gets them.
/// - A named queue re-opened after every user left (or died), with nothing
///   left in it, starts afresh: which roles it had is forgotten. (With
///   messages left, a consumer drains them and then hears the producers are
///   gone.)
/// - [`close`](Self::close) stays the explicit, global end: every put fails,
///   every get drains and then reports `Disconnected`.
///
/// Handles are cheap to [`Clone`] (clones share one mapping and one
/// registration); [`try_clone`](Self::try_clone) maps the queue again.
/// [`iter`](Self::iter) receives until the queue is disconnected, so
/// `for msg in &q` works.
///
/// ```
/// use ipc_core::process::Process;
/// use ipc_queue::Queue;
///
/// let q = Queue::<u64>::new(16)?;
/// let child_q = q.try_clone()?;
/// let child = Process::spawn(move || {
///     for i in 0..5u64 {
///         child_q.put(&(i * i)).unwrap();
///     }
/// })?;
/// let squares: Vec<u64> = (0..5).map(|_| q.get().unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// child.join_ok()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T: Message> {
    raw: Arc<RawQueue>,
    _message: PhantomData<fn() -> T>,
}

impl<T: Message> Drop for Queue<T> {
    fn drop(&mut self) {
        // For the spawn hook (`fork.rs`): the parent's copy of a child's
        // closure drops the handles the child took along.
        self.raw.note_handle_drop();
    }
}

impl<T: Message> Clone for Queue<T> {
    /// Another handle on the same mapping and registration, for this
    /// process's threads or to move into a forked child.
    fn clone(&self) -> Self {
        Self {
            raw: Arc::clone(&self.raw),
            _message: PhantomData,
        }
    }
}

impl<T: Message> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("segment", &self.raw.object().segment().display_name())
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

/// Configures and creates or opens a [`Queue`]; the terminals borrow the
/// builder, so one builder can create a queue and open it again.
#[derive(Debug)]
#[must_use = "a builder does nothing until create, open or open_or_create is called"]
pub struct QueueBuilder<T: Message> {
    capacity: usize,
    /// The frame limit, if set; else the type's default, or the ring's size.
    max_frame: Option<usize>,
    ring_bytes: usize,
    options: SegmentOptions,
    spin: Duration,
    _message: PhantomData<fn() -> T>,
}

impl<T: Message> Clone for QueueBuilder<T> {
    fn clone(&self) -> Self {
        Self {
            capacity: self.capacity,
            max_frame: self.max_frame,
            ring_bytes: self.ring_bytes,
            options: self.options.clone(),
            spin: self.spin,
            _message: PhantomData,
        }
    }
}

impl<T: Message> QueueBuilder<T> {
    /// Number of slots (default [`DEFAULT_CAPACITY`]); 0 is refused.
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// Largest byte frame, for [`Queue::put_bytes`] (minimum: `size_of::<T>()`;
    /// default: that, or [`DEFAULT_BYTE_FRAME`](crate::DEFAULT_BYTE_FRAME)
    /// for a `Queue<u8>`, or for a `Queue<u8>` with
    /// [`ring_bytes`](Self::ring_bytes) the ring's size up to [`MAX_FRAME`]). With fixed slots every slot
    /// reserves room for one frame.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = Some(bytes);
        self
    }

    /// Keeps frames in a byte ring of `bytes` (rounded up to 64) instead of
    /// fixed slots: each frame takes its own length (rounded up to 8, or
    /// the message alignment), so memory follows the data. A queue of
    /// 100-byte log lines that may carry 64 KiB records needs a ring of a
    /// few hundred KiB, where fixed slots would take `capacity × 64 KiB`.
    /// [`capacity`](Self::capacity) still bounds the number of frames in
    /// flight. A frame larger than [`max_frame`](Self::max_frame) (by
    /// default the whole ring, for a `Queue<u8>`) is refused with [`Error::TooLarge`]; the
    /// ring must hold at least one frame of `max_frame` bytes. Default 0:
    /// fixed slots. A put waits while the ring lacks room for its frame;
    /// [`Queue::loan`] reserves `max_frame` bytes, [`Queue::loan_bytes`]
    /// exactly what it is asked for.
    ///
    /// ```
    /// use ipc_queue::{Error, Queue};
    ///
    /// let q = Queue::<u8>::builder().capacity(1024).ring_bytes(256 << 10).max_frame(64 << 10).create()?;
    /// q.put_bytes(&[7; 100])?;
    /// q.put_bytes(&vec![1; 60_000])?;
    /// assert_eq!(q.get_bytes()?.len(), 100);
    /// assert_eq!(q.get_bytes()?.len(), 60_000);
    /// assert!(q.shm_bytes() < 400 << 10); // fixed 64 KiB slots: 64 MiB
    /// assert!(matches!(q.put_bytes(&vec![0; 70_000]), Err(Error::TooLarge { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn ring_bytes(mut self, bytes: usize) -> Self {
        self.ring_bytes = bytes;
        self
    }

    /// Where the queue lives (default: anonymous, shared with forked children).
    pub fn options(mut self, options: SegmentOptions) -> Self {
        self.options = options;
        self
    }

    /// How long a blocked call of the new handle spins (checking between
    /// `pause` instructions) before it sleeps in the kernel. The default,
    /// [`SPIN_FOR`](ipc_core::wait::SPIN_FOR) (20 µs), catches
    /// a busy peer's reply without a sleep; `Duration::ZERO` never spins, for
    /// waiters that must not use CPU. See also [`Queue::set_spin`].
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// A named queue, reachable by other processes through [`open`](Self::open).
    pub fn named(self, name: &str) -> Self {
        self.options(SegmentOptions::named(name))
    }

    /// Creates the queue.
    pub fn create(&self) -> Result<Queue<T>> {
        let max_frame = match (self.max_frame, self.ring_bytes) {
            (Some(max), _) => max,
            (None, ring) if ring == 0 || !crate::message::is_bytes::<T>() => {
                crate::message::default_max_frame::<T>()
            }
            (None, ring) => ring.min(MAX_FRAME),
        };
        let geometry = QueueGeometry::new(
            self.capacity,
            max_frame.max(size_of::<T>()),
            align_of::<T>(),
            self.ring_bytes as u64,
        )?;
        let q = Queue::wrap(RawQueue::create(
            &self.options,
            &TypeDesc::of::<T>(),
            geometry,
        )?);
        q.set_spin(self.spin);
        Ok(q)
    }

    /// Opens an existing queue; refuses one created for another message type.
    pub fn open(&self) -> Result<Queue<T>> {
        let q = Queue::wrap(RawQueue::open(&self.options, &TypeDesc::of::<T>())?);
        q.set_spin(self.spin);
        Ok(q)
    }

    /// Opens the queue if it exists, creates it otherwise (race-free).
    pub fn open_or_create(&self) -> Result<Queue<T>> {
        for _ in 0..64 {
            match self.create() {
                Err(Error::Core(ipc_core::Error::AlreadyExists { .. })) => {}
                other => return other,
            }
            match self.open() {
                Err(Error::Core(ipc_core::Error::NotFound { .. })) => std::thread::yield_now(),
                other => return other,
            }
        }
        Err(Error::Timeout)
    }
}

impl<T: Message> Queue<T> {
    /// An anonymous queue of `capacity` slots, shared with forked children.
    pub fn new(capacity: usize) -> Result<Self> {
        Self::builder().capacity(capacity).create()
    }

    /// A builder with the defaults: anonymous, [`DEFAULT_CAPACITY`] slots,
    /// frames of `size_of::<T>()` bytes ([`DEFAULT_BYTE_FRAME`](crate::DEFAULT_BYTE_FRAME)
    /// for a `Queue<u8>`).
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder {
            capacity: DEFAULT_CAPACITY,
            max_frame: None,
            ring_bytes: 0,
            options: SegmentOptions::anonymous(),
            spin: ipc_core::wait::SPIN_FOR,
            _message: PhantomData,
        }
    }

    fn wrap(raw: RawQueue) -> Self {
        let raw = Arc::new(raw);
        fork::track(&raw);
        Self {
            raw,
            _message: PhantomData,
        }
    }

    /// A second handle on the same queue with a mapping of its own (and a
    /// registration of its own); [`Clone`] is the cheap way.
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Self::wrap(self.raw.try_clone()?))
    }

    /// How long a blocked call of this handle spins before it sleeps (see
    /// [`QueueBuilder::spin`]); a clone starts with its original's setting.
    pub fn spin(&self) -> Duration {
        self.raw.spin()
    }

    /// Sets how long a blocked call of this handle spins before it sleeps.
    pub fn set_spin(&self, spin: Duration) {
        self.raw.set_spin(spin);
    }

    /// Repairs, now, what dead processes left at the head of the queue (a
    /// slot its producer was killed writing is stepped over; one its
    /// consumer was killed copying becomes a message again), as a blocked
    /// [`get`](Self::get) does after each sleep slice. The calls that do not
    /// wait (`try_get`, ...) never look (it reads `/proc`): a caller that
    /// waits on its own, with [`wait_timeout`](crate::wait_timeout), and
    /// then tries again (as the Python binding does) calls this between
    /// its waits, or a dead producer's slot would stall it. Reports
    /// [`Error::Disconnected`] for an empty queue whose producers are gone.
    pub fn recover_head(&self) -> Result<()> {
        self.raw.recover_head()
    }

    /// Marks this queue as handed off by name to a process yet to open it
    /// (a handle pickled for a Python `spawn` child, a name sent over a
    /// socket): until that process calls [`take_hand_off`](Self::take_hand_off)
    /// (or this one exits), no role of the queue counts as gone, so a
    /// consumer does not hear `Disconnected` from a producer that has yet
    /// to start. A child forked by `Process::spawn` needs none of this.
    /// `false` if the queue's table of such places is full (the other
    /// process then counts from its first call, as any opener does).
    pub fn hand_off(&self) -> bool {
        self.raw.hand_off()
    }

    /// In a process a handle was handed off to (see [`hand_off`](Self::hand_off)),
    /// by the process with id `from`: takes the place held for it. It then
    /// counts as a producer and a consumer to be until it first puts or
    /// gets, drops the queue, or exits. Whether a place was held. In the
    /// process that handed it off (`from` is this process), the place is
    /// given back.
    pub fn take_hand_off(&self, from: u32) -> bool {
        self.raw.take_hand_off(from)
    }

    /// How many places this process holds with [`hand_off`](Self::hand_off)
    /// (and for children being forked) that have yet to be taken: the
    /// places are alike, so a process that handed the queue to several
    /// others counts them to learn how many have opened it.
    pub fn hand_offs_held(&self) -> usize {
        self.raw.hand_offs_held()
    }

    /// The segment beneath (its name, its creator, whether it is kept).
    pub fn object(&self) -> &ObjectSegment {
        self.raw.object()
    }

    // ----- put -----

    fn put_wait(&self, msg: &T, wait: Deadline) -> Result<()> {
        let (pos, _) = self.raw.reserve(1, size_of::<T>(), wait)?;
        self.publish(pos, msg.as_bytes())
    }

    /// Copies `bytes` (at most the room reserved) into the reserved slot at
    /// `pos` and commits it; a damaged frame reference gives the slot back
    /// and reports it.
    fn publish(&self, pos: u64, bytes: &[u8]) -> Result<()> {
        if let Err(e) = self.raw.ring.write_payload(pos, bytes) {
            self.raw.abandon(pos);
            return Err(e);
        }
        self.raw.commit(pos, bytes.len());
        self.raw.committed();
        Ok(())
    }

    /// Checks a byte frame against the frame limit.
    fn check_frame(&self, len: usize) -> Result<()> {
        let max = self.max_frame();
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        Ok(())
    }

    // ----- async -----

    /// [`put`](Self::put) as a future: waits for room without blocking a
    /// thread, in any async runtime (the wait goes through the process's
    /// one reactor thread; see `ipc_core::wait::Ready`). Dropping the future
    /// before it completes sends nothing and holds no slot.
    ///
    /// ```
    /// use ipc_queue::Queue;
    ///
    /// let q = Queue::<u64>::new(4)?;
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     q.put_async(&7).await?;
    ///     assert_eq!(q.get_async().await?, 7);
    ///     Ok::<(), ipc_queue::Error>(())
    /// })?;
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    pub async fn put_async(&self, msg: &T) -> Result<()> {
        let (pos, _) = self.raw.reserve_async(1, size_of::<T>()).await?;
        self.publish(pos, msg.as_bytes())
    }

    /// [`get`](Self::get) as a future: waits for a message without blocking
    /// a thread; `Disconnected` when the producers are gone (or the queue
    /// closed) and it is drained. Dropping the future before it completes
    /// takes nothing: the message stays for the next get.
    pub async fn get_async(&self) -> Result<T> {
        let (pos, _) = self.raw.acquire_async(1, false).await?;
        self.take_claimed(pos)
    }

    /// [`put_bytes`](Self::put_bytes) as a future.
    pub async fn put_bytes_async(&self, bytes: &[u8]) -> Result<()> {
        self.check_frame(bytes.len())?;
        let (pos, _) = self.raw.reserve_async(1, bytes.len()).await?;
        self.publish(pos, bytes)
    }

    /// [`get_bytes`](Self::get_bytes) as a future.
    pub async fn get_bytes_async(&self) -> Result<Vec<u8>> {
        let (pos, _) = self.raw.acquire_async(1, false).await?;
        self.take_bytes_claimed(pos)
    }

    /// [`put_serde`](Self::put_serde) as a future.
    #[cfg(feature = "serde")]
    pub async fn put_serde_async<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        let frame = self.serde_frame(value)?;
        let (pos, _) = self.raw.reserve_async(1, frame).await?;
        let mut loan = self.loan_at(pos)?;
        let len = crate::codec::encode_into(value, loan.bytes_mut())?;
        loan.commit_bytes(len);
        Ok(())
    }

    /// [`get_serde`](Self::get_serde) as a future.
    #[cfg(feature = "serde")]
    pub async fn get_serde_async<V: serde::de::DeserializeOwned>(&self) -> Result<V> {
        let (pos, _) = self.raw.acquire_async(1, true).await?;
        let guard = self.held_guard(pos)?;
        crate::codec::decode(guard.bytes())
    }

    /// Puts a message, waiting for room.
    pub fn put(&self, msg: &T) -> Result<()> {
        self.put_wait(msg, Deadline::Forever)
    }

    /// Puts a message if there is room now; [`Error::Full`] otherwise, also
    /// when another producer holds the producers' lock past a brief spin
    /// (it may be stopped or wedged: a `try_` call never sleeps).
    pub fn try_put(&self, msg: &T) -> Result<()> {
        self.put_wait(msg, Deadline::Now)
    }

    /// Puts a message, waiting at most `timeout` for room and for the
    /// producers' lock ([`Error::Timeout`] either way): the deadline holds
    /// whatever other processes do.
    pub fn put_timeout(&self, msg: &T, timeout: Duration) -> Result<()> {
        self.put_wait(msg, Deadline::after(timeout))
    }

    /// Puts as many of `msgs` as fit under one lock hold, waiting until at
    /// least one fits; returns how many were put (in order).
    pub fn put_batch(&self, msgs: &[T]) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let (pos, n) = self
            .raw
            .reserve(msgs.len() as u64, size_of::<T>(), Deadline::Forever)?;
        let mut result = Ok(n as usize);
        for (i, m) in msgs.iter().take(n as usize).enumerate() {
            let p = pos.wrapping_add(i as u64);
            match self.raw.ring.write_payload(p, m.as_bytes()) {
                Ok(()) => self.raw.commit(p, size_of::<T>()),
                Err(e) => {
                    // A damaged frame reference: this slot goes back, as
                    // does the rest (in order: abandon moves the tail back
                    // only over the newest reservation).
                    for q in (i as u64..n).rev() {
                        self.raw.abandon(pos.wrapping_add(q));
                    }
                    result = Err(e);
                    break;
                }
            }
        }
        self.raw.committed();
        result
    }

    /// Puts every message of `msgs`, batch by batch.
    pub fn put_all(&self, mut msgs: &[T]) -> Result<()> {
        while !msgs.is_empty() {
            let n = self.put_batch(msgs)?;
            msgs = &msgs[n..];
        }
        Ok(())
    }

    /// Reserves a slot to build a message in place; waits for room.
    pub fn loan(&self) -> Result<Loan<'_, T>> {
        self.loan_wait(Deadline::Forever)
    }

    /// Reserves a slot if one is free now; [`Error::Full`] otherwise.
    pub fn try_loan(&self) -> Result<Loan<'_, T>> {
        self.loan_wait(Deadline::Now)
    }

    /// Reserves a slot, waiting at most `timeout` for room.
    pub fn loan_timeout(&self, timeout: Duration) -> Result<Loan<'_, T>> {
        self.loan_wait(Deadline::after(timeout))
    }

    /// Reserves a slot for a byte frame of at most `len` bytes, to build in
    /// place; waits for room. On a queue with fixed slots any `len` up to
    /// [`max_frame`](Self::max_frame) takes one slot; with a byte ring
    /// (see [`QueueBuilder::ring_bytes`]) exactly `len` bytes are reserved,
    /// where [`loan`](Self::loan) reserves `max_frame`.
    ///
    /// ```
    /// use ipc_queue::Queue;
    ///
    /// let q = Queue::<u8>::builder().ring_bytes(64 << 10).create()?;
    /// let mut loan = q.loan_bytes(5)?;
    /// loan.bytes_mut().copy_from_slice(b"hello");
    /// loan.commit_bytes(5);
    /// assert_eq!(q.get_bytes()?, b"hello");
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    pub fn loan_bytes(&self, len: usize) -> Result<Loan<'_, T>> {
        self.check_frame(len)?;
        self.loan_frame(len, Deadline::Forever)
    }

    /// [`loan_bytes`](Self::loan_bytes) if there is room now;
    /// [`Error::Full`] otherwise.
    pub fn try_loan_bytes(&self, len: usize) -> Result<Loan<'_, T>> {
        self.check_frame(len)?;
        self.loan_frame(len, Deadline::Now)
    }

    /// [`loan_bytes`](Self::loan_bytes), waiting at most `timeout` for
    /// room ([`Error::Timeout`] then).
    pub fn loan_bytes_timeout(&self, len: usize, timeout: Duration) -> Result<Loan<'_, T>> {
        self.check_frame(len)?;
        self.loan_frame(len, Deadline::after(timeout))
    }

    fn loan_wait(&self, wait: Deadline) -> Result<Loan<'_, T>> {
        self.loan_frame(self.max_frame(), wait)
    }

    fn loan_frame(&self, frame: usize, wait: Deadline) -> Result<Loan<'_, T>> {
        let (pos, _) = self.raw.reserve(1, frame, wait)?;
        self.loan_at(pos)
    }

    /// The loan of the slot reserved at `pos`; a damaged frame reference
    /// gives the slot back and reports it.
    fn loan_at(&self, pos: u64) -> Result<Loan<'_, T>> {
        match self.raw.ring.locate(pos) {
            Ok(at) => Ok(Loan {
                queue: QueueRef::Borrowed(self),
                pos,
                at,
                done: false,
                _not_send: PhantomData,
            }),
            Err(e) => {
                self.raw.abandon(pos);
                Err(e)
            }
        }
    }

    // ----- get -----

    fn get_wait(&self, wait: Deadline) -> Result<T> {
        let (pos, _) = self.raw.acquire(1, false, wait)?;
        self.take_claimed(pos)
    }

    /// Copies the claimed message at `pos` out and frees its slot.
    fn take_claimed(&self, pos: u64) -> Result<T> {
        let (at, len) = match self.raw.ring.frame(pos) {
            Ok(found) => found,
            Err(e) => {
                self.raw.release_copied(pos, 1);
                return Err(e);
            }
        };
        let mut msg = T::new_zeroed();
        if len == size_of::<T>() {
            self.raw.ring.read(at, msg.as_mut_bytes());
        }
        self.raw.release_copied(pos, 1);
        if len != size_of::<T>() {
            return Err(Error::WrongSize {
                expected: size_of::<T>(),
                found: len,
            });
        }
        Ok(msg)
    }

    /// Takes the oldest message, waiting for one. After [`close`](Self::close)
    /// it drains what is left, then reports [`Error::Disconnected`].
    pub fn get(&self) -> Result<T> {
        self.get_wait(Deadline::Forever)
    }

    /// Takes a message if one is ready now; [`Error::Empty`] otherwise, also
    /// when another consumer holds the consumers' lock past a brief spin.
    pub fn try_get(&self) -> Result<T> {
        self.get_wait(Deadline::Now)
    }

    /// Takes a message, waiting at most `timeout` for one and for the
    /// consumers' lock ([`Error::Timeout`] either way).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_wait(Deadline::after(timeout))
    }

    /// Processes the oldest message in place and then removes it: `f` sees
    /// the message in shared memory, with no copy. If this process dies while
    /// `f` runs, the message is not lost: it is delivered again, to the next
    /// consumer (at-least-once for `f`'s side effects, exactly once for
    /// calls that return).
    ///
    /// ```
    /// # use ipc_queue::Queue;
    /// let q = Queue::<[u64; 8]>::new(4)?;
    /// q.put(&[1; 8])?;
    /// let sum: u64 = q.get_with(|m| m.iter().sum())?;
    /// assert_eq!(sum, 8);
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    pub fn get_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R> {
        self.get_with_wait(Deadline::Forever, f)
    }

    /// [`get_with`](Self::get_with) if a message is ready now;
    /// [`Error::Empty`] otherwise.
    pub fn try_get_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R> {
        self.get_with_wait(Deadline::Now, f)
    }

    /// [`get_with`](Self::get_with), waiting at most `timeout`.
    pub fn get_with_timeout<R>(&self, timeout: Duration, f: impl FnOnce(&T) -> R) -> Result<R> {
        self.get_with_wait(Deadline::after(timeout), f)
    }

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn get_with_wait<R>(&self, wait: Deadline, f: impl FnOnce(&T) -> R) -> Result<R> {
        let (pos, _) = self.raw.acquire(1, false, wait)?;
        let result = match self.raw.ring.frame(pos) {
            Ok((at, len)) if len == size_of::<T>() => {
                // SAFETY: the slot is COPYING, owned by this call until
                // `release_copied`; producers do not write it; only a shared
                // reference is formed from it.
                let bytes: &[u8] = unsafe { self.raw.ring.slice(at, len) };
                T::ref_from_bytes(bytes)
                    .map(f)
                    .map_err(|_| Error::corrupted("slot misaligned"))
            }
            Ok((_, len)) => Err(Error::WrongSize {
                expected: size_of::<T>(),
                found: len,
            }),
            Err(e) => Err(e),
        };
        self.raw.release_copied(pos, 1);
        result
    }

    /// Takes up to `out.len()` messages under one lock hold, waiting until at
    /// least one is ready; returns how many were written to `out`.
    pub fn get_batch(&self, out: &mut [T]) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let (pos, n) = self
            .raw
            .acquire(out.len() as u64, false, Deadline::Forever)?;
        let mut good = 0;
        while good < n {
            let p = pos.wrapping_add(good);
            match self.raw.ring.frame(p) {
                Ok((at, len)) if len == size_of::<T>() => {
                    self.raw.ring.read(at, out[good as usize].as_mut_bytes());
                }
                _ => break,
            }
            good += 1;
        }
        if good == n {
            self.raw.release_copied(pos, n);
            return Ok(n as usize);
        }
        // A frame that is not a T: hand back the rest, consume the bad one
        // only if nothing good came before it.
        if good > 0 {
            self.raw.unclaim(pos.wrapping_add(good), n - good);
            self.raw.release_copied(pos, good);
            return Ok(good as usize);
        }
        let found = self.raw.ring.frame_len(pos).unwrap_or(usize::MAX);
        self.raw.unclaim(pos.wrapping_add(1), n - 1);
        self.raw.release_copied(pos, 1);
        Err(Error::WrongSize {
            expected: size_of::<T>(),
            found,
        })
    }

    /// Puts any `Serialize` value (feature `serde`), encoded with postcard
    /// straight into a slot: no intermediate buffer, no allocation for
    /// types whose serialization needs none. Its encoded length must fit the
    /// queue's frame ([`max_frame`](Self::max_frame); [`Error::TooLarge`]
    /// otherwise, nothing sent). Typically on a byte queue, `Queue<u8>`.
    ///
    /// ```
    /// use ipc_queue::Queue;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// struct LogRecord {
    ///     level: u8,
    ///     msg: String,
    ///     tags: Vec<String>,
    /// }
    ///
    /// let q = Queue::<u8>::new(64)?;
    /// let rec = LogRecord { level: 3, msg: "disk almost full".into(), tags: vec!["db".into()] };
    /// q.put_serde(&rec)?;
    /// assert_eq!(q.get_serde::<LogRecord>()?, rec);
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    #[cfg(feature = "serde")]
    pub fn put_serde<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        self.put_serde_wait(value, Deadline::Forever)
    }

    /// [`put_serde`](Self::put_serde) if a slot is free now; [`Error::Full`]
    /// otherwise.
    #[cfg(feature = "serde")]
    pub fn try_put_serde<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        self.put_serde_wait(value, Deadline::Now)
    }

    /// [`put_serde`](Self::put_serde), waiting at most `timeout` for room.
    #[cfg(feature = "serde")]
    pub fn put_serde_timeout<V: serde::Serialize + ?Sized>(
        &self,
        value: &V,
        timeout: Duration,
    ) -> Result<()> {
        self.put_serde_wait(value, Deadline::after(timeout))
    }

    #[cfg(feature = "serde")]
    fn put_serde_wait<V: serde::Serialize + ?Sized>(
        &self,
        value: &V,
        wait: Deadline,
    ) -> Result<()> {
        let mut loan = self.loan_frame(self.serde_frame(value)?, wait)?;
        // On an error the loan is dropped uncommitted: the slot goes back.
        let len = crate::codec::encode_into(value, loan.bytes_mut())?;
        loan.commit_bytes(len);
        Ok(())
    }

    /// The room to reserve for `value`'s encoding: the frame limit with
    /// fixed slots (a slot is that large anyway), its exact encoded length
    /// with a byte ring (an extra encoding pass that allocates nothing, so
    /// the ring holds only the frame's bytes). `TooLarge` if it cannot fit.
    #[cfg(feature = "serde")]
    fn serde_frame<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<usize> {
        if !self.raw.ring.geometry.has_ring() {
            return Ok(self.max_frame());
        }
        let len = postcard::experimental::serialized_size(value).map_err(|e| Error::Encode {
            reason: e.to_string(),
        })?;
        self.check_frame(len)?;
        Ok(len)
    }

    /// Takes the oldest message and decodes it as a `V` (feature `serde`),
    /// reading it in place in its slot. [`Error::Decode`] (the frame is
    /// consumed) if it is not a `V`'s encoding.
    #[cfg(feature = "serde")]
    pub fn get_serde<V: serde::de::DeserializeOwned>(&self) -> Result<V> {
        crate::codec::decode(self.guard_wait(Deadline::Forever)?.bytes())
    }

    /// [`get_serde`](Self::get_serde) if a message is ready now.
    #[cfg(feature = "serde")]
    pub fn try_get_serde<V: serde::de::DeserializeOwned>(&self) -> Result<V> {
        crate::codec::decode(self.guard_wait(Deadline::Now)?.bytes())
    }

    /// [`get_serde`](Self::get_serde), waiting at most `timeout`.
    #[cfg(feature = "serde")]
    pub fn get_serde_timeout<V: serde::de::DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<V> {
        crate::codec::decode(self.guard_wait(Deadline::after(timeout))?.bytes())
    }

    /// Archives any rkyv `Serialize` value straight into a slot (feature
    /// `rkyv`), for a receiver that reads it in place with
    /// [`get_rkyv_with`](Self::get_rkyv_with). The archive must fit the
    /// queue's frame ([`max_frame`](Self::max_frame)); otherwise
    /// [`Error::Encode`] says so and nothing is sent.
    ///
    /// ```
    /// use ipc_queue::Queue;
    ///
    /// #[derive(rkyv::Archive, rkyv::Serialize)]
    /// struct Trade {
    ///     symbol: String,
    ///     prices: Vec<u64>,
    /// }
    ///
    /// let q = Queue::<u8>::new(16)?;
    /// q.put_rkyv(&Trade { symbol: "ACME".into(), prices: vec![101, 103, 102] })?;
    /// // Read in place, in shared memory: nothing is deserialized or copied.
    /// let (symbol_len, top) = q.get_rkyv_with::<Trade, _>(|t| {
    ///     (t.symbol.len(), t.prices.iter().map(|p| p.to_native()).max())
    /// })?;
    /// assert_eq!((symbol_len, top), (4, Some(103)));
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    #[cfg(feature = "rkyv")]
    pub fn put_rkyv<V>(&self, value: &V) -> Result<()>
    where
        V: for<'b, 'a> rkyv::Serialize<crate::archive::SlotSerializer<'b, 'a>>,
    {
        if self.raw.ring.geometry.has_ring() {
            // Built aside and copied in, so the ring holds only its length
            // (see the `archive` module).
            return crate::archive::with_scratch_archive(value, self.max_frame(), |bytes| {
                self.put_bytes_wait(bytes, Deadline::Forever)
            })?;
        }
        let mut loan = self.loan_wait(Deadline::Forever)?;
        let len = crate::archive::encode_into(value, loan.bytes_mut())?;
        loan.commit_bytes(len);
        Ok(())
    }

    /// Takes the oldest message, validates it as the archive of a `V`
    /// (feature `rkyv`), and calls `f` with the archived value where it
    /// lies in shared memory; the slot is freed when `f` returns.
    /// [`Error::Decode`] (the frame is consumed) if it is not a valid
    /// archive of a `V`. Waits for a message.
    #[cfg(feature = "rkyv")]
    pub fn get_rkyv_with<V, R>(&self, f: impl FnOnce(&V::Archived) -> R) -> Result<R>
    where
        V: rkyv::Archive,
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        let guard = self.guard_wait(Deadline::Forever)?;
        let archived = crate::archive::access::<V>(guard.bytes())?;
        Ok(f(archived))
    }

    /// Takes the oldest message, validates it as the archive of a `V`
    /// (feature `rkyv`) and returns a guard that dereferences to the
    /// archived value where it lies in shared memory; the slot is freed when
    /// the guard drops. [`Error::Decode`] (the frame is consumed) if it is
    /// not a valid archive of a `V`. Waits for a message. See
    /// [`ArchivedGuard`].
    #[cfg(feature = "rkyv")]
    pub fn get_rkyv<V>(&self) -> Result<ArchivedGuard<'_, T, V>>
    where
        V: rkyv::Archive,
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        ArchivedGuard::new(self.guard_wait(Deadline::Forever)?)
    }

    /// [`get_rkyv`](Self::get_rkyv) if a message is ready now.
    #[cfg(feature = "rkyv")]
    pub fn try_get_rkyv<V>(&self) -> Result<ArchivedGuard<'_, T, V>>
    where
        V: rkyv::Archive,
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        ArchivedGuard::new(self.guard_wait(Deadline::Now)?)
    }

    /// [`get_rkyv`](Self::get_rkyv), waiting at most `timeout`.
    #[cfg(feature = "rkyv")]
    pub fn get_rkyv_timeout<V>(&self, timeout: Duration) -> Result<ArchivedGuard<'_, T, V>>
    where
        V: rkyv::Archive,
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        ArchivedGuard::new(self.guard_wait(Deadline::after(timeout))?)
    }

    /// [`get_rkyv_with`](Self::get_rkyv_with) if a message is ready now.
    #[cfg(feature = "rkyv")]
    pub fn try_get_rkyv_with<V, R>(&self, f: impl FnOnce(&V::Archived) -> R) -> Result<R>
    where
        V: rkyv::Archive,
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        let guard = self.guard_wait(Deadline::Now)?;
        let archived = crate::archive::access::<V>(guard.bytes())?;
        Ok(f(archived))
    }

    /// Takes the oldest message without copying it: the guard reads it in
    /// place and frees the slot when dropped. The message counts as
    /// delivered as soon as the guard exists.
    pub fn recv_guard(&self) -> Result<RecvGuard<'_, T>> {
        self.guard_wait(Deadline::Forever)
    }

    /// [`recv_guard`](Self::recv_guard) if a message is ready now.
    pub fn try_recv_guard(&self) -> Result<RecvGuard<'_, T>> {
        self.guard_wait(Deadline::Now)
    }

    /// [`recv_guard`](Self::recv_guard), waiting at most `timeout`.
    pub fn recv_guard_timeout(&self, timeout: Duration) -> Result<RecvGuard<'_, T>> {
        self.guard_wait(Deadline::after(timeout))
    }

    fn guard_wait(&self, wait: Deadline) -> Result<RecvGuard<'_, T>> {
        let (pos, _) = self.raw.acquire(1, true, wait)?;
        self.held_guard(pos)
    }

    /// The guard over the held message at `pos`.
    fn held_guard(&self, pos: u64) -> Result<RecvGuard<'_, T>> {
        match self.raw.ring.frame(pos) {
            Ok((at, len)) => Ok(RecvGuard {
                queue: QueueRef::Borrowed(self),
                armed: true,
                pos,
                at,
                len,
            }),
            Err(e) => {
                self.raw.release_held(pos);
                Err(e)
            }
        }
    }

    // ----- byte frames -----

    fn put_bytes_wait(&self, bytes: &[u8], wait: Deadline) -> Result<()> {
        self.check_frame(bytes.len())?;
        let (pos, _) = self.raw.reserve(1, bytes.len(), wait)?;
        self.publish(pos, bytes)
    }

    /// Puts a byte frame of at most [`max_frame`](Self::max_frame) bytes
    /// (Python's `send_bytes`); longer ones are refused, never truncated.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.put_bytes_wait(bytes, Deadline::Forever)
    }

    /// [`put_bytes`](Self::put_bytes) if there is room now.
    pub fn try_put_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.put_bytes_wait(bytes, Deadline::Now)
    }

    /// [`put_bytes`](Self::put_bytes), waiting at most `timeout`.
    pub fn put_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        self.put_bytes_wait(bytes, Deadline::after(timeout))
    }

    /// Puts a string as a byte frame.
    pub fn put_str(&self, s: &str) -> Result<()> {
        self.put_bytes(s.as_bytes())
    }

    /// Takes the oldest frame into a new vector (Python's `recv_bytes`).
    pub fn get_bytes(&self) -> Result<Vec<u8>> {
        self.get_bytes_wait(Deadline::Forever)
    }

    /// [`get_bytes`](Self::get_bytes) if a frame is ready now.
    pub fn try_get_bytes(&self) -> Result<Vec<u8>> {
        self.get_bytes_wait(Deadline::Now)
    }

    /// [`get_bytes`](Self::get_bytes), waiting at most `timeout`.
    pub fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.get_bytes_wait(Deadline::after(timeout))
    }

    fn get_bytes_wait(&self, wait: Deadline) -> Result<Vec<u8>> {
        let (pos, _) = self.raw.acquire(1, false, wait)?;
        self.take_bytes_claimed(pos)
    }

    /// Copies the claimed frame at `pos` out and frees its slot.
    fn take_bytes_claimed(&self, pos: u64) -> Result<Vec<u8>> {
        let r = self.raw.ring.frame(pos).map(|(at, len)| {
            let mut v = vec![0u8; len];
            self.raw.ring.read(at, &mut v);
            v
        });
        self.raw.release_copied(pos, 1);
        r
    }

    /// Takes the oldest frame into `buf`, returning its length. If `buf` is
    /// too small the frame stays queued and [`Error::BufferTooSmall`] says how
    /// much room it needs (Python's `recv_bytes_into`).
    pub fn get_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
        self.get_bytes_into_wait(buf, Deadline::Forever)
    }

    /// [`get_bytes_into`](Self::get_bytes_into) if a frame is there now;
    /// [`Error::Empty`] otherwise.
    pub fn try_get_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
        self.get_bytes_into_wait(buf, Deadline::Now)
    }

    fn get_bytes_into_wait(&self, buf: &mut [u8], wait: Deadline) -> Result<usize> {
        let (pos, _) = self.raw.acquire(1, false, wait)?;
        let (at, len) = match self.raw.ring.frame(pos) {
            Ok(found) => found,
            Err(e) => {
                self.raw.release_copied(pos, 1);
                return Err(e);
            }
        };
        if len > buf.len() {
            self.raw.unclaim(pos, 1);
            return Err(Error::BufferTooSmall {
                needed: len,
                got: buf.len(),
            });
        }
        self.raw.ring.read(at, &mut buf[..len]);
        self.raw.release_copied(pos, 1);
        Ok(len)
    }

    /// Takes the oldest frame and calls `f` with its bytes where they lie in
    /// shared memory, without copying them: the byte-frame form of
    /// [`get_with`](Self::get_with). The frame is consumed when `f`
    /// returns; a process killed inside `f` leaves it queued for the next
    /// consumer (at-least-once for `f`'s side effects).
    ///
    /// ```
    /// # use ipc_queue::Queue;
    /// let q = Queue::<u8>::builder().ring_bytes(4096).create()?;
    /// q.put_str("in place")?;
    /// assert_eq!(q.get_bytes_with(|b| b.len())?, 8);
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    pub fn get_bytes_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        self.get_bytes_with_wait(Deadline::Forever, f)
    }

    /// [`get_bytes_with`](Self::get_bytes_with) if a frame is ready now.
    pub fn try_get_bytes_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        self.get_bytes_with_wait(Deadline::Now, f)
    }

    /// [`get_bytes_with`](Self::get_bytes_with), waiting at most `timeout`.
    pub fn get_bytes_with_timeout<R>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        self.get_bytes_with_wait(Deadline::after(timeout), f)
    }

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn get_bytes_with_wait<R>(&self, wait: Deadline, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let (pos, _) = self.raw.acquire(1, false, wait)?;
        let result = self.raw.ring.frame(pos).map(|(at, len)| {
            // SAFETY: the slot is COPYING, owned by this call until
            // `release_copied`; producers do not write it; only a shared
            // reference is formed from it.
            let bytes: &[u8] = unsafe { self.raw.ring.slice(at, len) };
            f(bytes)
        });
        self.raw.release_copied(pos, 1);
        result
    }

    /// Takes the oldest frame as a UTF-8 string (invalid UTF-8 is replaced).
    pub fn get_string(&self) -> Result<String> {
        self.get_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    // ----- state -----

    /// Messages in the queue right now (Python's `qsize`; approximate while
    /// others are active).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the queue holds no message right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot is taken right now.
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity()
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.raw.ring.geometry.capacity as usize
    }

    /// Bytes of shared memory the queue maps: its header, control block and
    /// slots, each with room for [`max_frame`](Self::max_frame) bytes, or,
    /// with a byte ring, small slots and the ring
    /// ([`ring_bytes`](Self::ring_bytes)).
    pub fn shm_bytes(&self) -> usize {
        self.raw.object().segment().len()
    }

    /// Largest byte frame.
    pub fn max_frame(&self) -> usize {
        self.raw.ring.geometry.max_frame
    }

    /// Bytes of the byte ring frames take their length from; 0 for a queue
    /// of fixed slots (see [`QueueBuilder::ring_bytes`]).
    pub fn ring_bytes(&self) -> usize {
        self.raw.ring.geometry.ring_bytes as usize
    }

    /// Closes the queue for every process: puts fail with
    /// [`Error::Disconnected`], gets drain what is left and then fail the same
    /// way, and every blocked waiter wakes.
    pub fn close(&self) -> Result<()> {
        self.raw.close()
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }

    /// Marks one message taken with `get` as processed (JoinableQueue's
    /// `task_done`); an error if more are marked than were put.
    pub fn task_done(&self) -> Result<()> {
        if self.raw.finish_tasks(1) {
            Ok(())
        } else {
            Err(ipc_core::Error::InvalidArgument {
                reason: "task_done called more times than messages were put",
            }
            .into())
        }
    }

    /// Waits until every message put has been marked done (JoinableQueue's `join`).
    pub fn join(&self) -> Result<()> {
        self.raw.join_tasks(Deadline::Forever)
    }

    /// [`join`](Self::join), waiting at most `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.raw.join_tasks(Deadline::after(timeout))
    }

    /// Messages put and not yet marked done.
    pub fn unfinished_tasks(&self) -> u64 {
        self.raw.unfinished()
    }
}

impl<T: Message> Waitable for Queue<T> {
    fn ready_word(&self) -> &AtomicU32 {
        self.raw.ready_word()
    }

    fn sleepers(&self) -> &AtomicU32 {
        self.raw.sleepers()
    }

    fn is_ready(&self) -> bool {
        self.raw.is_ready()
    }

    fn check_peer(&self) -> bool {
        self.raw.check_peer()
    }
}

/// The queue a loan or a receive guard belongs to: borrowed (the usual
/// guard, tied to its handle's lifetime) or a handle of its own (a guard
/// turned `'static` by `into_owned`, for a caller that cannot keep a
/// borrow: another language's garbage collector).
enum QueueRef<'q, T: Message> {
    Borrowed(&'q Queue<T>),
    Owned(Queue<T>),
}

impl<T: Message> std::ops::Deref for QueueRef<'_, T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        match self {
            QueueRef::Borrowed(q) => q,
            QueueRef::Owned(q) => q,
        }
    }
}

/// A reserved slot: build the message in place, then [`commit`](Self::commit).
/// Dropped without committing, the slot is given back and nothing is delivered.
///
/// ```
/// # use ipc_queue::Queue;
/// let q = Queue::<[u64; 4]>::new(4)?;
/// let mut loan = q.loan()?;
/// loan.as_mut()?.copy_from_slice(&[1, 2, 3, 4]);
/// loan.commit();
/// assert_eq!(q.get()?, [1, 2, 3, 4]);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub struct Loan<'q, T: Message> {
    queue: QueueRef<'q, T>,
    pos: u64,
    at: layout::FrameAt,
    done: bool,
    _not_send: PhantomData<*const ()>,
}

impl<T: Message> Loan<'_, T> {
    /// The message being built, in shared memory (zeroed or left over from an
    /// earlier message: overwrite all of it).
    pub fn as_mut(&mut self) -> Result<&mut T> {
        let bytes = self.bytes_mut();
        let len = size_of::<T>().min(bytes.len());
        T::mut_from_bytes(&mut bytes[..len]).map_err(|_| Error::corrupted("loan slot misaligned"))
    }

    /// The whole frame being built, for byte messages: `max_frame` bytes,
    /// or the `len` of [`Queue::loan_bytes`] on a queue with a byte ring.
    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the slot is WRITING and owned by this loan until commit or
        // drop, and `&mut self` keeps this the only reference to it.
        unsafe { self.queue.raw.ring.slice(self.at, self.at.cap()) }
    }

    /// Publishes the message (its size is `size_of::<T>()`).
    pub fn commit(self) {
        self.commit_bytes(size_of::<T>());
    }

    /// Publishes the first `len` bytes of the frame as a byte message
    /// (`len` is capped at the frame's room, `bytes_mut().len()`).
    pub fn commit_bytes(mut self, len: usize) {
        self.done = true;
        self.queue.raw.commit(self.pos, len.min(self.at.cap()));
        self.queue.raw.committed();
    }

    /// The same loan holding a queue handle of its own instead of a borrow
    /// (for bindings whose objects outlive any borrow, as Python's do).
    pub fn into_owned(mut self) -> Loan<'static, T> {
        let owned = Loan {
            queue: QueueRef::Owned((*self.queue).clone()),
            pos: self.pos,
            at: self.at,
            done: false,
            _not_send: PhantomData,
        };
        // The slot now belongs to `owned`: dropping `self` gives nothing back.
        self.done = true;
        owned
    }

    /// Where the frame being built starts in this process's mapping, as
    /// a number (for bindings that build views over it; valid while the
    /// loan lives, for [`bytes_mut`](Self::bytes_mut)`.len()` bytes).
    pub fn address(&mut self) -> usize {
        self.bytes_mut().as_mut_ptr() as usize
    }
}

impl<T: Message> Drop for Loan<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.queue.raw.abandon(self.pos);
        }
    }
}

// A receive guard may be dropped on another thread (the Python package
// relies on it: Python's garbage collector frees objects on any thread).
const _: () = {
    const fn send<T: Send>() {}
    send::<RecvGuard<'static, u64>>();
};

/// A message read in place in shared memory; the slot is freed on drop.
/// A guard may move to, and be dropped on, another thread: the slot is
/// held by the process, not by a thread.
///
/// ```
/// # use ipc_queue::Queue;
/// let q = Queue::<u64>::new(4)?;
/// q.put(&42)?;
/// let g = q.recv_guard()?;
/// assert_eq!(*g.get()?, 42);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub struct RecvGuard<'q, T: Message> {
    queue: QueueRef<'q, T>,
    /// Whether dropping this guard frees the slot (not once `into_owned`
    /// passed it on).
    armed: bool,
    pos: u64,
    at: layout::FrameAt,
    len: usize,
}

impl<T: Message> RecvGuard<'_, T> {
    /// The message, viewed in place; [`Error::WrongSize`] if the frame is a
    /// byte message of another length.
    pub fn get(&self) -> Result<&T> {
        if self.len != size_of::<T>() {
            return Err(Error::WrongSize {
                expected: size_of::<T>(),
                found: self.len,
            });
        }
        T::ref_from_bytes(self.bytes()).map_err(|_| Error::corrupted("guard slot misaligned"))
    }

    /// The frame's bytes, viewed in place.
    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the slot is HELD by this guard until it drops; producers do
        // not write HELD slots; only shared references are handed out.
        unsafe { self.queue.raw.ring.slice(self.at, self.len) }
    }

    /// The same guard holding a queue handle of its own instead of a
    /// borrow (for bindings whose objects outlive any borrow, as Python's
    /// do: a `memoryview` over the message lives as long as Python keeps
    /// it).
    pub fn into_owned(mut self) -> RecvGuard<'static, T> {
        let owned = RecvGuard {
            queue: QueueRef::Owned((*self.queue).clone()),
            armed: true,
            pos: self.pos,
            at: self.at,
            len: self.len,
        };
        // The slot now belongs to `owned`.
        self.armed = false;
        owned
    }
}

impl<T: Message> Drop for RecvGuard<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.queue.raw.release_held(self.pos);
        }
    }
}

/// The archived value of a message, where it lies in shared memory
/// (feature `rkyv`): [`Queue::get_rkyv`]. It
/// dereferences to `V::Archived`, validated once when the guard was made;
/// the slot is freed when the guard drops. As with [`RecvGuard`], the
/// message counts as delivered as soon as the guard exists.
///
/// ```
/// use ipc_queue::Queue;
///
/// #[derive(rkyv::Archive, rkyv::Serialize)]
/// struct Trade {
///     symbol: String,
///     prices: Vec<u64>,
/// }
///
/// let q = Queue::<u8>::builder().ring_bytes(64 << 10).create()?;
/// q.put_rkyv(&Trade { symbol: "ACME".into(), prices: vec![101, 103] })?;
/// let trade = q.get_rkyv::<Trade>()?;
/// assert_eq!(trade.symbol.as_str(), "ACME");
/// assert_eq!(trade.prices.len(), 2);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
#[cfg(feature = "rkyv")]
pub struct ArchivedGuard<'q, T: Message, V: rkyv::Archive> {
    /// Holds the slot (HELD) and frees it on drop.
    guard: RecvGuard<'q, T>,
    /// The archived value inside the guard's frame.
    archived: std::ptr::NonNull<V::Archived>,
    _value: PhantomData<&'q V::Archived>,
}

#[cfg(feature = "rkyv")]
impl<'q, T: Message, V: rkyv::Archive> ArchivedGuard<'q, T, V> {
    /// Validates the frame `guard` holds as the archive of a `V`; the slot is
    /// freed (the message consumed) if it is not one.
    fn new(guard: RecvGuard<'q, T>) -> Result<Self>
    where
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        let archived = std::ptr::NonNull::from(crate::archive::access::<V>(guard.bytes())?);
        Ok(Self {
            guard,
            archived,
            _value: PhantomData,
        })
    }

    /// The archive's bytes, as [`RecvGuard::bytes`].
    pub fn bytes(&self) -> &[u8] {
        self.guard.bytes()
    }
}

#[cfg(feature = "rkyv")]
impl<T: Message, V: rkyv::Archive> std::ops::Deref for ArchivedGuard<'_, T, V> {
    type Target = V::Archived;

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn deref(&self) -> &V::Archived {
        // SAFETY: `archived` points into the frame of the slot `guard`
        // holds (HELD: producers do not write it, and it is not freed
        // before `guard` drops, which is after this borrow of `self` ends);
        // the mapping lives while the queue handle `'q` does; the archive
        // was validated (bytecheck) when the guard was made and the bytes
        // have not changed since under the protocol (the trust model's
        // "lent-out message bytes").
        unsafe { self.archived.as_ref() }
    }
}

#[cfg(feature = "rkyv")]
impl<T: Message, V: rkyv::Archive> std::fmt::Debug for ArchivedGuard<'_, T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivedGuard")
            .field("bytes", &self.bytes().len())
            .finish()
    }
}

/// A blocking iterator over a queue's messages: [`Queue::iter`].
#[derive(Debug)]
pub struct Iter<'a, T: Message> {
    queue: &'a Queue<T>,
}

impl<T: Message> Iterator for Iter<'_, T> {
    type Item = T;

    /// The next message, waiting for one; `None` once the queue is
    /// disconnected (closed, or every producer gone) and drained, or on an
    /// error.
    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

/// A non-blocking iterator over the messages ready now:
/// [`Queue::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T: Message> {
    queue: &'a Queue<T>,
}

impl<T: Message> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.try_get().ok()
    }
}

impl<T: Message> Queue<T> {
    /// Receives messages until the queue is disconnected (see the type's
    /// docs): the consumer loop of a worker whose producers finish.
    ///
    /// ```
    /// use ipc_core::process::Process;
    /// use ipc_queue::Queue;
    ///
    /// let q = Queue::<u64>::new(8)?;
    /// let producer = Process::spawn({
    ///     let q = q.clone();
    ///     move || (1..=3u64).for_each(|i| q.put(&i).unwrap())
    /// })?;
    /// // Ends when the producer is gone and everything it put was received.
    /// let sum: u64 = q.iter().sum();
    /// assert_eq!(sum, 6);
    /// assert!(producer.join()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { queue: self }
    }

    /// The messages ready now, without waiting.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { queue: self }
    }
}

impl<'a, T: Message> IntoIterator for &'a Queue<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
