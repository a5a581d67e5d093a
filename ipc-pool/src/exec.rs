//! What a task sees while it runs in a worker: the chunk ([`TaskView`]),
//! where its results go ([`Emit`]), the item loop ([`drive`]) and the capture
//! of panics in user code.
//!
//! The type-erased functions of `task.rs` are written against these types
//! only; the worker's main loop (`worker.rs`) sets them up for each chunk. So
//! the functions know nothing of the worker process, and the worker loop sits
//! above both.
//!
//! # Reporting
//!
//! Every item of a chunk is answered exactly once, in order: results are
//! packed into `RESULTS` frames, failures get `FAILED` frames of their own,
//! and [`Emit::finish`] fails whatever a malformed chunk left unanswered, so
//! the parent never waits for an item that will not come. Frames are sent on
//! the pool's result queue, waiting for room only while the parent is alive
//! ([`send`]); a failed send stops the worker.
//!
//! # Panics
//!
//! Panics in the user's function are caught per item: the item is reported
//! as failed, with the message and location captured by a panic hook (which
//! keeps them off the worker's stderr, see [`install_panic_capture`]), and
//! the loop goes on with the next item.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_queue::{Error as QueueError, Queue};
use zerocopy::{Immutable, IntoBytes};

use crate::wire::{
    self, FAILED, FIXED, ItemIter, PREFIX, PREFIXED, RESULT_HEADER, RESULTS, ResultHeader,
    TaskHeader, failure,
};

/// How often a waiting worker checks that its parent is still there.
pub(crate) const PARENT_CHECK: Duration = Duration::from_millis(200);

/// A chunk as the worker sees it: its header and its items' bytes, read in
/// place in the task queue's slot.
pub(crate) struct TaskView<'a> {
    pub header: TaskHeader,
    pub payload: &'a [u8],
}

impl<'t> TaskView<'t> {
    fn items(&self) -> ItemIter<'t> {
        ItemIter::new(
            self.header.encoding,
            self.header.stride as usize,
            self.header.count as usize,
            self.payload,
        )
    }
}

/// Whether the parent is gone (the worker was re-parented).
pub(crate) fn parent_gone(parent: u32) -> bool {
    std::os::unix::process::parent_id() != parent
}

/// Sends a frame, waiting for room as long as the parent is alive.
pub(crate) fn send(results: &Queue<ResultHeader>, frame: &[u8], parent: u32) -> bool {
    loop {
        match results.put_bytes_timeout(frame, PARENT_CHECK) {
            Ok(()) => return true,
            Err(QueueError::Timeout | QueueError::Full) if !parent_gone(parent) => {}
            Err(_) => return false,
        }
    }
}

/// Runs `step` on every item of `task`, decoded by `decode`. A panic fails
/// the item it happened in and the loop resumes with the next one; a
/// malformed item stops the loop (the rest fail in [`Emit::finish`]).
pub(crate) fn drive<'t, A>(
    task: &TaskView<'t>,
    out: &mut Emit<'_>,
    decode: impl Fn(&'t [u8]) -> Option<A>,
    step: impl FnMut(A, &mut Emit<'_>),
) {
    let h = &task.header;
    let stride = h.stride as usize;
    let count = h.count as usize;
    let fixed_len = stride.checked_mul(count);
    match h.encoding {
        // Fixed-size items get a loop without per-item framing checks (the
        // payload's length is checked once), which matters for small ones.
        FIXED if stride > 0 && fixed_len == Some(task.payload.len()) => {
            let items = task.payload.chunks_exact(stride).map(Some);
            run_items(items, out, decode, step);
        }
        FIXED if stride == 0 && task.payload.is_empty() => {
            let items = std::iter::repeat_n(Some(&task.payload[..0]), count);
            run_items(items, out, decode, step);
        }
        _ => run_items(task.items(), out, decode, step),
    }
}

fn run_items<'t, A>(
    mut items: impl Iterator<Item = Option<&'t [u8]>>,
    out: &mut Emit<'_>,
    decode: impl Fn(&'t [u8]) -> Option<A>,
    mut step: impl FnMut(A, &mut Emit<'_>),
) {
    loop {
        // One catch_unwind per run of items, not per item: the happy path
        // pays for it once per chunk.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            for item in items.by_ref() {
                match item.and_then(&decode) {
                    Some(arg) => {
                        out.note_running();
                        step(arg, out)
                    }
                    None => return,
                }
            }
        }));
        match outcome {
            Ok(()) => return,
            Err(payload) => {
                let (message, location) = panic_text(payload);
                out.fail(1, failure::PANICKED, &message, location.as_deref());
            }
        }
    }
}

/// Collects a chunk's results into frames and sends them.
///
/// Results accumulate in one frame until it is full; a failure flushes them
/// and sends its own frame. `finish` makes sure every item of the chunk was
/// reported, so the parent never waits for an item that will not come.
pub(crate) struct Emit<'a> {
    results: &'a Queue<ResultHeader>,
    parent: u32,
    pid: u32,
    max_frame: usize,
    buf: &'a mut Vec<u8>,
    chunk: u64,
    /// Job index of the first item in `buf`.
    first: u64,
    /// Items in `buf`.
    count: u32,
    /// Job index after the chunk's last item.
    end: u64,
    encoding: u32,
    stride: u32,
    /// Sending failed (parent gone, queue broken): the worker stops.
    broken: bool,
    /// The worker's record of the item it runs (see `wire::RunRecord`).
    running: &'a AtomicU64,
}

