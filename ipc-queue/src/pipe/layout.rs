//! The pipe's bytes in shared memory, and the only raw access to them.
//!
//! ```text
//! payload of the ObjectSegment (offsets from its start):
//!   0     config    magic, rings, capacity, max_frame, stride, flags,
//!                   ring_bytes (immutable after creation)
//!   128   end A     owner (pid << 32 | start time low bits), closed
//!   192   end B     owner, closed
//!   256   ring 0    tail, data head | head | data sleepers |
//!                   space sleepers, 128 bytes each
//!   768   ring 1    (same; unused by a one-way channel)
//!   1280  slots: capacity × rings × stride, rounded up to 64; by default
//!         the two rings interleaved (ring 0 position p, ring 1 position p,
//!         ring 0 position p + 1, ...), with flag SEPARATE_RINGS one array
//!         per ring
//!   ...   with flag BYTE_RING: ring 0's frame bytes, then ring 1's,
//!         ring_bytes each
//! slot:  payload (max_frame rounded up to 8; with a byte ring, the u64
//!        byte position of the frame) | len u32 | seq u32 | padding to the stride
//! ```
//!
//! **Byte ring** (flag BYTE_RING, `PipeBuilder::ring_bytes`): frames take
//! their own length (rounded up to 8) in a byte ring per direction, with
//! padding to the ring's end where a frame would straddle it, instead of a
//! slot of `max_frame` bytes each. The producer places each frame at its
//! data head (free-running, in its `tail` line) and records the position in
//! the slot. The bytes in use run from the position recorded in the slot
//! at `head` (the oldest frame not consumed; only the producer writes
//! slots, and it rewrites that one only after `head` has passed it) to the
//! data head; with `head == tail` none are. The consumer does nothing
//! more than in a pipe of fixed slots, so a consumer killed mid-read still
//! leaves its frame, bytes included, queued. A producer killed after
//! moving the data head but before publishing leaves a gap that is free
//! again once the frames before it are consumed.
//!
//! Why interleaved: in a request/response exchange over a duplex pipe, the
//! reply to the message at position `p` goes to position `p` of the other
//! ring. With small frames both slots then share one cache line, which the
//! responder already holds when it writes the reply, so a round trip moves
//! one line back and forth, as `limit_spin_pingpong` does. With each ring in
//! its own array the reply lands on a second line, and a one-way hop
//! measured twice as slow on this machine's mesh (130 ns against 60 ns in a
//! raw two-process test). The cost falls on a full-duplex stream of tiny
//! frames, whose two producers then write the same lines (see the
//! `pipe_duplex_tput_8B` row); such pipes are created with separate arrays
//! (`PipeBuilder::interleave(false)`).
//!
//! Ring 0 carries A → B (a channel's sender is A), ring 1 carries B → A.
//! Each index word has 128 bytes to itself, so that neither a cache line
//! nor the pair of lines Intel's adjacent-line prefetcher fetches together
//! is written by both sides.
//!
//! Every address is computed from the [`PipeGeometry`] this process validated
//! when it created or opened the pipe, never from words other processes can
//! change afterwards: a slot position is masked with `capacity - 1`, a frame
//! length is clamped to `max_frame`. A scribbled index or length in shared
//! memory therefore yields an error (see `ring.rs`), never an out-of-bounds
//! access. Frame bytes are reached through raw-pointer copies, and through
//! a slice only where the protocol gives the caller the frame: the producer
//! a reserved frame it fills in place (`send_rkyv`), the consumer a
//! published frame it reads in place before consuming it
//! (`recv_bytes_with`, `recv_rkyv_with`); see [`Region::frame_slice`].
//!
//! This module holds the pipe's raw access above and the registration of a
//! fork counter ([`ipc_core::liveness::forks_made`]); the only other
//! `unsafe` in the pipe is the two calls of `frame_slice` in `ring.rs`.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipc_core::liveness::current_pid;
use ipc_core::segment::{ObjectKind, ObjectSegment, SegmentOptions, TypeDesc};
use zerocopy::FromBytes;

