//! The process-local view of a manager's segments: which are mapped where,
//! how refs become addresses, and how segments are named, created, opened
//! and removed.
//!
//! Segment 0 is the root segment the manager was created or opened with.
//! Named and file-backed managers grow by adding segments `<name>.1`,
//! `<name>.2`, ... (files `<path>.1`, ...), each an ipc-core object segment
//! of kind [`ARENA_KIND`] whose [`ArenaHeader`](crate::layout::ArenaHeader)
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

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ipc_core::segment::{ObjectSegment, Segment, SegmentOptions, TypeDesc};

use crate::error::{Error, Result};
use crate::layout::{
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

pub(crate) fn corrupted(reason: impl Into<String>) -> Error {
    Error::Corrupted {
        reason: reason.into(),
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
                low: crate::alloc::heap_start(seg),
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
                crate::shm::init_arena_payload(p, len, manager_id, seg as u64)
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
        let (magic, id, index) = crate::shm::read_arena_header(object);
        if magic != crate::layout::MAGIC
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
}
