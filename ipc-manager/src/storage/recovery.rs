//! Recovery after a writer died holding the writer mutex, and the heap check.
//!
//! Because every change is published by one atomic store (see
//! [`crate::storage::table`], [`crate::objects::list`], [`crate::storage::heap`]), the published
//! state a dead writer leaves behind is always consistent: its operation
//! happened entirely or not at all. What it may leave is *garbage*: blocks it
//! allocated and never published, or unlinked and never retired, plus
//! half-updated bookkeeping (free lists, counters, a growth step). Recovery,
//! run by the next writer under the mutex before it marks the mutex
//! consistent, repairs all of it without trusting any of it:
//!
//! 1. **Growth**: an unfinished segment addition is undone (the unpublished
//!    segment is removed); an unfinished extension of an anonymous
//!    manager's segment is completed (its steps are idempotent).
//! 2. **Walk**: every segment's heap is walked block by block from its start
//!    using only the block headers, checking each size; the last block must
//!    be the sentinel.
//! 3. **Mark**: everything reachable from the directory (every object's
//!    blocks, dictionary tables and entries, list arrays and elements, boxed
//!    values) and from the limbo bags is marked. A reachable ref that is not
//!    the start of a used block is corruption.
//! 4. **Sweep**: used blocks reached by nothing go to limbo (not straight to
//!    the free lists: a reader may have seen a block a moment before the
//!    writer died unlinking it); the limbo bags are rebuilt as one sealed bag.
//! 5. **Free space**: the free lists are rebuilt from the walk, merging
//!    neighbouring free blocks and rewriting footers and `PREV_FREE` flags.
//! 6. **Counters**: dictionary lengths are recounted, seqlock versions made
//!    even.
//!
//! Recovery touches only free memory, block header words and counters, all
//! atomically, so readers keep reading while it runs. It costs time
//! proportional to the heap; it runs only after a writer died.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use crate::error::Result;
use crate::error::corrupted;
use crate::storage::arena::Arena;
use crate::storage::inner::Inner;
use crate::storage::layout::heap_start;
use crate::storage::layout::{
    DIRECTORY_REF, FLAG_FREE, FLAG_PREV_FREE, GROW_ADD, GROW_EXTEND, MAX_SEGMENTS, MIN_BLOCK,
    NBAGS, ObjectDesc, READER_SLOTS, REGISTRY_REF, Root, SENTINEL, SIZE_MASK, list, make_ref, obj,
    ref_seg, value,
};
use crate::storage::table;
use crate::storage::writer::Writer;

/// One block found by the walk.
#[derive(Debug, Clone, Copy)]
struct Block {
    r: u64,
    size: u64,
    free: bool,
    marked: bool,
    limbo: bool,
}

/// The walk and mark of the whole heap.
struct Scan {
    blocks: Vec<Block>,
    /// Index of each segment's sentinel in `blocks`.
    sentinels: Vec<usize>,
    objects: u64,
    dicts: Vec<u64>,
}

impl Scan {
    fn find(&self, r: u64) -> Result<usize> {
        let i = self
            .blocks
            .binary_search_by_key(&r, |b| b.r)
            .map_err(|_| corrupted(format!("ref {r:#x} is not the start of a block")))?;
        if self.blocks[i].free {
            return Err(corrupted(format!("ref {r:#x} leads to a free block")));
        }
        Ok(i)
    }

    fn mark(&mut self, r: u64) -> Result<()> {
        let i = self.find(r)?;
        self.blocks[i].marked = true;
        Ok(())
    }
}

