//! [`Shared<T>`]: one value of a Rust type, in a segment, seen by every process
//! that opens it.
// Unsafe code is allowed here: a value in a mapped segment.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ops::Deref;

use super::header::{ObjectKind, TypeDesc};
use super::object::ObjectSegment;
use super::options::SegmentOptions;
use crate::shm_safe::ShmSafe;
use crate::{Error, Result};

/// A value of type `T` living in a segment, shared between processes.
///
/// The creator moves the initial value in; every other process opens the
/// segment by name (or inherits an anonymous one across `fork`) and gets a
/// `&T` through [`Deref`]. The header records `T`'s name, size and alignment,
/// so opening with a different type fails with [`Error::WrongType`].
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ipc_core::segment::{SegmentOptions, Shared};
///
/// let name = format!("doc-shared-{}", std::process::id());
/// let counter = Shared::create(&SegmentOptions::named(&name), AtomicU64::new(0))?;
/// let again = Shared::<AtomicU64>::open(&SegmentOptions::named(&name))?;
/// again.fetch_add(5, Ordering::SeqCst);
/// assert_eq!(counter.load(Ordering::SeqCst), 5);
/// // A different type is refused, naming both sides.
/// let err = Shared::<u32>::open(&SegmentOptions::named(&name)).unwrap_err();
/// assert!(err.to_string().contains("AtomicU64"));
/// # Ok::<(), ipc_core::Error>(())
/// ```
pub struct Shared<T: ShmSafe> {
    object: ObjectSegment,
    _value: PhantomData<T>,
}

impl<T: ShmSafe> Shared<T> {
    /// Creates the segment and moves `value` into it.
    pub fn create(opts: &SegmentOptions, value: T) -> Result<Self> {
        let object = ObjectSegment::create(
            opts,
            ObjectKind::SHARED_VALUE,
            &TypeDesc::of::<T>(),
            size_of::<T>() as u64,
            |p, _| {
                // SAFETY: the payload is `size_of::<T>()` bytes at an offset the
                // header planned with `align_of::<T>()`, and nobody else can see
                // it before `create` publishes READY.
                unsafe { p.cast::<T>().as_ptr().write(value) };
                Ok(())
            },
        )?;
        Ok(Self {
            object,
            _value: PhantomData,
        })
    }

    /// Opens an existing value for reading and writing.
    pub fn open(opts: &SegmentOptions) -> Result<Self> {
        if opts.read_only {
            return Err(Error::InvalidArgument {
                reason: "use Shared::open_read_only for read-only access",
            });
        }
        Self::open_checked(opts)
    }

    /// Opens the value if it exists, otherwise creates it from `init()`.
    pub fn open_or_create(opts: &SegmentOptions, init: impl FnOnce() -> T) -> Result<Self> {
        let object = ObjectSegment::open_or_create(
            opts,
            ObjectKind::SHARED_VALUE,
            &TypeDesc::of::<T>(),
            size_of::<T>() as u64,
            |p, _| {
                // SAFETY: as in `create`.
                unsafe { p.cast::<T>().as_ptr().write(init()) };
                Ok(())
            },
        )?;
        Self::from_object(object)
    }

    /// Wraps a checked object segment, verifying the payload can hold a `T`.
    fn from_object(object: ObjectSegment) -> Result<Self> {
        if object.payload_len() < size_of::<T>() {
            return Err(Error::CorruptHeader {
                object: String::new(),
                reason: "payload shorter than its type".into(),
            });
        }
        Ok(Self {
            object,
            _value: PhantomData,
        })
    }

    fn open_checked(opts: &SegmentOptions) -> Result<Self> {
        Self::from_object(ObjectSegment::open(
            opts,
            ObjectKind::SHARED_VALUE,
            Some(&TypeDesc::of::<T>()),
        )?)
    }

    /// A second handle on the same value, e.g. to move into a child's closure.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use ipc_core::process::Process;
    /// use ipc_core::segment::{SegmentOptions, Shared};
    ///
    /// let hits = Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0))?;
    /// let theirs = hits.try_clone()?;
    /// Process::spawn(move || { theirs.fetch_add(1, Ordering::SeqCst); })?.join_ok()?;
    /// assert_eq!(hits.load(Ordering::SeqCst), 1);
    /// # Ok::<(), ipc_core::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Self {
            object: self.object.try_clone()?,
            _value: PhantomData,
        })
    }

    /// The segment and header beneath the value.
    pub fn object(&self) -> &ObjectSegment {
        &self.object
    }

    /// The segment beneath, mutably (e.g. to keep a named segment on drop).
    pub fn object_mut(&mut self) -> &mut ObjectSegment {
        &mut self.object
    }
}

impl<T: ShmSafe + zerocopy::Immutable> Shared<T> {
    /// Opens an existing value through a read-only mapping.
    ///
    /// Only for types without interior mutability (`zerocopy::Immutable`):
    /// reading them never writes, so the read-only mapping cannot fault.
    pub fn open_read_only(opts: &SegmentOptions) -> Result<Self> {
        Self::open_checked(&opts.clone().read_only(true))
    }
}

impl<T: ShmSafe> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the payload holds an initialised `T` (written by the creator
        // before READY, checked by type on open), aligned and in bounds as the
        // header check proved; `T: ShmSafe` makes shared access from several
        // processes sound; the mapping lives as long as `self`.
        unsafe { self.object.payload().cast::<T>().as_ref() }
    }
}

impl<T: ShmSafe + std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("segment", &self.object.segment().display_name())
            .field("value", &**self)
            .finish()
    }
}
