//! Every structure the manager keeps in shared memory, with its exact layout.
//!
//! Nothing here holds a pointer: places in the arena are *refs*, a `u64`
//! made of a segment index (bits 40..48) and a byte offset from the start of
//! that segment's mapping (bits 0..40). Ref 0 is "none" (offset 0 of every
//! segment is the ipc-core header, never an object). Every mutable field is an
//! atomic, so a `&Root` may exist while other processes write it; bulk bytes
//! (keys, values) are reached only through the bounds-checked accessors of
//! [`crate::storage::format`].
//!
//! # Segment 0 (the root segment)
//!
//! | offset          | what                                              |
//! |-----------------|---------------------------------------------------|
//! | 0               | ipc-core object header (kind [`ROOT_KIND`])       |
//! | 256             | [`Root`]                                          |
//! | `heap_start`    | heap blocks, up to the committed length           |
//!
//! Segments 1.. hold the ipc-core header (kind [`ARENA_KIND`]), an
//! [`ArenaHeader`] at 256, and heap blocks from [`ARENA_HEAP_START`].
//!
//! # Heap blocks
//!
//! The heap of every segment is a gapless sequence of blocks, so it can be
//! walked from its start (recovery does). Each block starts 16-aligned with a
//! 16-byte header:
//!
//! | offset | field        | meaning                                          |
//! |--------|--------------|--------------------------------------------------|
//! | 0      | `size_flags` | block size (multiple of 16) \| `FREE` \| `PREV_FREE` |
//! | 8      | `link`       | free list or limbo list link                     |
//!
//! A free block also holds its free-list back link at 16 and its size again
//! in its last 8 bytes (the footer), for merging with the block after it.
//! Bytes 16.. of a used block belong to its owner and never change while any
//! process may read them (see [`crate::storage::epoch`]).

use std::sync::atomic::AtomicU64;

use ipc_core::segment::{HEADER_LEN, ObjectKind};
use ipc_core::sync::RobustMutex;

/// The root segment's kind in the ipc-core header.
pub(crate) const ROOT_KIND: ObjectKind = ObjectKind {
    code: 300,
    // 2: reader slots record their owner as one packed identity word.
    version: 2,
    name: "ipc-manager root",
};

/// The kind of every additional arena segment (`<name>.1`, `<name>.2`, ...).
pub(crate) const ARENA_KIND: ObjectKind = ObjectKind {
    code: 301,
    version: 1,
    name: "ipc-manager arena",
};

/// `b"IPCMGR01"`: the first word of [`Root`] and of [`ArenaHeader`].
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"IPCMGR01");

// ---------------------------------------------------------------------------
// Refs

/// Bits of a ref that hold the offset inside a segment.
pub(crate) const OFF_BITS: u32 = 40;
/// Mask of the offset part of a ref.
pub(crate) const OFF_MASK: u64 = (1 << OFF_BITS) - 1;
/// Mask of a whole ref (segment and offset); bits above are free for tags.
pub(crate) const REF_MASK: u64 = (1 << 48) - 1;
/// How many segments one manager may span.
pub const MAX_SEGMENTS: usize = 64;

/// The longest key a dictionary accepts, in bytes (64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// The longest value a dictionary accepts, in bytes (16 MiB).
pub const MAX_VALUE_LEN: usize = 16 * 1024 * 1024;
/// The longest object name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// How many threads (over all processes) may read one manager at once.
pub const MAX_READERS: usize = READER_SLOTS;

/// The ref of byte `off` of segment `seg`.
pub(crate) const fn make_ref(seg: usize, off: u64) -> u64 {
    ((seg as u64) << OFF_BITS) | (off & OFF_MASK)
}

/// The segment index of a ref.
pub(crate) const fn ref_seg(r: u64) -> usize {
    ((r & REF_MASK) >> OFF_BITS) as usize
}

/// The offset part of a ref.
pub(crate) const fn ref_off(r: u64) -> u64 {
    r & OFF_MASK
}

// ---------------------------------------------------------------------------
// Heap blocks

