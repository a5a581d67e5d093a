//! The worker process: run the initializer, then take chunks from its own
//! task queue, run them, and send results back, until the queue is closed,
//! its task budget is spent, or the parent is gone.
//!
//! While running a chunk the worker records the chunk's id and the item it
//! is on in shared words (`WorkerSetup::record`, a `RunRecord`); if the
//! worker dies, the parent reads them to tell the item that was running
//! (charged with the death) from the rest (re-dispatched as they are).
//!
//! This file is the child's main loop only. What a running task sees (the
//! chunk, the result frames, the per-item panic capture that keeps panics off
//! the worker's stderr) is in `exec.rs`, below the functions of `task.rs`
//! that use it; the loop here sits above both.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use ipc_core::segment::Shared;
use ipc_queue::{Error as QueueError, Queue};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::exec::{
    CAPTURING, Emit, PARENT_CHECK, TaskView, install_panic_capture, panic_text, parent_gone, send,
};
use crate::task::{InitFn, TaskFn};
use crate::wire::{
    self, INIT_FAILED, READY, RECORD_CHUNK, RECORD_ITEM, RESULT_HEADER, ResultHeader, RunRecord,
    TaskHeader, failure,
};

/// Everything a worker needs, moved into its closure before the fork.
pub(crate) struct WorkerSetup {
    pub tasks: Queue<TaskHeader>,
    pub results: Queue<ResultHeader>,
    pub record: Shared<RunRecord>,
    pub table: BTreeMap<u64, Box<dyn TaskFn>>,
    pub initializer: Option<Box<dyn InitFn>>,
    pub max_tasks: Option<u64>,
    pub parent: u32,
    pub max_frame: usize,
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
        setup.record[RECORD_ITEM].store(header.first, Ordering::Relaxed);
        setup.record[RECORD_CHUNK].store(header.chunk, Ordering::Relaxed);
        let task = TaskView { header, payload };
        let mut out = Emit::new(
            &setup.results,
            setup.parent,
            setup.max_frame,
            &mut buf,
            &header,
            &setup.record[RECORD_ITEM],
        );
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
