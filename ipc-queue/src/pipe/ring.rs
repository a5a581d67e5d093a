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

use super::layout::{PipeFrame, PipeGeometry, Region};
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

    /// Room for up to `want` frames of `frame` bytes each: returns the first
    /// position and how many (at least 1), or [`Error::Full`].
    #[inline]
    pub fn reserve(&self, want: u32, frame: usize, cached_head: &Cell<u32>) -> Result<(u32, u32)> {
        let (pos, n) = self.reserve_slots(want, cached_head)?;
        if !self.region.geo.has_ring() {
            return Ok((pos, n));
        }
        match self.frames_that_fit(n, frame)? {
            0 => Err(Error::Full),
            fit => Ok((pos, fit)),
        }
    }

    /// Room in the slots for up to `want` frames.
    #[inline]
    fn reserve_slots(&self, want: u32, cached_head: &Cell<u32>) -> Result<(u32, u32)> {
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

    // ----- the byte ring (see layout.rs) -----

    /// Byte ring: the byte positions in use, `[oldest, data head)`: from
    /// the frame at `head` (the producer wrote its slot and rewrites it only
    /// after `head` passed it) to the data head; empty if every frame was
    /// consumed (`None`). Checked: at most the ring's size.
    fn bytes_in_use(&self) -> Result<(Option<u64>, u64)> {
        let data_head = self.ctl().tail.bytes.load(Ordering::Relaxed);
        let tail = self.ctl().tail.word.load(Ordering::Relaxed);
        let head = self.ctl().head.word.load(Ordering::Acquire);
        if head == tail {
            return Ok((None, data_head));
        }
        let oldest = self
            .region
            .frame_pos_word(self.ring, head)
            .load(Ordering::Relaxed);
        if data_head.wrapping_sub(oldest) > self.region.geo.ring_bytes {
            return Err(Error::corrupted(format!(
                "pipe byte ring positions out of range: oldest {oldest}, head {data_head}"
            )));
        }
        Ok((Some(oldest), data_head))
    }

    /// Byte ring: where a frame of `frame` bytes goes after data head `h`
    /// with bytes in use from `oldest` (none: `None`); `None`: no room yet.
    fn place(&self, oldest: Option<u64>, h: u64, frame: usize) -> Option<u64> {
        let size = self.region.geo.ring_bytes;
        let need = PipeGeometry::reservation(frame);
        let off = h % size;
        let pad = if off + need > size { size - off } else { 0 };
        // With nothing in use the padding is free space too.
        let room = match oldest {
            None => need,
            Some(oldest) => (h + pad + need).wrapping_sub(oldest),
        };
        (room <= size).then_some(h + pad)
    }

    /// Byte ring: how many of up to `n` frames of `frame` bytes fit now.
    #[cold]
    #[inline(never)]
    fn frames_that_fit(&self, n: u32, frame: usize) -> Result<u32> {
        let (mut oldest, mut h) = self.bytes_in_use()?;
        let mut fit = 0;
        while fit < n {
            let Some(at) = self.place(oldest, h, frame) else {
                break;
            };
            oldest = oldest.or(Some(at));
            h = at + PipeGeometry::reservation(frame);
            fit += 1;
        }
        Ok(fit)
    }

    /// Where the frame for the reserved position `pos` (of up to `len`
    /// bytes) is written. With a byte ring, places it at the data head
    /// (room was checked by `reserve`; checked again here, against a
    /// scribbled index), records the place in the slot and moves the data
    /// head past it.
    #[inline]
    pub fn frame_for(&self, pos: u32, len: usize) -> Result<PipeFrame> {
        if !self.region.geo.has_ring() {
            return Ok(self.region.slot_frame(self.ring, pos));
        }
        self.frame_in_ring(pos, len)
    }

    /// [`frame_for`](Self::frame_for) with a byte ring (kept out of line,
    /// so that the slots' fast path stays small).
    #[cold]
    #[inline(never)]
    fn frame_in_ring(&self, pos: u32, len: usize) -> Result<PipeFrame> {
        let (oldest, h) = self.bytes_in_use()?;
        let Some(at) = self.place(oldest, h, len) else {
            return Err(Error::corrupted(
                "pipe byte ring has no room for a reserved frame",
            ));
        };
        let f = self.region.ring_frame(self.ring, at, len)?;
        self.region
            .frame_pos_word(self.ring, pos)
            .store(at, Ordering::Relaxed);
        self.ctl()
            .tail
            .bytes
            .store(at + PipeGeometry::reservation(len), Ordering::Relaxed);
        Ok(f)
    }

    /// Calls `fill` with the bytes of a reserved, unpublished frame, to
    /// build a message in place.
    #[cfg(feature = "rkyv")]
    #[allow(unsafe_code)] // the protocol step is argued inline
    pub fn fill<R>(&self, f: PipeFrame, fill: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: the producer (this end, exclusive: see `end.rs`) reserved
        // `f` and has not published it, so no consumer reads it, and the
        // slice lives only for this call.
        fill(unsafe { self.region.frame_slice(f) })
    }

    /// Copies `bytes` (at most the frame's room) into a reserved frame.
    #[inline]
    pub fn write(&self, f: PipeFrame, bytes: &[u8]) {
        self.region.write(f, bytes);
    }

    /// Copies `bytes` to offset `at` of a reserved frame; `false` if they
    /// would pass its room.
    #[cfg(feature = "serde")]
    #[inline]
    pub fn write_at(&self, f: PipeFrame, at: usize, bytes: &[u8]) -> bool {
        self.region.write_at(f, at, bytes)
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

    /// Whether a producer waiting for room for a frame of `frame` bytes
    /// should look again: room, or indices that make no sense (the next
    /// send reports them).
    pub fn has_space(&self, frame: usize) -> bool {
        let tail = self.ctl().tail.word.load(Ordering::SeqCst);
        let head = self.ctl().head.word.load(Ordering::SeqCst);
        tail.wrapping_sub(head) != self.cap()
            && (!self.region.geo.has_ring()
                || self.frames_that_fit(1, frame).map_or(true, |n| n > 0))
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
            if self.region.geo.has_ring() {
                self.locate_in_ring(pos, len as usize)?;
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

    /// Where the published frame at `pos`, of `len` bytes, lies (checked).
    #[inline]
    fn locate(&self, pos: u32, len: usize) -> Result<PipeFrame> {
        if !self.region.geo.has_ring() {
            return Ok(self.region.slot_frame(self.ring, pos).truncated(len));
        }
        self.locate_in_ring(pos, len)
    }

    /// [`locate`](Self::locate) with a byte ring (out of line).
    #[cold]
    #[inline(never)]
    fn locate_in_ring(&self, pos: u32, len: usize) -> Result<PipeFrame> {
        let at = self
            .region
            .frame_pos_word(self.ring, pos)
            .load(Ordering::Relaxed);
        self.region.ring_frame(self.ring, at, len)
    }

    /// Where the published frame at `pos` lies, for a read of `len` bytes
    /// that `peek_at` already checked; a place scribbled since then reads
    /// as nothing (the destination keeps its zeros), never outside the ring.
    #[inline]
    fn located(&self, pos: u32, len: usize) -> PipeFrame {
        self.locate(pos, len).unwrap_or(PipeFrame::EMPTY)
    }

    /// Calls `read` with the published frame at `pos` (`len` bytes, as
    /// `peek_at` returned) where it lies; the caller consumes it after.
    #[allow(unsafe_code)] // the protocol step is argued inline
    pub fn read_in_place<R>(&self, pos: u32, len: usize, read: impl FnOnce(&[u8]) -> R) -> R {
        let f = self.located(pos, len);
        // SAFETY: the frame at `pos` is published and not consumed (`head`
        // has not passed it), so the producer does not write it; this end is
        // the only consumer; only a shared view is formed, for this call.
        read(unsafe { self.region.frame_slice(f) })
    }

    /// Copies the first `dst.len()` bytes of the published frame at `pos`.
    #[inline]
    pub fn read(&self, pos: u32, dst: &mut [u8]) {
        self.region.read(self.located(pos, dst.len()), dst);
    }

    /// Reads a `T` out of the published frame at `pos` (length checked by
    /// the caller).
    #[inline]
    pub fn read_value<T: zerocopy::FromBytes>(&self, pos: u32) -> T {
        self.region.read_value(self.located(pos, size_of::<T>()))
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
