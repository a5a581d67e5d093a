//! Writes as transactions: take the writer mutex, recover first if its
//! previous holder died (or asked for it), run the write, reclaim.
//!
//! If the previous holder died holding the mutex, [`recovery`] runs first,
//! and the mutex is marked consistent only once it succeeded; a recovery that
//! fails (the arena is damaged) leaves it flagged, so the next writer tries
//! again and every caller gets the error. This is the one place that ties
//! the writer to recovery: recovery works through a [`Writer`] like any
//! write, and nothing below calls back up here.

use std::sync::atomic::Ordering;

use ipc_core::sync::{LockError, RobustMutexExt};
use ipc_core::wait::Deadline;

use crate::error::{Error, Result, corrupted};
use crate::storage::inner::Inner;
use crate::storage::recovery;
use crate::storage::table;
use crate::storage::writer::Writer;

/// Runs `f` holding the writer mutex (recovering first if needed). Waits
/// for the mutex at most the handle's write timeout, then fails with
/// `Timeout` (a writer stopped or wedged while holding it).
pub(crate) fn write<R>(inner: &Inner, f: impl FnOnce(&mut Writer<'_>) -> Result<R>) -> Result<R> {
    let root = inner.arena.root();
    let deadline = inner
        .write_timeout()
        .map_or(Deadline::Forever, Deadline::after);
    let (guard, owner_died) = match root.writer.lock_robust_deadline(deadline) {
        Ok(g) => (g, false),
        Err(LockError::OwnerDied(g)) => (g, true),
        Err(e) => return Err(Error::Core(e.into())),
    };
    let mut w = Writer::new(inner, guard);
    if owner_died || root.state.needs_recovery.load(Ordering::Relaxed) != 0 {
        ipc_core::trace_event!(
            warn,
            owner_died,
            "a manager writer died or failed mid-write; recovering"
        );
        recovery::recover(&mut w)?;
        root.state.needs_recovery.store(0, Ordering::Relaxed);
        w.mark_consistent();
    }
    let r = f(&mut w);
    if let Err(e) = &r
        && e.is_corruption()
    {
        // Whatever the failed step had in hand is recovered (or the
        // damage reported again) by the next writer.
        root.state.needs_recovery.store(1, Ordering::Relaxed);
    }
    if r.is_ok() || w.retired > 0 {
        // Reclamation failing must not turn a completed write into an
        // error: the write is published; the garbage waits for later.
        let _ = w.maybe_reclaim();
    }
    w.finish();
    r
}

/// Takes the writer mutex and runs recovery if its previous owner died,
/// without changing anything else (a consistency barrier for callers that
/// only read).
///
/// A writer that died holding the mutex is only noticed by the next locker
/// (the kernel marks the mutex, not our flag), so this tries the lock
/// without blocking: a live holder is left alone.
pub(crate) fn recover_if_needed(inner: &Inner) -> Result<()> {
    let root = inner.arena.root();
    let owner_died = match root.writer.try_lock_robust() {
        Ok(_) | Err(LockError::WouldBlock | LockError::Timeout) => false,
        // Dropped unrepaired: the flag stays set for `write` below.
        Err(LockError::OwnerDied(_)) => true,
        Err(LockError::Corrupted(e)) => return Err(Error::Core(e)),
    };
    if owner_died || root.state.needs_recovery.load(Ordering::Relaxed) != 0 {
        write(inner, |_| Ok(()))?;
    }
    Ok(())
}

/// A consistent copy of the live entries of `d` (the caller is pinned):
/// lock-free if writers let it, else taken under the writer lock. Runs
/// recovery first if a writer died (its seqlock version would stay odd).
pub(crate) fn consistent_snapshot(inner: &Inner, d: u64) -> Result<Vec<u64>> {
    recover_if_needed(inner)?;
    if let Some(s) = table::snapshot(&inner.arena, d, 64)? {
        return Ok(s);
    }
    write(inner, |w| {
        table::snapshot(w.arena, d, 1)?
            .ok_or_else(|| corrupted("dictionary version odd under the writer lock".to_owned()))
    })
}