use crate::{Error, Result};

/// Largest number of slots per direction (2^30): positions are free-running
/// `u32`s, and "published" (`pos + 1`) must stay distinguishable from "free"
/// (`pos + 1 - capacity`).
pub const MAX_CAPACITY: usize = 1 << 30;
/// Largest frame a pipe may be created with (64 MiB).
pub const MAX_FRAME: usize = 64 << 20;

/// `b"PIPE"`: the config line of a live pipe starts with it.
const MAGIC: u32 = u32::from_le_bytes(*b"PIPE");

/// Object kind of a duplex [`Pipe`](super::Pipe).
pub(crate) const PIPE_KIND: ObjectKind = ObjectKind {
    code: 200,
    version: 2,
    name: "ipc-queue pipe",
};
/// Object kind of a one-way [`channel`](super::channel).
pub(crate) const CHANNEL_KIND: ObjectKind = ObjectKind {
    code: 201,
    version: 1,
    name: "ipc-queue channel",
};

/// Immutable after creation; copied into each handle and validated there.
#[repr(C, align(128))]
pub(crate) struct PipeConfig {
    magic: AtomicU32,
    rings: AtomicU32,
    capacity: AtomicU32,
    max_frame: AtomicU32,
    stride: AtomicU32,
    flags: AtomicU32,
    /// Bytes of each direction's frame ring (flag BYTE_RING).
    ring_bytes: AtomicU64,
}

/// `PipeConfig::flags`: each ring has its own slot array (not interleaved).
const SEPARATE_RINGS: u32 = 1;
/// `PipeConfig::flags`: frames live in a byte ring per direction.
const BYTE_RING: u32 = 2;

/// One end's ownership and liveness record.
#[repr(C, align(64))]
pub(crate) struct EndState {
    /// The process using this end: `pid << 32 | (start time & 0xffff_ffff)`,
    /// one word so that it can never be read torn; 0 while unclaimed.
    pub owner: AtomicU64,
    /// Non-zero once the end was closed (dropped) by its owner.
    pub closed: AtomicU32,
}

/// A 32-bit word alone on its pair of cache lines.
#[repr(C, align(128))]
pub(crate) struct Line {
    pub word: AtomicU32,
}

/// A 32-bit index and a 64-bit byte position on their own pair of cache
/// lines (the byte position is used by byte-ring pipes only).
#[repr(C, align(128))]
pub(crate) struct IndexLine {
    pub word: AtomicU32,
    pub bytes: AtomicU64,
}

/// The control block of one direction.
#[repr(C)]
pub(crate) struct RingCtl {
    /// Next position the producer writes (free-running); producer-owned.
    /// `bytes`: the byte ring's data head, where the next frame goes.
    pub tail: IndexLine,
    /// Next position the consumer reads (free-running); consumer-owned. The
    /// futex word of a producer waiting for room.
    pub head: Line,
    /// Consumers asleep on a slot's `seq` word; the producer wakes them when
    /// non-zero.
    pub data_sleepers: Line,
    /// Producers asleep on `head`; the consumer wakes them when non-zero.
    pub space_sleepers: Line,
}

/// The fixed part of the payload; `#[repr(C)]`, 1280 bytes.
#[repr(C)]
pub(crate) struct PipeShared {
    pub config: PipeConfig,
    pub ends: [EndState; 2],
    pub rings: [RingCtl; 2],
}

/// Bytes before the first slot.
pub(crate) const SHARED_LEN: usize = 1280;
const _: () = assert!(size_of::<PipeConfig>() == 128);
const _: () = assert!(size_of::<EndState>() == 64);
const _: () = assert!(size_of::<Line>() == 128);
const _: () = assert!(size_of::<IndexLine>() == 128);
const _: () = assert!(size_of::<RingCtl>() == 512);
const _: () = assert!(size_of::<PipeShared>() == SHARED_LEN);
const _: () = assert!(core::mem::offset_of!(PipeShared, ends) == 128);
const _: () = assert!(core::mem::offset_of!(PipeShared, rings) == 256);
const _: () = assert!(core::mem::offset_of!(RingCtl, head) == HEAD_OFFSET);

