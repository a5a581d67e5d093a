//! Spawn hooks: how objects a parent holds learn of the children
//! [`Process::spawn`](super::Process::spawn) forks.
//!
//! A forked child inherits every mapping of its parent, so it may use any
//! object the parent holds, with no call that says so yet: a queue's
//! producer counts from its first put, and a consumer that drains the queue
//! between the fork and that put would find every producer gone. The queue
//! therefore registers a hook here, and `spawn` tells it about each fork:
//! just before it (in the parent), just after it (the child's identity, in
//! the parent, once the parent has dropped its copy of the closure and
//! before `spawn` returns), and first thing in the child. Comparing what the
//! parent held before and after that drop tells a hook which of its objects
//! the closure took along to the child.
//!
//! Hooks are plain functions, registered once per process and never
//! removed; they must be quick (they run inside `spawn`) and must not fork.

use std::sync::{Mutex, PoisonError};

/// What [`Process::spawn`](super::Process::spawn) tells a hook registered
/// with [`on_spawn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnEvent {
    /// In the parent, just before the fork.
    Forking,
    /// In the parent, after the fork and after the parent dropped its copy
    /// of the child's closure: the child's identity, packed as
    /// [`packed_current`](crate::liveness::packed_current) packs one.
    Forked {
        /// The child, as `pid << 32 | start time low bits`.
        child: u64,
    },
    /// In the parent: the fork failed (no child).
    Failed,
    /// In the child, before the closure runs.
    InChild,
}

static HOOKS: Mutex<Vec<fn(SpawnEvent)>> = Mutex::new(Vec::new());

/// Registers `hook` to be told of every [`Process::spawn`](super::Process::spawn)
/// of this process (and of its forked children, which inherit the list).
/// Registering the same function again does nothing.
///
/// ```
/// use ipc_core::process::{Process, SpawnEvent, on_spawn};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// static FORKED: AtomicU32 = AtomicU32::new(0);
/// fn count(event: SpawnEvent) {
///     if let SpawnEvent::Forked { .. } = event {
///         FORKED.fetch_add(1, Ordering::SeqCst);
///     }
/// }
/// on_spawn(count);
/// Process::spawn(|| ())?.join_ok()?;
/// assert!(FORKED.load(Ordering::SeqCst) >= 1);
/// # Ok::<(), ipc_core::Error>(())
/// ```
pub fn on_spawn(hook: fn(SpawnEvent)) {
    let mut hooks = HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
    if !hooks.iter().any(|&h| std::ptr::fn_addr_eq(h, hook)) {
        hooks.push(hook);
    }
}

/// The hooks registered now (copied, so that none is called under the lock).
pub(super) fn registered() -> Vec<fn(SpawnEvent)> {
    HOOKS.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
