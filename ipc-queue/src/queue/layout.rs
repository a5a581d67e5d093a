//! The queue's bytes in shared memory, and the raw access to them: every
//! pointer into a queue segment is made here. The protocol modules
//! (`raw.rs`, `mod.rs`) call the few `unsafe fn`s below (`SlotRing::new`,
//! `init`, `payload_slice`) with the slot-state arguments that make them
//! sound.
//!
//! ```text
//! payload of the ObjectSegment (offsets from its start):
//!   0    producer lock  RobustMutex<()>: serialises claims at the tail
//!   64   consumer lock  RobustMutex<()>: serialises claims at the head
//!   128  tail line      tail, unfinished        (written by producers)
//!   192  head line      head                    (written by consumers)
//!   256  flags          closed                  (read-mostly)
//!   320  not_empty      seq + sleepers (consumers wait here)
//!   384  not_full       seq + sleepers (producers wait here)
//!   448  all_done       seq + sleepers (JoinableQueue::join waits here)
//!   512  config         capacity, max_frame, stride, ring_bytes (immutable
//!                       after creation)
//!   576  roles          ever, overflow | producers[32] | consumers[32] |
//!                       inheritors[32]: the packed identities of the
//!                       registered handles, and of children forked while
//!                       the queue was held that have not chosen a role
//!   1408 slots          capacity × stride
//!   ...  byte ring      ring_bytes (0 for a queue of fixed slots), from the
//!                       end of the slots rounded up to 64
//! slot: state u32 | len u32 | owner u64 (pid, start time) | padding to the
//!       message alignment | payload | padding to the stride
//! payload, fixed slots: the frame itself (max_frame bytes)
//! payload, byte ring:   a FrameRef: where the frame lies in the ring (a
//!                       free-running byte position) and how many bytes
//!                       were reserved for it
//! ```
//!
//! **Fixed slots or a byte ring.** By default every slot holds a frame of
//! `max_frame` bytes, which suits messages of one type: the slot is the
//! message. A queue built with `ring_bytes` keeps its frames in a byte ring
//! instead, each taking its own length (rounded up to the message
//! alignment, at least 8) plus, at the wrap, the padding to the ring's end
//! (a frame never straddles it): memory follows the data, so a queue of
//! 100-byte log lines with a 64 KiB frame limit needs a few hundred KiB, not
//! `capacity × 64 KiB`. The slots then only order the frames and carry
//! their states; the protocol (`raw.rs`) is the same, and the ring's bytes
//! are handed out in slot order under the producer lock and given back when
//! the oldest slot that holds bytes is EMPTY.
//!
//! Every slot address is computed from the geometry this process validated
//! when it created or opened the queue ([`QueueGeometry`]), never from words that
//! other processes can change afterwards, so a corrupted index or length in
//! shared memory can produce an error but never an out-of-bounds access.
// Unsafe code is allowed here: the raw access to a queue segment.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipc_core::sync::RobustMutex;
use ipc_core::wait::WaitWord;

use crate::{Error, Result};

/// The locks and the words they protect; `#[repr(C)]`, 1408 bytes.
#[repr(C)]
pub(crate) struct QueueShared {
    pub producer_lock: RobustMutex<()>,
    pub consumer_lock: RobustMutex<()>,
    pub tail: TailLine,
    pub head: HeadLine,
    pub flags: Flags,
    pub not_empty: WaitLine,
    pub not_full: WaitLine,
    pub all_done: WaitLine,
    pub config: QueueConfig,
    pub roles: Roles,
}

/// How many handles per role the queue tracks; with more, tracking is off
/// for that role (the queue never reports it gone).
pub(crate) const ROLE_SLOTS: usize = 32;