/// Walks every segment's heap.
fn walk(w: &Writer<'_>) -> Result<Scan> {
    let count = w.root.state.seg_count.load(Ordering::Acquire) as usize;
    if count == 0 || count > MAX_SEGMENTS {
        return Err(corrupted(format!("segment count {count} out of range")));
    }
    let mut blocks = Vec::new();
    let mut sentinels = Vec::with_capacity(count);
    for seg in 0..count {
        w.arena.refresh(seg)?;
        let end = w.root.seg_len[seg].load(Ordering::Acquire);
        let mut off = heap_start(seg);
        let mut last = None;
        while off < end {
            let r = make_ref(seg, off);
            let h = w.arena.word(r, 0)?.load(Ordering::Acquire);
            let size = h & SIZE_MASK;
            if size < MIN_BLOCK || off.saturating_add(size) > end {
                return Err(corrupted(format!(
                    "heap walk: bad block header {h:#x} at {r:#x}"
                )));
            }
            last = Some(blocks.len());
            blocks.push(Block {
                r,
                size,
                free: h & FLAG_FREE != 0,
                marked: false,
                limbo: false,
            });
            off += size;
        }
        match last {
            Some(i) if blocks[i].size == SENTINEL && !blocks[i].free && off == end => {
                sentinels.push(i);
            }
            _ => {
                return Err(corrupted(format!(
                    "heap walk: segment {seg} does not end with its sentinel"
                )));
            }
        }
    }
    Ok(Scan {
        blocks,
        sentinels,
        objects: 0,
        dicts: Vec::new(),
    })
}

/// Marks the table and entries of dictionary `d`.
fn mark_dict(inner: &Inner, scan: &mut Scan, d: u64) -> Result<()> {
    let (t, entries) = table::reachable(&inner.arena, d)?;
    if let Some(t) = t {
        scan.mark(t)?;
    }
    for e in entries {
        scan.mark(e)?;
        table::entry_meta(&inner.arena, e)?;
    }
    scan.dicts.push(d);
    Ok(())
}

/// Marks everything reachable from the directory and the limbo bags.
fn mark(w: &Writer<'_>, scan: &mut Scan) -> Result<()> {
    let inner = w.inner;
    mark_dict(inner, scan, DIRECTORY_REF)?;
    mark_dict(inner, scan, REGISTRY_REF)?;
    let (_, entries) = table::reachable(&inner.arena, DIRECTORY_REF)?;
    for e in entries {
        let meta = table::entry_meta(&inner.arena, e)?;
        let desc = ObjectDesc::decode(&table::read_value(&inner.arena, e, &meta)?)
            .ok_or_else(|| corrupted("bad object descriptor"))?;
        scan.mark(desc.block)?;
        scan.objects += 1;
        match desc.kind {
            obj::DICT => mark_dict(inner, scan, desc.object)?,
            obj::LIST => {
                for r in list_reachable(inner, desc.block, desc.param)? {
                    scan.mark(r)?;
                }
            }
            obj::VALUE => {
                if let Some(r) = value_boxed_ref(inner, desc.block, desc.param)? {
                    scan.mark(r)?;
                }
            }
            obj::LOCK | obj::EVENT | obj::SEMAPHORE | obj::BARRIER => {}
            k => return Err(corrupted(format!("unknown object kind {k}"))),
        }
    }
    // Limbo: follow each bag's list while it leads to unmarked used blocks;
    // whatever a broken list loses is swept back in below.
    for bag in &w.root.bags {
        let mut b = bag.head.load(Ordering::Acquire);
        while b != 0 {
            let Ok(i) = scan.find(b) else { break };
            if scan.blocks[i].marked || scan.blocks[i].limbo {
                break;
            }
            scan.blocks[i].limbo = true;
            b = w.arena.word(b, 8)?.load(Ordering::Relaxed);
        }
    }
    for &s in &scan.sentinels {
        scan.blocks[s].marked = true;
    }
    Ok(())
}

/// Walks and marks without changing anything but dictionary counters.
fn scan(w: &Writer<'_>) -> Result<Scan> {
    let mut s = walk(w)?;
    mark(w, &mut s)?;
    Ok(s)
}

/// Reports on the heap ([`Manager::check`](crate::Manager::check)).
pub(crate) fn check(w: &mut Writer<'_>) -> Result<HeapReport> {
    let s = scan(w)?;
    let mut r = HeapReport {
        objects: s.objects,
        ..HeapReport::default()
    };
    for b in &s.blocks {
        match (b.free, b.marked, b.limbo) {
            (true, _, _) => {
                r.free_blocks += 1;
                r.free_bytes += b.size;
            }
            (false, true, _) => {
                r.live_blocks += 1;
                r.live_bytes += b.size;
            }
            (false, false, true) => r.limbo_blocks += 1,
            (false, false, false) => r.leaked_blocks += 1,
        }
    }
    Ok(r)
}

