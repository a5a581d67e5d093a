//! `Connection` and `Pipe`: multiprocessing's `Pipe()` over the toolkit's
//! duplex pipe (two SPSC byte rings) or one-way channel.
//!
//! A connection is used by one process at a time (the pipe end's owner);
//! within a process, calls on one connection are serialised by a mutex, so
//! a thread blocked in `recv` holds it one wait slice at a time (a send
//! from another thread on the same connection may wait that long, up to
//! 50 ms: `multiprocessing`'s connections are not meant for concurrent use
//! either). Closing drops the handle: the end is closed for the peer
//! unless this process has forked since it last used the handle (the child
//! may have it: see `ipc_queue::pipe`), or the handle was pickled for
//! another process (`_hand_off`).
//!
//! `fileno()` is a descriptor of the connection's own, kept readable by a
//! watcher thread while a receive would not block (`notifier.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ipc_core::segment::SegmentOptions;
use ipc_core::wait::{Waitable, coarse_now};
use ipc_queue::pipe::Side;
use ipc_queue::{Error as QError, Pipe, PipeEnd, Receiver, Sender};
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::blocking;
use crate::codec::{self, Reassembly, Step};
use crate::errors::{self, Dir};
use crate::notifier::Notifier;
use crate::queue::{Queue, as_bytes};

/// The default size of each direction's byte ring, and so the largest
/// message.
const DEFAULT_RING_BYTES: usize = 4 << 20;
/// Messages in flight per direction.
const DEFAULT_CAPACITY: usize = 1024;

/// The three kinds of pipe handle behind a connection.
enum End {
    Duplex(PipeEnd<u8>),
    Send(Sender<u8>),
    Recv(Receiver<u8>),
}

/// Calls `$body` with `$e` bound to the handle, whichever kind it is;
/// `$none` for a kind that cannot do it.
macro_rules! on_recv {
    ($end:expr, $e:ident => $body:expr, $none:expr) => {
        match $end {
            End::Duplex($e) => $body,
            End::Recv($e) => $body,
            End::Send(_) => $none,
        }
    };
}
macro_rules! on_send {
    ($end:expr, $e:ident => $body:expr, $none:expr) => {
        match $end {
            End::Duplex($e) => $body,
            End::Send($e) => $body,
            End::Recv(_) => $none,
        }
    };
}

/// One end of a `Pipe()`: `send`/`recv` of objects, `send_bytes`/
/// `recv_bytes` of raw frames, `poll`, `close`.
#[pyclass(module = "ipc_toolkit._native", subclass, frozen)]
pub(crate) struct Connection {
    end: Mutex<Option<End>>,
    /// The largest frame this end sends (0 for a receive-only end).
    max_frame: usize,
    name: String,
    /// "duplex", "send" or "recv".
    kind: &'static str,
    /// 0 = the pipe's first end, 1 = its second.
    side: u8,
    /// When a send may next look whether the peer process is gone, on
    /// `coarse_now`'s clock (nanoseconds; see `send_frame`).
    next_peer_check: AtomicU64,
    /// Whether this end was pickled for another process (`_hand_off`).
    handed_off: AtomicBool,
    /// A handed-off end this handle closed: kept (not closed for the
    /// peer) until the receiving process takes it up, or `_give_back`
    /// closes it because that process died first.
    parked: Mutex<Option<End>>,
    /// The descriptor `fileno()` returns and its watcher, made by the first
    /// call (see `notifier.rs`). Never locked while `end` is held.
    notifier: Mutex<Option<Notifier>>,
    /// Whether `notifier` was ever set: receives skip its mutex until then.
    has_notifier: AtomicBool,
    /// A multi-part frame being received (see `codec.rs`). Locked inside
    /// `end`'s lock, or alone.
    partial: Mutex<Option<Reassembly>>,
    /// Whether a multi-part send was cut off after its header: the
    /// receiver is told before the next frame.
    abandon_pending: AtomicBool,
}

