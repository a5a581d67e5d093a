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
//!   512  config         capacity, max_frame, stride (immutable after creation)
//!   576  roles          ever, overflow | producers[32] | consumers[32]:
//!                       the packed identities of the registered handles
//!   1152 slots          capacity × stride
//! slot: state u32 | len u32 | owner u64 (pid, start time) | padding to the
//!       message alignment | payload (max_frame) | padding to the stride
//! ```
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

/// The locks and the words they protect; `#[repr(C)]`, 1152 bytes.
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
    _pad: [u32; 14],
    /// Packed identities (`ipc_core::liveness::packed_current`) of the
    /// producing handles; 0 is a free slot.
    pub producers: [AtomicU64; ROLE_SLOTS],
    /// The same for consuming handles.
    pub consumers: [AtomicU64; ROLE_SLOTS],
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

pub(crate) const SHARED_LEN: usize = 1152;
pub(crate) const SLOT_HEADER: usize = 16;
const _: () = assert!(size_of::<QueueShared>() == SHARED_LEN);
const _: () = assert!(core::mem::offset_of!(QueueShared, tail) == 128);
const _: () = assert!(core::mem::offset_of!(QueueShared, head) == 192);
const _: () = assert!(core::mem::offset_of!(QueueShared, config) == 512);
const _: () = assert!(core::mem::offset_of!(QueueShared, roles) == 576);
const _: () = assert!(size_of::<Roles>() == 576);
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
}

/// Largest message alignment a queue supports (a cache line).
pub const MAX_ALIGN: usize = 64;

impl QueueGeometry {
    /// The shape of a new queue; `align` is the message type's alignment.
    pub fn new(capacity: usize, max_frame: usize, align: usize) -> Result<Self> {
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
        let payload_offset = SLOT_HEADER.next_multiple_of(unit);
        let stride = (payload_offset + max_frame).next_multiple_of(unit);
        let geometry = Self {
            capacity: capacity as u64,
            max_frame,
            stride,
            payload_offset,
        };
        geometry.payload_len()?;
        Ok(geometry)
    }

    /// Bytes the queue's payload needs.
    pub fn payload_len(&self) -> Result<u64> {
        (self.stride as u64)
            .checked_mul(self.capacity)
            .and_then(|s| s.checked_add(SHARED_LEN as u64))
            .filter(|&n| n <= ipc_core::segment::MAX_SEGMENT_LEN)
            .ok_or_else(|| {
                ipc_core::Error::InvalidSize {
                    size: self.capacity,
                    reason: "capacity × frame size exceeds 1 TiB",
                }
                .into()
            })
    }

    /// Reads and checks the geometry recorded in an opened queue.
    pub fn from_config(c: &QueueConfig, payload_len: usize, align: usize) -> Result<Self> {
        let bad = || Error::corrupted("queue configuration is inconsistent with its segment");
        let capacity = usize::try_from(c.capacity).map_err(|_| bad())?;
        let max_frame = usize::try_from(c.max_frame).map_err(|_| bad())?;
        let g = Self::new(capacity, max_frame, align).map_err(|_| bad())?;
        if g.stride as u64 != c.stride || g.payload_len()? > payload_len as u64 {
            return Err(bad());
        }
        Ok(g)
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

    /// The payload of the slot at `pos`: `max_frame` bytes.
    #[inline]
    pub fn payload(&self, pos: u64) -> *mut u8 {
        // SAFETY: payload_offset + max_frame <= stride keeps it inside the slot.
        unsafe { self.slot_ptr(pos).add(self.geometry.payload_offset) }
    }

    /// Copies `src` into the payload of a slot this process owns (WRITING).
    #[inline]
    pub fn write_payload(&self, pos: u64, src: &[u8]) {
        debug_assert!(src.len() <= self.geometry.max_frame);
        let n = src.len().min(self.geometry.max_frame);
        // SAFETY: `n` bytes fit the payload; the slot is in state WRITING and
        // owned by the caller, so no protocol-following process touches it.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.payload(pos), n) };
    }

    /// The first `len` payload bytes of a slot the caller owns exclusively
    /// (WRITING for a loan, HELD for a receive guard), as a slice.
    ///
    /// # Safety
    /// The caller must own the slot under the protocol for the slice's
    /// lifetime, and must not create another reference to the same bytes.
    pub unsafe fn payload_slice<'a>(&self, pos: u64, len: usize) -> &'a mut [u8] {
        let len = len.min(self.geometry.max_frame);
        // SAFETY: in bounds (`len` <= max_frame); exclusive by the caller's
        // contract; u8 has no invalid bit patterns.
        unsafe { std::slice::from_raw_parts_mut(self.payload(pos), len) }
    }

    /// Copies a slot's payload out into `dst` (the caller holds it COPYING).
    #[inline]
    pub fn read_payload(&self, pos: u64, dst: &mut [u8]) {
        let n = dst.len().min(self.geometry.max_frame);
        // SAFETY: `n` bytes are inside the payload; the slot is COPYING and
        // owned by the caller, so producers do not write it.
        unsafe { std::ptr::copy_nonoverlapping(self.payload(pos), dst.as_mut_ptr(), n) };
    }

    /// The frame length recorded in a slot, checked against the geometry.
    #[inline]
    pub fn frame_len(&self, pos: u64) -> Result<usize> {
        let len = self.slot(pos).len.load(Ordering::Acquire) as usize;
        if len > self.geometry.max_frame {
            return Err(Error::corrupted(format!(
                "frame length {len} exceeds the {}-byte frame",
                self.geometry.max_frame
            )));
        }
        Ok(len)
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
            },
            roles: Roles {
                ever: AtomicU32::new(0),
                overflow: AtomicU32::new(0),
                _pad: [0; 14],
                producers: std::array::from_fn(|_| AtomicU64::new(0)),
                consumers: std::array::from_fn(|_| AtomicU64::new(0)),
            },
        };
        // SAFETY: the payload is at least SHARED_LEN bytes, 64-aligned, and
        // invisible to other processes until READY; slots are already zero
        // (EMPTY) because the segment is freshly created.
        unsafe { self.base.cast::<QueueShared>().as_ptr().write(shared) };
    }
}
