//! The writer side: one robust mutex in the root serialises every change to
//! the manager, in all processes.
//!
//! `txn::write` takes the mutex and hands its closure a [`Writer`], the
//! context every mutating operation (allocation, dictionary and list
//! changes, reclamation) works through. The writer owns the allocation
//! policy (reclaim before growing the arena) and the writer side of
//! epoch-based reclamation: retired blocks wait in limbo bags until no
//! pinned reader can see them (see `epoch` for the reader side and the
//! argument).

use std::sync::atomic::Ordering;

use std::sync::atomic::fence;
use std::time::{Duration, Instant};

use ipc_core::sync::{RobustMutex, RobustMutexExt, RobustMutexGuard};

use crate::error::{Result, corrupted};
use crate::storage::arena::Arena;
use crate::storage::heap::{Heap, block_size};
use crate::storage::inner::Inner;
use crate::storage::layout::{BLOCK_HDR, FLAG_FREE, NBAGS, READER_SLOTS, ReaderSlot, Root};

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

/// Seal and try to free limbo once this many blocks are retired...
const RECLAIM_BLOCKS: u64 = 64;
/// ... or this many bytes.
const RECLAIM_BYTES: u64 = 256 * 1024;
/// How long an allocation waits for pinned readers to release garbage
/// before it grows the arena instead.
const LIMBO_PATIENCE: Duration = Duration::from_millis(10);
/// How often it looks again meanwhile.
const LIMBO_POLL: Duration = Duration::from_micros(100);
/// Look for dead readers once limbo holds this much...
const STUCK_BYTES: u64 = 1 << 20;
/// ... at most this often.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(50);

impl<'a> Writer<'a> {
    /// The context of a write under `guard`, the held writer mutex.
    pub(crate) fn new(inner: &'a Inner, guard: RobustMutexGuard<'a, ()>) -> Self {
        Writer {
            inner,
            arena: &inner.arena,
            root: inner.arena.root(),
            retired: 0,
            guard,
            in_progress: true,
        }
    }

    /// The allocator.
    #[inline]
    pub(crate) fn heap(&self) -> Heap<'a> {
        Heap {
            arena: self.arena,
            root: self.root,
        }
    }

    /// Declares the data behind the mutex repaired (after recovery).
    pub(crate) fn mark_consistent(&self) {
        <RobustMutex<()> as RobustMutexExt<()>>::mark_consistent(&self.guard);
    }

    /// The write's closure returned: a drop from here on is no crash.
    pub(crate) fn finish(&mut self) {
        self.in_progress = false;
    }

    // -- allocation policy ----------------------------------------------------

    /// Allocates a block with `data_len` bytes of data (from offset 16); its
    /// contents are whatever the block held before. Reclaims, then grows the
    /// arena, when nothing fits.
    pub(crate) fn alloc(&mut self, data_len: u64) -> Result<u64> {
        let size = block_size(data_len)?;
        if let Some(b) = self.heap().try_alloc(size)? {
            return Ok(b);
        }
        if self.reclaim()? > 0
            && let Some(b) = self.heap().try_alloc(size)?
        {
            return Ok(b);
        }
        if let Some(b) = self.wait_for_limbo(size)? {
            return Ok(b);
        }
        self.heap().grow(size)?;
        self.heap()
            .try_alloc(size)?
            .ok_or_else(|| corrupted("no fitting block right after growing the arena".to_owned()))
    }

    /// Before growing: if limbo holds enough garbage for `size` and only
    /// pinned readers keep it there, gives them a moment to move on. A
    /// reader is pinned for the length of one read, unless the scheduler
    /// preempts it mid-read, for a few milliseconds on a busy machine; a
    /// writer that grew instead would grow the arena by its whole size each
    /// time that happened (a churned manager reached 4x its live data with one
    /// busy reader). Waits at most [`LIMBO_PATIENCE`], in short sleeps that
    /// leave the CPU to the readers; a reader that stays pinned (stopped,
    /// or dead, which the first retry checks for) only costs that once per
    /// growth.
    fn wait_for_limbo(&mut self, size: u64) -> Result<Option<u64>> {
        let deadline = Instant::now() + LIMBO_PATIENCE;
        let mut force = true;
        while self.limbo_bytes() >= size && Instant::now() < deadline {
            std::thread::sleep(LIMBO_POLL);
            if self.reclaim_with(force)? > 0
                && let Some(b) = self.heap().try_alloc(size)?
            {
                return Ok(Some(b));
            }
            force = false;
        }
        Ok(None)
    }

    /// Bytes waiting in limbo, sealed or not.
    fn limbo_bytes(&self) -> u64 {
        self.root.bags.iter().fold(0u64, |t, b| {
            t.saturating_add(b.bytes.load(Ordering::Relaxed))
        })
    }

    /// Allocates a block and zeroes its data.
    pub(crate) fn alloc_zeroed(&mut self, data_len: u64) -> Result<u64> {
        let b = self.alloc(data_len)?;
        self.heap().zero(b, BLOCK_HDR, data_len)?;
        Ok(b)
    }

    // -- retiring and reclaiming (the writer side of epochs) ------------------

    /// Moves a block that was just unlinked into limbo.
    pub(crate) fn retire(&mut self, b: u64) -> Result<()> {
        let (size, flags) = self.heap().block(b)?;
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
                self.heap().free_now(b)?;
                b = next;
            }
        }
        Ok(freed)
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
