//! A minimal lock-free single-producer single-consumer ring between two
//! processes: the ceiling for any shared-memory queue.
//!
//! `head` (next slot to write, producer-owned) and `tail` (next slot to read,
//! consumer-owned) are free-running u64 counters on separate cache lines.
//! Each side caches the other's counter and re-reads it only when the ring
//! looks full/empty, so in steady state the only shared traffic is the slot
//! data plus one index store per message. Release on publish, Acquire on
//! observe; no batching, since a real queue publishes each message.

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use crate::harness::{SampleError, warmup_for};
use crate::rows::kit::peer;
use crate::rows::kit::shm::{CacheLine, PAGE_BYTES, Page, ShmBox, ShmZeroed};
use crate::rows::kit::wait::spin_until;

/// `limit_spsc_ring_8B`: messages per second through 8-byte slots.
pub fn msgs_8b(msgs: u64) -> Result<f64, SampleError> {
    let ring = Rc::new(ShmBox::<Ring<Slots8>>::new()?);
    let elapsed = transfer(ring, warmup_for(msgs), msgs)?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// `limit_spsc_ring_4KiB`: payload GB/s through 4 KiB slots.
pub fn gb_4kib(msgs: u64) -> Result<f64, SampleError> {
    let ring = Rc::new(ShmBox::<Ring<Slots4K>>::new()?);
    let elapsed = transfer(ring, warmup_for(msgs), msgs)?;
    Ok(msgs as f64 * PAGE_BYTES as f64 / elapsed.as_secs_f64() / 1e9)
}

/// Slot storage of a ring.
trait Slots: Sync + 'static {
    /// Number of slots, a power of two.
    const CAP: usize;

    /// Writes message `seq` (its bytes come from / go through `scratch`).
    ///
    /// # Safety
    /// The caller must be the producer and own slot `i` under the ring
    /// protocol (claimed, not yet published).
    unsafe fn write(&self, i: usize, seq: u64, scratch: &mut Page);

    /// Reads the message in slot `i` and returns its sequence number.
    ///
    /// # Safety
    /// The caller must be the consumer and own slot `i` (published, not yet
    /// released).
    unsafe fn read(&self, i: usize, scratch: &mut Page) -> u64;
}

#[repr(C)]
struct Ring<S> {
    head: CacheLine<AtomicU64>,
    tail: CacheLine<AtomicU64>,
    slots: S,
}

// SAFETY: all-zero is a valid empty ring (head = tail = 0) with zeroed slots
// (both slot types are plain bytes/atomics); no pointers; slot access is
// governed by the SPSC protocol in `transfer`.
unsafe impl<S: Slots> ShmZeroed for Ring<S> {}

/// 8-byte slots. Relaxed atomics instead of UnsafeCell: on x86 they compile to
/// plain moves, and they keep this ring free of `unsafe` data access; the
/// head/tail Release/Acquire pair orders them.
#[repr(C)]
struct Slots8([AtomicU64; 1024]);

impl Slots for Slots8 {
    const CAP: usize = 1024;

    unsafe fn write(&self, i: usize, seq: u64, _: &mut Page) {
        self.0[i].store(seq, Relaxed);
    }

    unsafe fn read(&self, i: usize, _: &mut Page) -> u64 {
        self.0[i].load(Relaxed)
    }
}

/// 32 page-aligned 4 KiB slots (128 KiB).
/// Each message is copied in from the producer's buffer and out into the
/// consumer's, as a by-value queue must; the sequence number rides in the
/// first 8 bytes so the consumer can check order.
#[repr(C, align(4096))]
struct Slots4K([UnsafeCell<[u8; PAGE_BYTES]>; 32]);

// SAFETY: a slot is only touched by the side that owns it under the ring
// protocol (see the `Slots` method contracts), so no data race can occur.
unsafe impl Sync for Slots4K {}

impl Slots for Slots4K {
    const CAP: usize = 32;

    unsafe fn write(&self, i: usize, seq: u64, scratch: &mut Page) {
        scratch.0[..8].copy_from_slice(&seq.to_le_bytes());
        // SAFETY: slot `i` is a live PAGE_BYTES cell owned by the caller
        // (method contract); `scratch` is a distinct process-local page.
        unsafe {
            std::ptr::copy_nonoverlapping(scratch.0.as_ptr(), self.0[i].get().cast(), PAGE_BYTES)
        };
    }

    unsafe fn read(&self, i: usize, scratch: &mut Page) -> u64 {
        // SAFETY: as in `write`, with the consumer owning the slot.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.0[i].get().cast(),
                scratch.0.as_mut_ptr(),
                PAGE_BYTES,
            )
        };
        // Keep the whole copy alive: only 8 bytes are read back below.
        let scratch = black_box(scratch);
        u64::from_le_bytes(scratch.0[..8].try_into().expect("8 bytes"))
    }
}

/// Forks a producer that pushes `warmup + msgs` messages; the parent consumes
/// them and times the last `msgs` (steady state: the bounded ring keeps the
/// producer at most CAP ahead, so over msgs >> CAP the rate is the ring's).
/// The peer owns an `Rc` clone of the mapping handle (`'static` closure).
fn transfer<S: Slots>(
    ring: Rc<ShmBox<Ring<S>>>,
    warmup: u64,
    msgs: u64,
) -> Result<Duration, SampleError> {
    const { assert!(S::CAP.is_power_of_two(), "slot index is masked") };
    let total = warmup + msgs;
    let cap = S::CAP as u64;
    let mask = S::CAP - 1;
    let theirs = Rc::clone(&ring);
    let producer = peer::spawn("ring-producer", move || {
        let ring = &*theirs;
        let mut scratch = Page::boxed();
        let (mut head, mut cached_tail) = (0u64, 0u64);
        for seq in 0..total {
            if head - cached_tail == cap {
                spin_until(|| {
                    cached_tail = ring.tail.load(Acquire);
                    head - cached_tail < cap
                })
                .unwrap_or_else(|e| panic!("ring producer: {e}"));
            }
            // SAFETY: head - tail < CAP, so slot `head` is free: the consumer
            // released it (Acquire above) and will not read it before the
            // Release store of `head` below.
            unsafe { ring.slots.write(head as usize & mask, seq, &mut scratch) };
            head += 1;
            ring.head.store(head, Release);
        }
    })?;

    let mut scratch = Page::boxed();
    let (mut tail, mut cached_head) = (0u64, 0u64);
    let mut consume = |expected: u64| -> Result<(), SampleError> {
        if tail == cached_head {
            spin_until(|| {
                cached_head = ring.head.load(Acquire);
                cached_head != tail
            })?;
        }
        // SAFETY: tail < head, so slot `tail` was published (Acquire above)
        // and the producer will not reuse it before the Release store of
        // `tail` below.
        let seq = unsafe { ring.slots.read(tail as usize & mask, &mut scratch) };
        tail += 1;
        ring.tail.store(tail, Release);
        if seq != expected {
            return Err(SampleError::failed(format!(
                "ring: got message {seq}, expected {expected}"
            )));
        }
        Ok(())
    };
    for seq in 0..warmup {
        consume(seq)?;
    }
    let start = Instant::now();
    for seq in warmup..total {
        consume(seq)?;
    }
    let elapsed = start.elapsed();
    peer::join(producer)?;
    Ok(elapsed)
}
