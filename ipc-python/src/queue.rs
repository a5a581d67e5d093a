//! `Queue`: multiprocessing's `Queue`, `JoinableQueue` and `SimpleQueue`
//! over the toolkit's MPMC queue (`ipc_queue::Queue<u8>` with a byte ring).
//!
//! A `put` encodes the object (see `codec`) straight into a slot it loaned
//! from the ring, and a `get` decodes it where it lies: there is no feeder
//! thread and no pipe, and a `put` that returns has committed the message
//! (`multiprocessing`'s returns before its feeder thread has written it, so
//! a process that exits right after may lose it).
//!
//! Unbounded queues (`maxsize=0`): `multiprocessing`'s never makes a `put`
//! wait, as its feeder thread buffers what the pipe cannot take. The ring
//! here is bounded, so a `put` that finds it full for `SPILL_GRACE` (or
//! finds earlier puts of this handle still buffered) hands the encoded
//! frame to this process's spill buffer, and a feeder thread (`queues.py`)
//! puts it when there is room; the ring's order is kept per handle, and
//! the process waits for its buffer at exit as `multiprocessing` waits for
//! its feeder. A buffered
//! message is not yet committed: a process killed then loses it (as it
//! would with `multiprocessing`). A queue created with a `maxsize` makes a
//! `put` wait instead, and a `put` that returns has committed its message.
//!
//! Waiting: a call first tries without waiting, holding the GIL (the common
//! case costs no GIL hand-over); if it must wait, it waits for the queue to
//! become ready with the GIL released, in slices (see `blocking`), and
//! tries again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipc_core::segment::SegmentOptions;
use ipc_queue::Error as QError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::blocking::{self, Step};
use crate::codec::{self, Frame};
use crate::errors::{self, Dir, Empty, Full};

/// How many messages a queue's ring holds when `maxsize` is 0 (Python's
/// "unbounded": past this many, puts spill; see the module docs).
pub(crate) const DEFAULT_CAPACITY: usize = 8192;
/// How long a `put` to an unbounded queue waits for room in a full ring
/// before it spills (see the module docs): a consumer that keeps up frees
/// a slot well within it, so a producer faster than its consumers is paced
/// by them, as with a bounded queue, and the spill buffer (a Python call, a
/// lock and a feeder thread per message) serves only a ring nobody drains
/// for a while. Once spilling, later puts join the buffer at once, so
/// filling a queue before any consumer starts costs this wait once.
pub(crate) const SPILL_GRACE: Duration = Duration::from_millis(1);
/// The default size of a queue's byte ring, and so its largest message.
pub(crate) const DEFAULT_RING_BYTES: usize = 8 << 20;

/// A process-shared FIFO queue of Python objects (multiprocessing's
/// `Queue`); `JoinableQueue` and `SimpleQueue` are its Python subclasses.
#[pyclass(module = "ipc_toolkit._native", subclass, frozen)]
pub(crate) struct Queue {
    q: ipc_queue::Queue<u8>,
    name: String,
    maxsize: usize,
    /// Created with `maxsize=0`: a full ring spills (see the module docs).
    unbounded: bool,
    /// This handle's spill buffer holds frames: later puts join it, so
    /// they reach the ring in order.
    spilling: AtomicBool,
    closed: AtomicBool,
}

/// A `block`/`timeout` pair as a deadline: `None` waits forever,
/// `Some(now)` not at all.
fn wait_deadline(block: bool, timeout: Option<f64>) -> PyResult<Option<Instant>> {
    if block {
        blocking::deadline(timeout)
    } else {
        Ok(Some(Instant::now()))
    }
}

/// Opens or creates the named queue (shared by `Queue.__new__` and the
/// manager's `Queue()`).
pub(crate) fn open_queue(
    name: &str,
    create: bool,
    maxsize: usize,
    ring_bytes: Option<usize>,
) -> PyResult<ipc_queue::Queue<u8>> {
    let ring = ring_bytes.unwrap_or(DEFAULT_RING_BYTES);
    let capacity = if maxsize == 0 {
        DEFAULT_CAPACITY
    } else {
        maxsize
    };
    let b = ipc_queue::Queue::<u8>::builder()
        .options(SegmentOptions::named(name))
        .capacity(capacity)
        .ring_bytes(ring);
    let q = if create { b.create() } else { b.open() };
    q.map_err(|e| errors::for_queue(e, Dir::Recv))
}

