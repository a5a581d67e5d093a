//! Locks, events, semaphores and barriers found by name: ipc-core's
//! primitives, placed in the manager's heap.
//!
//! Each lives in a block of its own that is never moved or freed while the
//! manager exists, so a [`Handle`] is just a checked reference to it plus
//! the mapping that keeps it alive. Waiting and waking work across
//! processes exactly as for the primitives in their own segments.
// Unsafe code is allowed here: objects placed at fixed addresses in the arena.
#![allow(unsafe_code)]

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

use ipc_core::segment::ShmSafe;
use ipc_core::sync::RobustMutex;

use crate::error::Result;
use crate::objects::directory::{alloc_aligned, find_or_create};
use crate::storage::inner::Inner;

/// A handle to an ipc-core synchronisation primitive living in a manager;
/// dereferences to it.
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use ipc_core::sync::RobustMutexExt;
/// use ipc_manager::Manager;
///
/// let m = Manager::new()?;
/// let lock = m.lock("stats")?;
/// {
///     let _guard = lock.lock_robust().map_err(ipc_core::Error::from)?;
///     // ... a critical section across processes ...
/// }
/// let ready = m.event("ready")?;
/// ready.set();
/// assert!(m.event("ready")?.is_set());
/// # Ok::<(), ipc_manager::Error>(())
/// ```
pub struct Handle<T: ShmSafe> {
    placed: Arc<Placed<T>>,
    name: Arc<str>,
}

impl<T: ShmSafe> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self {
            placed: self.placed.clone(),
            name: self.name.clone(),
        }
    }
}

impl<T: ShmSafe> Handle<T> {
    /// The synchronisation object called `name`, made by `make` if new.
    pub(crate) fn find_or_create(
        inner: &Arc<Inner>,
        name: &str,
        kind: u64,
        param: Option<u64>,
        make: impl FnOnce() -> T,
    ) -> Result<Self> {
        let size = size_of::<T>() as u64;
        let align = (align_of::<T>() as u64).max(16);
        let desc = find_or_create(inner, name, kind, None, param, |w| {
            let (block, object) = alloc_aligned(w, size, align)?;
            // SAFETY: the block was just allocated under the writer lock and
            // is published only after this returns (through the directory).
            unsafe { w.arena.init_object(object, make())? };
            Ok((block, object))
        })?;
        Ok(Handle {
            placed: Arc::new(Placed::new(inner.clone(), desc.object)?),
            name: name.into(),
        })
    }

    /// The object's name in the manager.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T: ShmSafe> Deref for Handle<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.placed.get()
    }
}

impl<T: ShmSafe + std::fmt::Debug> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name)
            .field("object", self.placed.get())
            .field("arena", &self.placed.inner().arena)
            .finish()
    }
}

/// Python's `Lock`: ipc-core's robust mutex (a holder killed while holding
/// it is reported to the next locker, never leaves it locked forever).
pub type Lock = Handle<RobustMutex<()>>;

/// A [`ShmSafe`] object at a fixed place in the arena (a synchronisation
/// primitive), with the handle set that keeps its mapping alive.
pub(crate) struct Placed<T> {
    inner: std::sync::Arc<crate::storage::inner::Inner>,
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
    pub(crate) fn new(inner: std::sync::Arc<crate::storage::inner::Inner>, r: u64) -> Result<Self> {
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
    pub(crate) fn inner(&self) -> &std::sync::Arc<crate::storage::inner::Inner> {
        &self.inner
    }
}
