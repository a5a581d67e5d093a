//! The worker process: run the initializer, then take chunks from its own
//! task queue, run them, and send results back, until the queue is closed,
//! its task budget is spent, or the parent is gone.
//!
//! Before running a chunk the worker records the chunk's id in a shared word
//! (`WorkerSetup::record`); if the worker dies, the parent reads it to tell
//! the chunk that was running (charged with the death) from those merely
//! queued behind it (re-dispatched as they are).
//!
//! Panics in the user's function are caught per item: the worker reports the
//! item as failed, with the message and location captured by a panic hook
//! (which keeps them off the worker's stderr), and goes on with the next item.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_core::segment::Shared;
use ipc_queue::{Error as QueueError, Queue};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::task::{InitFn, TaskFn};
use crate::wire::{
    self, FAILED, FIXED, INIT_FAILED, ItemIter, PREFIX, PREFIXED, READY, RESULT_HEADER, RESULTS,
    ResultHeader, TaskHeader, failure,
};

/// How often a waiting worker checks that its parent is still there.
const PARENT_CHECK: Duration = Duration::from_millis(200);

/// Everything a worker needs, moved into its closure before the fork.
pub(crate) struct WorkerSetup {
    pub tasks: Queue<TaskHeader>,
    pub results: Queue<ResultHeader>,
    pub record: Shared<AtomicU64>,
    pub table: BTreeMap<u64, Box<dyn TaskFn>>,
    pub initializer: Option<Box<dyn InitFn>>,
    pub max_tasks: Option<u64>,
    pub parent: u32,
    pub max_frame: usize,
}

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

/// The worker's main loop; returning ends the process (exit code 0).
pub(crate) fn run(setup: WorkerSetup) {
    install_panic_capture();
    let me = std::process::id();
    let mut buf = Vec::with_capacity(setup.max_frame);
    if let Some(init) = &setup.initializer {
        CAPTURING.set(true);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| init.call()));
        CAPTURING.set(false);
        if let Err(payload) = outcome {
            let (message, location) = panic_text(payload);
            let header = ResultHeader {
                kind: INIT_FAILED,
                pid: me,
                ..zeroed_result()
            };
            buf.clear();
            buf.extend_from_slice(header.as_bytes());
            let room = setup.max_frame - RESULT_HEADER;
            wire::encode_failure(&mut buf, &message, location.as_deref(), room);
            send(&setup.results, &buf, setup.parent);
            return;
        }
    }
    let ready = ResultHeader {
        kind: READY,
        pid: me,
        ..zeroed_result()
    };
    if !send(&setup.results, ready.as_bytes(), setup.parent) {
        return;
    }
    let mut done = 0u64;
    loop {
        let guard = match setup.tasks.recv_guard_timeout(PARENT_CHECK) {
            Ok(guard) => guard,
            Err(QueueError::Timeout | QueueError::Empty) => {
                if parent_gone(setup.parent) {
                    return;
                }
                continue;
            }
            // Closed by the pool (close/join, retirement), or a queue error:
            // either way there is nothing more to do.
            Err(_) => return,
        };
        let frame = guard.bytes();
        let Ok((header, payload)) = TaskHeader::read_from_prefix(frame) else {
            // Not a task: the pool never sends one, so this queue's memory
            // was damaged. Exiting lets the parent re-dispatch what it sent.
            return;
        };
        setup.record.store(header.chunk, Ordering::SeqCst);
        let task = TaskView { header, payload };
        let mut out = Emit::new(&setup, &mut buf, &header);
        match setup.table.get(&header.func) {
            Some(f) => {
                CAPTURING.set(true);
                f.run(&task, &mut out);
                CAPTURING.set(false);
            }
            None => out.fail_rest(
                failure::UNKNOWN_FUNCTION,
                "the worker does not know this function",
            ),
        }
        let ok = out.finish();
        drop(guard);
        if !ok {
            return;
        }
        done += 1;
        if setup.max_tasks.is_some_and(|max| done >= max) {
            return;
        }
    }
}

fn zeroed_result() -> ResultHeader {
    ResultHeader::new_zeroed()
}

fn parent_gone(parent: u32) -> bool {
    std::os::unix::process::parent_id() != parent
}

/// Sends a frame, waiting for room as long as the parent is alive.
fn send(results: &Queue<ResultHeader>, frame: &[u8], parent: u32) -> bool {
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
                    Some(arg) => step(arg, out),
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
}

impl<'a> Emit<'a> {
    fn new(setup: &'a WorkerSetup, buf: &'a mut Vec<u8>, task: &TaskHeader) -> Self {
        buf.clear();
        buf.resize(RESULT_HEADER, 0);
        Self {
            results: &setup.results,
            parent: setup.parent,
            pid: std::process::id(),
            max_frame: setup.max_frame,
            buf,
            chunk: task.chunk,
            first: task.first,
            count: 0,
            end: task.first + u64::from(task.count),
            encoding: FIXED,
            stride: 0,
            broken: false,
        }
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
    fn finish(mut self) -> bool {
        self.flush();
        if self.first < self.end {
            self.fail_rest(failure::BAD_INPUT, "the task's arguments are malformed");
        }
        !self.broken
    }
}

thread_local! {
    /// Set while user code runs: the hook captures instead of printing.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last captured panic's message and location.
    static CAPTURED: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Replaces the panic hook (in the worker only): panics in user code are
/// captured for the error report; any other panic is printed as before.
fn install_panic_capture() {
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
fn panic_text(payload: Box<dyn Any + Send>) -> (String, Option<String>) {
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
