//! The block allocator of the shared heap (writer side only).
//!
//! Free blocks sit on segregated, doubly linked free lists ([`NCLASSES`]
//! classes: exact 16-byte steps up to 1 KiB, then four per power of two).
//! Allocation takes the first fitting block of the smallest non-empty class
//! and splits off the rest; freeing merges a block with free neighbours on
//! both sides (the `PREV_FREE` flag and the footer find the one before).
//! When nothing fits, the writer reclaims and then the arena grows.
//!
//! # Crash safety
//!
//! Only the block headers' `size_flags` words are authoritative: recovery
//! walks each segment's heap by them and rebuilds free lists, footers and
//! `PREV_FREE` flags from scratch. So every step here that changes the walk
//! is a single store, ordered so that the heap is walkable after each one:
//! a split writes the remainder's header first and then shrinks the block
//! (before the shrink, the remainder is interior bytes of the free block);
//! a merge grows the surviving block's header in one store. Free-list links
//! may be left half-updated by a crash; recovery does not read them.
//!
//! Growth is an intent in the root (`grow_intent`, `grow_len`) followed by
//! steps recovery can finish or undo: a new segment is created and then
//! published by `seg_count`; segment 0 of an anonymous manager is reserved
//! (`fallocate`), a new sentinel is written past the old end, the old
//! sentinel grows over the new space, and the committed length is stored.

use std::sync::atomic::Ordering;

use crate::error::corrupted;
use crate::error::{Error, Result};
use crate::storage::arena::Arena;
use crate::storage::fault::{self, Point};
use crate::storage::layout::{
    ARENA_HEAP_START, BACKING_ANONYMOUS, BLOCK_ALIGN, BLOCK_HDR, FLAG_FREE, FLAG_PREV_FREE,
    FREE_PREV, GROW_ADD, GROW_EXTEND, MAX_SEGMENTS, MIN_BLOCK, NCLASSES, OFF_MASK, Root, SENTINEL,
    SIZE_MASK, heap_start, make_ref, ref_off, ref_seg,
};

/// The size class of a block of `size` bytes (a multiple of 16, >= 32).
pub(crate) fn class_of(size: u64) -> usize {
    if size <= 1024 {
        (size / 16).saturating_sub(2) as usize
    } else {
        let b = 63 - size.leading_zeros() as u64;
        let sub = (size >> (b - 2)) & 3;
        (63 + (b - 10) * 4 + sub).min(NCLASSES as u64 - 1) as usize
    }
}

/// Whether every block of class `c` has exactly the same size.
fn exact_class(c: usize) -> bool {
    c <= 62
}

/// The block size for `data_len` bytes of data.
pub(crate) fn block_size(data_len: u64) -> Result<u64> {
    if data_len > OFF_MASK / 2 {
        return Err(Error::CapacityExhausted {
            requested: data_len,
            reason: "allocation larger than a segment can be",
        });
    }
    Ok((data_len + BLOCK_HDR)
        .next_multiple_of(BLOCK_ALIGN)
        .max(MIN_BLOCK))
}

/// The allocator's view of the heap: the arena and its root. Allocation
/// policy (reclaim before growing) is the writer's; this is the mechanism,
/// used only while the writer mutex is held.
#[derive(Clone, Copy)]
pub(crate) struct Heap<'a> {
    pub(crate) arena: &'a Arena,
    pub(crate) root: &'a Root,
}

