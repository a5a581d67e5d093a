//! `limit_memcpy_4KiB`: how fast one core copies a 4 KiB message when nothing
//! else is in the way. The 4 KiB ring (and later queue rows) are compared to it.
//! `limit_copy_<size>`: the same for the size sweep's sizes, as ns per copy.

use std::hint::black_box;
use std::time::Instant;

use crate::harness::{SampleError, warmup_for};
use crate::rows::kit::shm::{PAGE_BYTES, Page};

pub fn gb_4kib(copies: u64) -> Result<f64, SampleError> {
    // Both page-aligned: same offset within the page for source and
    // destination (see `Page` for why that matters on this CPU). 8 KiB total,
    // so this measures cache-hot copying, the best case.
    let src = Page::boxed();
    let mut dst = Page::boxed();
    let copy_all = |n: u64, dst: &mut Page| {
        for _ in 0..n {
            // black_box hides the pointers, so the copy cannot be hoisted out
            // of the loop or dropped as dead.
            let (s, d) = black_box((src.0.as_ptr(), dst.0.as_mut_ptr()));
            // SAFETY: two distinct live heap pages of PAGE_BYTES each: valid,
            // non-overlapping, no other reference in use during the copy.
            unsafe { std::ptr::copy_nonoverlapping(s, d, PAGE_BYTES) };
        }
        black_box(&mut *dst);
    };
    copy_all(warmup_for(copies), &mut dst);
    let start = Instant::now();
    copy_all(copies, &mut dst);
    let secs = start.elapsed().as_secs_f64();
    Ok(copies as f64 * PAGE_BYTES as f64 / secs / 1e9)
}

/// ns per copy of `N` bytes between two heap buffers (page-aligned by the
/// allocator for the larger sizes; beyond the caches at 4 MiB here).
pub fn ns_per_copy<const N: usize>(copies: u64) -> Result<f64, SampleError> {
    let src = vec![7u8; N];
    let mut dst = vec![0u8; N];
    let copy_all = |n: u64, dst: &mut Vec<u8>| {
        for _ in 0..n {
            let (s, d) = black_box((src.as_ptr(), dst.as_mut_ptr()));
            // SAFETY: two distinct live buffers of N bytes each: valid,
            // non-overlapping, no other reference in use during the copy.
            unsafe { std::ptr::copy_nonoverlapping(s, d, N) };
        }
        black_box(&mut *dst);
    };
    copy_all(crate::rows::kit::sizes::sweep_warmup(copies), &mut dst);
    let start = Instant::now();
    copy_all(copies, &mut dst);
    Ok(start.elapsed().as_nanos() as f64 / copies as f64)
}