/// Every block starts and ends on this alignment.
pub(crate) const BLOCK_ALIGN: u64 = 16;
/// Size of the block header; a block's data starts here.
pub(crate) const BLOCK_HDR: u64 = 16;
/// Smallest block: header, back link and footer of a free block.
pub(crate) const MIN_BLOCK: u64 = 32;
/// `size_flags`: the block is free.
pub(crate) const FLAG_FREE: u64 = 1;
/// `size_flags`: the block before this one is free (its footer is valid).
pub(crate) const FLAG_PREV_FREE: u64 = 2;
/// `size_flags`: the size part.
pub(crate) const SIZE_MASK: u64 = !(BLOCK_ALIGN - 1);
/// Offset of the free-list back link in a free block.
pub(crate) const FREE_PREV: u64 = 16;

/// Number of segregated free lists: exact classes of 16 bytes up to 1 KiB,
/// then four classes per power of two.
pub(crate) const NCLASSES: usize = 192;

/// Where the heap of an additional segment starts.
pub(crate) const ARENA_HEAP_START: u64 = HEADER_LEN as u64 + size_of::<ArenaHeader>() as u64;

/// The payload of an additional segment, before its heap.
#[repr(C, align(64))]
pub(crate) struct ArenaHeader {
    /// [`MAGIC`].
    pub magic: AtomicU64,
    /// The owning manager's [`Root::manager_id`]: a stale segment of an
    /// earlier manager with the same name is refused.
    pub manager_id: AtomicU64,
    /// This segment's index.
    pub index: AtomicU64,
    _reserved: [u64; 5],
}
const _: () = assert!(size_of::<ArenaHeader>() == 64);
const _: () = assert!(ARENA_HEAP_START.is_multiple_of(64));

// ---------------------------------------------------------------------------
// Objects in the heap (offsets from the start of their block)

/// A dictionary header: 64 bytes, in a block or inline in the root.
///
/// `table` is the ref of the current table block; `len` and `used` (live and
/// tombstone slots) are the writer's counters, recounted by recovery;
/// `version` is odd while a writer changes the dictionary (a seqlock that
/// iterators use to take a consistent snapshot of the slot array).
#[repr(C, align(64))]
pub(crate) struct DictHeader {
    pub table: AtomicU64,
    pub len: AtomicU64,
    pub used: AtomicU64,
    pub version: AtomicU64,
    _reserved: [AtomicU64; 4],
}
const _: () = assert!(size_of::<DictHeader>() == 64);

/// Offsets of the [`DictHeader`] words.
pub(crate) mod dict_hdr {
    pub(crate) const TABLE: u64 = 0;
    pub(crate) const LEN: u64 = 8;
    pub(crate) const USED: u64 = 16;
    pub(crate) const VERSION: u64 = 24;
    pub(crate) const SIZE: u64 = 64;
}

/// A hash table block: `cap` (a power of two) at 16, the slots from 32.
///
/// A slot is 0 (empty), `TOMBSTONE`, or `tag << 48 | entry ref` where `tag`
/// is the top 16 bits of the key's hash.
pub(crate) mod table {
    pub(crate) const CAP: u64 = 16;
    pub(crate) const SLOTS: u64 = 32;
    pub(crate) const TOMBSTONE: u64 = 1;
    pub(crate) const MIN_CAP: u64 = 8;
}

/// An entry block: immutable from publication until it is reclaimed.
///
/// | offset | field                                   |
/// |--------|-----------------------------------------|
/// | 16     | key length (u32)                        |
/// | 20     | value length (u32)                      |
/// | 24     | value type tag (u64, 0 = bytes)         |
/// | 32     | key bytes                               |
/// | [`entry::value_off`] | value bytes (16-aligned)  |
pub(crate) mod entry {
    /// The key length (low half) and value length (high half) word.
    pub(crate) const LENS: u64 = 16;
    pub(crate) const TAG: u64 = 24;
    pub(crate) const KEY: u64 = 32;