impl Heap<'_> {
    fn hdr(&self, b: u64) -> Result<u64> {
        Ok(self.arena.word(b, 0)?.load(Ordering::Acquire))
    }

    fn set_hdr(&self, b: u64, v: u64) -> Result<()> {
        self.arena.word(b, 0)?.store(v, Ordering::Release);
        Ok(())
    }

    fn link(&self, b: u64) -> Result<u64> {
        Ok(self.arena.word(b, 8)?.load(Ordering::Relaxed))
    }

    fn set_link(&self, b: u64, v: u64) -> Result<()> {
        self.arena.word(b, 8)?.store(v, Ordering::Relaxed);
        Ok(())
    }

    /// End of the committed heap of the segment holding `b`.
    fn seg_end(&self, b: u64) -> u64 {
        let seg = ref_seg(b);
        if seg >= MAX_SEGMENTS {
            return 0;
        }
        self.root.seg_len[seg].load(Ordering::Relaxed)
    }

    /// Reads and checks the header of block `b`: its size, flags, and that
    /// it lies inside its segment's heap.
    pub(crate) fn block(&self, b: u64) -> Result<(u64, u64)> {
        let h = self.hdr(b)?;
        let size = h & SIZE_MASK;
        let off = ref_off(b);
        if size < MIN_BLOCK
            || !off.is_multiple_of(BLOCK_ALIGN)
            || off < heap_start(ref_seg(b))
            || off.saturating_add(size) > self.seg_end(b)
        {
            return Err(corrupted(format!("bad block header {h:#x} at {b:#x}")));
        }
        Ok((size, h & (FLAG_FREE | FLAG_PREV_FREE)))
    }

    // -- free lists ---------------------------------------------------------

    fn push_free(&self, b: u64, size: u64) -> Result<()> {
        let c = class_of(size);
        let head = self.root.free_heads[c].load(Ordering::Relaxed);
        self.set_link(b, head)?;
        self.arena.word(b, FREE_PREV)?.store(0, Ordering::Relaxed);
        if head != 0 {
            self.arena
                .word(head, FREE_PREV)?
                .store(b, Ordering::Relaxed);
        }
        self.root.free_heads[c].store(b, Ordering::Relaxed);
        self.root.free_bits[c / 64].fetch_or(1 << (c % 64), Ordering::Relaxed);
        Ok(())
    }

    fn remove_free(&self, b: u64, size: u64) -> Result<()> {
        let c = class_of(size);
        let next = self.link(b)?;
        let prev = self.arena.word(b, FREE_PREV)?.load(Ordering::Relaxed);
        if prev == 0 {
            if self.root.free_heads[c].load(Ordering::Relaxed) != b {
                return Err(corrupted(format!("free block {b:#x} not on its list")));
            }
            self.root.free_heads[c].store(next, Ordering::Relaxed);
            if next == 0 {
                self.root.free_bits[c / 64].fetch_and(!(1 << (c % 64)), Ordering::Relaxed);
            }
        } else {
            self.set_link(prev, next)?;
        }
        if next != 0 {
            self.arena
                .word(next, FREE_PREV)?
                .store(prev, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Empties every free list (recovery rebuilds them).
    pub(crate) fn clear_free_lists(&self) {
        for h in &self.root.free_heads {
            h.store(0, Ordering::Relaxed);
        }
        for b in &self.root.free_bits {
            b.store(0, Ordering::Relaxed);
        }
    }

    /// Makes the (already FREE-flagged, footed) block `b` findable.
    pub(crate) fn list_free_block(&self, b: u64, size: u64) -> Result<()> {
        self.push_free(b, size)
    }

    /// The first non-empty class at or above `c`.
    fn next_class(&self, c: usize) -> Option<usize> {
        let mut c = c;
        while c < NCLASSES {
            let word = self.root.free_bits[c / 64].load(Ordering::Relaxed) >> (c % 64);
            if word != 0 {
                return Some(c + word.trailing_zeros() as usize);
            }
            c = (c / 64 + 1) * 64;
        }
        None
    }

    // -- allocation ---------------------------------------------------------

    /// Zeroes `len` bytes at `b + off`.
    pub(crate) fn zero(&self, b: u64, off: u64, len: u64) -> Result<()> {
        const CHUNK: [u8; 4096] = [0; 4096];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(CHUNK.len() as u64);
            self.arena.write(b, off + done, &CHUNK[..n as usize])?;
            done += n;
        }
        Ok(())
    }

    pub(crate) fn try_alloc(&self, size: u64) -> Result<Option<u64>> {
        let c = class_of(size);
        // A range class may hold blocks both smaller and larger than `size`:
        // look at a few of its blocks first.
        if !exact_class(c) {
            let mut b = self.root.free_heads[c].load(Ordering::Relaxed);
            for _ in 0..16 {
                if b == 0 {
                    break;
                }
                let (bsize, flags) = self.block(b)?;
                if flags & FLAG_FREE == 0 {
                    return Err(corrupted(format!("used block {b:#x} on a free list")));
                }
                if bsize >= size {
                    return self.take(b, bsize, flags, size).map(Some);
                }
                b = self.link(b)?;
            }
        }
        let first = if exact_class(c) { c } else { c + 1 };
        let Some(found) = self.next_class(first) else {
            return Ok(None);
        };
        let b = self.root.free_heads[found].load(Ordering::Relaxed);
        let (bsize, flags) = self.block(b)?;
        if flags & FLAG_FREE == 0 || bsize < size || class_of(bsize) != found {
            return Err(corrupted(format!(
                "free list {found} holds a bad block at {b:#x}"
            )));
        }
        self.take(b, bsize, flags, size).map(Some)
    }

    /// Takes `size` bytes from the front of free block `b` (of `bsize`).
    fn take(&self, b: u64, bsize: u64, flags: u64, size: u64) -> Result<u64> {
        self.remove_free(b, bsize)?;
        let keep = flags & FLAG_PREV_FREE;
        if bsize - size >= MIN_BLOCK {
            let rest = b + size;
            let rsize = bsize - size;
            // Remainder first (interior bytes of `b` until the shrink below).
            self.set_hdr(rest, rsize | FLAG_FREE)?;
            self.arena
                .word(rest, rsize - 8)?
                .store(rsize, Ordering::Relaxed);
            self.set_hdr(b, size | keep)?;
            self.push_free(rest, rsize)?;
        } else {
            self.set_hdr(b, bsize | keep)?;
            let after = b + bsize;
            self.arena
                .word(after, 0)?
                .fetch_and(!FLAG_PREV_FREE, Ordering::Release);
        }
        self.set_link(b, 0)?;
        Ok(b)
    }

    /// Frees a used block now, merging it with free neighbours. Only for
    /// blocks no reader can reach: never published, or out of limbo.
    pub(crate) fn free_now(&self, b: u64) -> Result<()> {
        let (size, flags) = self.block(b)?;
        if flags & FLAG_FREE != 0 {
            return Err(corrupted(format!("double free of block {b:#x}")));
        }
        let mut start = b;
        let mut total = size;
        let mut keep = flags & FLAG_PREV_FREE;
        // The block after (there always is one: the sentinel closes the heap).
        let next = b + size;
        let (nsize, nflags) = self.block(next)?;
        if nflags & FLAG_FREE != 0 {
            self.remove_free(next, nsize)?;
            total += nsize;
        }
        self.set_hdr(b, total | FLAG_FREE | keep)?;
        if keep != 0 {
            let psize = self.arena.word(b - 8, 0)?.load(Ordering::Relaxed);
            let prev = b.wrapping_sub(psize);
            let ok = psize >= MIN_BLOCK
                && psize % BLOCK_ALIGN == 0
                && psize <= ref_off(b)
                && ref_seg(prev) == ref_seg(b);
            if !ok {
                return Err(corrupted(format!("bad footer before block {b:#x}")));
            }
            let (ps, pflags) = self.block(prev)?;
            if ps != psize || pflags & FLAG_FREE == 0 {
                return Err(corrupted(format!("footer before {b:#x} does not match")));
            }
            self.remove_free(prev, psize)?;
            keep = pflags & FLAG_PREV_FREE;
            total += psize;
            start = prev;
            self.set_hdr(start, total | FLAG_FREE | keep)?;
        }
        self.arena
            .word(start, total - 8)?
            .store(total, Ordering::Relaxed);
        self.push_free(start, total)?;
        self.arena
            .word(start + total, 0)?
            .fetch_or(FLAG_PREV_FREE, Ordering::Release);
        Ok(())
    }

    // -- growth -------------------------------------------------------------

    /// Total committed length of all segments.
    pub(crate) fn total_len(&self) -> u64 {
        let n = self.root.state.seg_count.load(Ordering::Relaxed) as usize;
        self.root.seg_len[..n.min(MAX_SEGMENTS)]
            .iter()
            .fold(0u64, |t, l| t.saturating_add(l.load(Ordering::Relaxed)))
    }

    /// Makes room for a block of `size` bytes: extends an anonymous
    /// manager's segment, or adds a segment. On error nothing changed.
    pub(crate) fn grow(&self, size: u64) -> Result<()> {
        let total = self.total_len();
        let max = self.root.max_len.load(Ordering::Relaxed);
        let want = (size + SENTINEL + MIN_BLOCK)
            .max(total)
            .next_multiple_of(64 * 1024);
        if max != 0 && total.saturating_add(size + SENTINEL) > max {
            return Err(Error::CapacityExhausted {
                requested: size,
                reason: "the manager's maximum size is reached",
            });
        }
        let want = if max != 0 {
            want.min(max.saturating_sub(total))
                .max(size + SENTINEL + MIN_BLOCK)
        } else {
            want
        };
        let anonymous = self.root.backing.load(Ordering::Relaxed) == BACKING_ANONYMOUS;
        let r = if anonymous {
            self.extend_root(want)
        } else {
            self.add_segment(want)
        };
        // Memory or disk nearly full: try again with just what is needed.
        let least = (size + SENTINEL + MIN_BLOCK).next_multiple_of(4096);
        match r {
            Err(e) if e.is_out_of_space() && want > least => {
                if anonymous {
                    self.extend_root(least)
                } else {
                    self.add_segment(least)
                }
            }
            r => r,
        }
    }

    /// Anonymous managers: commit `by` more bytes of segment 0.
    fn extend_root(&self, by: u64) -> Result<()> {
        let old = self.root.seg_len[0].load(Ordering::Relaxed);
        let cap = self.arena.mapped_len(0) & SIZE_MASK;
        let new = old.saturating_add(by) & SIZE_MASK;
        if new > cap || new <= old + MIN_BLOCK {
            return Err(Error::CapacityExhausted {
                requested: by,
                reason: "the anonymous manager's capacity is used up",
            });
        }
        self.arena.commit(new)?;
        self.root.grow_len.store(new, Ordering::Relaxed);
        self.root
            .state
            .grow_intent
            .store(GROW_EXTEND, Ordering::Release);
        fault::pause(Point::Growth);
        let old_sentinel = self.publish_extend(old, new)?;
        fault::pause(Point::Growth);
        self.root.state.grow_intent.store(0, Ordering::Release);
        // The old sentinel is now an ordinary used block over the new space.
        self.free_now(old_sentinel)
    }

    /// The heap-walk steps of extending segment 0 from `old` to `new`
    /// bytes, once the memory is reserved and the intent recorded; recovery
    /// repeats them (they are idempotent) if the writer died midway. Returns
    /// the old sentinel, now a used block spanning the new space.
    pub(crate) fn publish_extend(&self, old: u64, new: u64) -> Result<u64> {
        let old_sentinel = make_ref(0, old - SENTINEL);
        let new_sentinel = make_ref(0, new - SENTINEL);
        // The new sentinel lies past the published end, where `translate`
        // refuses to go; widen this process's view first (the memory is
        // reserved and mapped, merely not published).
        self.arena.widen_view(0, new)?;
        self.set_hdr(new_sentinel, SENTINEL)?;
        let oh = self.hdr(old_sentinel)?;
        self.set_hdr(old_sentinel, (new - old) | (oh & FLAG_PREV_FREE))?;
        fault::pause(Point::Growth);
        self.root.seg_len[0].store(new, Ordering::Release);
        Ok(old_sentinel)
    }

    /// Named and file-backed managers: add a segment with `len` heap bytes.
    fn add_segment(&self, heap_len: u64) -> Result<()> {
        let n = self.root.state.seg_count.load(Ordering::Relaxed) as usize;
        if n >= MAX_SEGMENTS {
            return Err(Error::CapacityExhausted {
                requested: heap_len,
                reason: "the manager has reached its maximum number of segments",
            });
        }
        if !self.arena.backing().root_exists() {
            return Err(Error::CapacityExhausted {
                requested: heap_len,
                reason: "the manager's name was removed, so it can no longer grow",
            });
        }
        let id = self.root.manager_id.load(Ordering::Relaxed);
        self.root
            .state
            .grow_intent
            .store(GROW_ADD | n as u64, Ordering::Release);
        fault::pause(Point::Growth);
        if let Err(e) = self.arena.create_segment(n, heap_len, id) {
            self.arena.forget_unpublished(n);
            let _ = self.arena.backing().remove_segment(n);
            self.root.state.grow_intent.store(0, Ordering::Release);
            return Err(e);
        }
        fault::pause(Point::Growth);
        let len = ARENA_HEAP_START + (heap_len & SIZE_MASK);
        self.root.seg_len[n].store(len, Ordering::Release);
        self.root
            .state
            .seg_count
            .store(n as u64 + 1, Ordering::Release);
        self.root.state.grow_intent.store(0, Ordering::Release);
        self.arena.refresh(n)?;
        let first = make_ref(n, ARENA_HEAP_START);
        let (size, _) = self.block(first)?;
        self.push_free(first, size)
    }
}