/// Repairs the manager after a writer died (see the module docs).
pub(crate) fn recover(w: &mut Writer<'_>) -> Result<()> {
    let root = w.root;
    // 1. Growth.
    let intent = root.state.grow_intent.load(Ordering::Acquire);
    if intent != 0 {
        root.interrupted_growths.fetch_add(1, Ordering::Relaxed);
    }
    if intent & GROW_ADD != 0 {
        let n = (intent & 0xFFFF) as usize;
        if root.state.seg_count.load(Ordering::Acquire) as usize <= n && n < MAX_SEGMENTS {
            w.arena.forget_unpublished(n);
            w.arena.backing().remove_segment(n)?;
        }
    } else if intent & GROW_EXTEND != 0 {
        let new = root.grow_len.load(Ordering::Relaxed);
        let old = root.seg_len[0].load(Ordering::Relaxed);
        if new > old {
            w.heap().publish_extend(old, new)?;
        }
    }
    root.state.grow_intent.store(0, Ordering::Release);

    // 2-3. Walk and mark.
    let s = scan(w)?;

    // 4. Limbo: one sealed bag with everything unreachable.
    let mut limbo = Vec::new();
    for b in &s.blocks {
        if !b.free && !b.marked {
            limbo.push(b.r);
        }
    }
    let epoch = root.epoch.epoch.load(Ordering::Relaxed);
    for bag in &root.bags {
        bag.head.store(0, Ordering::Relaxed);
        bag.tag.store(0, Ordering::Relaxed);
        bag.count.store(0, Ordering::Relaxed);
        bag.bytes.store(0, Ordering::Relaxed);
    }
    let mut bytes = 0;
    let mut head = 0;
    for &b in limbo.iter().rev() {
        w.arena.word(b, 8)?.store(head, Ordering::Relaxed);
        head = b;
        bytes += s.blocks[s.find(b)?].size;
    }
    root.bags[0]
        .count
        .store(limbo.len() as u64, Ordering::Relaxed);
    root.bags[0].bytes.store(bytes, Ordering::Relaxed);
    root.bags[0].head.store(head, Ordering::Release);
    if head != 0 {
        root.bags[0]
            .tag
            .store(epoch.wrapping_add(1), Ordering::Relaxed);
    }
    root.state
        .open_bag
        .store(1 % NBAGS as u64, Ordering::Relaxed);

    // 5. Free space.
    w.heap().clear_free_lists();
    let mut i = 0;
    while i < s.blocks.len() {
        let b = s.blocks[i];
        if !b.free {
            let prev_free =
                i > 0 && s.blocks[i - 1].free && ref_seg(s.blocks[i - 1].r) == ref_seg(b.r);
            let word = w.arena.word(b.r, 0)?;
            if prev_free {
                word.fetch_or(FLAG_PREV_FREE, Ordering::Release);
            } else {
                word.fetch_and(!FLAG_PREV_FREE, Ordering::Release);
            }
            i += 1;
            continue;
        }
        // A run of free blocks in one segment becomes one block. (The block
        // before a run is used, or the run starts the segment.)
        let mut total = b.size;
        let mut j = i + 1;
        while j < s.blocks.len() && s.blocks[j].free && ref_seg(s.blocks[j].r) == ref_seg(b.r) {
            total += s.blocks[j].size;
            j += 1;
        }
        w.arena
            .word(b.r, 0)?
            .store(total | FLAG_FREE, Ordering::Release);
        w.arena
            .word(b.r, total - 8)?
            .store(total, Ordering::Relaxed);
        w.heap().list_free_block(b.r, total)?;
        i = j;
    }

    // 6. Counters.
    for &d in &s.dicts {
        table::settle(w, d)?;
    }
    root.state.recoveries.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// A hash of this boot's id (`/proc/sys/kernel/random/boot_id`), 0 if unknown.
pub(crate) fn boot_id() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(|| {
        std::fs::read("/proc/sys/kernel/random/boot_id")
            .map(|b| {
                b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
                    (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
                })
            })
            .unwrap_or(0)
            | 1
    })
}

/// The `boot` word while one opener resets a manager from an earlier boot.
const RESETTING: u64 = u64::MAX;