/// Offset of ring `r`'s control block in the payload (documented layout, for
/// tests that damage the indices on purpose).
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub const fn ring_ctl_offset(r: usize) -> usize {
    256 + 512 * r
}
/// Offset of the first slot in the payload.
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub const SLOTS_OFFSET: usize = SHARED_LEN;
/// Offset of `tail` inside a ring's control block.
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub const TAIL_OFFSET: usize = 0;
/// Offset of `head` inside a ring's control block.
#[doc(hidden)]
pub const HEAD_OFFSET: usize = 128;

/// The shape of a pipe, validated once per handle; every address derives
/// from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PipeGeometry {
    /// 1 (channel) or 2 (duplex pipe).
    pub rings: u32,
    /// Slots per ring, a power of two in `1..=MAX_CAPACITY`.
    pub capacity: u32,
    /// Largest frame in bytes, at most `MAX_FRAME`.
    pub max_frame: u32,
    /// Offset of `len` (and then `seq`) in a slot: `max_frame` rounded up to 8.
    pub trailer: usize,
    /// Bytes per slot: a multiple of 8 (of 64 for frames of 512 bytes or more,
    /// so that large payloads start on a cache line).
    pub stride: usize,
    /// Bytes of the slot array (both rings), rounded up to 64.
    pub slots_bytes: usize,
    /// Whether the rings' slots alternate (see the module docs).
    pub interleaved: bool,
    /// Bytes of each direction's frame ring; 0 without one.
    pub ring_bytes: u64,
    /// Offset of ring 0's frame bytes in the payload (ring 1's follow).
    pub data_offset: usize,
    /// Bytes from one position's slot to the next one's, in one ring.
    slot_step: usize,
    /// Bytes from ring 0's slot of a position to ring 1's.
    ring_step: usize,
}

impl PipeGeometry {
    /// The shape of a new pipe. `capacity` must already be a power of two;
    /// `ring_bytes` is 0 for frames in the slots, else each direction's
    /// byte ring (rounded up to 64).
    pub fn new(
        rings: u32,
        capacity: usize,
        max_frame: usize,
        interleaved: bool,
        ring_bytes: u64,
    ) -> Result<Self> {
        if !(1..=MAX_CAPACITY).contains(&capacity) || !capacity.is_power_of_two() {
            return Err(ipc_core::Error::InvalidSize {
                size: capacity as u64,
                reason: "pipe capacity must be a power of two between 1 and 2^30 slots",
            }
            .into());
        }
        if max_frame > MAX_FRAME {
            return Err(ipc_core::Error::InvalidSize {
                size: max_frame as u64,
                reason: "pipe frames are limited to 64 MiB",
            }
            .into());
        }
        if !(1..=2).contains(&rings) {
            return Err(ipc_core::Error::InvalidArgument {
                reason: "a pipe has one or two directions",
            }
            .into());
        }
        let ring_bytes = ring_bytes.next_multiple_of(64);
        if ring_bytes != 0 && ring_bytes < max_frame.next_multiple_of(8) as u64 {
            return Err(ipc_core::Error::InvalidSize {
                size: ring_bytes,
                reason: "the frame ring (`ring_bytes`) must hold at least one frame of `max_frame` bytes",
            }
            .into());
        }
        // With a byte ring the slot's payload is the frame's position.
        let payload = if ring_bytes == 0 { max_frame } else { 8 };
        let trailer = payload.next_multiple_of(8);
        let unit = if payload >= 512 { 64 } else { 8 };
        let stride = (trailer + 8).next_multiple_of(unit);
        let too_big = || -> Error {
            ipc_core::Error::InvalidSize {
                size: capacity as u64,
                reason: "capacity × frame size exceeds the 1 TiB segment limit",
            }
            .into()
        };
        let slots_bytes = stride
            .checked_mul(capacity)
            .and_then(|b| b.checked_mul(rings as usize))
            .and_then(|b| b.checked_next_multiple_of(64))
            .ok_or_else(too_big)?;
        let data_offset = SHARED_LEN.checked_add(slots_bytes).ok_or_else(too_big)?;
        let g = Self {
            ring_bytes,
            data_offset,
            rings,
            capacity: capacity as u32,
            max_frame: max_frame as u32,
            trailer,
            stride,
            slots_bytes,
            interleaved,
            // Interleaved: ring 0 p, ring 1 p, ring 0 p + 1, ... Separate:
            // ring 0's array, then ring 1's. Precomputed, so that the
            // address of a slot is the same branch-free sum either way.
            slot_step: if interleaved {
                stride * rings as usize
            } else {
                stride
            },
            ring_step: if interleaved {
                stride
            } else {
                stride * capacity
            },
        };
        if g.payload_len().is_none() {
            return Err(too_big());
        }
        Ok(g)
    }

