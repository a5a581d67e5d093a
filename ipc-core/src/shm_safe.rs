//! [`ShmSafe`]: the marker for types that may live in shared memory.
//!
//! It sits below both `segment/` (which places such values in a segment) and
//! `sync/` and `wait/` (whose types are such values), so neither imports the
//! other for it.
// Unsafe code is allowed here: the `ShmSafe` promise itself.
#![allow(unsafe_code)]

use std::sync::atomic;

/// Types that may live in shared memory and be used by several processes at
/// once through a shared reference.
///
/// # Safety
///
/// Implementing this trait promises that, for a value in a `MAP_SHARED`
/// mapping that other processes read and write concurrently:
/// - it contains no pointers or references (addresses differ between
///   processes) and nothing that owns process-local resources (no `Box`,
///   `Vec`, file descriptors);
/// - all mutation through `&Self` goes through atomics or a lock designed for
///   cross-process use, so concurrent access from several processes is not a
///   data race;
/// - every bit pattern that another process may leave behind (including a
///   process killed halfway through an update) is a valid value, or is
///   detected before it is relied on.
///
/// Plain integers qualify only for segments nobody writes after creation
/// (see [`Shared::open_read_only`](crate::segment::Shared::open_read_only)); shared counters should be atomics.
///
/// ```
/// use std::sync::atomic::AtomicU64;
/// use ipc_core::ShmSafe;
///
/// #[repr(C)]
/// struct Stats {
///     hits: AtomicU64,
///     misses: AtomicU64,
/// }
/// // SAFETY: two atomics, no pointers; every bit pattern is a valid count.
/// unsafe impl ShmSafe for Stats {}
/// ```
pub unsafe trait ShmSafe: Sync + Send + 'static {}

macro_rules! shm_safe {
    ($($t:ty),* $(,)?) => {
        // SAFETY: primitives and atomics hold no pointers and accept every bit
        // pattern; atomics make concurrent mutation race-free.
        $(unsafe impl ShmSafe for $t {})*
    };
}
shm_safe!(
    u8,
    u16,
    u32,
    u64,
    u128,
    i8,
    i16,
    i32,
    i64,
    i128,
    f32,
    f64,
    (),
    atomic::AtomicU8,
    atomic::AtomicU16,
    atomic::AtomicU32,
    atomic::AtomicU64,
    atomic::AtomicI8,
    atomic::AtomicI16,
    atomic::AtomicI32,
    atomic::AtomicI64,
);

// SAFETY: an array of ShmSafe elements inherits every property element-wise.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