impl Queue {
    /// One wait slice for a message (or the news that the producers are
    /// gone), with the GIL released; `queue.Empty` once `deadline` passed.
    /// Signals and pending hand-offs are looked at after it.
    fn wait_for_message(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<()> {
        let slice = match deadline {
            None => blocking::SLICE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Empty::new_err(()));
                }
                left.min(blocking::SLICE)
            }
        };
        let q = &self.q;
        py.detach(|| ipc_queue::wait_timeout(&[q], slice));
        py.check_signals()?;
        crate::handoff::prune_if_pending(py)?;
        use ipc_core::wait::Waitable;
        if !self.q.is_ready() {
            // The wait ended with nothing to take (its slice ran out, or it
            // found the process owning the head slot dead): look for what
            // dead processes left at the head, as a blocked Rust get does
            // (the tries in between never look). `Disconnected` is left for
            // the next try to report.
            match self.q.recover_head() {
                Ok(()) | Err(QError::Disconnected) => {}
                Err(e) => return Err(errors::for_queue(e, Dir::Recv)),
            }
        }
        Ok(())
    }

    fn check_open(&self) -> PyResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(PyValueError::new_err(format!(
                "Queue {} is closed",
                self.name
            )));
        }
        Ok(())
    }

    /// Puts `frame`, waiting until `deadline` for room; an unbounded
    /// queue's ring full for `SPILL_GRACE` spills it instead (see the
    /// module docs).
    fn put_frame(
        slf: &Bound<'_, Self>,
        frame: &Frame<'_>,
        deadline: Option<Instant>,
    ) -> PyResult<()> {
        let me = slf.get();
        let py = slf.py();
        me.check_open()?;
        if me.spilling.load(Ordering::Acquire) {
            return Self::spill(slf, frame);
        }
        let len = frame.len();
        match me.q.try_loan_bytes(len) {
            Ok(mut loan) => {
                frame.write_to(&mut loan.bytes_mut()[..len]);
                loan.commit_bytes(len);
                return Ok(());
            }
            Err(QError::Full) if me.unbounded => {}
            Err(QError::Full) if deadline.is_none_or(|d| d > Instant::now()) => {}
            Err(e) => return Err(errors::for_queue(e, Dir::Send)),
        }
        let deadline = if me.unbounded {
            Some(Instant::now() + SPILL_GRACE)
        } else {
            deadline
        };
        let (head, body) = frame.parts();
        let q = &me.q;
        let put = blocking::wait_in_slices(
            py,
            deadline,
            |slice| match q.loan_bytes_timeout(len, slice) {
                Ok(mut loan) => {
                    codec::write_parts(loan.bytes_mut(), head, body);
                    loan.commit_bytes(len);
                    Step::Done(Ok(()))
                }
                Err(QError::Timeout) => Step::Again,
                Err(e) => Step::Done(Err(e)),
            },
            || Full::new_err(()),
            |e| errors::for_queue(e, Dir::Send),
        );
        match put {
            Err(e) if me.unbounded && e.is_instance_of::<Full>(py) => Self::spill(slf, frame),
            put => put,
        }
    }

    /// Hands `frame` to this process's spill buffer for the feeder thread
    /// (`ipc_toolkit.queues._spill`), which puts it when there is room.
    fn spill(slf: &Bound<'_, Self>, frame: &Frame<'_>) -> PyResult<()> {
        let bytes = PyBytes::new_with(slf.py(), frame.len(), |dst| {
            frame.write_to(dst);
            Ok(())
        })?;
        Self::spill_raw(slf, bytes)
    }

    /// [`spill`](Self::spill) of a frame already in a `bytes`.
    fn spill_raw(slf: &Bound<'_, Self>, frame: Bound<'_, PyBytes>) -> PyResult<()> {
        slf.py()
            .import("ipc_toolkit.queues")?
            .getattr("_spill")?
            .call1((slf, frame))?;
        Ok(())
    }

    /// Puts a raw frame, waiting until `deadline` for room in slices with
    /// the GIL released.
    fn put_raw_waiting(
        &self,
        py: Python<'_>,
        raw: &[u8],
        deadline: Option<Instant>,
    ) -> PyResult<()> {
        let q = &self.q;
        blocking::wait_in_slices(
            py,
            deadline,
            |slice| match q.put_bytes_timeout(raw, slice) {
                Ok(()) => Step::Done(Ok(())),
                Err(QError::Timeout) => Step::Again,
                Err(e) => Step::Done(Err(e)),
            },
            || Full::new_err(()),
            |e| errors::for_queue(e, Dir::Send),
        )
    }

    /// Takes the next frame and hands it to `f` in place, waiting until
    /// `deadline` for one: with the GIL held for the take, released for
    /// the waits in between.
    fn take_with<R>(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
        mut f: impl FnMut(&[u8]) -> PyResult<R>,
    ) -> PyResult<R> {
        loop {
            match self.q.try_get_bytes_with(&mut f) {
                Ok(r) => return r,
                Err(QError::Empty) => {}
                Err(e) => return Err(errors::for_queue(e, Dir::Recv)),
            }
            self.wait_for_message(py, deadline)?;
        }
    }
}

