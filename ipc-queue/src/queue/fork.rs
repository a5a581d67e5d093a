//! The queues this process holds, told of every child `Process::spawn`
//! forks (see "Inheritors" in `raw.rs`): before the fork each records this
//! process as a stand-in; after it, the queues the child's closure took
//! along record the child, and the others drop the stand-in. So no consumer
//! finds the producers gone (nor a producer the consumers) while a handle
//! given to a child has yet to make its first call, and children that were
//! given no handle (a pool's workers, another thread's children) count for
//! nothing.
//!
//! Which queues the closure took: `spawn` reports the fork once the parent
//! has dropped its copy of the closure, so a queue of which some `Queue`
//! handle was dropped between the two reports had handles in the closure
//! (`move || ...` of a clone). A handle another thread drops meanwhile
//! counts too: the error is on the side of waiting for a child, never of
//! missing one. The list holds weak references, pruned as queues go.
//! During a fork the strong references taken before it (and the drop
//! counts they saw) are kept in a thread-local, so no queue goes away
//! between the two halves; the child drops its copy first thing.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once, PoisonError, Weak};

use ipc_core::process::{SpawnEvent, on_spawn};

use super::raw::RawQueue;

/// Every queue handle of this process (weak: the handles own them).
static LIVE: Mutex<Vec<Weak<RawQueue>>> = Mutex::new(Vec::new());

thread_local! {
    /// The queues that took a stand-in for the fork under way in this
    /// thread, with their handle drop counts then.
    static FORKING: RefCell<Vec<(Arc<RawQueue>, u64)>> = const { RefCell::new(Vec::new()) };
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
            let queues: Vec<(Arc<RawQueue>, u64)> = LIVE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|q| q.inheritor_forking())
                .map(|q| {
                    let drops = q.handle_drops();
                    (q, drops)
                })
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

/// After the fork (`child` 0: it failed): the child stands in the queues
/// of which a handle was dropped since the fork began, the stand-in leaves
/// the others.
fn finish(child: u64) {
    let queues = FORKING.with(|f| std::mem::take(&mut *f.borrow_mut()));
    for (q, before) in queues {
        let taken = q.handle_drops() > before;
        q.inheritor_forked(if taken { child } else { 0 });
    }
}