    /// Bytes the payload needs, if that fits a segment.
    pub fn payload_len(&self) -> Option<u64> {
        (self.slots_bytes as u64)
            .checked_add(SHARED_LEN as u64)
            .and_then(|n| n.checked_add(self.ring_bytes.checked_mul(u64::from(self.rings))?))
            // Leave room for the segment header in front of the payload.
            .filter(|&n| n <= ipc_core::segment::MAX_SEGMENT_LEN - 4096)
    }

    /// Whether frames live in a byte ring per direction.
    #[inline]
    pub fn has_ring(&self) -> bool {
        self.ring_bytes != 0
    }

    /// Bytes a frame of `len` bytes takes in the byte ring (before padding).
    #[inline]
    pub fn reservation(len: usize) -> u64 {
        len.next_multiple_of(8) as u64
    }

    /// `capacity - 1`: positions are masked with it.
    #[inline]
    pub fn mask(&self) -> u32 {
        self.capacity - 1
    }

    /// Offset of the slot of position `pos` in ring `ring` (always in bounds:
    /// the ring is clamped to the ones that exist, the position masked).
    #[inline]
    fn slot_offset(&self, ring: usize, pos: u32) -> usize {
        let ring = ring.min(self.rings as usize - 1);
        SHARED_LEN + (pos & self.mask()) as usize * self.slot_step + ring * self.ring_step
    }
}

/// A mapped pipe: the segment, its validated geometry and the payload
/// pointer. Handles share it through an `Arc`; all raw access goes through
/// its methods.
#[derive(Debug)]
pub(crate) struct Region {
    seg: ObjectSegment,
    base: NonNull<u8>,
    pub geo: PipeGeometry,
    /// The process that created or opened this mapping handle: a forked child
    /// that drops its inherited copy must not remove the creator's name.
    home_pid: u32,
}

// SAFETY: `Region` owns its mapping (the ObjectSegment) and `base` points into
// it; the mapping is MAP_SHARED and stays valid wherever the Region goes.
// Every access through `base` is atomic, or a copy of slot bytes that the
// ring protocol gives the caller exclusively, so moving it to another thread
// is fine.
unsafe impl Send for Region {}
// SAFETY: as above: shared access from several threads only performs atomic
// operations on the control words; slot copies are serialised by the SPSC
// protocol, and the handles that perform them are not `Sync`.
unsafe impl Sync for Region {}

impl Region {
    /// Creates the segment and initialises the control block and the slots'
    /// `seq` words so that positions `start..start + capacity` are free.
    pub fn create(
        opts: &SegmentOptions,
        kind: ObjectKind,
        ty: &TypeDesc,
        geo: PipeGeometry,
        start: u32,
    ) -> Result<Self> {
        let payload_len = geo.payload_len().ok_or_else(|| {
            Error::Core(ipc_core::Error::InvalidSize {
                size: u64::from(geo.capacity),
                reason: "capacity × frame size exceeds the 1 TiB segment limit",
            })
        })?;
        let seg = ObjectSegment::create(opts, kind, ty, payload_len, |base, len| {
            if len < SHARED_LEN
                || !(base.as_ptr() as usize).is_multiple_of(align_of::<PipeShared>())
            {
                return Err(ipc_core::Error::InvalidArgument {
                    reason: "pipe payload misplaced",
                });
            }
            // SAFETY: the payload is `len >= payload_len` zeroed, writable
            // bytes aligned to 128, private to us until the segment is
            // published; the geometry was checked against `len`.
            unsafe { init(base, geo, start) };
            Ok(())
        })?;
        Self::from_segment(seg, geo, false)
    }