/// Called when a file-backed manager is opened: if it was last used in an
/// earlier boot of the machine, nobody who held its writer mutex or reader
/// slots is alive, and the kernel never got to mark them released. The first
/// opener of this boot resets both and asks the next writer to run recovery;
/// concurrent openers wait for it.
pub(crate) fn after_restart(inner: &Arc<Inner>) -> Result<()> {
    let root = inner.root();
    let now = boot_id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen = root.state.boot.load(Ordering::Acquire);
        if seen == now {
            return Ok(());
        }
        if seen == RESETTING {
            if std::time::Instant::now() > deadline {
                return Err(ipc_core::Error::Timeout.into());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        if root
            .state
            .boot
            .compare_exchange(seen, RESETTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            reset_after_reboot(root);
            for slot in &root.slots[..READER_SLOTS] {
                slot.epoch.store(0, Ordering::Relaxed);
                slot.nonce.store(0, Ordering::Relaxed);
                slot.claim.store(0, Ordering::Relaxed);
            }
            root.state.needs_recovery.store(1, Ordering::Release);
            root.state.boot.store(now, Ordering::Release);
            return Ok(());
        }
    }
}

/// What [`Manager::check`](crate::Manager::check) found in the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HeapReport {
    /// Used blocks reachable from the directory.
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Their bytes.
    pub free_bytes: u64,
    /// Blocks waiting in limbo.
    pub limbo_blocks: u64,
    /// Used blocks reachable from nothing (0 unless a writer died; recovery
    /// moves them to limbo).
    pub leaked_blocks: u64,
    /// Objects in the directory.
    pub objects: u64,
}

/// The capacity of slot array `a`, checked to be plausible (a damaged one
/// could make index arithmetic overflow).
pub(crate) fn list_array_cap(arena: &Arena, a: u64) -> Result<u64> {
    let cap = arena.word(a, list::CAP)?.load(Ordering::Relaxed);
    if cap > 1 << 36 {
        return Err(corrupted(format!("list array capacity {cap} out of range")));
    }
    Ok(cap)
}

/// The blocks a list reaches: its array and, for boxed elements, the first
/// `len` element blocks (for recovery's mark phase).
fn list_reachable(inner: &Inner, block: u64, elem_size: u64) -> Result<Vec<u64>> {
    let arena = &inner.arena;
    let a = arena.word(block, list::ARRAY)?.load(Ordering::Acquire);
    let len = arena.word(block, list::LEN)?.load(Ordering::Acquire);
    if a == 0 {
        return if len == 0 {
            Ok(Vec::new())
        } else {
            Err(corrupted("non-empty list without an array"))
        };
    }
    if len > list_array_cap(arena, a)? {
        return Err(corrupted("list length past its array"));
    }
    let mut out = vec![a];
    if elem_size > 8 {
        for s in arena.words(a, list::SLOTS, len)? {
            out.push(s.load(Ordering::Relaxed));
        }
    }
    Ok(out)
}

/// The block a value's slot points to, if boxed (for recovery's mark phase).
fn value_boxed_ref(inner: &Inner, block: u64, param_size: u64) -> Result<Option<u64>> {
    if param_size <= 8 {
        return Ok(None);
    }
    Ok(Some(
        inner
            .arena
            .word(block, value::SLOT)?
            .load(Ordering::Acquire),
    ))
}

/// Makes the writer mutex usable again after a reboot: if it is still
/// marked held (by a thread of an earlier boot, which the kernel never got
/// to release), re-initialises it in place.
///
/// Called only by the one opener that won the reset of a manager last used
/// in an earlier boot, before any process of this boot can use the mutex.
#[allow(unsafe_code)] // the reset of a mutex nobody alive can hold, argued inline
pub(crate) fn reset_after_reboot(root: &Root) {
    // SAFETY: the raw mutex is only used for `reset_if_held`, which leaves
    // it unlocked: lock_api's bookkeeping is never bypassed in a way a
    // guard could observe.
    let raw = unsafe { root.writer.raw() };
    // SAFETY: no live thread owns the mutex or waits on it: every process
    // of the earlier boot is gone, and openers of this boot wait for us.
    unsafe { raw.reset_if_held() };
}