    /// Where the value starts for a key of `key_len` bytes.
    pub(crate) const fn value_off(key_len: u64) -> u64 {
        (KEY + key_len).next_multiple_of(16)
    }

    /// The block data length (from 16) an entry needs.
    pub(crate) const fn data_len(key_len: u64, val_len: u64) -> u64 {
        value_off(key_len) + val_len - super::BLOCK_HDR
    }
}

/// A list header block (data 48 bytes): `array` (ref of the slot array
/// block), `len`, element size and flags, element type tag.
///
/// The array block holds `cap` at 16 and slots from 32. A slot is the
/// element itself when it fits in 8 bytes (`INLINE`), else the ref of an
/// immutable block holding it.
pub(crate) mod list {
    pub(crate) const ARRAY: u64 = 16;
    pub(crate) const LEN: u64 = 24;
    pub(crate) const ELEM_SIZE: u64 = 32;
    pub(crate) const TAG: u64 = 40;
    pub(crate) const DATA_LEN: u64 = 32;
    pub(crate) const CAP: u64 = 16;
    pub(crate) const SLOTS: u64 = 32;
}

/// A value block (data 16 bytes): the slot at 16 (inline value or ref of an
/// immutable block holding it), the type tag at 24.
pub(crate) mod value {
    pub(crate) const SLOT: u64 = 16;
    pub(crate) const TAG: u64 = 24;
    pub(crate) const DATA_LEN: u64 = 16;
}

/// A boxed element or value: its bytes from 16 (length known from the type).
pub(crate) mod boxed {
    pub(crate) const DATA: u64 = 16;
}

// ---------------------------------------------------------------------------
// The root

/// One reader slot of the epoch scheme (see [`crate::storage::epoch`]), a cache line
/// of its own so that readers never write a line another reader writes.
#[repr(C, align(64))]
pub(crate) struct ReaderSlot {
    /// 0 when not pinned, else the global epoch the reader pinned.
    pub epoch: AtomicU64,
    /// 0 when free, else the claiming process's packed identity (`pid << 32
    /// | start time`, `ipc_core::liveness::packed_current`), or all ones
    /// while a dead owner's slot is being cleaned.
    pub claim: AtomicU64,
    /// Unused (format 1 kept the owner's start time here).
    _unused: AtomicU64,
    /// Which handle set of the claiming process owns it (process-local id).
    pub nonce: AtomicU64,
    _reserved: [AtomicU64; 4],
}
const _: () = assert!(size_of::<ReaderSlot>() == 64);

/// A bag of retired blocks waiting for readers (see [`crate::storage::epoch`]).
#[repr(C)]
pub(crate) struct Bag {
    /// 0 while the bag is open (collecting), else the epoch every active
    /// reader must have reached before its blocks may be freed.
    pub tag: AtomicU64,
    /// First block of the list (linked through the blocks' `link` words).
    pub head: AtomicU64,
    /// Number of blocks in the bag.
    pub count: AtomicU64,
    /// Sum of their sizes.
    pub bytes: AtomicU64,
}
const _: () = assert!(size_of::<Bag>() == 32);

/// Number of limbo bags; one is open at a time.
pub(crate) const NBAGS: usize = 8;
/// Number of reader slots: concurrent reading threads over all processes.
pub(crate) const READER_SLOTS: usize = 1024;

/// The global epoch alone on its cache line: every reader loads it, only
/// reclamation writes it.
#[repr(C, align(64))]
pub(crate) struct EpochLine {
    pub epoch: AtomicU64,
    _reserved: [AtomicU64; 7],
}