    /// Opens an existing pipe of `kind` whose message type is `ty`, and
    /// validates its configuration against the checked header.
    pub fn open(
        opts: &SegmentOptions,
        kind: ObjectKind,
        ty: &TypeDesc,
        rings: u32,
    ) -> Result<Self> {
        let seg = ObjectSegment::open(opts, kind, Some(ty))?;
        let geo = Self::checked_geometry(&seg, Some(rings), ty.size)?;
        Self::from_segment(seg, geo, false)
    }

    /// Opens a pipe or channel of any message type through a read-only
    /// mapping, for inspection alone (claims no end; only `shared`, `end`
    /// and `ctl` may be used). Returns it with the number of directions.
    pub fn open_for_inspection(opts: &SegmentOptions, kind: ObjectKind) -> Result<Self> {
        let seg = ObjectSegment::open(&opts.clone().read_only(true), kind, None)?;
        let size = seg.header().type_size;
        let geo = Self::checked_geometry(&seg, None, size)?;
        Self::from_segment(seg, geo, true)
    }

    /// The geometry recorded in `seg`'s config line, checked against the
    /// segment (and against `rings` directions and messages of `size` bytes).
    fn checked_geometry(
        seg: &ObjectSegment,
        rings: Option<u32>,
        size: u64,
    ) -> Result<PipeGeometry> {
        let base = seg.payload();
        let bad = |reason: &str| Error::corrupted(format!("pipe configuration: {reason}"));
        if seg.payload_len() < SHARED_LEN
            || !(base.as_ptr() as usize).is_multiple_of(align_of::<PipeShared>())
        {
            return Err(bad("payload too short or misaligned"));
        }
        // SAFETY: at least SHARED_LEN bytes are mapped at the 128-aligned
        // payload (checked above), and the PipeConfig at its start consists of
        // atomics, which tolerate concurrent writes by other processes.
        let config = unsafe { &*base.as_ptr().cast::<PipeConfig>() };
        let load = |w: &AtomicU32| w.load(Ordering::Acquire);
        if load(&config.magic) != MAGIC {
            return Err(bad("bad magic"));
        }
        let found = load(&config.rings);
        if rings.is_some_and(|r| r != found) || !(1..=2).contains(&found) {
            return Err(bad("wrong number of directions"));
        }
        let flags = load(&config.flags);
        if flags & !(SEPARATE_RINGS | BYTE_RING) != 0 {
            return Err(bad("unknown flags"));
        }
        let ring_bytes = config.ring_bytes.load(Ordering::Acquire);
        if (flags & BYTE_RING != 0) != (ring_bytes != 0) {
            return Err(bad("byte ring flag and size disagree"));
        }
        let geo = PipeGeometry::new(
            found,
            load(&config.capacity) as usize,
            load(&config.max_frame) as usize,
            flags & SEPARATE_RINGS == 0,
            ring_bytes,
        )
        .map_err(|_| bad("capacity or frame size out of range"))?;
        if geo.stride != load(&config.stride) as usize
            || (geo.max_frame as u64) < size
            || geo.payload_len() != Some(seg.payload_len() as u64)
        {
            return Err(bad("inconsistent with the segment"));
        }
        Ok(geo)
    }

