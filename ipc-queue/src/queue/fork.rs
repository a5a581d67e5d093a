//! The queues this process holds, told of every child `Process::spawn`
//! forks (see "Inheritors" in `raw.rs`): before the fork each records this
//! process as a stand-in, after it the child, so that no consumer finds the
//! producers gone (nor a producer the consumers) while an inherited handle
//! has yet to make its first call.
//!
//! The list holds weak references, pruned as queues go. During a fork the
//! strong references taken before it are kept in a thread-local, so no
//! queue can be dropped (and unregistered) between the two halves; the
//! child drops its copy first thing.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};

use ipc_core::process::{SpawnEvent, on_spawn};

use super::raw::RawQueue;

/// Every queue handle of this process (weak: the handles own them).
static LIVE: Mutex<Vec<Weak<RawQueue>>> = Mutex::new(Vec::new());

thread_local! {
    /// The queues that took a stand-in for the fork under way in this
    /// thread.
    static FORKING: RefCell<Vec<Arc<RawQueue>>> = const { RefCell::new(Vec::new()) };
}

/// Adds `queue` to the list told of forks (and registers the hook once).
pub(crate) fn track(queue: &Arc<RawQueue>) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| on_spawn(on_fork));
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.retain(|q| q.strong_count() > 0);
    live.push(Arc::downgrade(queue));
}

fn on_fork(event: SpawnEvent) {
    match event {
        SpawnEvent::Forking => {
            let queues: Vec<Arc<RawQueue>> = LIVE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|q| q.inheritor_forking())
                .collect();
            FORKING.with(|f| *f.borrow_mut() = queues);
        }
        SpawnEvent::Forked { child } => finish(child),
        SpawnEvent::Failed => finish(0),
        SpawnEvent::InChild => {
            // The child is no inheritor of its own handles; the parent
            // records it. Its copies of the references are released here.
            FORKING.with(|f| f.borrow_mut().clear());
        }
        _ => {}
    }
}

fn finish(child: u64) {
    let queues = FORKING.with(|f| std::mem::take(&mut *f.borrow_mut()));
    for q in queues {
        q.inheritor_forked(child);
    }
}
