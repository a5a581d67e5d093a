//! The single-producer single-consumer ring of one pipe direction.
//!
//! # Protocol
//!
//! Positions are free-running `u32`s that wrap; slot of position `p` is
//! `p & (capacity - 1)`. Each side owns one index line: the producer `tail`
//! (next position to write), the consumer `head` (next position to read).
//! Each slot ends in a `len` word and a `seq` word:
//!
//! - `seq == p + 1`: the frame for position `p` is **published**;
//! - `seq == p + 1 - capacity`: the slot is **free** for position `p` (it
//!   last held `p - capacity`, or nothing yet);
//! - anything else: the ring is corrupted, reported as
//!   [`ipc_core::Error::Corrupted`].
//!
//! **Send** (producer, position `t = tail`): if `t - cached_head` reaches
//! `capacity`, reload `head` (acquire); `t - head > capacity` is corruption,
//! `== capacity` is full. Otherwise copy the payload into the slot, store
//! `len`, then store `seq = t + 1` (release): that store is the commit. A
//! sender killed before it leaves the slot free, so a torn frame is never
//! visible. Then a seq-cst fence, load `data_sleepers` (the fence orders
//! this load after the commit, see below) and `FUTEX_WAKE` the slot's `seq` word only if it is
//! non-zero; finally store `tail = t + 1` (relaxed: only the producer and a
//! future producer read it).
//!
//! **Receive** (consumer, position `h = head`): load `seq` of slot `h`
//! (acquire). Published: check `len <= max_frame` (else corrupted), copy the
//! frame out, store `head = h + 1` (release), which frees the slot, then a
//! seq-cst fence, load `space_sleepers` and wake `head` if non-zero. Free: the ring is empty.
//!
//! In steady state the consumer touches only the slot lines and its own
//! `head` line, and the producer only the slot lines and its own `tail` line
//! (it rereads `head` once per `capacity` messages), so one message costs
//! one cache-line transfer: the slot's.
//!
//! **Sleeping** (Dekker): a consumer that finds the ring empty spins, then
//! increments `data_sleepers` (seq-cst), re-checks `seq`, and sleeps on the
//! `seq` word of slot `head` with the value it saw. The producer's commit,
//! fence and load of `data_sleepers` mean that either
//! the consumer's re-check sees the frame or the producer sees the sleeper
//! and wakes it; and if the commit lands between the re-check and the
//! sleep, the kernel refuses to sleep on a changed word. A producer waiting
//! for room does the same on `head` with `space_sleepers`. The sleeping
//! itself is `ipc_core::wait`'s (in slices, with a peer check in between).
//!
//! **Crash recovery**: the process that next claims the producer end (see
//! `end.rs`) advances `tail` past frames a killed producer published but had
//! not yet counted. A consumer killed between copying a frame and storing
//! `head` leaves the frame queued: the next consumer receives it again.
//! Delivery is therefore exactly-once when senders crash, at-least-once when
//! receivers do.
//!
//! **Validation**: every slot address comes from the geometry validated at
//! open (see `layout.rs`), so a scribbled index can only select the wrong
//! slot, never memory outside the ring; the checks above turn a scribble
//! into [`ipc_core::Error::Corrupted`] with high probability. The consumer
//! does not read `tail` on its fast path (that would pull the producer's
//! line over on every message); it cross-checks it on slow paths only,
//! before sleeping on an empty ring ([`SpscRing::check_indices`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use ipc_core::wait;

use super::layout::Region;
use crate::{Error, Result};

/// One direction of a mapped pipe.
#[derive(Clone, Copy)]
pub(crate) struct SpscRing<'a> {
    region: &'a Region,
    ring: usize,
}

impl<'a> SpscRing<'a> {
    /// Ring `ring` of `region`.
    pub fn new(region: &'a Region, ring: usize) -> Self {
        Self { region, ring }
    }

    #[inline]
    fn cap(&self) -> u32 {
        self.region.geo.capacity
    }