#[pymethods]
impl Queue {
    /// `Queue(maxsize=0, *, ring_bytes=None)`: a new queue holding at most
    /// `maxsize` messages of at most `ring_bytes` bytes in all (default
    /// 8 MiB, which is also the largest message). `maxsize=0` is
    /// unbounded: the ring holds up to 8192 messages, and a `put` that
    /// finds it full buffers the message in this process (see `put`).
    /// `name` and `open` are for re-opening a queue by name (what
    /// unpickling does); `unbounded` says whether the opened queue was
    /// created with `maxsize=0`. `ctx` is taken and ignored, as
    /// `multiprocessing.queues.Queue(maxsize, ctx=...)` is called with one.
    #[new]
    #[pyo3(signature = (maxsize=0, *, ctx=None, ring_bytes=None, name=None, open=false, unbounded=false))]
    fn new(
        maxsize: isize,
        ctx: Option<&Bound<'_, PyAny>>,
        ring_bytes: Option<usize>,
        name: Option<String>,
        open: bool,
        unbounded: bool,
    ) -> PyResult<Self> {
        let _ = ctx;
        let maxsize = usize::try_from(maxsize).unwrap_or(0);
        let name = name.unwrap_or_else(|| crate::names::unique_name("q"));
        let q = open_queue(&name, !open, maxsize, ring_bytes)?;
        let unbounded = if open { unbounded } else { maxsize == 0 };
        let maxsize = if open && !unbounded {
            q.capacity()
        } else {
            maxsize
        };
        Ok(Self {
            q,
            name,
            maxsize: if unbounded { 0 } else { maxsize },
            unbounded,
            spilling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// Puts `obj` (pickled unless it is bytes or a plain scalar), waiting
    /// for room if `block` (at most `timeout` seconds; `queue.Full` then).
    #[pyo3(signature = (obj, block=true, timeout=None))]
    fn put(
        slf: &Bound<'_, Self>,
        obj: &Bound<'_, PyAny>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let py = slf.py();
        match codec::encode_out_of_band(obj)? {
            codec::Encoded::Frame(frame) => {
                Self::put_frame(slf, &frame, wait_deadline(block, timeout)?)
            }
            // A numpy array's data (pickle's out-of-band buffers) goes into
            // the slot as it is, from Python (`queues.py`), through a loan.
            codec::Encoded::OutOfBand { pickle, buffers } => {
                let put = py
                    .import("ipc_toolkit.queues")?
                    .getattr("_put_out_of_band")?;
                put.call1((slf, pickle, buffers, block, timeout))?;
                Ok(())
            }
        }
    }

    /// `put(obj, False)`.
    fn put_nowait(slf: &Bound<'_, Self>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::put(slf, obj, false, None)
    }

    /// Takes the next message and keeps it held in its slot (delivered,
    /// not yet freed) for views over it (`get_shared`); the slot is freed
    /// when the returned object is collected.
    #[pyo3(signature = (block=true, timeout=None))]
    fn _get_held(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<HeldMessage> {
        self.check_open()?;
        let deadline = wait_deadline(block, timeout)?;
        loop {
            match self.q.try_recv_guard() {
                Ok(g) => {
                    return Ok(HeldMessage {
                        guard: Some(g.into_owned()),
                    });
                }
                Err(QError::Empty) => {}
                Err(e) => return Err(errors::for_queue(e, Dir::Recv)),
            }
            self.wait_for_message(py, deadline)?;
        }
    }

    /// Reserves `len` bytes for a frame built in place (the out-of-band
    /// put); waits for room if `block`. The reservation is given back if
    /// the returned object is collected uncommitted.
    #[pyo3(signature = (len, block=true, timeout=None))]
    fn _loan(
        &self,
        py: Python<'_>,
        len: usize,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<LoanedSlot> {
        self.check_open()?;
        let deadline = wait_deadline(block, timeout)?;
        // A loan cannot cross threads, so the wait for room is a poll with
        // the GIL released between tries (this path carries large
        // messages, which take far longer to copy than the nap).
        let mut nap = Duration::from_micros(20);
        loop {
            match self.q.try_loan_bytes(len) {
                Ok(loan) => {
                    return Ok(LoanedSlot {
                        loan: Some(loan.into_owned()),
                        len,
                    });
                }
                Err(QError::Full) => {}
                Err(e) => return Err(errors::for_queue(e, Dir::Send)),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Full::new_err(()));
            }
            py.detach(|| std::thread::sleep(nap));
            nap = (nap * 2).min(Duration::from_millis(1));
            py.check_signals()?;
            crate::handoff::prune_if_pending(py)?;
        }
    }

    /// Removes and returns the next object, waiting for one if `block` (at
    /// most `timeout` seconds; `queue.Empty` then). `EOFError` if the queue
    /// is empty and every producer is gone.
    #[pyo3(signature = (block=true, timeout=None))]
    fn get(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.check_open()?;
        let deadline = wait_deadline(block, timeout)?;
        self.take_with(py, deadline, |b| codec::decode(py, b).map(Bound::unbind))
    }

    /// `get(False)`.
    fn get_nowait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.get(py, false, None)
    }

    /// Puts the bytes of `data` (a bytes-like object) as a raw frame, as
    /// Rust's `Queue::put_bytes` does: no tag, no pickle. An unbounded
    /// queue's full ring spills it, as `put` does.
    #[pyo3(signature = (data, block=true, timeout=None))]
    fn put_bytes(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let me = slf.get();
        let bytes = as_bytes(data)?;
        me.check_open()?;
        if me.spilling.load(Ordering::Acquire) {
            return Self::spill_raw(slf, bytes);
        }
        match me.q.try_put_bytes(bytes.as_bytes()) {
            Ok(()) => return Ok(()),
            Err(QError::Full) if me.unbounded || block => {}
            Err(e) => return Err(errors::for_queue(e, Dir::Send)),
        }
        let deadline = if me.unbounded {
            Some(Instant::now() + SPILL_GRACE)
        } else {
            wait_deadline(block, timeout)?
        };
        let py = slf.py();
        match me.put_raw_waiting(py, bytes.as_bytes(), deadline) {
            Err(e) if me.unbounded && e.is_instance_of::<Full>(py) => Self::spill_raw(slf, bytes),
            put => put,
        }
    }

    /// The feeder thread's put of a spilled frame (see `queues._spill`):
    /// waits as long as it takes, in slices, and goes on after `close()`
    /// (as `multiprocessing`'s feeder flushes a closed queue's buffer).
    fn _feed(&self, py: Python<'_>, frame: &Bound<'_, PyBytes>) -> PyResult<()> {
        match self.q.try_put_bytes(frame.as_bytes()) {
            Ok(()) => Ok(()),
            Err(QError::Full) => self.put_raw_waiting(py, frame.as_bytes(), None),
            Err(e) => Err(errors::for_queue(e, Dir::Send)),
        }
    }

    /// Whether this handle's earlier puts are still in its spill buffer
    /// (set and cleared by `queues._spill` and its feeder).
    fn _set_spilling(&self, on: bool) {
        self.spilling.store(on, Ordering::Release);
    }

    /// Whether this handle's spill buffer holds frames.
    fn _spilling(&self) -> bool {
        self.spilling.load(Ordering::Acquire)
    }

    /// Whether the queue was created with `maxsize=0` (a full ring spills
    /// into this process's buffer).
    #[getter]
    fn unbounded(&self) -> bool {
        self.unbounded
    }

    /// Removes the next frame and returns its bytes as they are (a frame
    /// from Rust's `put_bytes`, or the tagged encoding of a `put`).
    #[pyo3(signature = (block=true, timeout=None))]
    fn get_bytes<'py>(
        &self,
        py: Python<'py>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.check_open()?;
        self.take_with(py, wait_deadline(block, timeout)?, |b| {
            Ok(PyBytes::new(py, b))
        })
    }

    /// Removes the next raw frame into `buffer` (a `bytearray` here; the
    /// Python class accepts any writable buffer) from its start, in one
    /// copy; returns its length. A frame longer than the buffer stays
    /// queued and `ValueError` is raised.
    #[pyo3(signature = (buffer, block=true, timeout=None))]
    fn get_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyByteArray>,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        self.check_open()?;
        let deadline = wait_deadline(block, timeout)?;
        loop {
            // Reading the length first keeps a frame that does not fit
            // queued; `get_bytes_into` refuses it without taking it.
            // SAFETY: the bytearray's storage is only resized by Python
            // code, and none runs while this borrow lives: the GIL is held
            // and `try_get_bytes_into` only copies bytes into it.
            #[allow(unsafe_code)]
            let dst = unsafe { buffer.as_bytes_mut() };
            let got = match self.q.try_get_bytes_into(dst) {
                Ok(n) => Some(n),
                Err(QError::Empty) => None,
                Err(e) => return Err(errors::for_queue(e, Dir::Recv)),
            };
            if let Some(n) = got {
                return Ok(n);
            }
            self.wait_for_message(py, deadline)?;
        }
    }

    /// The number of messages in the queue now (approximate while others
    /// put and get, as in `multiprocessing`).
    fn qsize(&self) -> usize {
        self.q.len()
    }

    /// Whether the queue holds no message now.
    fn empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Whether the queue holds `maxsize` messages now (never, for an
    /// unbounded queue: a `put` does not wait).
    fn full(&self) -> bool {
        !self.unbounded && self.q.is_full()
    }

    /// Stops this handle: later calls on it raise `ValueError` (other
    /// handles, in this process or others, go on).
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Whether `close()` was called on this handle.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Marks one message taken by `get` as processed (`JoinableQueue`).
    /// `ValueError` if called more often than messages were put.
    fn task_done(&self) -> PyResult<()> {
        self.q.task_done().map_err(|e| match e {
            QError::Core(ipc_core::Error::InvalidArgument { .. }) => {
                PyValueError::new_err("task_done() called too many times")
            }
            e => errors::for_queue(e, Dir::Recv),
        })
    }

    /// Waits until every message put has been marked done by `task_done`
    /// (`JoinableQueue`); with a `timeout`, `TimeoutError` after it.
    #[pyo3(signature = (timeout=None))]
    fn join(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let q = &self.q;
        blocking::wait_in_slices(
            py,
            blocking::deadline(timeout)?,
            |slice| match q.join_timeout(slice) {
                Ok(()) => Step::Done(Ok(())),
                Err(QError::Timeout) => Step::Again,
                Err(e) => Step::Done(Err(e)),
            },
            || pyo3::exceptions::PyTimeoutError::new_err("join() timed out"),
            |e| errors::for_queue(e, Dir::Recv),
        )
    }

    /// The queue's name in `/dev/shm` (what pickling carries).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The `maxsize` it was created with (its slot count if opened).
    #[getter]
    fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// The largest message, in bytes (the byte ring's size).
    #[getter]
    fn max_message(&self) -> usize {
        self.q.max_frame()
    }

    /// Before this queue is pickled for another process: holds that
    /// process's place, so that no consumer hears the producers are gone
    /// before it starts (see `ipc_queue::Queue::hand_off`).
    fn _hand_off(&self) -> bool {
        self.q.hand_off()
    }

    /// How many places `_hand_off` (or a fork) holds that have yet to be
    /// taken.
    fn _hand_offs_held(&self) -> usize {
        self.q.hand_offs_held()
    }

    /// In the process that unpickled (or forked with) this queue: takes the
    /// place process `from_pid` held for it.
    fn _take_hand_off(&self, from_pid: u32) -> bool {
        self.q.take_hand_off(from_pid)
    }

    /// Whether a `get` would not wait now (for `connection.wait`).
    fn _ready(&self) -> bool {
        use ipc_core::wait::Waitable;
        self.q.is_ready()
    }
}

impl Queue {
    /// The queue, for `connection.wait`.
    pub(crate) fn inner(&self) -> &ipc_queue::Queue<u8> {
        &self.q
    }
}

/// The bytes of a bytes-like object: `bytes` as they are, anything else
/// through `bytes(obj)` (one copy).
pub(crate) fn as_bytes<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = data.cast_exact::<PyBytes>() {
        return Ok(b.clone());
    }
    let py = data.py();
    let bytes_type = py.get_type::<PyBytes>();
    Ok(bytes_type.call1((data,))?.cast_into()?)
}

/// A message taken from a queue and held in its slot (see
/// `Queue._get_held`): its bytes stay valid, where they lie, until this
/// object is collected. The Python side makes views over them whose base
/// keeps this object alive.
#[pyclass(module = "ipc_toolkit._native")]
pub(crate) struct HeldMessage {
    guard: Option<ipc_queue::queue::RecvGuard<'static, u8>>,
}

#[pymethods]
impl HeldMessage {
    /// Where the frame starts in this process's memory.
    #[getter]
    fn address(&self) -> PyResult<usize> {
        Ok(self.bytes()?.as_ptr() as usize)
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.bytes()?.len())
    }

