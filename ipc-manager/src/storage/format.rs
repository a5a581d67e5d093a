//! Writing the initial contents of fresh memory: a new root with its writer
//! mutex, an additional segment's header, and a heap of one free block and
//! its closing sentinel; and reading an additional segment's header. Every
//! write here goes to memory no other process can see yet.
// Unsafe code is allowed here: writing fresh, still private memory.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use ipc_core::segment::ObjectSegment;

use crate::storage::layout::{ArenaHeader, MAGIC, Root};

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
/// [`ROOT_OFF`](crate::storage::layout::ROOT_OFF), 64-aligned), zeroed, writable,
/// reaching at least segment offset `committed`, and invisible to every
/// other process; `committed` must be a multiple of 16 and at least
/// `ROOT_HEAP_START + MIN_BLOCK + SENTINEL`.
pub(crate) unsafe fn init_root_payload(
    payload: NonNull<u8>,
    committed: u64,
    setup: impl FnOnce(&Root),
) {
    use crate::storage::layout::{ROOT_HEAP_START, ROOT_OFF};
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
        < size_of::<ArenaHeader>()
            + (crate::storage::layout::MIN_BLOCK + crate::storage::layout::SENTINEL) as usize
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
    let heap_len = (len - size_of::<ArenaHeader>()) as u64 & crate::storage::layout::SIZE_MASK;
    // SAFETY: the heap starts 64 bytes into the payload (8-aligned) and spans
    // heap_len bytes, all ours.
    unsafe { init_heap(heap, heap_len) };
    Ok(())
}

/// Lays out a fresh heap of `heap_len` bytes: one free block and the
/// closing sentinel (see [`crate::storage::layout::SENTINEL`]).
///
/// # Safety
/// `heap` must point to `heap_len` writable, 8-aligned bytes that no other
/// process can reach yet; `heap_len` must be a multiple of 16 and at least
/// `MIN_BLOCK + SENTINEL`.
pub(crate) unsafe fn init_heap(heap: *mut AtomicU64, heap_len: u64) {
    use crate::storage::layout::{FLAG_FREE, FLAG_PREV_FREE, SENTINEL};
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
