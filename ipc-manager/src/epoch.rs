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
//! [`Bag`](crate::layout::Bag). Reclamation seals the open bag with tag `E + 1`, where `E` is the
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
//! the owners of the slots in the way (pid plus start time, see
//! [`ProcessIdentity`]) and frees the slots of dead ones. Slots are also
//! given back by thread exit, by dropping the last handle, and reclaimed
//! from dead processes when a new reader finds none free.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::atomic::{Ordering, fence};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ipc_core::liveness::ProcessIdentity;

use crate::arena::corrupted;
use crate::error::{Error, Result};
use crate::layout::{FLAG_FREE, NBAGS, READER_SLOTS, ReaderSlot, Root};
use crate::manager::Inner;
use crate::writer::Writer;
use ipc_core::liveness::fork_generation;

/// A slot's claim word: generation in the high half, owner pid in the low.
const PID_MASK: u64 = 0xFFFF_FFFF;
/// The pid part of a slot being cleaned up after its dead owner.
const CLEANING: u64 = 0xFFFF_FFFF;

/// Seal and try to free limbo once this many blocks are retired...
const RECLAIM_BLOCKS: u64 = 64;
/// ... or this many bytes.
const RECLAIM_BYTES: u64 = 256 * 1024;
/// Look for dead readers once limbo holds this much...
const STUCK_BYTES: u64 = 1 << 20;
/// ... at most this often.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(50);

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

/// The identity of this process, computed once per fork generation.
fn me() -> ProcessIdentity {
    use std::sync::Mutex;
    static ME: Mutex<Option<(u64, ProcessIdentity)>> = Mutex::new(None);
    let generation = fork_generation();
    let mut me = ME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match *me {
        Some((g, id)) if g == generation => id,
        _ => {
            let id = ProcessIdentity::current();
            *me = Some((generation, id));
            id
        }
    }
}

/// Whether the process owning `slot` is certainly gone.
fn owner_is_dead(slot: &ReaderSlot) -> bool {
    let claim = slot.claim.load(Ordering::Acquire);
    let pid = claim & PID_MASK;
    if pid == 0 || pid == CLEANING {
        return false;
    }
    let owner = ProcessIdentity {
        pid: pid as u32,
        _pad: 0,
        start_time: slot.start_time.load(Ordering::Acquire),
    };
    // A claim whose start time is not written yet is checked by pid only,
    // which can only err towards "alive".
    !owner.is_alive() && slot.claim.load(Ordering::Acquire) == claim
}