    fn from_segment(seg: ObjectSegment, geo: PipeGeometry, inspecting: bool) -> Result<Self> {
        let base = seg.payload();
        if seg.payload_len() as u64 != geo.payload_len().unwrap_or(u64::MAX)
            || !(base.as_ptr() as usize).is_multiple_of(align_of::<PipeShared>())
        {
            return Err(Error::corrupted("pipe payload does not match its geometry"));
        }
        // The payload pointer must be writable: a pipe cannot be used
        // through a read-only mapping.
        if seg.segment().is_read_only() && !inspecting {
            return Err(ipc_core::Error::InvalidArgument {
                reason: "a pipe cannot be opened read-only",
            }
            .into());
        }
        Ok(Self {
            seg,
            base,
            geo,
            home_pid: current_pid(),
        })
    }

    /// The segment, e.g. to learn its name.
    pub fn segment(&self) -> &ObjectSegment {
        &self.seg
    }

    /// The control block.
    #[inline]
    pub fn shared(&self) -> &PipeShared {
        // SAFETY: the first SHARED_LEN bytes of the payload hold a PipeShared,
        // initialised by the creator before the segment became READY, mapped
        // while `self` lives and 128-aligned (both checked in `from_segment`).
        // Every field is an atomic, so concurrent writes by other processes
        // are not data races.
        unsafe { self.base.cast::<PipeShared>().as_ref() }
    }

    /// The control block of ring `ring`.
    #[inline]
    pub fn ctl(&self, ring: usize) -> &RingCtl {
        &self.shared().rings[ring.min(self.geo.rings as usize - 1)]
    }

    /// The state of end `side` (0 = A, 1 = B).
    #[inline]
    pub fn end(&self, side: usize) -> &EndState {
        &self.shared().ends[side & 1]
    }

    /// Pointer to the slot of `pos` in `ring`.
    #[inline]
    fn slot(&self, ring: usize, pos: u32) -> *mut u8 {
        // SAFETY: with the position masked below `capacity` and the ring
        // clamped below `rings`, `slot_offset` is at most SHARED_LEN +
        // (capacity × rings - 1) × stride in either layout (interleaved:
        // (capacity - 1) × rings × stride + (rings - 1) × stride; separate:
        // (capacity - 1) × stride + (rings - 1) × capacity × stride), so the
        // whole slot lies below SHARED_LEN + slots_bytes = payload_len(),
        // exactly the mapped payload (checked in `from_segment`).
        unsafe { self.base.as_ptr().add(self.geo.slot_offset(ring, pos)) }
    }

    /// The `seq` word of a slot: `pos + 1` once the frame at `pos` is
    /// published, `pos + 1 - capacity` while the slot is free for `pos`.
    #[inline]
    pub fn seq(&self, ring: usize, pos: u32) -> &AtomicU32 {
        // SAFETY: trailer + 8 <= stride keeps the word inside the slot; the
        // slot is 8-aligned (SHARED_LEN and stride are multiples
        // of 8), so offset trailer + 4 is 4-aligned; an AtomicU32 tolerates
        // concurrent access by other processes.
        unsafe {
            &*self
                .slot(ring, pos)
                .add(self.geo.trailer + 4)
                .cast::<AtomicU32>()
        }
    }

    /// The `len` word of a slot (as written by the producer; unchecked).
    #[inline]
    pub fn len_word(&self, ring: usize, pos: u32) -> &AtomicU32 {
        // SAFETY: as for `seq`, at offset `trailer`.
        unsafe {
            &*self
                .slot(ring, pos)
                .add(self.geo.trailer)
                .cast::<AtomicU32>()
        }
    }

    /// Byte ring: the word of a slot that holds its frame's byte position
    /// (free-running; unchecked).
    #[inline]
    pub fn frame_pos_word(&self, ring: usize, pos: u32) -> &AtomicU64 {
        debug_assert!(self.geo.has_ring());
        // SAFETY: with a byte ring the slot's payload is 8 bytes at its
        // start (trailer = 8); the slot is 8-aligned; an AtomicU64 tolerates
        // concurrent access by other processes.
        unsafe { &*self.slot(ring, pos).cast::<AtomicU64>() }
    }

    /// Where the frame of the slot at `pos` lies with fixed slots: the
    /// slot's payload, `max_frame` bytes.
    #[inline]
    pub fn slot_frame(&self, ring: usize, pos: u32) -> PipeFrame {
        PipeFrame {
            offset: self.geo.slot_offset(ring, pos),
            cap: self.geo.max_frame as usize,
        }
    }