/// Writer-side state, only changed under the writer mutex.
#[repr(C, align(64))]
pub(crate) struct WriterState {
    /// Published segment count (readers map segments below it).
    pub seg_count: AtomicU64,
    /// Non-zero while the arena grows: [`GROW_ADD`] or [`GROW_EXTEND`] in the
    /// top byte, the segment index below.
    pub grow_intent: AtomicU64,
    /// One past the highest reader slot ever claimed.
    pub slot_hw: AtomicU64,
    /// How many times recovery ran.
    pub recoveries: AtomicU64,
    /// Index of the open limbo bag.
    pub open_bag: AtomicU64,
    /// Non-zero when recovery must run before the next write (set when a
    /// file-backed manager is opened after a reboot).
    pub needs_recovery: AtomicU64,
    /// Completed reclamation passes (statistics).
    pub reclaims: AtomicU64,
    /// Hash of the boot id of the machine session that last opened the
    /// manager (file-backed managers survive reboots).
    pub boot: AtomicU64,
}
const _: () = assert!(size_of::<WriterState>() == 64);

/// The root of a manager, at the start of segment 0's payload.
#[repr(C, align(64))]
pub(crate) struct Root {
    /// [`MAGIC`].
    pub magic: AtomicU64,
    /// A random id, also written into every additional segment.
    pub manager_id: AtomicU64,
    /// Hash seeds (random at creation).
    pub seed: [AtomicU64; 2],
    /// Bytes mapped for segment 0 (its reserved capacity when anonymous).
    pub capacity: AtomicU64,
    /// Offset of segment 0's heap.
    pub heap_start: AtomicU64,
    /// [`BACKING_NAMED`], [`BACKING_FILE`] or [`BACKING_ANONYMOUS`].
    pub backing: AtomicU64,
    /// Maximum total length of all segments (0: no limit but the segment count).
    pub max_len: AtomicU64,
    /// The mutex every writer holds.
    pub writer: RobustMutex<()>,
    /// The global epoch.
    pub epoch: EpochLine,
    /// Writer-side state.
    pub state: WriterState,
    /// Committed length of every segment (0 past `seg_count`).
    pub seg_len: [AtomicU64; MAX_SEGMENTS],
    /// Limbo bags.
    pub bags: [Bag; NBAGS],
    /// Free-list heads, one per size class.
    pub free_heads: [AtomicU64; NCLASSES],
    /// Bit `c` set when free list `c` is not empty.
    pub free_bits: [AtomicU64; 4],
    /// With `grow_intent`: the committed length being extended to.
    pub grow_len: AtomicU64,
    /// How many recoveries found a growth step unfinished (statistics).
    pub interrupted_growths: AtomicU64,
    _reserved: [AtomicU64; 2],
    /// The directory: object name -> object descriptor.
    pub directory: DictHeader,
    /// The type registry: type tag -> type name, size, alignment.
    pub registry: DictHeader,
    /// Reader slots.
    pub slots: [ReaderSlot; READER_SLOTS],
}

/// `grow_intent`: a new segment is being created.
pub(crate) const GROW_ADD: u64 = 1 << 56;
/// `grow_intent`: segment 0's committed length is being extended to `grow_len`.
pub(crate) const GROW_EXTEND: u64 = 2 << 56;

/// Size of the used block that ends every segment's heap, so that every
/// other block has a successor to carry its `PREV_FREE` flag.
pub(crate) const SENTINEL: u64 = 32;

/// `Root::backing` values.
pub(crate) const BACKING_NAMED: u64 = 1;
pub(crate) const BACKING_FILE: u64 = 2;
pub(crate) const BACKING_ANONYMOUS: u64 = 3;

const _: () = assert!(size_of::<RobustMutex<()>>() == 64);
const _: () = assert!(core::mem::offset_of!(Root, writer) == 64);
const _: () = assert!(core::mem::offset_of!(Root, epoch) == 128);
const _: () = assert!(core::mem::offset_of!(Root, state) == 192);
const _: () = assert!(core::mem::offset_of!(Root, seg_len) == 256);
const _: () = assert!(core::mem::offset_of!(Root, bags) == 768);
const _: () = assert!(core::mem::offset_of!(Root, free_heads) == 1024);
const _: () = assert!(core::mem::offset_of!(Root, directory) == 2624);
const _: () = assert!(core::mem::offset_of!(Root, slots) == 2752);
const _: () = assert!(size_of::<Root>() == 2752 + 64 * READER_SLOTS);