fn not_readable() -> PyErr {
    PyOSError::new_err("connection is write-only")
}

fn not_writable() -> PyErr {
    PyOSError::new_err("connection is read-only")
}

fn closed() -> PyErr {
    PyOSError::new_err("handle is closed")
}

impl Connection {
    fn lock(&self) -> MutexGuard<'_, Option<End>> {
        self.end.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After a receive or a poll: the descriptor, if `fileno()` made one,
    /// is readable again only if there is more to receive.
    fn resync(&self) {
        if !self.has_notifier.load(Ordering::Acquire) {
            return;
        }
        let notifier = self.notifier.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = notifier.as_ref().filter(|n| n.is_ours()) {
            n.resync();
        }
    }

    /// Receives one frame and hands it to `f` in place, waiting until
    /// `deadline`.
    fn recv_with<R>(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
        f: impl FnMut(&[u8]) -> PyResult<R>,
    ) -> PyResult<R> {
        let r = self.recv_frame_with(py, deadline, f);
        self.resync();
        r
    }

    fn recv_frame_with<R>(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
        mut f: impl FnMut(&[u8]) -> PyResult<R>,
    ) -> PyResult<R> {
        loop {
            let mut guard = self.lock();
            let end = guard.as_ref().ok_or_else(closed)?;
            let r = on_recv!(end, e => e.try_recv_bytes_with(&mut f), return Err(not_readable()));
            match r {
                Ok(v) => return v,
                Err(QError::Empty) => {}
                Err(e) => return Err(errors::queue(e, Dir::Recv)),
            }
            let slice = slice_until(deadline)
                .ok_or_else(|| pyo3::exceptions::PyTimeoutError::new_err("recv timed out"))?;
            wait_readable(py, &mut guard, slice);
            drop(guard);
            py.check_signals()?;
            crate::handoff::prune_if_pending(py)?;
        }
    }