    /// Where a frame of `len` bytes at byte position `at` of `ring`'s byte
    /// ring lies, checked: it must end inside the ring and fit `max_frame`.
    pub fn ring_frame(&self, ring: usize, at: u64, len: usize) -> Result<PipeFrame> {
        let size = self.geo.ring_bytes;
        let start = at % size.max(1);
        if !self.geo.has_ring()
            || len > self.geo.max_frame as usize
            || start + len as u64 > size
            || !start.is_multiple_of(8)
        {
            return Err(Error::corrupted(format!(
                "pipe frame of {len} bytes at byte {at} outside the {size}-byte ring"
            )));
        }
        let ring = ring.min(self.geo.rings as usize - 1);
        Ok(PipeFrame {
            offset: self.geo.data_offset + ring * size as usize + start as usize,
            cap: len,
        })
    }

    /// Copies `src` (clamped to the frame's room) into a frame the caller
    /// owns as the producer (reserved, not yet published).
    #[inline]
    pub fn write(&self, f: PipeFrame, src: &[u8]) {
        // `src.len()` itself when it fits (always, for a checked caller):
        // for a typed send it is a constant, and the copy becomes a few moves
        // instead of a call to `memcpy`.
        let n = if src.len() <= f.cap { src.len() } else { f.cap };
        // SAFETY: `f` was made by `slot_frame` or `ring_frame`, so its `cap`
        // bytes lie inside the payload (a slot's payload, or the byte ring,
        // both below payload_len(), checked in `from_segment`); `src` is
        // process-local memory, so the ranges cannot overlap; the protocol
        // keeps consumers off an unpublished frame.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(f.offset), n) };
    }

    /// Copies `src` to offset `at` of a frame the caller owns as the
    /// producer; `false` (nothing copied) if it would pass the frame's room.
    #[cfg(feature = "serde")]
    #[inline]
    pub fn write_at(&self, f: PipeFrame, at: usize, src: &[u8]) -> bool {
        let fits = at.checked_add(src.len()).is_some_and(|end| end <= f.cap);
        if !fits {
            return false;
        }
        // SAFETY: `at + src.len() <= cap` keeps the copy inside the frame
        // (see `write`); `src` is process-local memory; the protocol keeps
        // consumers off an unpublished frame.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                self.base.as_ptr().add(f.offset + at),
                src.len(),
            )
        };
        true
    }

    /// The bytes of frame `f`, all `cap` of them, as a slice.
    ///
    /// # Safety
    /// The protocol must give the caller `f` for the slice's lifetime: a
    /// frame it reserved as the producer and has not published (then it may
    /// write through the slice), or a published frame it consumes and has
    /// not yet consumed (then it must only read). No other reference to the
    /// same bytes may exist meanwhile.
    #[allow(clippy::mut_from_ref)] // exclusive by the contract above
    pub unsafe fn frame_slice(&self, f: PipeFrame) -> &mut [u8] {
        // SAFETY: `f`'s `cap` bytes lie inside the payload (see `write`);
        // exclusive by the caller's contract; u8 has no invalid bit pattern.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(f.offset), f.cap) }
    }

    /// Copies the first `dst.len()` (clamped to the frame's room) bytes of
    /// a published frame the caller consumes into `dst`.
    #[inline]
    pub fn read(&self, f: PipeFrame, dst: &mut [u8]) {
        let n = dst.len().min(f.cap);
        // SAFETY: `n` bytes lie inside the frame (see `write`); `dst` is
        // process-local; the protocol keeps the producer off a published,
        // unconsumed frame.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(f.offset), dst.as_mut_ptr(), n)
        };
    }

    /// Reads a `T` out of a published frame of `size_of::<T>()` bytes
    /// (checked by the caller), without zeroing a temporary first.
    #[inline]
    pub fn read_value<T: FromBytes>(&self, f: PipeFrame) -> T {
        let mut out = MaybeUninit::<T>::uninit();
        // As in `write`: a constant length in the common case.
        let n = if size_of::<T>() <= f.cap {
            size_of::<T>()
        } else {
            f.cap
        };
        // SAFETY: as in `read`, `n` bytes lie inside the frame and the
        // destination is a local of `size_of::<T>() >= n` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(f.offset),
                out.as_mut_ptr().cast::<u8>(),
                n,
            )
        };
        if n < size_of::<T>() {
            // Unreachable for a validated geometry and a checked length;
            // zero the rest rather than read uninitialised bytes.
            // SAFETY: the range n..size_of::<T>() lies inside `out`.
            unsafe {
                out.as_mut_ptr()
                    .cast::<u8>()
                    .add(n)
                    .write_bytes(0, size_of::<T>() - n)
            };
        }
        // SAFETY: every byte of `out` is initialised (copied or zeroed), and
        // T: FromBytes accepts any bit pattern.
        unsafe { out.assume_init() }
    }
}