/// Offset of the root in segment 0.
pub(crate) const ROOT_OFF: u64 = HEADER_LEN as u64;
/// Ref of the directory's header.
pub(crate) const DIRECTORY_REF: u64 =
    make_ref(0, ROOT_OFF + core::mem::offset_of!(Root, directory) as u64);
/// Ref of the type registry's header.
pub(crate) const REGISTRY_REF: u64 =
    make_ref(0, ROOT_OFF + core::mem::offset_of!(Root, registry) as u64);
/// Where segment 0's heap starts.
pub(crate) const ROOT_HEAP_START: u64 = (ROOT_OFF + size_of::<Root>() as u64).next_multiple_of(64);

/// Byte offsets in a manager's root file, for tests that damage it on
/// purpose; computed from the layout above, so they cannot drift.
#[doc(hidden)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub mod offsets {
    use super::{ROOT_HEAP_START, ROOT_OFF, Root};
    use core::mem::offset_of;

    /// The root (its first word is the magic number).
    pub const ROOT: u64 = ROOT_OFF;
    /// The writer mutex: never to be scribbled over (a forged "held" mutex
    /// would only block).
    pub const WRITER_MUTEX: core::ops::Range<u64> = ROOT_OFF + offset_of!(Root, writer) as u64
        ..ROOT_OFF + (offset_of!(Root, writer) + 64) as u64;
    /// The writer state; its first word is the segment count.
    pub const SEG_COUNT: u64 = ROOT_OFF + offset_of!(Root, state) as u64;
    /// The root's bookkeeping from the epoch to the directory.
    pub const BOOKKEEPING: core::ops::Range<u64> =
        ROOT_OFF + offset_of!(Root, epoch) as u64..ROOT_OFF + offset_of!(Root, directory) as u64;
    /// Where segment 0's heap starts.
    pub const HEAP_START: u64 = ROOT_HEAP_START;
}

// ---------------------------------------------------------------------------
// Directory entries

/// What a directory entry's value holds (little-endian words).
///
/// | offset | field                                              |
/// |--------|----------------------------------------------------|
/// | 0      | kind (an [`obj`] code)                             |
/// | 8      | ref of the object's block                          |
/// | 16     | ref of the object itself (aligned inside the block)|
/// | 24     | type tag (value / element type; 0 if none)         |
/// | 32     | parameter (element size, barrier parties, ...)     |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ObjectDesc {
    pub kind: u64,
    pub block: u64,
    pub object: u64,
    pub tag: u64,
    pub param: u64,
}

impl ObjectDesc {
    /// Encoded length.
    pub(crate) const LEN: usize = 40;

    pub(crate) fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        for (i, w) in [self.kind, self.block, self.object, self.tag, self.param]
            .into_iter()
            .enumerate()
        {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != Self::LEN {
            return None;
        }
        let w = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(a)
        };
        Some(Self {
            kind: w(0),
            block: w(1),
            object: w(2),
            tag: w(3),
            param: w(4),
        })
    }
}

/// The kinds of object a directory entry names.
pub(crate) mod obj {
    pub(crate) const DICT: u64 = 1;
    pub(crate) const LIST: u64 = 2;
    pub(crate) const VALUE: u64 = 3;
    pub(crate) const LOCK: u64 = 4;
    pub(crate) const EVENT: u64 = 5;
    pub(crate) const SEMAPHORE: u64 = 6;
    pub(crate) const BARRIER: u64 = 7;

    /// A name for error messages.
    pub(crate) fn name(kind: u64) -> &'static str {
        match kind {
            DICT => "dict",
            LIST => "list",
            VALUE => "value",
            LOCK => "lock",
            EVENT => "event",
            SEMAPHORE => "semaphore",
            BARRIER => "barrier",
            _ => "unknown object",
        }
    }
}

/// Where the heap of segment `seg` starts.
pub(crate) fn heap_start(seg: usize) -> u64 {
    if seg == 0 {
        ROOT_HEAP_START
    } else {
        ARENA_HEAP_START
    }
}
