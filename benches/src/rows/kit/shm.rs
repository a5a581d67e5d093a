//! Shared memory for the benchmarks: one `mmap(MAP_SHARED | MAP_ANONYMOUS)`
//! mapping per object, inherited by forked children.
//!
//! Deliberately independent of `ipc-core`: the limit probes measure the
//! machine, so they must not inherit the toolkit's overheads or bugs.

use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

/// Types that may be placed in a [`ShmBox`].
///
/// # Safety
///
/// The all-zero bit pattern must be a valid value of the type (the mapping
/// starts zero-filled and no constructor runs), and the type must make sense
/// in two processes at once: no pointers, no process-local handles, and all
/// cross-process mutation through atomics or `UnsafeCell` under a protocol.
pub unsafe trait ShmZeroed: Sync {}

/// A `T` living in its own shared anonymous mapping, zero-initialised.
///
/// A child created with `fork` after `ShmBox::new` sees the same memory. Each
/// process unmaps its own view on drop; the memory goes away with the last.
pub struct ShmBox<T: ShmZeroed> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<T>,
}

impl<T: ShmZeroed> ShmBox<T> {
    /// Maps a zero-filled, page-aligned region big enough for a `T`.
    pub fn new() -> io::Result<Self> {
        let page = page_size();
        assert!(
            std::mem::align_of::<T>() <= page,
            "ShmBox: alignment above the page size"
        );
        // mmap refuses a zero length; round up to whole pages.
        let len = std::mem::size_of::<T>().max(1).next_multiple_of(page);
        // SAFETY: a fresh anonymous mapping at an address of the kernel's
        // choosing: no existing memory is touched. The result is checked.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(addr.cast::<T>()).expect("mmap returned null without failing");
        Ok(Self {
            ptr,
            len,
            _owns: PhantomData,
        })
    }
}

impl<T: ShmZeroed> Deref for ShmBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the mapping is live until drop, page-aligned (so aligned for
        // T, checked in `new`), at least size_of::<T>() long, and zero-filled,
        // which `ShmZeroed` promises is a valid T. Only shared references are
        // handed out; T: Sync handles concurrent access.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ShmZeroed> Drop for ShmBox<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `new`; no reference into
        // it outlives `self` (they all borrow from `self`).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

// SAFETY: the box is only a handle to shared memory; T: Sync (a ShmZeroed
// supertrait) makes sharing and sending `&T` across threads sound.
unsafe impl<T: ShmZeroed> Send for ShmBox<T> {}
// SAFETY: as above; `&ShmBox<T>` only yields `&T`.
unsafe impl<T: ShmZeroed> Sync for ShmBox<T> {}

/// Pads its content to a 128-byte line so two of them never share a cache
/// line, including the adjacent-line prefetcher's pair on Intel.
#[repr(C, align(128))]
#[derive(Default)]
pub struct CacheLine<T>(pub T);

impl<T> Deref for CacheLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// One 4 KiB page-aligned buffer.
///
/// The 4 KiB rows use page-aligned sources and destinations on both sides:
/// glibc's memcpy on this CPU is ~25x slower when the destination sits 16
/// bytes past the source relative to the page (4K aliasing), so a buffer that
/// happens to land at an odd page offset would measure the allocator.
#[repr(C, align(4096))]
pub struct Page(pub [u8; PAGE_BYTES]);

/// Bytes in a [`Page`].
pub const PAGE_BYTES: usize = 4096;

impl Page {
    /// A zeroed page on the heap.
    pub fn boxed() -> Box<Page> {
        Box::new(Page([0; PAGE_BYTES]))
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(PAGE_BYTES)
}