/// Where one frame's bytes lie in the payload, checked against the
/// geometry: only [`Region::slot_frame`] and [`Region::ring_frame`] make
/// one, so every copy through it stays inside the mapping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PipeFrame {
    offset: usize,
    cap: usize,
}

impl PipeFrame {
    /// A frame that holds nothing (reads of it copy nothing).
    pub const EMPTY: PipeFrame = PipeFrame { offset: 0, cap: 0 };

    /// The first `len` bytes of the frame (all of it if it is shorter).
    #[inline]
    pub fn truncated(self, len: usize) -> PipeFrame {
        PipeFrame {
            cap: self.cap.min(len),
            ..self
        }
    }

    /// Bytes the frame may hold.
    #[cfg(any(feature = "serde", feature = "rkyv"))]
    #[inline]
    pub fn cap(&self) -> usize {
        self.cap
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // A forked child drops its inherited copy of the creator's mapping:
        // the name belongs to the creator, which removes it itself.
        if current_pid() != self.home_pid {
            self.seg.segment_mut().set_unlink_on_drop(false);
        }
    }
}

/// Writes a fresh control block: config, two unclaimed ends, indices at
/// `start`, and every slot free for its first position at or after `start`.
///
/// # Safety
/// `base` must point to `geo.payload_len()` zeroed, writable bytes aligned
/// to 128 that no other process can see yet.
unsafe fn init(base: NonNull<u8>, geo: PipeGeometry, start: u32) {
    // SAFETY: the caller guarantees SHARED_LEN writable, aligned bytes; all
    // fields are atomics, valid when zeroed.
    let shared = unsafe { base.cast::<PipeShared>().as_ref() };
    let c = &shared.config;
    c.rings.store(geo.rings, Ordering::Relaxed);
    c.capacity.store(geo.capacity, Ordering::Relaxed);
    c.max_frame.store(geo.max_frame, Ordering::Relaxed);
    c.stride.store(geo.stride as u32, Ordering::Relaxed);
    let mut flags = if geo.interleaved { 0 } else { SEPARATE_RINGS };
    if geo.has_ring() {
        flags |= BYTE_RING;
    }
    c.flags.store(flags, Ordering::Relaxed);
    c.ring_bytes.store(geo.ring_bytes, Ordering::Relaxed);
    c.magic.store(MAGIC, Ordering::Release);
    for r in 0..geo.rings as usize {
        shared.rings[r].tail.word.store(start, Ordering::Relaxed);
        shared.rings[r].head.word.store(start, Ordering::Relaxed);
        for k in 0..geo.capacity {
            let pos = start.wrapping_add(k);
            let off = geo.slot_offset(r, pos) + geo.trailer + 4;
            // SAFETY: in bounds and 4-aligned, as argued in `Region::seq`.
            let seq = unsafe { &*base.as_ptr().add(off).cast::<AtomicU32>() };
            seq.store(
                pos.wrapping_add(1).wrapping_sub(geo.capacity),
                Ordering::Relaxed,
            );
        }
    }
}