/// Who uses the queue: the registered producers and consumers (see `raw.rs`,
/// "Disconnection"). Written only when a handle registers, leaves, or is
/// found dead; read on the empty and full paths.
#[repr(C, align(64))]
pub(crate) struct Roles {
    /// Bit per role ([`PRODUCER`], [`CONSUMER`]): some handle of that role
    /// registered since the queue last had no registered handle at all.
    pub ever: AtomicU32,
    /// Bit per role: more handles than [`ROLE_SLOTS`] registered at once.
    pub overflow: AtomicU32,
    /// Bumped after each entry added to `inheritors`, and set to 0 by a
    /// caller that found the table empty with no bump in between: while it
    /// is 0 the table is empty, and the empty and full paths skip it.
    pub inheritors_added: AtomicU32,
    _pad: [u32; 13],
    /// Packed identities (`ipc_core::liveness::packed_current`) of the
    /// producing handles; 0 is a free slot.
    pub producers: [AtomicU64; ROLE_SLOTS],
    /// The same for consuming handles.
    pub consumers: [AtomicU64; ROLE_SLOTS],
    /// Children forked (by `Process::spawn`) while this process held the
    /// queue, which may still become producers or consumers: each counts as
    /// both until it registers in a role, drops the queue, or dies. While
    /// a fork is under way its parent's identity stands in for the child.
    pub inheritors: [AtomicU64; ROLE_SLOTS],
}

/// [`Roles::ever`] and [`Roles::overflow`] bit of producers.
pub(crate) const PRODUCER: u32 = 1;
/// [`Roles::ever`] and [`Roles::overflow`] bit of consumers.
pub(crate) const CONSUMER: u32 = 2;

/// The producers' line: written under the producer lock.
#[repr(C, align(64))]
pub(crate) struct TailLine {
    /// Next slot to produce (free-running).
    pub tail: AtomicU64,
    /// Messages put and not yet marked done (`JoinableQueue`).
    pub unfinished: AtomicU64,
    /// Byte ring only: the next free byte position (free-running).
    pub data_head: AtomicU64,
    /// Byte ring only: the oldest slot position whose bytes may still be in
    /// use; every slot before it has given its bytes back.
    pub reclaimed: AtomicU64,
}

/// The consumers' line: `head` moves under the consumer lock, or by
/// compare-and-swap from a consumer finishing a copy.
#[repr(C, align(64))]
pub(crate) struct HeadLine {
    /// Next slot to consume (free-running).
    pub head: AtomicU64,
}

/// Rarely written state, on a line of its own so it stays cached everywhere.
#[repr(C, align(64))]
pub(crate) struct Flags {
    /// Non-zero once closed.
    pub closed: AtomicU32,
}

/// A wait word (a sequence number that changes when waiters should look
/// again, and the count of sleepers wakers check before the system call) on
/// a cache line of its own.
#[repr(C, align(64))]
pub(crate) struct WaitLine {
    pub w: WaitWord,
}

/// Immutable after creation; copied into each handle and validated there.
#[repr(C, align(64))]
pub(crate) struct QueueConfig {
    pub capacity: u64,
    pub max_frame: u64,
    pub stride: u64,
    /// Bytes of the frame ring; 0 for fixed slots.
    pub ring_bytes: u64,
}

/// A slot's payload in a byte-ring queue: where its frame lies.
#[repr(C)]
pub(crate) struct FrameRef {
    /// Free-running byte position of the frame's first byte.
    pub at: AtomicU64,
    /// Bytes reserved for the frame at `at` (its largest length).
    pub cap: AtomicU64,
}

/// The header at the start of every slot.
#[repr(C)]
pub(crate) struct SlotHeader {
    pub state: AtomicU32,
    pub len: AtomicU32,
    /// The process that last claimed the slot, as one word
    /// (`ipc_core::liveness::packed_current`): pid and start time, so a
    /// reused pid is not taken for the dead owner.
    pub owner: AtomicU64,
}

pub(crate) const SHARED_LEN: usize = 1408;
pub(crate) const SLOT_HEADER: usize = 16;
const _: () = assert!(size_of::<FrameRef>() == 16);
const _: () = assert!(size_of::<TailLine>() == 64);
const _: () = assert!(size_of::<QueueConfig>() == 64);
const _: () = assert!(size_of::<QueueShared>() == SHARED_LEN);
const _: () = assert!(core::mem::offset_of!(QueueShared, tail) == 128);
const _: () = assert!(core::mem::offset_of!(QueueShared, head) == 192);
const _: () = assert!(core::mem::offset_of!(QueueShared, config) == 512);
const _: () = assert!(core::mem::offset_of!(QueueShared, roles) == 576);
const _: () = assert!(size_of::<Roles>() == 832);
const _: () = assert!(size_of::<SlotHeader>() == SLOT_HEADER);
const _: () = assert!(size_of::<RobustMutex<()>>() == 64);