/// Frees `slot` if its claim is still `claim` and its owner is dead. Only the
/// CAS winner touches the slot's epoch, so a slot claimed again in between
/// is never disturbed.
fn clean_dead(slot: &ReaderSlot, claim: u64) -> bool {
    let cleaning = (claim & !PID_MASK) | CLEANING;
    if slot
        .claim
        .compare_exchange(claim, cleaning, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    slot.epoch.store(0, Ordering::Release);
    slot.start_time.store(0, Ordering::Relaxed);
    slot.nonce.store(0, Ordering::Relaxed);
    let next_generation = ((claim >> 32) + 1) << 32;
    slot.claim.store(next_generation, Ordering::Release);
    true
}

impl Inner {
    /// Claims a free reader slot for the calling thread.
    fn claim_slot(&self) -> Result<usize> {
        let root = self.arena.root();
        let me = me();
        for attempt in 0..2 {
            for (i, slot) in root.slots.iter().enumerate() {
                let claim = slot.claim.load(Ordering::Acquire);
                if claim & PID_MASK != 0 {
                    continue;
                }
                let mine = (claim & !PID_MASK) | u64::from(me.pid);
                if slot
                    .claim
                    .compare_exchange(claim, mine, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    slot.epoch.store(0, Ordering::Relaxed);
                    slot.nonce.store(self.id, Ordering::Relaxed);
                    slot.start_time.store(me.start_time, Ordering::Release);
                    root.state.slot_hw.fetch_max(i as u64 + 1, Ordering::AcqRel);
                    return Ok(i);
                }
            }
            if attempt == 0 {
                self.clean_dead_slots(|_| true);
            }
        }
        Err(Error::TooManyReaders)
    }

    /// Gives a slot back (thread exit, last handle dropped).
    pub(crate) fn release_slot(&self, i: usize) {
        let root = self.arena.root();
        let Some(slot) = root.slots.get(i) else {
            return;
        };
        let claim = slot.claim.load(Ordering::Acquire);
        if claim & PID_MASK != u64::from(std::process::id())
            || slot.nonce.load(Ordering::Relaxed) != self.id
        {
            return;
        }
        slot.epoch.store(0, Ordering::Release);
        slot.start_time.store(0, Ordering::Relaxed);
        slot.nonce.store(0, Ordering::Relaxed);
        slot.claim
            .store(((claim >> 32) + 1) << 32, Ordering::Release);
    }

    /// Gives back every slot this handle set claimed in this process.
    pub(crate) fn release_all_slots(&self) {
        let root = self.arena.root();
        let hw = root
            .state
            .slot_hw
            .load(Ordering::Acquire)
            .min(READER_SLOTS as u64);
        for i in 0..hw as usize {
            self.release_slot(i);
        }
    }

    /// Frees the slots of dead processes among those `which` selects.
    /// Returns how many were freed.
    pub(crate) fn clean_dead_slots(&self, which: impl Fn(&ReaderSlot) -> bool) -> usize {
        let root = self.arena.root();
        let hw = root
            .state
            .slot_hw
            .load(Ordering::Acquire)
            .min(READER_SLOTS as u64);
        let mut freed = 0;
        for slot in &root.slots[..hw as usize] {
            let claim = slot.claim.load(Ordering::Acquire);
            if which(slot) && owner_is_dead(slot) && clean_dead(slot, claim) {
                freed += 1;
            }
        }
        freed
    }
}

/// The smallest epoch any reader is pinned at (`u64::MAX` if none).
fn min_pinned(root: &Root) -> u64 {
    fence(Ordering::SeqCst);
    let hw = root
        .state
        .slot_hw
        .load(Ordering::Acquire)
        .min(READER_SLOTS as u64);
    root.slots[..hw as usize]
        .iter()
        .map(|s| s.epoch.load(Ordering::Acquire))
        .filter(|&e| e != 0)
        .min()
        .unwrap_or(u64::MAX)
}

impl Writer<'_> {
    /// Moves a block that was just unlinked into limbo.
    pub(crate) fn retire(&mut self, b: u64) -> Result<()> {
        let (size, flags) = self.block(b)?;
        if flags & FLAG_FREE != 0 {
            return Err(corrupted(format!("retiring free block {b:#x}")));
        }
        let open = self.open_bag();
        let bag = &self.root.bags[open];
        self.arena
            .word(b, 8)?
            .store(bag.head.load(Ordering::Relaxed), Ordering::Relaxed);
        bag.head.store(b, Ordering::Release);
        bag.count.fetch_add(1, Ordering::Relaxed);
        bag.bytes.fetch_add(size, Ordering::Relaxed);
        self.retired += 1;
        Ok(())
    }

    fn open_bag(&self) -> usize {
        (self.root.state.open_bag.load(Ordering::Relaxed) as usize).min(NBAGS - 1)
    }

    /// Reclaims if enough garbage piled up in the open bag.
    pub(crate) fn maybe_reclaim(&mut self) -> Result<()> {
        let bag = &self.root.bags[self.open_bag()];
        if bag.count.load(Ordering::Relaxed) >= RECLAIM_BLOCKS
            || bag.bytes.load(Ordering::Relaxed) >= RECLAIM_BYTES
        {
            self.reclaim()?;
        }
        Ok(())
    }

    /// Seals the open bag, advances the epoch, and frees every sealed bag
    /// no pinned reader can still see. Returns the bytes freed.
    pub(crate) fn reclaim(&mut self) -> Result<u64> {
        self.reclaim_with(false)
    }

    /// [`reclaim`](Self::reclaim); with `force`, also looks for dead readers
    /// holding limbo back whatever its size and however recently it looked.
    pub(crate) fn reclaim_with(&mut self, force: bool) -> Result<u64> {
        let root = self.root;
        let open = self.open_bag();
        let epoch = root.epoch.epoch.load(Ordering::Relaxed);
        if root.bags[open].head.load(Ordering::Relaxed) != 0
            && let Some(next) = (0..NBAGS).find(|&i| {
                i != open
                    && root.bags[i].tag.load(Ordering::Relaxed) == 0
                    && root.bags[i].head.load(Ordering::Relaxed) == 0
            })
        {
            root.bags[open]
                .tag
                .store(epoch.wrapping_add(1), Ordering::Relaxed);
            root.state.open_bag.store(next as u64, Ordering::Relaxed);
        }
        if (0..NBAGS).all(|i| root.bags[i].tag.load(Ordering::Relaxed) == 0) {
            return Ok(0);
        }
        root.epoch
            .epoch
            .store(epoch.wrapping_add(1), Ordering::SeqCst);
        let mut freed = self.free_sealed(min_pinned(root))?;
        // Limbo that stays large may be held back by a reader that died
        // pinned: look for dead owners, not too often (it reads /proc).
        let waiting: u64 = root
            .bags
            .iter()
            .filter(|b| b.tag.load(Ordering::Relaxed) != 0)
            .fold(0u64, |t, b| {
                t.saturating_add(b.bytes.load(Ordering::Relaxed))
            });
        if waiting > 0
            && (force
                || (waiting >= STUCK_BYTES && self.inner.liveness_check_due(LIVENESS_INTERVAL)))
        {
            let newest = root
                .bags
                .iter()
                .map(|b| b.tag.load(Ordering::Relaxed))
                .filter(|&t| t != 0)
                .max()
                .unwrap_or(0);
            let blocking = |s: &ReaderSlot| {
                let e = s.epoch.load(Ordering::Acquire);
                e != 0 && e < newest
            };
            if self.inner.clean_dead_slots(blocking) > 0 {
                freed += self.free_sealed(min_pinned(root))?;
            }
        }
        root.state.reclaims.fetch_add(1, Ordering::Relaxed);
        Ok(freed)
    }

    /// Frees every sealed bag whose tag is at most `min_pinned`.
    fn free_sealed(&mut self, min_pinned: u64) -> Result<u64> {
        let mut freed = 0;
        for i in 0..NBAGS {
            let bag = &self.root.bags[i];
            let tag = bag.tag.load(Ordering::Relaxed);
            if tag == 0 || tag > min_pinned {
                continue;
            }
            // Detach first: after a crash from here on, the blocks are
            // unreachable used blocks, which recovery puts back into limbo.
            let mut b = bag.head.swap(0, Ordering::AcqRel);
            bag.count.store(0, Ordering::Relaxed);
            freed += bag.bytes.swap(0, Ordering::Relaxed);
            bag.tag.store(0, Ordering::Relaxed);
            // A damaged list that loops reaches a block freed already, which
            // `free_now` refuses: the loop always ends.
            while b != 0 {
                let next = self.arena.word(b, 8)?.load(Ordering::Relaxed);
                self.free_now(b)?;
                b = next;
            }
        }
        Ok(freed)
    }
}

/// How long ago something happened, for rate limits kept per handle set.
pub(crate) fn due(last: &mut Option<Instant>, every: Duration) -> bool {
    let now = Instant::now();
    match last {
        Some(t) if now.duration_since(*t) < every => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}
