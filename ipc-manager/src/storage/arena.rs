//! The process-local view of a manager's segments: which are mapped where,
//! how refs become addresses, and how segments are named, created, opened
//! and removed.
//!
//! Segment 0 is the root segment the manager was created or opened with.
//! Named and file-backed managers grow by adding segments `<name>.1`,
//! `<name>.2`, ... (files `<path>.1`, ...), each an ipc-core object segment
//! of kind [`ARENA_KIND`] whose [`ArenaHeader`](crate::storage::layout::ArenaHeader)
//! names the manager. A process maps a segment the first time it meets a ref
//! into it (or notices a larger committed length), so growth made by another
//! process is picked up on the next access, without any restart.
//!
//! An anonymous manager (a `memfd`) cannot add segments that already-forked
//! children could see, so it has exactly one segment, mapped at its full
//! capacity but committed (with `fallocate`) only as far as it has grown: a
//! full memory is reported as an error, never as a `SIGBUS`.
//!
//! Mappings are never unmapped while the arena lives, so an address handed
//! out by [`Arena::translate`] stays valid as long as the `&Arena` it came
//! from.
//!
//! # Raw access
//!
//! All raw access to shared memory is here, in one place.
//!
//! Every function here takes a ref (see [`crate::storage::layout`]), has
//! [`Arena::translate`] check that the bytes it touches lie inside the
//! committed part of a mapped segment, and only then dereferences. Memory
//! that other processes may write is reached through atomics only: single
//! words as `&AtomicU64`, byte strings copied in and out word by word with
//! relaxed atomic loads and stores. So even a peer that scribbles over the
//! arena, or a ref damaged on disk, can make a call fail with
//! [`Error::Corrupted`] or read garbage, but never cause undefined behaviour
//! in this process.
//!
//! Two exceptions create plain references, each behind an `unsafe fn` whose
//! contract the caller argues: [`Span::as_slice`] (the zero-copy guard, over
//! an entry that the epoch scheme keeps immutable and allocated while the
//! guard lives) and [`Arena::init_object`] (writing a synchronisation
//! primitive into a block no other process can reach yet).
// Unsafe code is allowed here: the raw access to the manager's segments.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ipc_core::segment::{ObjectSegment, Segment, SegmentOptions, ShmSafe, TypeDesc};

use crate::error::{Error, Result, corrupted};
use crate::storage::layout::{
    ARENA_HEAP_START, ARENA_KIND, MAX_SEGMENTS, OFF_MASK, ROOT_OFF, Root, ref_off, ref_seg,
};

/// Where the manager's segments live.
#[derive(Debug, Clone)]
pub(crate) enum Backing {
    /// POSIX shared memory: the root's name without the leading slash.
    Named(String),
    /// A file: the root's path.
    File(PathBuf),
    /// A memfd: one segment only.
    Anonymous,
}

impl Backing {
    /// Options for additional segment `n` (never removed by the handle
    /// that creates it: the manager's creator removes them all).
    pub(crate) fn segment_options(&self, n: usize, mode: u32) -> Option<SegmentOptions> {
        match self {
            Backing::Named(base) => Some(
                SegmentOptions::named(&format!("{base}.{n}"))
                    .mode(mode)
                    .keep(true),
            ),
            Backing::File(path) => Some(
                SegmentOptions::file(Self::file_path(path, n))
                    .mode(mode)
                    .keep(true),
            ),
            Backing::Anonymous => None,
        }
    }

