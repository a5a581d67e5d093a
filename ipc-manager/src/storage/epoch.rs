//! Epoch-based reclamation across processes: readers never lock, and memory
//! a reader may still be looking at is never reused.
//!
//! # Readers
//!
//! Each reading thread owns a [`ReaderSlot`] in the root, claimed by CAS on
//! first use (per thread, per manager handle set) and remembered in a
//! thread-local. To read, a thread *pins*: it copies the global epoch into
//! its slot and issues a SeqCst fence; then it follows published refs and
//! copies what it needs; then it *unpins* (stores 0). Pins nest (a guard
//! and a `get` on the same thread share one pin). Readers write nothing but
//! their own slot, a cache line nobody else writes, so they never contend.
//!
//! # Writers
//!
//! A writer (holding the writer mutex) that unlinks a block, by publishing a
//! new entry, a tombstone or a new table, *retires* it into the open limbo
//! [`Bag`](crate::storage::layout::Bag). Reclamation seals the open bag with tag `E + 1`, where `E` is the
//! global epoch, advances the global epoch to `E + 1`, fences, and reads
//! every slot. A sealed bag is freed once every pinned slot holds an epoch
//! `>=` its tag:
//!
//! - a reader that pinned at `>= E + 1` loaded the epoch after the advance,
//!   which the writer made after unlinking, so it cannot reach the blocks;
//! - a reader that pinned at `<= E` and is still pinned shows up in the scan
//!   (the two SeqCst fences order its slot store before the scan, or the
//!   unlink before its reads), and holds the bag back.
//!
//! Writers never wait for readers: garbage just stays in limbo longer. A
//! reader slot whose process died (SIGKILL while pinned) would hold
//! reclamation back forever, so when limbo grows large the writer checks
//! the owners of the slots in the way (their packed identity, pid and start
//! time in one word, see [`packed_is_alive`](ipc_core::liveness::packed_is_alive))
//! and frees the slots of dead ones. Slots are also
//! given back by thread exit, by dropping the last handle, and reclaimed
//! from dead processes when a new reader finds none free.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use ipc_core::liveness::fork_generation;

use crate::error::{Error, Result};
use crate::storage::inner::Inner;
use crate::storage::layout::{READER_SLOTS, ReaderSlot};

/// This thread's claim on a reader slot of one manager handle set.
struct LocalSlot {
    /// [`Inner::id`] of the handle set.
    id: u64,
    /// [`fork_generation`] when claimed: a forked child must not use (or
    /// give back) its parent's slots.
    generation: u64,
    slot: usize,
    owner: Weak<Inner>,
}

impl Drop for LocalSlot {
    fn drop(&mut self) {
        if self.generation == fork_generation()
            && let Some(inner) = self.owner.upgrade()
        {
            inner.release_slot(self.slot);
        }
    }
}

thread_local! {
    /// Every slot this thread claimed (given back when the thread exits).
    static SLOTS: RefCell<Vec<LocalSlot>> = const { RefCell::new(Vec::new()) };
    /// `(id, generation, slot)` of the last handle set pinned: the fast path.
    static LAST: Cell<(u64, u64, usize)> = const { Cell::new((0, u64::MAX, 0)) };
}

/// A pinned reader: while it lives, no block reachable when it was taken is
/// freed. Not `Send`: the pin belongs to the thread's slot.
///
/// Pins nest: a pin taken while the thread's slot is already pinned leaves
/// the slot alone, and only the outermost one unpins.
pub(crate) struct Pin<'a> {
    slot: &'a ReaderSlot,
    nested: bool,
    generation: u64,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for Pin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pin").field("nested", &self.nested).finish()
    }
}

/// Stores the pinned epoch and orders it before every later load (the
/// SeqCst fence of the protocol). On x86-64 a locked `xchg` is that fence
/// (as crossbeam-epoch does it), at a fraction of an `mfence`'s cost.
#[inline(always)]
fn publish_pin(slot: &ReaderSlot, epoch: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        slot.epoch.swap(epoch, Ordering::SeqCst);
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        slot.epoch.store(epoch, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
}

/// Pins the calling thread for reading `inner`.
#[inline]
pub(crate) fn pin(inner: &Arc<Inner>) -> Result<Pin<'_>> {
    let generation = fork_generation();
    let slot = match LAST.try_with(Cell::get) {
        Ok((id, g, s)) if id == inner.id && g == generation => s,
        _ => thread_slot(inner, generation)?,
    };
    let root = inner.arena.root();
    let rs = &root.slots[slot.min(READER_SLOTS - 1)];
    let nested = rs.epoch.load(Ordering::Relaxed) != 0;
    if !nested {
        publish_pin(rs, root.epoch.epoch.load(Ordering::Acquire));
    }
    Ok(Pin {
        slot: rs,
        nested,
        generation,
        _not_send: PhantomData,
    })
}

/// The calling thread's slot for `inner`, claimed on first use.
#[cold]
fn thread_slot(inner: &Arc<Inner>, generation: u64) -> Result<usize> {
    let r = SLOTS.try_with(|slots| {
        let mut slots = slots.try_borrow_mut().map_err(|_| Error::TooManyReaders)?;
        if let Some(l) = slots
            .iter()
            .find(|l| l.id == inner.id && l.generation == generation)
        {
            return Ok(l.slot);
        }
        // Forget slots of an earlier fork generation (the parent's) and of
        // handle sets dropped since.
        slots.retain(|l| l.generation == generation && l.owner.strong_count() > 0);
        let slot = inner.claim_slot()?;
        slots.push(LocalSlot {
            id: inner.id,
            generation,
            slot,
            owner: Arc::downgrade(inner),
        });
        Ok(slot)
    });
    match r {
        Ok(Ok(slot)) => {
            let _ = LAST.try_with(|l| l.set((inner.id, generation, slot)));
            Ok(slot)
        }
        Ok(Err(e)) => Err(e),
        // Thread-local storage is being torn down (a handle used from a
        // thread-local destructor): no slot to be had.
        Err(_) => Err(Error::TooManyReaders),
    }
}

impl Drop for Pin<'_> {
    #[inline]
    fn drop(&mut self) {
        // A pin carried into a forked child belongs to the parent's slot.
        if !self.nested && self.generation == fork_generation() {
            self.slot.epoch.store(0, Ordering::Release);
        }
    }
}
