//! Locks, events, semaphores and barriers found by name: ipc-core's
//! primitives, placed in the manager's heap.
//!
//! Each lives in a block of its own that is never moved or freed while the
//! manager exists, so a [`Handle`] is just a checked reference to it plus
//! the mapping that keeps it alive. Waiting and waking work across
//! processes exactly as for the primitives in their own segments.

use std::ops::Deref;
use std::sync::Arc;

use ipc_core::segment::ShmSafe;
use ipc_core::sync::{Barrier, Event, RobustMutex, Semaphore};

use crate::error::Result;
use crate::layout::obj;
use crate::manager::{Manager, alloc_aligned, find_or_create};
use crate::shm::Placed;

/// A handle to an ipc-core synchronisation primitive living in a manager;
/// dereferences to it.
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use ipc_core::sync::RobustMutexExt;
/// use ipc_manager::Manager;
///
/// let m = Manager::create(&SegmentOptions::anonymous())?;
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

impl Manager {
    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn primitive<T: ShmSafe>(
        &self,
        name: &str,
        kind: u64,
        param: Option<u64>,
        make: impl FnOnce() -> T,
    ) -> Result<Handle<T>> {
        let size = size_of::<T>() as u64;
        let align = (align_of::<T>() as u64).max(16);
        let desc = find_or_create(self.inner(), name, kind, None, param, |w| {
            let (block, object) = alloc_aligned(w, size, align)?;
            // SAFETY: the block was just allocated under the writer lock and
            // is published only after this returns (through the directory).
            unsafe { w.arena.init_object(object, make())? };
            Ok((block, object))
        })?;
        Ok(Handle {
            placed: Arc::new(Placed::new(self.inner().clone(), desc.object)?),
            name: name.into(),
        })
    }

    /// The lock called `name` (created unlocked if new).
    pub fn lock(&self, name: &str) -> Result<Lock> {
        self.primitive(name, obj::LOCK, Some(0), || RobustMutex::new(()))
    }

    /// The event called `name` (created clear if new).
    pub fn event(&self, name: &str) -> Result<Handle<Event>> {
        self.primitive(name, obj::EVENT, Some(0), Event::new)
    }

    /// The semaphore called `name`, created with `initial` permits if new
    /// (an existing one keeps its count, whatever `initial` says).
    pub fn semaphore(&self, name: &str, initial: u32) -> Result<Handle<Semaphore>> {
        self.primitive(name, obj::SEMAPHORE, None, || Semaphore::new(initial))
    }

    /// The barrier called `name` for `parties` processes; an existing
    /// barrier with another party count is an [`Error::WrongKind`](crate::Error::WrongKind).
    pub fn barrier(&self, name: &str, parties: u32) -> Result<Handle<Barrier>> {
        self.primitive(name, obj::BARRIER, Some(u64::from(parties)), || {
            Barrier::new(parties)
        })
    }
}