    /// `_recv_bytes_into`'s receive.
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyByteArray>,
        offset: usize,
    ) -> PyResult<isize> {
        loop {
            let mut guard = self.lock();
            let end = guard.as_ref().ok_or_else(closed)?;
            if offset > buffer.len() {
                return Err(PyValueError::new_err("offset is larger than the buffer"));
            }
            // SAFETY: a bytearray is resized only by Python code, and none
            // runs while this borrow lives (the GIL is held; the receive
            // only copies bytes into it).
            #[allow(unsafe_code)]
            let dst = unsafe { &mut buffer.as_bytes_mut()[offset..] };
            let r = on_recv!(end, e => e.try_recv_bytes_into(dst), return Err(not_readable()));
            match r {
                Ok(n) => return Ok(n as isize),
                Err(QError::BufferTooSmall { needed, .. }) => {
                    return Ok(-(isize::try_from(needed).unwrap_or(isize::MAX)));
                }
                Err(QError::Empty) => {}
                Err(e) => return Err(errors::queue(e, Dir::Recv)),
            }
            wait_readable(py, &mut guard, blocking::SLICE);
            drop(guard);
            py.check_signals()?;
            crate::handoff::prune_if_pending(py)?;
        }
    }

    /// `poll`'s wait.
    fn poll_until(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<bool> {
        loop {
            let mut guard = self.lock();
            let end = guard.as_ref().ok_or_else(closed)?;
            let ready = on_recv!(end, e => e.poll(), return Err(not_readable()));
            if ready {
                return Ok(true);
            }
            let Some(slice) = slice_until(deadline) else {
                return Ok(false);
            };
            if wait_readable(py, &mut guard, slice) {
                return Ok(true);
            }
            drop(guard);
            py.check_signals()?;
            crate::handoff::prune_if_pending(py)?;
        }
    }

    /// Sends the frame `head` + `body` (over `max`) in parts (see
    /// `codec.rs`). An error after the header leaves the receiver inside
    /// the frame: the next send abandons it first.
    fn send_parts(&self, py: Python<'_>, head: &[u8], body: &[u8], max: usize) -> PyResult<()> {
        let total = head.len() + body.len();
        self.send_frame(py, &codec::multi_header(total))?;
        // A quarter of the ring per part, so that the receiver copies one
        // out while the next ones go in.
        let piece = (max / 4).max(1);
        let mut buf = Vec::with_capacity(piece + 1);
        let mut pos = 0;
        while pos < total {
            let end = total.min(pos + piece);
            buf.clear();
            buf.push(codec::TAG_PART);
            if pos < head.len() {
                buf.extend_from_slice(&head[pos..end.min(head.len())]);
            }
            if end > head.len() {
                buf.extend_from_slice(&body[pos.max(head.len()) - head.len()..end - head.len()]);
            }
            if let Err(e) = self.send_frame(py, &buf) {
                self.abandon_pending.store(true, Ordering::Release);
                return Err(e);
            }
            pos = end;
        }
        Ok(())
    }

    /// If a multi-part send was cut off, tells the receiver it is
    /// abandoned, before anything else is sent.
    fn finish_abandoned(&self, py: Python<'_>) -> PyResult<()> {
        if self.abandon_pending.load(Ordering::Acquire) {
            self.send_frame(py, &[codec::TAG_ABORT])?;
            self.abandon_pending.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Whether a multi-part frame is being received (an interrupted `recv`
    /// left it; the next one goes on with it).
    fn reassembling(&self) -> bool {
        self.partial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Receives the parts of the multi-part frame in progress: the whole
    /// frame, or `None` if its sender abandoned it.
    fn recv_parts(&self, py: Python<'_>) -> PyResult<Option<Vec<u8>>> {
        loop {
            let step = self.recv_with(py, None, |b| {
                let mut partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(r) = partial.as_mut() else {
                    return Ok(Step::Abandoned);
                };
                let step = r.add(b);
                if !matches!(step, Ok(Step::More)) {
                    *partial = None;
                }
                step
            })?;
            match step {
                Step::More => {}
                Step::Done(frame) => return Ok(Some(frame)),
                Step::Abandoned => return Ok(None),
            }
        }
    }

    fn send_frame(&self, py: Python<'_>, frame: &[u8]) -> PyResult<()> {
        let mut guard = self.lock();
        let end = guard.as_ref().ok_or_else(closed)?;
        // The pipe's send finds a dead peer by itself only when the ring is
        // full; multiprocessing's raises at the first send after the reader
        // is gone. So look, at most once per peer check period (a read of
        // `/proc`).
        let now = coarse_now().as_nanos() as u64;
        if now >= self.next_peer_check.load(Ordering::Relaxed) {
            let period = ipc_queue::PEER_CHECK_PERIOD.as_nanos() as u64;
            self.next_peer_check.store(now + period, Ordering::Relaxed);
            if on_send!(end, e => e.peer_gone(), false) {
                return Err(errors::disconnected(Dir::Send));
            }
        }
        let first = on_send!(end, e => e.try_send_bytes(frame), return Err(not_writable()));
        match first {
            Ok(()) => return Ok(()),
            Err(QError::Full) => {}
            Err(e) => return Err(errors::queue(e, Dir::Send)),
        }
        // Full: wait for room with the GIL released (the mutex stays held:
        // this connection's sends are serialised anyway).
        loop {
            let r = detached(
                py,
                &mut guard,
                |end| on_send!(end, e => e.send_bytes_timeout(frame, blocking::SLICE), Err(QError::Disconnected)),
            );
            match r {
                Some(Ok(())) => return Ok(()),
                Some(Err(QError::Timeout)) => py.check_signals()?,
                Some(Err(e)) => return Err(errors::queue(e, Dir::Send)),
                None => return Err(closed()),
            }
        }
    }
}

/// Runs `f` on the handle in `slot` with the GIL released. The handles are
/// not `Sync`, so the handle is moved into the call and back out of and
/// into its slot (whose mutex the caller holds); `None` if the slot is
/// empty (closed).
fn detached<R: Send>(
    py: Python<'_>,
    slot: &mut Option<End>,
    f: impl FnOnce(&End) -> R + Send,
) -> Option<R> {
    let end = slot.take()?;
    let (end, r) = py.detach(move || {
        let r = f(&end);
        (end, r)
    });
    *slot = Some(end);
    Some(r)
}

/// The wait slice left before `deadline`, or `None` if it passed.
fn slice_until(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(blocking::SLICE),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| left.min(blocking::SLICE))
        }
    }
}

/// Waits up to `slice`, with the GIL released, until one of `queues` or
/// of the handles in `ends` is ready (a frame, or a gone peer). The
/// handles are not `Sync`, so they are moved into the wait and back, out
/// of and into their slots (whose mutexes the caller holds); a closed
/// slot (`None`) is skipped. Whether something is ready.
fn wait_any(
    py: Python<'_>,
    queues: &[&ipc_queue::Queue<u8>],
    ends: &mut [&mut Option<End>],
    slice: Duration,
) -> bool {
    let taken: Vec<Option<End>> = ends.iter_mut().map(|e| e.take()).collect();
    let (taken, ready) = py.detach(move || {
        let mut waitables: Vec<&dyn Waitable> =
            queues.iter().map(|q| *q as &dyn Waitable).collect();
        for end in taken.iter().flatten() {
            match end {
                End::Duplex(e) => waitables.push(e),
                End::Recv(e) => waitables.push(e),
                End::Send(_) => {}
            }
        }
        let ready = waitables.iter().any(|w| w.is_ready())
            || (!waitables.is_empty() && !ipc_queue::wait_timeout(&waitables, slice).is_empty());
        (taken, ready)
    });
    for (slot, end) in ends.iter_mut().zip(taken) {
        **slot = end;
    }
    ready
}

/// Waits up to `slice` for the handle in `slot` to have a frame (or a gone
/// peer), with the GIL released.
fn wait_readable(py: Python<'_>, slot: &mut Option<End>, slice: Duration) -> bool {
    wait_any(py, &[], &mut [slot], slice)
}

#[pymethods]
impl Connection {
    /// Takes end `index` (0 or 1) out of `ends` (each end goes to one
    /// connection).
    #[new]
    fn new(ends: &PipeEnds, index: usize) -> PyResult<Self> {
        let mut slots = ends.ends.lock().unwrap_or_else(PoisonError::into_inner);
        let (end, kind, side) = slots
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(|| PyValueError::new_err("that end was taken already"))?;
        let max_frame = on_send!(&end, e => e.max_frame(), 0);
        Ok(Self {
            max_frame,
            end: Mutex::new(Some(end)),
            name: ends.name.clone(),
            kind,
            side,
            next_peer_check: AtomicU64::new(0),
            handed_off: AtomicBool::new(false),
            parked: Mutex::new(None),
            notifier: Mutex::new(None),
            has_notifier: AtomicBool::new(false),
            partial: Mutex::new(None),
            abandon_pending: AtomicBool::new(false),
        })
    }

    /// Sends `obj` (pickled unless it is bytes or a plain scalar), in
    /// parts if it is bigger than the pipe's largest frame.
    /// `BrokenPipeError` if the peer is gone.
    fn send(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        self.finish_abandoned(py)?;
        let frame = codec::encode(obj)?;
        let (head, body) = frame.parts();
        if body.is_empty() {
            return self.send_frame(py, head);
        }
        let max = self.max_frame;
        if head.len() + body.len() > max && self.writable() {
            return self.send_parts(py, head, body, max);
        }
        let mut buf = Vec::with_capacity(head.len() + body.len());
        buf.extend_from_slice(head);
        buf.extend_from_slice(body);
        self.send_frame(py, &buf)
    }

    /// Receives an object. `EOFError` once the peer is gone and everything
    /// it sent has been received.
    fn recv(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        /// The first frame of a message: an object, or a multi-part header.
        enum First {
            Object(Py<PyAny>),
            Parts(usize),
        }
        loop {
            if self.reassembling() {
                match self.recv_parts(py)? {
                    Some(frame) => return codec::decode(py, &frame).map(Bound::unbind),
                    None => continue,
                }
            }
            let first = self.recv_with(py, None, |b| match codec::multi_total(b) {
                Some(total) => Ok(First::Parts(total)),
                None => codec::decode(py, b).map(|o| First::Object(o.unbind())),
            })?;
            match first {
                First::Object(o) => return Ok(o),
                First::Parts(total) => {
                    *self.partial.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Reassembly::new(total));
                }
            }
        }
    }

    /// Sends `buf[offset:offset+size]` of a bytes-like object as a raw
    /// frame (what Rust's `send_bytes` sends).
    #[pyo3(signature = (buf, offset=0, size=None))]
    fn send_bytes(
        &self,
        py: Python<'_>,
        buf: &Bound<'_, PyAny>,
        offset: isize,
        size: Option<isize>,
    ) -> PyResult<()> {
        let offset =
            usize::try_from(offset).map_err(|_| PyValueError::new_err("offset is negative"))?;
        let size = size
            .map(|s| usize::try_from(s).map_err(|_| PyValueError::new_err("size is negative")))
            .transpose()?;
        let bytes = as_bytes(buf)?;
        let all = bytes.as_bytes();
        if offset > all.len() {
            return Err(PyValueError::new_err("offset is larger than the buffer"));
        }
        let size = size.unwrap_or(all.len() - offset);
        let end = offset
            .checked_add(size)
            .filter(|&e| e <= all.len())
            .ok_or_else(|| PyValueError::new_err("buffer length < offset + size"))?;
        self.finish_abandoned(py)?;
        self.send_frame(py, &all[offset..end])
    }

    /// Receives a raw frame as bytes; `OSError` if it is longer than
    /// `maxlength` (the frame is consumed, as in `multiprocessing`).
    #[pyo3(signature = (maxlength=None))]
    fn recv_bytes<'py>(
        &self,
        py: Python<'py>,
        maxlength: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.recv_with(py, None, |b| {
            if maxlength.is_some_and(|m| b.len() > m) {
                return Err(PyOSError::new_err("bad message length"));
            }
            Ok(PyBytes::new(py, b))
        })
    }

    /// Receives a raw frame into `buffer` (a bytearray) at `offset`, in one
    /// copy; returns its length. Too small: the frame stays queued and the
    /// result is minus the room it needs (the Python class then receives
    /// it and raises `multiprocessing`'s `BufferTooShort`).
    #[pyo3(signature = (buffer, offset=0))]
    fn _recv_bytes_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyByteArray>,
        offset: usize,
    ) -> PyResult<isize> {
        let r = self.recv_into(py, buffer, offset);
        self.resync();
        r
    }

    /// Whether a message (or the news that the peer is gone) is waiting;
    /// waits up to `timeout` seconds for one (`None`: forever).
    #[pyo3(signature = (timeout=0.0))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let r = self.poll_until(py, blocking::deadline(timeout)?);
        self.resync();
        r
    }

    /// A descriptor that is readable while a `recv` would not block (a
    /// message, or a gone peer), for `selectors`, `asyncio` and the
    /// standard library's `wait`; made on the first call, with a thread
    /// that watches the pipe for it (see `notifier.rs`). `OSError` for a
    /// write-only or closed connection.
    fn _fileno(&self) -> PyResult<i32> {
        let mut slot = self.notifier.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = slot.as_ref().filter(|n| n.is_ours()) {
            return Ok(n.fd());
        }
        let readiness = {
            let guard = self.lock();
            let end = guard.as_ref().ok_or_else(closed)?;
            on_recv!(end, e => e.readiness(), return Err(not_readable()))
        };
        let n = Notifier::new(readiness)
            .map_err(|e| PyOSError::new_err(format!("cannot make a descriptor: {e}")))?;
        let fd = n.fd();
        *slot = Some(n);
        self.has_notifier.store(true, Ordering::Release);
        Ok(fd)
    }

    /// Closes this handle (see the module docs for when the peer hears of
    /// it), and the descriptor `fileno()` returned.
    fn close(&self) {
        drop(
            self.notifier
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let end = self.lock().take();
        if self.handed_off.load(Ordering::Acquire) {
            *self.parked.lock().unwrap_or_else(PoisonError::into_inner) = end;
        } else {
            drop(end);
        }
    }

    /// The process this end was handed to died before it took it up:
    /// closes the end for the peer, which then hears "gone" (as it would
    /// from `multiprocessing`, whose child's copy closes as it dies).
    fn _give_back(&self) {
        let end = self.lock().take().or_else(|| {
            self.parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        });
        match end {
            Some(End::Duplex(e)) => e.close(),
            Some(End::Send(e)) => e.close(),
            Some(End::Recv(e)) => e.close(),
            None => {}
        }
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }

    /// Whether this end can receive.
    #[getter]
    fn readable(&self) -> bool {
        self.kind != "send"
    }

    /// Whether this end can send.
    #[getter]
    fn writable(&self) -> bool {
        self.kind != "recv"
    }

    /// The pipe's name in `/dev/shm`.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// "duplex", "send" or "recv".
    #[getter]
    fn kind(&self) -> &str {
        self.kind
    }

    /// 0 for the pipe's first end, 1 for its second.
    #[getter]
    fn side(&self) -> u8 {
        self.side
    }

    /// Before this end is pickled for another process: dropping this
    /// handle will no longer close the end (that process opens it).
    fn _hand_off(&self) -> PyResult<()> {
        self.handed_off.store(true, Ordering::Release);
        let guard = self.lock();
        match guard.as_ref().ok_or_else(closed)? {
            End::Duplex(e) => e.hand_off(),
            End::Send(e) => e.hand_off(),
            End::Recv(e) => e.hand_off(),
        }
        Ok(())
    }

    /// Whether another process has taken this end up (after a hand-off).
    fn _claimed_elsewhere(&self) -> bool {
        let guard = self.lock();
        let parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref().or(parked.as_ref()) {
            None => false,
            Some(End::Duplex(e)) => e.claimed_elsewhere(),
            Some(End::Send(e)) => e.claimed_elsewhere(),
            Some(End::Recv(e)) => e.claimed_elsewhere(),
        }
    }

    /// Whether `connection.wait` reports this connection: a `recv` would
    /// not wait (a frame, a gone peer, a closed handle); for a write-only
    /// end, whether its reader is gone (as a `multiprocessing` write end's
    /// descriptor turns readable then).
    fn _ready(&self) -> bool {
        let guard = self.lock();
        match guard.as_ref() {
            None => true,
            Some(End::Send(e)) => e.peer_gone(),
            Some(end) => on_recv!(end, e => e.is_ready(), true),
        }
    }
}