impl<'a> Emit<'a> {
    /// An emitter for the chunk `task`, sending frames of at most
    /// `max_frame` bytes (built in `buf`) to `results` while `parent` lives.
    pub(crate) fn new(
        results: &'a Queue<ResultHeader>,
        parent: u32,
        max_frame: usize,
        buf: &'a mut Vec<u8>,
        task: &TaskHeader,
        running: &'a AtomicU64,
    ) -> Self {
        buf.clear();
        buf.resize(RESULT_HEADER, 0);
        Self {
            results,
            parent,
            pid: std::process::id(),
            max_frame,
            buf,
            chunk: task.chunk,
            first: task.first,
            count: 0,
            end: task.first + u64::from(task.count),
            encoding: FIXED,
            stride: 0,
            broken: false,
            running,
        }
    }

    /// Records that the next item is about to run, for the parent to blame
    /// it alone if the worker dies now. One relaxed store to a line nobody
    /// else touches while the worker lives.
    #[inline]
    fn note_running(&self) {
        self.running.store(self.position(), Ordering::Relaxed);
    }

    /// How results are laid out: `FIXED` with `stride` bytes each, or
    /// `PREFIXED`.
    pub fn set_encoding(&mut self, encoding: u32, stride: usize) {
        self.encoding = encoding;
        self.stride = stride as u32;
    }

    fn position(&self) -> u64 {
        self.first + u64::from(self.count)
    }

    /// Adds the next item's result.
    #[inline]
    pub fn push(&mut self, result: &[u8]) {
        // The common case, kept small enough to inline into the item loop.
        if self.encoding == FIXED
            && self.buf.len() + result.len() <= self.max_frame
            && self.position() < self.end
            && !self.broken
        {
            self.buf.extend_from_slice(result);
            self.count += 1;
            return;
        }
        self.push_slow(result);
    }

    /// Adds the next item's outcome: its result, or (the task returned an
    /// `Err`) its failure with the error's text.
    #[inline]
    pub fn push_outcome<R: IntoBytes + Immutable>(&mut self, outcome: Result<R, String>) {
        match outcome {
            Ok(result) => self.push(result.as_bytes()),
            Err(message) => self.fail(1, failure::RETURNED_ERROR, &message, None),
        }
    }

    #[cold]
    fn push_slow(&mut self, result: &[u8]) {
        if self.broken || self.position() >= self.end {
            return;
        }
        let need = match self.encoding {
            PREFIXED => PREFIX + result.len(),
            _ => result.len(),
        };
        if RESULT_HEADER + need > self.max_frame {
            let max = self.max_frame - RESULT_HEADER - PREFIX;
            let message = format!("{}/{max}", result.len());
            self.fail(1, failure::TOO_LARGE, &message, None);
            return;
        }
        if self.buf.len() + need > self.max_frame {
            self.flush();
        }
        match self.encoding {
            PREFIXED => wire::push_prefixed(self.buf, result),
            _ => self.buf.extend_from_slice(result),
        }
        self.count += 1;
    }

    /// Sends the results gathered so far.
    fn flush(&mut self) {
        if self.count == 0 || self.broken {
            return;
        }
        let header = ResultHeader {
            kind: RESULTS,
            pid: self.pid,
            chunk: self.chunk,
            first: self.first,
            count: self.count,
            encoding: self.encoding,
            stride: self.stride,
            failure: 0,
        };
        self.buf[..RESULT_HEADER].copy_from_slice(header.as_bytes());
        self.broken = !send(self.results, self.buf, self.parent);
        self.first += u64::from(self.count);
        self.count = 0;
        self.buf.truncate(RESULT_HEADER);
    }

    /// Reports the next `n` items as failed.
    pub fn fail(&mut self, n: u64, code: u32, message: &str, location: Option<&str>) {
        self.flush();
        let n = n.min(self.end.saturating_sub(self.first));
        if n == 0 || self.broken {
            return;
        }
        let header = ResultHeader {
            kind: FAILED,
            pid: self.pid,
            chunk: self.chunk,
            first: self.first,
            count: n as u32,
            encoding: PREFIXED,
            stride: 0,
            failure: code,
        };
        let mut frame = Vec::with_capacity(RESULT_HEADER + PREFIX + message.len());
        frame.extend_from_slice(header.as_bytes());
        wire::encode_failure(
            &mut frame,
            message,
            location,
            self.max_frame - RESULT_HEADER,
        );
        self.broken = !send(self.results, &frame, self.parent);
        self.first += n;
    }

    /// Fails every item not yet reported.
    pub fn fail_rest(&mut self, code: u32, message: &str) {
        self.flush();
        let left = self.end.saturating_sub(self.first);
        self.fail(left, code, message, None);
    }

    /// Flushes, fails whatever was not reported (a malformed chunk), and says
    /// whether the worker can go on.
    pub(crate) fn finish(mut self) -> bool {
        self.flush();
        if self.first < self.end {
            self.fail_rest(failure::BAD_INPUT, "the task's arguments are malformed");
        }
        !self.broken
    }
}

thread_local! {
    /// Set while user code runs: the hook captures instead of printing.
    pub(crate) static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last captured panic's message and location.
    static CAPTURED: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Replaces the panic hook (in the worker only): panics in user code are
/// captured for the error report; any other panic is printed as before.
pub(crate) fn install_panic_capture() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if CAPTURING.get() {
            let message = payload_text(info.payload());
            let location = info.location().map(|l| l.to_string());
            CAPTURED.set(Some((message, location)));
        } else {
            previous(info);
        }
    }));
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The message and location of a caught panic.
pub(crate) fn panic_text(payload: Box<dyn Any + Send>) -> (String, Option<String>) {
    let captured = CAPTURED.take();
    let text = match captured {
        Some(captured) => captured,
        None => (payload_text(&*payload), None),
    };
    // Not dropped: a payload whose destructor panics would unwind out of the
    // worker loop. It is small, and panics are rare.
    std::mem::forget(payload);
    text
}