/// Byte offsets in a queue's payload, for tests that damage it or kill a
/// lock holder on purpose; computed from the layout above.
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub mod offsets {
    use super::{QueueShared, SHARED_LEN, SlotHeader};
    use core::mem::offset_of;

    /// The producers' lock.
    pub const PRODUCER_LOCK: usize = offset_of!(QueueShared, producer_lock);
    /// The consumers' lock.
    pub const CONSUMER_LOCK: usize = offset_of!(QueueShared, consumer_lock);
    /// The free-running `tail` index (a `u64`).
    pub const TAIL: usize = offset_of!(QueueShared, tail);
    /// Slot 0.
    pub const SLOTS: usize = SHARED_LEN;
    /// A slot's `state` word (a `u32`), from the slot's start.
    pub const SLOT_STATE: usize = offset_of!(SlotHeader, state);
    /// A slot's `len` word (a `u32`), from the slot's start.
    pub const SLOT_LEN: usize = offset_of!(SlotHeader, len);
    /// Byte ring: a slot's frame position (a `u64`), from the slot's start.
    pub const SLOT_FRAME_AT: usize = super::SLOT_HEADER + offset_of!(super::FrameRef, at);
    /// Byte ring: the next free byte position (a `u64`).
    pub const DATA_HEAD: usize =
        offset_of!(QueueShared, tail) + offset_of!(super::TailLine, data_head);
}

/// Slot states. See the protocol at the top of `raw.rs`.
pub(crate) mod state {
    pub const EMPTY: u32 = 0;
    pub const WRITING: u32 = 1;
    pub const READY: u32 = 2;
    pub const COPYING: u32 = 3;
    pub const HELD: u32 = 4;
    pub const SKIP: u32 = 5;
}

/// Largest frame a queue may be created with (64 MiB).
pub const MAX_FRAME: usize = 64 << 20;
/// Largest number of slots (2^32).
pub const MAX_CAPACITY: usize = 1 << 32;

/// The ring's shape, validated once per handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueGeometry {
    pub capacity: u64,
    pub max_frame: usize,
    pub stride: usize,
    /// Offset of the payload inside a slot: the header rounded up to the
    /// message alignment.
    pub payload_offset: usize,
    /// Bytes of the frame ring; 0 for fixed slots.
    pub ring_bytes: u64,
    /// Offset of the frame ring in the payload (after the slots, 64-aligned).
    pub ring_offset: usize,
    /// What every frame's reservation in the ring is rounded up to: the
    /// message alignment, at least 8, so every frame starts aligned.
    pub unit: usize,
}

/// Largest message alignment a queue supports (a cache line).
pub const MAX_ALIGN: usize = 64;