/// An end not yet in a connection: the handle, its kind, its side.
type Untaken = (End, &'static str, u8);

/// The ends of a pipe, created or opened, waiting to be taken by
/// `Connection`s (`Connection(ends, i)`).
#[pyclass(module = "ipc_toolkit._native", frozen)]
pub(crate) struct PipeEnds {
    ends: Mutex<Vec<Option<Untaken>>>,
    name: String,
}

#[pymethods]
impl PipeEnds {
    /// A new pipe's two ends (for `duplex=False`, the first receives and
    /// the second sends, as in `multiprocessing`).
    #[new]
    #[pyo3(signature = (duplex=true, *, ring_bytes=None))]
    fn new(duplex: bool, ring_bytes: Option<usize>) -> PyResult<Self> {
        let name = crate::names::unique_name("p");
        let b = Pipe::<u8>::builder()
            .options(SegmentOptions::named(&name))
            .capacity(DEFAULT_CAPACITY)
            .ring_bytes(ring_bytes.unwrap_or(DEFAULT_RING_BYTES));
        let err = |e| errors::queue(e, Dir::Send);
        let ends = if duplex {
            let (a, b) = b.create().map_err(err)?;
            vec![
                Some((End::Duplex(a), "duplex", 0)),
                Some((End::Duplex(b), "duplex", 1)),
            ]
        } else {
            let (tx, rx) = b.channel().map_err(err)?;
            vec![
                Some((End::Recv(rx), "recv", 1)),
                Some((End::Send(tx), "send", 0)),
            ]
        };
        Ok(Self {
            ends: Mutex::new(ends),
            name,
        })
    }

    /// Opens one end of pipe `name` (what unpickling a `Connection` does),
    /// as end 0 of the result.
    #[staticmethod]
    fn open(name: String, kind: &str, side: u8) -> PyResult<Self> {
        let b = Pipe::<u8>::builder().options(SegmentOptions::named(&name));
        let err = |e| errors::queue(e, Dir::Recv);
        let end = match kind {
            "duplex" => {
                let s = if side == 0 { Side::A } else { Side::B };
                (End::Duplex(b.open(s).map_err(err)?), "duplex", side)
            }
            "send" => (End::Send(b.open_sender().map_err(err)?), "send", side),
            "recv" => (End::Recv(b.open_receiver().map_err(err)?), "recv", side),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown connection kind {other:?}"
                )));
            }
        };
        Ok(Self {
            ends: Mutex::new(vec![Some(end)]),
            name,
        })
    }
}

