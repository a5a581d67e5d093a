//! Allocation counting: the suite runs under a counting global allocator
//! (installed in `main.rs`), and the drivers of the ping-pong and
//! throughput rows report how many allocations the measuring process made
//! per operation in their timed loop (`allocs_per_op=` in the RESULT line,
//! `[alloc/op ..]` in the table). The toolkit's rows should show 0: no
//! allocation per message. (Rows whose timed side is another process, and
//! the serde rows, whose receivers build `String`s by design, say what they
//! measure in `benches/METHOD.md`.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed.
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations (and reallocations).
pub struct Counting;

// SAFETY: every method forwards to `System` with the same arguments, so the
// GlobalAlloc contract holds exactly as it does for `System`; the counter is
// an atomic increment, which neither allocates nor unwinds.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc`, passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc`, passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Bytes this process has allocated and not freed (all threads).
pub fn live_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Allocations made so far by this process (all threads).
pub fn count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

thread_local! {
    static LAST: Cell<Option<f64>> = const { Cell::new(None) };
}

/// Reports the sample's allocations per operation.
pub fn record(per_op: f64) {
    LAST.with(|l| l.set(Some(per_op)));
}

/// What the last sample reported.
pub fn take() -> Option<f64> {
    LAST.with(Cell::take)
}