impl QueueGeometry {
    /// The shape of a new queue; `align` is the message type's alignment;
    /// `ring_bytes` is 0 for fixed slots, else the frame ring's size
    /// (rounded up to 64).
    pub fn new(capacity: usize, max_frame: usize, align: usize, ring_bytes: u64) -> Result<Self> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(ipc_core::Error::InvalidSize {
                size: capacity as u64,
                reason: "queue capacity must be between 1 and 2^32 slots",
            }
            .into());
        }
        if max_frame > MAX_FRAME {
            return Err(ipc_core::Error::InvalidSize {
                size: max_frame as u64,
                reason: "frames are limited to 64 MiB",
            }
            .into());
        }
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(ipc_core::Error::InvalidArgument {
                reason: "message alignment above 64 bytes is not supported",
            }
            .into());
        }
        // SHARED_LEN is a multiple of 64, and so of every supported alignment;
        // a stride that is a multiple of it keeps every payload aligned.
        let unit = align.max(8);
        let ring_bytes = ring_bytes.next_multiple_of(MAX_ALIGN as u64);
        let (payload_offset, stride) = if ring_bytes == 0 {
            let payload_offset = SLOT_HEADER.next_multiple_of(unit);
            (
                payload_offset,
                (payload_offset + max_frame).next_multiple_of(unit),
            )
        } else {
            if ring_bytes < max_frame.next_multiple_of(unit) as u64 {
                return Err(ipc_core::Error::InvalidSize {
                    size: ring_bytes,
                    reason: "the frame ring (`ring_bytes`) must hold at least one frame of `max_frame` bytes",
                }
                .into());
            }
            (SLOT_HEADER, SLOT_HEADER + size_of::<FrameRef>())
        };
        let slots_end = (stride as u64)
            .checked_mul(capacity as u64)
            .and_then(|s| s.checked_add(SHARED_LEN as u64))
            .map(|n| n.next_multiple_of(MAX_ALIGN as u64));
        let too_big = || {
            Error::from(ipc_core::Error::InvalidSize {
                size: capacity as u64,
                reason: "capacity × frame size (or the frame ring) exceeds 1 TiB",
            })
        };
        let ring_offset = slots_end
            .filter(|&n| n <= ipc_core::segment::MAX_SEGMENT_LEN)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(too_big)?;
        let geometry = Self {
            capacity: capacity as u64,
            max_frame,
            stride,
            payload_offset,
            ring_bytes,
            ring_offset,
            unit,
        };
        geometry.payload_len()?;
        Ok(geometry)
    }

    /// Bytes the queue's payload needs.
    pub fn payload_len(&self) -> Result<u64> {
        let end = if self.ring_bytes == 0 {
            (self.stride as u64)
                .checked_mul(self.capacity)
                .and_then(|s| s.checked_add(SHARED_LEN as u64))
        } else {
            (self.ring_offset as u64).checked_add(self.ring_bytes)
        };
        end.filter(|&n| n <= ipc_core::segment::MAX_SEGMENT_LEN)
            .ok_or_else(|| {
                ipc_core::Error::InvalidSize {
                    size: self.capacity,
                    reason: "capacity × frame size (or the frame ring) exceeds 1 TiB",
                }
                .into()
            })
    }

    /// Reads and checks the geometry recorded in an opened queue.
    pub fn from_config(c: &QueueConfig, payload_len: usize, align: usize) -> Result<Self> {
        let bad = || Error::corrupted("queue configuration is inconsistent with its segment");
        let capacity = usize::try_from(c.capacity).map_err(|_| bad())?;
        let max_frame = usize::try_from(c.max_frame).map_err(|_| bad())?;
        let g = Self::new(capacity, max_frame, align, c.ring_bytes).map_err(|_| bad())?;
        if g.stride as u64 != c.stride
            || g.ring_bytes != c.ring_bytes
            || g.payload_len()? > payload_len as u64
        {
            return Err(bad());
        }
        Ok(g)
    }

    /// Whether frames live in a byte ring rather than in the slots.
    #[inline]
    pub fn has_ring(&self) -> bool {
        self.ring_bytes != 0
    }

    /// Bytes a frame of `len` bytes takes in the ring (before any padding
    /// at the wrap).
    #[inline]
    pub fn reservation(&self, len: usize) -> u64 {
        len.next_multiple_of(self.unit) as u64
    }

    /// Slot index of a free-running position.
    #[inline]
    pub fn index(&self, pos: u64) -> u64 {
        if self.capacity.is_power_of_two() {
            pos & (self.capacity - 1)
        } else {
            pos % self.capacity
        }
    }
}

/// Where one frame's bytes lie, checked against the geometry: only
/// [`SlotRing::locate`] makes one, so every access through it is in bounds
/// whatever other processes write meanwhile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameAt {
    /// Offset of the frame from the start of the payload.
    offset: usize,
    /// Bytes the frame may hold.
    cap: usize,
}

impl FrameAt {
    /// Bytes the frame may hold.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

/// A handle's view of the mapped queue: the validated geometry plus the base
/// pointer. All raw access goes through its methods.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotRing {
    base: NonNull<u8>,
    pub geometry: QueueGeometry,
}

// SAFETY: `SlotRing` is a pointer into a MAP_SHARED mapping owned by the handle;
// every access through it is atomic or confined to a slot the protocol gives
// the caller exclusively, so it may be used from any thread.
unsafe impl Send for SlotRing {}
// SAFETY: as above.
unsafe impl Sync for SlotRing {}

impl SlotRing {
    /// # Safety
    /// `base` must point to a mapped payload of at least
    /// `geometry.payload_len()` bytes, aligned to 64, that outlives the `SlotRing`.
    pub unsafe fn new(base: NonNull<u8>, geometry: QueueGeometry) -> Self {
        Self { base, geometry }
    }