/// Waits up to `timeout` seconds (`None`: forever) until one of `objects`
/// (connections and queues) is ready; returns the indices of those ready.
/// `connection.wait` is the Python face of it.
#[pyfunction]
#[pyo3(signature = (objects, timeout=None))]
pub(crate) fn wait_ready(
    py: Python<'_>,
    objects: Vec<Bound<'_, PyAny>>,
    timeout: Option<f64>,
) -> PyResult<Vec<usize>> {
    let deadline = blocking::deadline(timeout)?;
    let mut conns: Vec<&Connection> = Vec::new();
    let mut queues: Vec<&ipc_queue::Queue<u8>> = Vec::new();
    for o in &objects {
        if let Ok(c) = o.cast::<Connection>() {
            // The same connection twice would lock its mutex twice.
            if !conns.iter().any(|k| std::ptr::eq(*k, c.get())) {
                conns.push(c.get());
            }
        } else if let Ok(q) = o.cast::<Queue>() {
            queues.push(q.get().inner());
        } else {
            return Err(PyTypeError::new_err(
                "wait() takes ipc_toolkit connections and queues",
            ));
        }
    }
    loop {
        let ready: Vec<usize> = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                if let Ok(c) = o.cast::<Connection>() {
                    c.get()._ready()
                } else {
                    o.cast::<Queue>().is_ok_and(|q| q.get().inner().is_ready())
                }
            })
            .map(|(i, _)| i)
            .collect();
        if !ready.is_empty() {
            return Ok(ready);
        }
        let Some(slice) = slice_until(deadline) else {
            return Ok(ready);
        };
        {
            let mut guards: Vec<MutexGuard<'_, Option<End>>> =
                conns.iter().map(|c| c.lock()).collect();
            let mut slots: Vec<&mut Option<End>> = guards.iter_mut().map(|g| &mut **g).collect();
            wait_any(py, &queues, &mut slots, slice);
        }
        py.check_signals()?;
        crate::handoff::prune_if_pending(py)?;
    }
}
