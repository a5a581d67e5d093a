//! The writer side: one robust mutex in the root serialises every change to
//! the manager, in all processes.
//!
//! [`Inner::write`] takes the mutex and hands the closure a [`Writer`], the
//! context every mutating operation (allocation, dictionary and list
//! changes, reclamation) works through. If the previous holder died holding
//! the mutex, [`recovery`](crate::recovery) runs first, and the mutex is
//! marked consistent only once it succeeded; a recovery that fails (the
//! arena is damaged) leaves it flagged, so the next writer tries again and
//! every caller gets the error.

use std::sync::atomic::Ordering;

use ipc_core::sync::{LockError, RobustMutex, RobustMutexExt, RobustMutexGuard};

use crate::arena::Arena;
use crate::error::{Error, Result};
use crate::layout::Root;
use crate::manager::Inner;

/// The context of one locked write: the arena, the root, the held mutex.
pub(crate) struct Writer<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) arena: &'a Arena,
    pub(crate) root: &'a Root,
    /// Blocks retired during this write (reclamation runs when enough piled up).
    pub(crate) retired: u64,
    guard: RobustMutexGuard<'a, ()>,
    /// Cleared when the closure returned; a writer dropped while still set
    /// (a panic) asks the next writer to run recovery.
    in_progress: bool,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.in_progress {
            self.root.state.needs_recovery.store(1, Ordering::Relaxed);
        }
    }
}

impl Inner {
    /// Runs `f` holding the writer mutex (recovering first if needed).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<R>) -> Result<R> {
        let root = self.arena.root();
        let (guard, owner_died) = match root.writer.lock_robust() {
            Ok(g) => (g, false),
            Err(LockError::OwnerDied(g)) => (g, true),
            Err(e) => return Err(Error::Core(e.into())),
        };
        let mut w = Writer {
            inner: self,
            arena: &self.arena,
            root,
            retired: 0,
            guard,
            in_progress: true,
        };
        if owner_died || root.state.needs_recovery.load(Ordering::Relaxed) != 0 {
            crate::recovery::recover(&mut w)?;
            root.state.needs_recovery.store(0, Ordering::Relaxed);
            <RobustMutex<()> as RobustMutexExt<()>>::mark_consistent(&w.guard);
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
        w.in_progress = false;
        r
    }

    /// Takes the writer mutex and runs recovery if its previous owner died,
    /// without changing anything else (a consistency barrier for callers
    /// that only read).
    ///
    /// A writer that died holding the mutex is only noticed by the next
    /// locker (the kernel marks the mutex, not our flag), so this tries the
    /// lock without blocking: a live holder is left alone.
    pub(crate) fn recover_if_needed(&self) -> Result<()> {
        let root = self.arena.root();
        let owner_died = match root.writer.try_lock_robust() {
            Ok(_) | Err(LockError::WouldBlock | LockError::Timeout) => false,
            // Dropped unrepaired: the flag stays set for `write` below.
            Err(LockError::OwnerDied(_)) => true,
            Err(LockError::Corrupted(e)) => return Err(Error::Core(e)),
        };
        if owner_died || root.state.needs_recovery.load(Ordering::Relaxed) != 0 {
            self.write(|_| Ok(()))?;
        }
        Ok(())
    }
}