    /// The control block.
    #[inline]
    pub fn shared(&self) -> &QueueShared {
        // SAFETY: the first SHARED_LEN bytes of the payload hold a QueueShared
        // (initialised by the creator before READY), aligned to 64 (the
        // payload is page-aligned); all of its fields tolerate concurrent
        // access (atomics, a process-shared mutex, and config that is
        // immutable after creation).
        unsafe { self.base.cast::<QueueShared>().as_ref() }
    }

    /// Pointer to the slot for free-running position `pos` (always in bounds).
    #[inline]
    fn slot_ptr(&self, pos: u64) -> *mut u8 {
        let offset = SHARED_LEN + self.geometry.index(pos) as usize * self.geometry.stride;
        // SAFETY: index < capacity, so offset + stride <= payload_len, which
        // the caller of `new` guaranteed is mapped.
        unsafe { self.base.as_ptr().add(offset) }
    }

    /// The header of the slot at `pos`.
    #[inline]
    pub fn slot(&self, pos: u64) -> &SlotHeader {
        // SAFETY: slot_ptr is in bounds and 8-aligned (stride and SHARED_LEN
        // are multiples of 8); the header's fields are atomics.
        unsafe { &*self.slot_ptr(pos).cast::<SlotHeader>() }
    }

    /// The payload of the slot at `pos` (`max_frame` bytes with fixed
    /// slots, a [`FrameRef`] with a byte ring).
    #[inline]
    fn payload(&self, pos: u64) -> *mut u8 {
        // SAFETY: payload_offset + max_frame (or + the FrameRef) <= stride
        // keeps it inside the slot.
        unsafe { self.slot_ptr(pos).add(self.geometry.payload_offset) }
    }

    /// The frame reference of the slot at `pos` (byte ring only).
    #[inline]
    fn frame_ref(&self, pos: u64) -> &FrameRef {
        debug_assert!(self.geometry.has_ring());
        // SAFETY: with a byte ring the payload is a FrameRef (16 bytes, the
        // stride's rest), 8-aligned (SLOT_HEADER is 16, stride 32); its
        // fields are atomics.
        unsafe { &*self.payload(pos).cast::<FrameRef>() }
    }

    /// Records, for the slot at `pos` that this producer just claimed, that
    /// its frame takes `cap` bytes of the ring from byte position `at`.
    #[inline]
    pub fn set_frame(&self, pos: u64, at: u64, cap: u64) {
        let r = self.frame_ref(pos);
        r.at.store(at, Ordering::Relaxed);
        r.cap.store(cap, Ordering::Relaxed);
    }

    /// The byte position recorded for the slot at `pos` (byte ring only;
    /// unchecked: the caller compares it with the ring's bounds).
    #[inline]
    pub fn frame_start(&self, pos: u64) -> u64 {
        self.frame_ref(pos).at.load(Ordering::Acquire)
    }

    /// Where the frame of the slot at `pos` lies, checked: with fixed slots
    /// its payload; with a byte ring the recorded place, which must lie
    /// inside the ring and hold at most `max_frame` bytes.
    #[inline]
    pub fn locate(&self, pos: u64) -> Result<FrameAt> {
        let g = &self.geometry;
        if !g.has_ring() {
            return Ok(FrameAt {
                offset: SHARED_LEN + g.index(pos) as usize * g.stride + g.payload_offset,
                cap: g.max_frame,
            });
        }
        let r = self.frame_ref(pos);
        let (at, cap) = (r.at.load(Ordering::Acquire), r.cap.load(Ordering::Acquire));
        let start = at % g.ring_bytes;
        if cap > g.max_frame as u64
            || start + cap > g.ring_bytes
            || !start.is_multiple_of(g.unit as u64)
        {
            return Err(Error::corrupted(format!(
                "frame reference ({at}, {cap} bytes) outside the {}-byte ring",
                g.ring_bytes
            )));
        }
        Ok(FrameAt {
            offset: g.ring_offset + start as usize,
            cap: cap as usize,
        })
    }