    /// The frame's first byte (its tag), or -1 for an empty frame.
    #[getter]
    fn tag(&self) -> PyResult<i32> {
        Ok(self.bytes()?.first().map_or(-1, |&b| i32::from(b)))
    }

    /// Decodes the frame with copies (as `get` does) and frees the slot.
    /// Only for a message no view was made of.
    fn _decode_and_release(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let obj = codec::decode(py, self.bytes()?)?.unbind();
        self.guard = None;
        Ok(obj)
    }
}

impl HeldMessage {
    fn bytes(&self) -> PyResult<&[u8]> {
        self.guard
            .as_ref()
            .map(|g| g.bytes())
            .ok_or_else(|| PyValueError::new_err("the message was released"))
    }
}

/// Room reserved in a queue for a frame built in place (see `Queue._loan`).
/// Used by the thread that made it only (`_put_out_of_band` commits it in
/// the same call).
#[pyclass(module = "ipc_toolkit._native", unsendable)]
pub(crate) struct LoanedSlot {
    loan: Option<ipc_queue::queue::Loan<'static, u8>>,
    len: usize,
}

#[pymethods]
impl LoanedSlot {
    /// Where the reserved bytes start in this process's memory.
    #[getter]
    fn address(&mut self) -> PyResult<usize> {
        self.loan
            .as_mut()
            .map(|l| l.address())
            .ok_or_else(|| PyValueError::new_err("the loan was committed"))
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Publishes the first `len` bytes as a message. Views over the loan
    /// must be released first.
    fn commit(&mut self, len: usize) -> PyResult<()> {
        let loan = self
            .loan
            .take()
            .ok_or_else(|| PyValueError::new_err("the loan was committed"))?;
        loan.commit_bytes(len.min(self.len));
        Ok(())
    }
}