    #[inline]
    fn ctl(&self) -> &'a super::layout::RingCtl {
        self.region.ctl(self.ring)
    }

    // ----- producer side -------------------------------------------------

    /// Room for up to `want` frames: returns the first position and how many
    /// (at least 1), or [`Error::Full`].
    #[inline]
    pub fn reserve(&self, want: u32, cached_head: &Cell<u32>) -> Result<(u32, u32)> {
        let cap = self.cap();
        let tail = self.ctl().tail.word.load(Ordering::Relaxed);
        let mut used = tail.wrapping_sub(cached_head.get());
        // Reread `head` only when the cached view lacks room for everything
        // wanted (`used > cap` is a stale or scribbled cache).
        if used >= cap || want > cap - used {
            let head = self.ctl().head.word.load(Ordering::Acquire);
            used = tail.wrapping_sub(head);
            if used > cap {
                return Err(corrupted_indices(tail, head, cap));
            }
            cached_head.set(head);
            if used == cap {
                return Err(Error::Full);
            }
        }
        Ok((tail, want.min(cap - used)))
    }

    /// Copies `bytes` (at most `max_frame`, checked by the caller) into the
    /// reserved slot of `pos`.
    #[inline]
    pub fn write(&self, pos: u32, bytes: &[u8]) {
        self.region.write_payload(self.ring, pos, bytes);
    }

    /// Copies `bytes` to offset `at` of the reserved slot of `pos`; `false`
    /// if they would pass `max_frame`.
    #[cfg(feature = "serde")]
    #[inline]
    pub fn write_at(&self, pos: u32, at: usize, bytes: &[u8]) -> bool {
        self.region.write_payload_at(self.ring, pos, at, bytes)
    }

    /// Commits one frame of `len` bytes already written at `pos`.
    #[inline]
    pub fn publish_one(&self, pos: u32, len: u32) {
        let seq = self.region.seq(self.ring, pos);
        self.region
            .len_word(self.ring, pos)
            .store(len, Ordering::Relaxed);
        // A plain release store, not a seq-cst exchange: it leaves the store
        // buffer together with the payload, in one ownership transfer of the
        // slot's line. A locked exchange would first drain the buffer and
        // then need the line again, which a busy-polling consumer steals in
        // between. The fence gives the store-load order the sleep protocol
        // needs.
        seq.store(pos.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        if self.ctl().data_sleepers.word.load(Ordering::Relaxed) != 0 {
            wait::wake(seq, u32::MAX);
        }
        self.ctl()
            .tail
            .word
            .store(pos.wrapping_add(1), Ordering::Relaxed);
    }

    /// Commits `n >= 1` frames of `len` bytes each, written at `pos..pos + n`.
    #[inline]
    pub fn publish_many(&self, pos: u32, n: u32, len: u32) {
        for i in 0..n {
            let p = pos.wrapping_add(i);
            self.region
                .len_word(self.ring, p)
                .store(len, Ordering::Relaxed);
            self.region
                .seq(self.ring, p)
                .store(p.wrapping_add(1), Ordering::Release);
        }
        // Orders every commit above before the sleepers load (see the
        // protocol): a sleeping consumer waits on the first slot's word.
        fence(Ordering::SeqCst);
        if self.ctl().data_sleepers.word.load(Ordering::Relaxed) != 0 {
            wait::wake(self.region.seq(self.ring, pos), u32::MAX);
        }
        self.ctl()
            .tail
            .word
            .store(pos.wrapping_add(n), Ordering::Relaxed);
    }

    /// Whether a producer waiting for room should look again: room, or
    /// indices that make no sense (the next send reports them).
    pub fn has_space(&self) -> bool {
        let tail = self.ctl().tail.word.load(Ordering::SeqCst);
        let head = self.ctl().head.word.load(Ordering::SeqCst);
        tail.wrapping_sub(head) != self.cap()
    }

    /// The word a producer waiting for room sleeps on, and its sleepers count.
    pub fn space_word(&self) -> (&'a AtomicU32, &'a AtomicU32) {
        (&self.ctl().head.word, &self.ctl().space_sleepers.word)
    }

    /// Run by a process taking over the producer end: counts frames that a
    /// killed producer committed but did not add to `tail`, and returns the
    /// consumer's `head` as the new cached value.
    pub fn recover_tail(&self) -> Result<u32> {
        let cap = self.cap();
        let head = self.ctl().head.word.load(Ordering::Acquire);
        let mut tail = self.ctl().tail.word.load(Ordering::Relaxed);
        let ahead = head.wrapping_sub(tail);
        if ahead != 0 && ahead <= cap {
            // The consumer already took frames the dead producer published
            // but never counted.
            tail = head;
        }
        let mut used = tail.wrapping_sub(head);
        if used > cap {
            return Err(corrupted_indices(tail, head, cap));
        }
        let start = self.ctl().tail.word.load(Ordering::Relaxed);
        while used < cap
            && self.region.seq(self.ring, tail).load(Ordering::Acquire) == tail.wrapping_add(1)
        {
            tail = tail.wrapping_add(1);
            used += 1;
        }
        if tail != start {
            self.ctl().tail.word.store(tail, Ordering::Relaxed);
        }
        Ok(head)
    }

    // ----- consumer side -------------------------------------------------

    /// The consumer's cross-check of the producer's index, run when the ring
    /// looks empty on a slow path: `tail` and `head` must be within
    /// `capacity` of each other (`head` may lead by the frames a producer
    /// published but had not yet counted when it was killed).
    pub fn check_indices(&self) -> Result<()> {
        let cap = self.cap();
        let head = self.head();
        let tail = self.ctl().tail.word.load(Ordering::Acquire);
        if tail.wrapping_sub(head) <= cap || head.wrapping_sub(tail) <= cap {
            Ok(())
        } else {
            Err(corrupted_indices(tail, head, cap))
        }
    }

    /// The consumer's next position.
    #[inline]
    pub fn head(&self) -> u32 {
        self.ctl().head.word.load(Ordering::Relaxed)
    }

    /// The frame length at `pos` if it is published, `None` if the slot is
    /// still free; corrupted otherwise.
    #[inline]
    pub fn peek_at(&self, pos: u32) -> Result<Option<usize>> {
        let seq = self.region.seq(self.ring, pos).load(Ordering::Acquire);
        if seq == pos.wrapping_add(1) {
            let len = self.region.len_word(self.ring, pos).load(Ordering::Relaxed);
            if len > self.region.geo.max_frame {
                return Err(Error::corrupted(format!(
                    "pipe frame length {len} exceeds the {}-byte maximum",
                    self.region.geo.max_frame
                )));
            }
            Ok(Some(len as usize))
        } else if seq == pos.wrapping_add(1).wrapping_sub(self.cap()) {
            Ok(None)
        } else {
            Err(Error::corrupted(format!(
                "pipe slot sequence {seq:#x} fits neither a frame nor a free slot at position {pos:#x}"
            )))
        }
    }

    /// The next frame: its position and length, or `None` if empty.
    #[inline]
    pub fn peek(&self) -> Result<Option<(u32, usize)>> {
        let head = self.head();
        Ok(self.peek_at(head)?.map(|len| (head, len)))
    }

    /// Copies the first `dst.len()` bytes of the published frame at `pos`.
    #[inline]
    pub fn read(&self, pos: u32, dst: &mut [u8]) {
        self.region.read_payload(self.ring, pos, dst);
    }

    /// Reads a `T` out of the published frame at `pos` (length checked by
    /// the caller).
    #[inline]
    pub fn read_value<T: zerocopy::FromBytes>(&self, pos: u32) -> T {
        self.region.read_value(self.ring, pos)
    }

    /// Frees every slot before `new_head` (the frames were copied out).
    #[inline]
    pub fn consume_to(&self, new_head: u32) {
        let head = &self.ctl().head.word;
        // Release store and fence rather than an exchange, as in `publish_one`.
        head.store(new_head, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.ctl().space_sleepers.word.load(Ordering::Relaxed) != 0 {
            wait::wake(head, u32::MAX);
        }
    }

    /// Whether a waiting consumer should look again: the head slot is no
    /// longer free (a frame, or corruption that the receive reports).
    #[inline]
    pub fn data_ready(&self) -> bool {
        let head = self.head();
        let seq = self.region.seq(self.ring, head).load(Ordering::SeqCst);
        seq != head.wrapping_add(1).wrapping_sub(self.cap())
    }

    /// The word a waiting consumer sleeps on (the head slot's `seq`), and
    /// the sleepers count the producer checks.
    #[inline]
    pub fn data_word(&self) -> (&'a AtomicU32, &'a AtomicU32) {
        let head = self.head();
        (
            self.region.seq(self.ring, head),
            &self.ctl().data_sleepers.word,
        )
    }

    // ----- both ----------------------------------------------------------

    /// Wakes everybody who may sleep on this ring: the consumer on its head
    /// slot, producers on `head`. Used when an end closes.
    pub fn wake_everyone(&self) {
        wait::wake(self.data_word().0, u32::MAX);
        wait::wake(&self.ctl().head.word, u32::MAX);
    }
}

fn corrupted_indices(tail: u32, head: u32, cap: u32) -> Error {
    Error::corrupted(format!(
        "pipe indices out of range: tail {tail:#x} - head {head:#x} exceeds the capacity {cap}"
    ))
}