    /// Copies `src` (at most the frame's room) into a frame whose slot this
    /// process owns (WRITING).
    #[inline]
    pub fn write(&self, at: FrameAt, src: &[u8]) {
        debug_assert!(src.len() <= at.cap);
        let n = src.len().min(at.cap);
        // SAFETY: `at` was checked by `locate`: offset + cap <= payload_len;
        // the slot is WRITING and owned by the caller, so no
        // protocol-following process touches its frame.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(at.offset), n)
        };
    }

    /// Copies `src` into the frame of the slot at `pos`, which this process
    /// owns (WRITING).
    #[inline]
    pub fn write_payload(&self, pos: u64, src: &[u8]) -> Result<()> {
        let at = self.locate(pos)?;
        self.write(at, src);
        Ok(())
    }

    /// The first `len` bytes of a frame whose slot the caller owns
    /// exclusively (WRITING for a loan, HELD for a receive guard), as a
    /// slice.
    ///
    /// # Safety
    /// The caller must own the slot under the protocol for the slice's
    /// lifetime, and must not create another reference to the same bytes.
    pub unsafe fn slice<'a>(&self, at: FrameAt, len: usize) -> &'a mut [u8] {
        let len = len.min(at.cap);
        // SAFETY: in bounds (`at` checked by `locate`, `len` <= cap);
        // exclusive by the caller's contract; u8 has no invalid bit patterns.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(at.offset), len) }
    }

    /// Copies a frame out into `dst` (the caller holds its slot COPYING).
    #[inline]
    pub fn read(&self, at: FrameAt, dst: &mut [u8]) {
        let n = dst.len().min(at.cap);
        // SAFETY: `n` bytes are inside the frame (`at` checked by
        // `locate`); the slot is COPYING and owned by the caller, so
        // producers do not write it.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(at.offset), dst.as_mut_ptr(), n)
        };
    }

    /// Where the frame of the slot at `pos` lies and its recorded length,
    /// both checked (the length against the frame's room).
    #[inline]
    pub fn frame(&self, pos: u64) -> Result<(FrameAt, usize)> {
        let at = self.locate(pos)?;
        let len = self.slot(pos).len.load(Ordering::Acquire) as usize;
        if len > at.cap {
            return Err(Error::corrupted(format!(
                "frame length {len} exceeds the {}-byte frame",
                at.cap
            )));
        }
        Ok((at, len))
    }

    /// The frame length recorded in a slot, checked.
    #[inline]
    pub fn frame_len(&self, pos: u64) -> Result<usize> {
        self.frame(pos).map(|(_, len)| len)
    }

    /// Initialises the control block of a new queue.
    ///
    /// # Safety
    /// Only the creator calls it, before the segment is published.
    pub unsafe fn init(&self) {
        let g = self.geometry;
        let shared = QueueShared {
            producer_lock: RobustMutex::new(()),
            consumer_lock: RobustMutex::new(()),
            tail: TailLine {
                tail: AtomicU64::new(0),
                unfinished: AtomicU64::new(0),
                data_head: AtomicU64::new(0),
                reclaimed: AtomicU64::new(0),
            },
            head: HeadLine {
                head: AtomicU64::new(0),
            },
            flags: Flags {
                closed: AtomicU32::new(0),
            },
            not_empty: WaitLine {
                w: WaitWord::new(0),
            },
            not_full: WaitLine {
                w: WaitWord::new(0),
            },
            all_done: WaitLine {
                w: WaitWord::new(0),
            },
            config: QueueConfig {
                capacity: g.capacity,
                max_frame: g.max_frame as u64,
                stride: g.stride as u64,
                ring_bytes: g.ring_bytes,
            },
            roles: Roles {
                ever: AtomicU32::new(0),
                overflow: AtomicU32::new(0),
                inheritors_added: AtomicU32::new(0),
                _pad: [0; 13],
                producers: std::array::from_fn(|_| AtomicU64::new(0)),
                consumers: std::array::from_fn(|_| AtomicU64::new(0)),
                inheritors: std::array::from_fn(|_| AtomicU64::new(0)),
            },
        };
        // SAFETY: the payload is at least SHARED_LEN bytes, 64-aligned, and
        // invisible to other processes until READY; slots are already zero
        // (EMPTY) because the segment is freshly created.
        unsafe { self.base.cast::<QueueShared>().as_ptr().write(shared) };
    }
}
