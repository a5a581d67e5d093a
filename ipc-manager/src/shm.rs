//! All raw access to shared memory, in one place.
//!
//! Every function here takes a ref (see [`crate::layout`]), has
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

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use ipc_core::segment::{ObjectSegment, ShmSafe};

use crate::arena::{Arena, corrupted};
use crate::error::Result;
use crate::layout::{ArenaHeader, MAGIC, Root};

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

impl Arena {
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

/// Prepares a freshly created root payload: a zeroed [`Root`] whose writer
/// mutex is initialised. The remaining fields are stored by the caller
/// through the returned reference.
///
/// # Safety
/// `payload` must point to at least `size_of::<Root>()` zeroed, writable
/// bytes, 64-aligned, that no other process can see yet and that stay mapped
/// for `'a`.
unsafe fn init_root<'a>(payload: NonNull<u8>) -> &'a Root {
    let root = payload.cast::<Root>().as_ptr();
    // SAFETY: the caller guarantees the memory is ours alone, in bounds and
    // aligned. Zero bytes are a valid Root (atomics, padding, and a mutex
    // whose bytes are then overwritten here with a properly initialised
    // robust, process-shared one before anyone can lock it).
    unsafe {
        (&raw mut (*root).writer).write(ipc_core::sync::RobustMutex::new(()));
        &*root
    }
}

/// Initialises a fresh root payload: the [`Root`] (zeroed, writer mutex
/// initialised, then `setup`) and segment 0's heap up to `committed`.
///
/// # Safety
/// `payload` must be segment 0's payload (segment offset
/// [`ROOT_OFF`](crate::layout::ROOT_OFF), 64-aligned), zeroed, writable,
/// reaching at least segment offset `committed`, and invisible to every
/// other process; `committed` must be a multiple of 16 and at least
/// `ROOT_HEAP_START + MIN_BLOCK + SENTINEL`.
pub(crate) unsafe fn init_root_payload(
    payload: NonNull<u8>,
    committed: u64,
    setup: impl FnOnce(&Root),
) {
    use crate::layout::{ROOT_HEAP_START, ROOT_OFF};
    // SAFETY: forwarded from the caller's contract (the payload holds a
    // Root: ROOT_HEAP_START lies past it).
    let root = unsafe { init_root(payload) };
    setup(root);
    let heap = payload
        .as_ptr()
        .wrapping_add((ROOT_HEAP_START - ROOT_OFF) as usize)
        .cast::<AtomicU64>();
    // SAFETY: the heap runs from segment offset ROOT_HEAP_START (64-aligned)
    // to `committed`, inside the payload by the caller's contract.
    unsafe { init_heap(heap, committed - ROOT_HEAP_START) };
}

/// Initialises the payload of a new additional segment: its
/// [`ArenaHeader`] and one free block spanning the heap.
pub(crate) fn init_arena_payload(
    payload: NonNull<u8>,
    len: usize,
    manager_id: u64,
    index: u64,
) -> ipc_core::Result<()> {
    if len
        < size_of::<ArenaHeader>() + (crate::layout::MIN_BLOCK + crate::layout::SENTINEL) as usize
    {
        return Err(ipc_core::Error::InvalidSize {
            size: len as u64,
            reason: "arena segment too small",
        });
    }
    // SAFETY: ObjectSegment::create hands us `len >= 64` zeroed bytes at a
    // 64-aligned payload (alignment 64 was declared in the TypeDesc) that no
    // other process can open before we return. ArenaHeader is all atomics
    // and padding, valid when zeroed.
    let hdr = unsafe { &*payload.cast::<ArenaHeader>().as_ptr() };
    hdr.manager_id.store(manager_id, Ordering::Relaxed);
    hdr.index.store(index, Ordering::Relaxed);
    hdr.magic.store(MAGIC, Ordering::Relaxed);
    let heap = payload
        .as_ptr()
        .wrapping_add(size_of::<ArenaHeader>())
        .cast::<AtomicU64>();
    let heap_len = (len - size_of::<ArenaHeader>()) as u64 & crate::layout::SIZE_MASK;
    // SAFETY: the heap starts 64 bytes into the payload (8-aligned) and spans
    // heap_len bytes, all ours.
    unsafe { init_heap(heap, heap_len) };
    Ok(())
}

/// Lays out a fresh heap of `heap_len` bytes: one free block and the
/// closing sentinel (see [`crate::layout::SENTINEL`]).
///
/// # Safety
/// `heap` must point to `heap_len` writable, 8-aligned bytes that no other
/// process can reach yet; `heap_len` must be a multiple of 16 and at least
/// `MIN_BLOCK + SENTINEL`.
pub(crate) unsafe fn init_heap(heap: *mut AtomicU64, heap_len: u64) {
    use crate::layout::{FLAG_FREE, FLAG_PREV_FREE, SENTINEL};
    let free = heap_len - SENTINEL;
    // SAFETY: every index below is < heap_len / 8 (free >= MIN_BLOCK), inside
    // the caller's range, and 8-aligned.
    unsafe {
        (*heap).store(free | FLAG_FREE, Ordering::Relaxed);
        (*heap.add((free / 8 - 1) as usize)).store(free, Ordering::Relaxed);
        (*heap.add((free / 8) as usize)).store(SENTINEL | FLAG_PREV_FREE, Ordering::Relaxed);
    }
}

/// Reads `(magic, manager_id, index)` of an additional segment.
pub(crate) fn read_arena_header(object: &ObjectSegment) -> (u64, u64, u64) {
    if object.payload_len() < size_of::<ArenaHeader>() {
        return (0, 0, 0);
    }
    // SAFETY: the payload holds at least 64 mapped bytes (checked), at the
    // 64-aligned offset recorded in the checked header; ArenaHeader is all
    // atomics and padding, so concurrent writers cannot make this unsound.
    let hdr = unsafe { &*object.payload().cast::<ArenaHeader>().as_ptr() };
    (
        hdr.magic.load(Ordering::Relaxed),
        hdr.manager_id.load(Ordering::Relaxed),
        hdr.index.load(Ordering::Relaxed),
    )
}

/// A [`ShmSafe`] object at a fixed place in the arena (a synchronisation
/// primitive), with the handle set that keeps its mapping alive.
pub(crate) struct Placed<T> {
    inner: std::sync::Arc<crate::manager::Inner>,
    ptr: NonNull<T>,
}

// SAFETY: the pointee is ShmSafe (Sync + Send, made for concurrent use by
// many processes), and the Arc keeps the mapping alive wherever the handle
// goes.
unsafe impl<T: ShmSafe> Send for Placed<T> {}
// SAFETY: as above; `get` only hands out shared references.
unsafe impl<T: ShmSafe> Sync for Placed<T> {}

impl<T: ShmSafe> Placed<T> {
    /// The object at ref `r`, checked in bounds and aligned.
    pub(crate) fn new(inner: std::sync::Arc<crate::manager::Inner>, r: u64) -> Result<Self> {
        let ptr = NonNull::from(inner.arena.object::<T>(r)?);
        Ok(Self { inner, ptr })
    }

    /// The object.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: `new` checked bounds and alignment through the arena that
        // `self.inner` owns; mappings are never unmapped while it lives, and
        // T: ShmSafe makes shared access from several processes sound.
        unsafe { self.ptr.as_ref() }
    }

    /// The handle set.
    pub(crate) fn inner(&self) -> &std::sync::Arc<crate::manager::Inner> {
        &self.inner
    }
}

/// Makes the writer mutex usable again after a reboot: if it is still
/// marked held (by a thread of an earlier boot, which the kernel never got
/// to release), re-initialises it in place.
///
/// Called only by the one opener that won the reset of a manager last used
/// in an earlier boot, before any process of this boot can use the mutex.
pub(crate) fn reset_after_reboot(root: &Root) {
    // SAFETY: the raw mutex is only used for `reset_if_held`, which leaves
    // it unlocked: lock_api's bookkeeping is never bypassed in a way a
    // guard could observe.
    let raw = unsafe { root.writer.raw() };
    // SAFETY: no live thread owns the mutex or waits on it: every process
    // of the earlier boot is gone, and openers of this boot wait for us.
    unsafe { raw.reset_if_held() };
}