    /// `<path>.<n>`.
    pub(crate) fn file_path(path: &std::path::Path, n: usize) -> PathBuf {
        let mut s: OsString = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Whether the root's name or file still exists (a manager whose
    /// creator removed it must not grow: nobody would remove the new
    /// segment, and later openers could not find the manager anyway).
    pub(crate) fn root_exists(&self) -> bool {
        match self {
            Backing::Named(base) => Segment::exists(base).unwrap_or(true),
            Backing::File(path) => path.exists(),
            Backing::Anonymous => true,
        }
    }

    /// Removes additional segment `n`; a missing one is not an error.
    pub(crate) fn remove_segment(&self, n: usize) -> Result<()> {
        let r = match self {
            Backing::Named(base) => Segment::unlink(&format!("{base}.{n}")),
            Backing::File(path) => {
                let p = Self::file_path(path, n);
                std::fs::remove_file(&p).map_err(|e| {
                    ipc_core::Error::for_name(
                        "unlink",
                        e.raw_os_error().unwrap_or(0),
                        &p.display().to_string(),
                    )
                })
            }
            Backing::Anonymous => Ok(()),
        };
        match r {
            Ok(()) | Err(ipc_core::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The payload type recorded in every additional segment's header.
pub(crate) fn arena_type() -> TypeDesc {
    TypeDesc::new("ipc_manager::ArenaHeader", 64, 64)
}

/// One segment as this process sees it.
struct Mapping {
    /// Start of the mapping (the segment's byte 0), null until mapped.
    base: AtomicPtr<u8>,
    /// How many bytes from `base` may be touched: the committed length.
    usable: AtomicU64,
    /// How many bytes are mapped (`usable` never exceeds it).
    mapped: AtomicU64,
    /// Refs below this offset take the slow path (segment headers and the
    /// root, where only the directory and registry headers may be reached).
    low: u64,
}

/// The additional segments this process has mapped.
struct Extra {
    /// By index (slot 0 unused).
    live: Vec<Option<ObjectSegment>>,
    /// Mappings replaced or given up: kept until the arena drops, so that no
    /// address this process ever handed out becomes unmapped.
    retired: Vec<ObjectSegment>,
}

/// The segments of one manager, as mapped in this process.
pub(crate) struct Arena {
    maps: Box<[Mapping]>,
    root_seg: ObjectSegment,
    /// Additional segments, by index (slot 0 unused); kept mapped until drop.
    extra: Mutex<Extra>,
    backing: Backing,
    /// Permission bits for new segments (those of the root).
    mode: u32,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("root", &self.root_seg.segment().display_name())
            .field("backing", &self.backing)
            .finish()
    }
}

impl Arena {
    /// Wraps a checked root segment. `committed` is segment 0's usable length.
    pub(crate) fn new(root_seg: ObjectSegment, backing: Backing) -> Result<Self> {
        let mode = root_seg
            .segment()
            .fd()
            .try_clone_to_owned()
            .ok()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata().ok())
            .map_or(0o600, |m| m.permissions().mode() & 0o777);
        let maps: Box<[Mapping]> = (0..MAX_SEGMENTS)
            .map(|seg| Mapping {
                base: AtomicPtr::new(std::ptr::null_mut()),
                usable: AtomicU64::new(0),
                mapped: AtomicU64::new(0),
                low: crate::storage::layout::heap_start(seg),
            })
            .collect();
        let len = root_seg.segment().len() as u64;
        if (root_seg.payload_len() as u64) < size_of::<Root>() as u64 {
            return Err(corrupted("root segment too short for the manager root"));
        }
        let arena = Self {
            maps,
            extra: Mutex::new(Extra {
                live: (0..MAX_SEGMENTS).map(|_| None).collect(),
                retired: Vec::new(),
            }),
            backing,
            mode,
            root_seg,
        };
        let m = &arena.maps[0];
        m.mapped.store(len, Ordering::Relaxed);
        m.usable.store(0, Ordering::Relaxed);
        m.base.store(
            arena.root_seg.segment().as_ptr().cast_mut(),
            Ordering::Release,
        );
        Ok(arena)
    }

    /// The root segment, mutably (to choose whether it is removed on drop).
    pub(crate) fn root_segment_mut(&mut self) -> &mut ObjectSegment {
        &mut self.root_seg
    }

    /// Address of the root (segment 0, [`ROOT_OFF`]).
    pub(crate) fn root_ptr(&self) -> *const Root {
        self.root_seg
            .segment()
            .as_ptr()
            .wrapping_add(ROOT_OFF as usize)
            .cast()
    }

    pub(crate) fn backing(&self) -> &Backing {
        &self.backing
    }

    /// Bytes mapped for segment `seg` in this process (0 if not mapped).
    pub(crate) fn mapped_len(&self, seg: usize) -> u64 {
        self.maps
            .get(seg)
            .map_or(0, |m| m.mapped.load(Ordering::Relaxed))
    }

    /// The address of `len` bytes at ref `r`, checked to lie inside the
    /// committed part of a mapped segment.
    #[inline]
    pub(crate) fn translate(&self, r: u64, len: u64) -> Result<*mut u8> {
        let seg = ref_seg(r);
        let off = ref_off(r);
        if let Some(m) = self.maps.get(seg) {
            let base = m.base.load(Ordering::Acquire);
            if !base.is_null()
                && off >= m.low
                && len <= OFF_MASK
                && off + len <= m.usable.load(Ordering::Relaxed)
            {
                return Ok(base.wrapping_add(off as usize));
            }
        }
        self.translate_slow(r, len)
    }

    #[cold]
    fn translate_slow(&self, r: u64, len: u64) -> Result<*mut u8> {
        let seg = ref_seg(r);
        let off = ref_off(r);
        if seg >= MAX_SEGMENTS || len > OFF_MASK {
            return Err(corrupted(format!("ref {r:#x} names no segment")));
        }
        // Below the heap, only the directory and registry headers in the root
        // are reachable by ref: never a segment header, the writer mutex or
        // the reader slots, whatever a damaged ref says.
        let headers = ROOT_OFF + core::mem::offset_of!(Root, directory) as u64
            ..ROOT_OFF + core::mem::offset_of!(Root, slots) as u64;
        if off < self.maps[seg].low
            && !(seg == 0 && headers.start <= off && off + len <= headers.end)
        {
            return Err(corrupted(format!("ref {r:#x} points below the heap")));
        }
        self.refresh(seg)?;
        let m = &self.maps[seg];
        let base = m.base.load(Ordering::Acquire);
        if base.is_null() || off + len > m.usable.load(Ordering::Relaxed) {
            return Err(corrupted(format!(
                "ref {r:#x} (+{len} bytes) lies outside segment {seg}"
            )));
        }
        Ok(base.wrapping_add(off as usize))
    }

    /// Brings this process's view of segment `seg` up to date with the
    /// root: maps it if it is published and not mapped yet, and takes over
    /// its committed length.
    pub(crate) fn refresh(&self, seg: usize) -> Result<()> {
        let root = self.root();
        let count = root.state.seg_count.load(Ordering::Acquire);
        if seg as u64 >= count {
            return Err(corrupted(format!(
                "segment {seg} is not published (count {count})"
            )));
        }
        let m = &self.maps[seg];
        if m.base.load(Ordering::Acquire).is_null() {
            self.map_segment(seg)?;
        }
        let committed = root.seg_len[seg].load(Ordering::Acquire);
        let mapped = m.mapped.load(Ordering::Relaxed);
        if committed > mapped {
            return Err(corrupted(format!(
                "segment {seg} records {committed} bytes, {mapped} mapped"
            )));
        }
        m.usable.fetch_max(committed, Ordering::Relaxed);
        Ok(())
    }

    /// Maps additional segment `seg` (published by some writer).
    fn map_segment(&self, seg: usize) -> Result<()> {
        let mut extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.maps[seg].base.load(Ordering::Acquire).is_null() {
            return Ok(());
        }
        let Some(opts) = self.backing.segment_options(seg, self.mode) else {
            return Err(corrupted(format!(
                "an anonymous manager has no segment {seg}"
            )));
        };
        // No waiting for a creator: a writer publishes a segment (in
        // `seg_count`) only after creating it whole, so an empty or
        // uninitialised one is damage, reported at once rather than after
        // the default 2 s `init_timeout` on every call that meets it.
        let opts = opts.init_timeout(std::time::Duration::ZERO);
        let object = ObjectSegment::open(&opts, ARENA_KIND, Some(&arena_type()))?;
        self.check_arena_header(&object, seg)?;
        self.install(&mut extra, seg, object);
        Ok(())
    }

    fn install(&self, extra: &mut Extra, seg: usize, object: ObjectSegment) {
        let m = &self.maps[seg];
        m.usable.store(0, Ordering::Relaxed);
        m.mapped
            .store(object.segment().len() as u64, Ordering::Relaxed);
        m.base
            .store(object.segment().as_ptr().cast_mut(), Ordering::Release);
        if let Some(old) = extra.live[seg].replace(object) {
            extra.retired.push(old);
        }
    }

    /// Creates additional segment `seg` with a heap of `heap_len` bytes and
    /// maps it here. The caller holds the writer lock and publishes it.
    /// A leftover segment of that index (never published) is replaced.
    pub(crate) fn create_segment(&self, seg: usize, heap_len: u64, manager_id: u64) -> Result<()> {
        let Some(opts) = self.backing.segment_options(seg, self.mode) else {
            return Err(Error::CapacityExhausted {
                requested: heap_len,
                reason: "an anonymous manager cannot add segments",
            });
        };
        let payload_len = ARENA_HEAP_START - ipc_core::segment::HEADER_LEN as u64 + heap_len;
        let create = || {
            ObjectSegment::create(&opts, ARENA_KIND, &arena_type(), payload_len, |p, len| {
                crate::storage::format::init_arena_payload(p, len, manager_id, seg as u64)
            })
        };
        let object = match create() {
            Err(ipc_core::Error::AlreadyExists { .. }) => {
                // Left behind by a writer that died before publishing it.
                self.backing.remove_segment(seg)?;
                create()?
            }
            other => other?,
        };
        let mut extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        self.install(&mut extra, seg, object);
        Ok(())
    }

    fn check_arena_header(&self, object: &ObjectSegment, seg: usize) -> Result<()> {
        let (magic, id, index) = crate::storage::format::read_arena_header(object);
        if magic != crate::storage::layout::MAGIC
            || id != self.root().manager_id.load(Ordering::Relaxed)
            || index != seg as u64
        {
            return Err(corrupted(format!(
                "segment {seg} belongs to another manager or is damaged"
            )));
        }
        Ok(())
    }

    /// Extends the committed length of segment 0 of an anonymous manager to
    /// `new_len` (reserving the memory first).
    pub(crate) fn commit(&self, new_len: u64) -> Result<()> {
        let m = &self.maps[0];
        let mapped = m.mapped.load(Ordering::Relaxed);
        let old = self.root().seg_len[0].load(Ordering::Relaxed);
        if new_len > mapped {
            return Err(Error::CapacityExhausted {
                requested: new_len - old,
                reason: "the anonymous manager's capacity is used up",
            });
        }
        self.root_seg.segment().reserve(old, new_len - old)?;
        Ok(())
    }

    /// Lets this process touch segment `seg` up to `len` bytes before that
    /// length is published (the writer extending it).
    pub(crate) fn widen_view(&self, seg: usize, len: u64) -> Result<()> {
        let m = &self.maps[seg];
        if len > m.mapped.load(Ordering::Relaxed) {
            return Err(corrupted(format!("segment {seg} is not {len} bytes long")));
        }
        m.usable.fetch_max(len, Ordering::Relaxed);
        Ok(())
    }

    /// Forgets this process's mapping of segment `seg`, which a failed
    /// growth created but never published (the mapping itself stays until
    /// the arena drops).
    pub(crate) fn forget_unpublished(&self, seg: usize) {
        let mut extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = self.maps.get(seg) {
            m.base.store(std::ptr::null_mut(), Ordering::Release);
            m.usable.store(0, Ordering::Relaxed);
            m.mapped.store(0, Ordering::Relaxed);
        }
        if let Some(old) = extra.live.get_mut(seg).and_then(Option::take) {
            extra.retired.push(old);
        }
    }

    // -- raw access ------------------------------------------------------------

    /// The root.
    #[inline]
    pub(crate) fn root(&self) -> &Root {
        // SAFETY: `Arena::new` checked that segment 0's payload, which starts
        // at ROOT_OFF (a multiple of 64, as Root's alignment requires), holds
        // at least size_of::<Root>() bytes; the mapping lives as long as
        // `self`. Every field of Root is an atomic, a mutex built for shared
        // memory, or padding nobody writes, and every bit pattern is a valid
        // value of each, so a shared reference is sound while other
        // processes write it.
        unsafe { &*self.root_ptr() }
    }

    /// The 8-byte word at `r + off`, as an atomic.
    #[inline]
    pub(crate) fn word(&self, r: u64, off: u64) -> Result<&AtomicU64> {
        let p = self.translate(r.wrapping_add(off), 8)?;
        if !(p as usize).is_multiple_of(8) {
            return Err(corrupted(format!("misaligned word at {r:#x}+{off}")));
        }
        // SAFETY: 8 bytes at `p` are mapped (translate) and 8-aligned (just
        // checked), and stay mapped while `self` lives. AtomicU64 has u64's
        // layout and permits concurrent access from any process.
        Ok(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// `n` consecutive 8-byte words from `r + off`, as atomics.
    #[inline]
    pub(crate) fn words(&self, r: u64, off: u64, n: u64) -> Result<&[AtomicU64]> {
        let bytes = n
            .checked_mul(8)
            .ok_or_else(|| corrupted(format!("{n} words at {r:#x}")))?;
        let p = self.translate(r.wrapping_add(off), bytes)?;
        if !(p as usize).is_multiple_of(8) {
            return Err(corrupted(format!("misaligned words at {r:#x}+{off}")));
        }
        // SAFETY: n * 8 bytes at `p` are mapped while `self` lives and `p` is
        // 8-aligned (both checked); AtomicU64 has u64's layout and permits
        // concurrent access from any process.
        Ok(unsafe { std::slice::from_raw_parts(p.cast::<AtomicU64>(), n as usize) })
    }

    /// Copies `dst.len()` bytes from `r + off` with relaxed atomic loads.
    #[inline]
    pub(crate) fn read(&self, r: u64, off: u64, dst: &mut [u8]) -> Result<()> {
        let p = self.translate(r.wrapping_add(off), dst.len() as u64)?;
        let n = dst.len();
        let mut i = 0;
        while i < n && !(p as usize + i).is_multiple_of(8) {
            // SAFETY: byte i < n of the checked range; AtomicU8 has no
            // alignment requirement.
            dst[i] = unsafe { (*p.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed) };
            i += 1;
        }
        while i + 8 <= n {
            // SAFETY: bytes i..i+8 lie in the checked range and p+i is
            // 8-aligned (the loop above aligned it).
            let w = unsafe { (*p.add(i).cast::<AtomicU64>()).load(Ordering::Relaxed) };
            dst[i..i + 8].copy_from_slice(&w.to_ne_bytes());
            i += 8;
        }
        while i < n {
            // SAFETY: as for the head bytes.
            dst[i] = unsafe { (*p.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed) };
            i += 1;
        }
        Ok(())
    }

    /// Copies `src` to `r + off` with relaxed atomic stores.
    pub(crate) fn write(&self, r: u64, off: u64, src: &[u8]) -> Result<()> {
        let p = self.translate(r.wrapping_add(off), src.len() as u64)?;
        let n = src.len();
        let mut i = 0;
        while i < n && !(p as usize + i).is_multiple_of(8) {
            // SAFETY: byte i < n of the checked range.
            unsafe { (*p.add(i).cast::<AtomicU8>()).store(src[i], Ordering::Relaxed) };
            i += 1;
        }
        while i + 8 <= n {
            let mut w = [0u8; 8];
            w.copy_from_slice(&src[i..i + 8]);
            // SAFETY: bytes i..i+8 in range, p+i 8-aligned.
            unsafe {
                (*p.add(i).cast::<AtomicU64>()).store(u64::from_ne_bytes(w), Ordering::Relaxed)
            };
            i += 8;
        }
        while i < n {
            // SAFETY: as for the head bytes.
            unsafe { (*p.add(i).cast::<AtomicU8>()).store(src[i], Ordering::Relaxed) };
            i += 1;
        }
        Ok(())
    }

    /// Whether the `bytes.len()` bytes at `r + off` equal `bytes`, compared
    /// with relaxed atomic loads.
    #[inline]
    pub(crate) fn equals(&self, r: u64, off: u64, bytes: &[u8]) -> Result<bool> {
        let p = self.translate(r.wrapping_add(off), bytes.len() as u64)?;
        let n = bytes.len();
        let mut i = 0;
        if (p as usize).is_multiple_of(8) {
            while i + 8 <= n {
                let mut w = [0u8; 8];
                w.copy_from_slice(&bytes[i..i + 8]);
                // SAFETY: bytes i..i+8 in the checked range, p+i 8-aligned.
                let v = unsafe { (*p.add(i).cast::<AtomicU64>()).load(Ordering::Relaxed) };
                if v != u64::from_ne_bytes(w) {
                    return Ok(false);
                }
                i += 8;
            }
        }
        while i < n {
            // SAFETY: byte i < n of the checked range.
            let b = unsafe { (*p.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed) };
            if b != bytes[i] {
                return Ok(false);
            }
            i += 1;
        }
        Ok(true)
    }

    /// The `len` bytes at `r + off`, checked to be mapped, for
    /// [`Span::as_slice`].
    pub(crate) fn span(&self, r: u64, off: u64, len: u64) -> Result<Span> {
        let p = self.translate(r.wrapping_add(off), len)?;
        Ok(Span {
            ptr: p,
            len: len as usize,
        })
    }

    /// The object of type `T` at ref `r` (a synchronisation primitive the
    /// manager placed there).
    pub(crate) fn object<T: ShmSafe>(&self, r: u64) -> Result<&T> {
        let p = self.translate(r, size_of::<T>() as u64)?;
        if !(p as usize).is_multiple_of(align_of::<T>()) {
            return Err(corrupted(format!("misaligned object at {r:#x}")));
        }
        // SAFETY: size_of::<T>() bytes at `p` are mapped for as long as
        // `self` lives, and `p` is aligned for T (both checked). T: ShmSafe
        // promises that shared access from several processes is sound and
        // that any bits another process leaves there are a valid T.
        Ok(unsafe { &*p.cast::<T>() })
    }

    /// Moves `value` into the memory at ref `r`.
    ///
    /// # Safety
    /// The memory must belong to a block that was just allocated under the
    /// writer lock and that no other process can reach yet (no published ref
    /// leads to it).
    pub(crate) unsafe fn init_object<T: ShmSafe>(&self, r: u64, value: T) -> Result<()> {
        let p = self.translate(r, size_of::<T>() as u64)?;
        if !(p as usize).is_multiple_of(align_of::<T>()) {
            return Err(corrupted(format!("misaligned object at {r:#x}")));
        }
        // SAFETY: in bounds and aligned (checked above); nobody else reads or
        // writes this memory yet (the caller's contract), so a plain write
        // races with nothing.
        unsafe { p.cast::<T>().write(value) };
        Ok(())
    }
}

/// A byte range in shared memory, checked to be mapped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    ptr: *const u8,
    len: usize,
}

impl Span {
    /// The bytes as a slice.
    ///
    /// # Safety
    /// No process may write these bytes for `'a`, and the arena they came
    /// from must stay alive (mapped) for `'a`.
    pub(crate) unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        // SAFETY: `ptr..ptr+len` lies inside a live mapping (checked by
        // `translate` when the span was made; the caller keeps the arena
        // alive), and the caller guarantees nobody writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
