//! Zero-copy access to a value in place: [`ValueRef`] and [`TypedRef`].
//!
//! A guard holds a pin (see [`crate::storage::epoch`]): the entry it points to was
//! published, so it is immutable, and it stays allocated until the guard is
//! dropped, even if the key is overwritten or removed meanwhile (the guard
//! keeps showing the value as it was). Holding guards for long delays the
//! reuse of memory that writers free.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::error::{Error, Result};
use crate::objects::directory::describe_tag;
use crate::objects::types::{BYTES_TAG, TypeTag};
use crate::storage::arena::Span;
use crate::storage::epoch::Pin;
use crate::storage::inner::Inner;

/// A value in shared memory, read in place (see the module docs). Derefs to
/// its bytes. Not `Send`: the pin belongs to the thread.
pub struct ValueRef<'a> {
    _pin: Pin<'a>,
    inner: &'a Arc<Inner>,
    span: Span,
    tag: u64,
}

impl<'a> ValueRef<'a> {
    pub(crate) fn new(pin: Pin<'a>, inner: &'a Arc<Inner>, span: Span, tag: u64) -> Self {
        Self {
            _pin: pin,
            inner,
            span,
            tag,
        }
    }

    /// The stored value's type tag (see [`Encoding::tag`](crate::Encoding::tag)).
    pub fn type_tag(&self) -> u64 {
        self.tag
    }

    /// Whether the value was stored as plain bytes (not as a typed value).
    pub fn is_bytes(&self) -> bool {
        self.tag == BYTES_TAG
    }

    /// The value as a `&T` in place, if it was stored as a `T`:
    /// [`Error::WrongType`] otherwise, or if it is not aligned for `T`
    /// (values are 16-aligned, so only alignments above 16 can fail).
    pub fn typed<T: FromBytes + KnownLayout + Immutable>(&self) -> Result<&T> {
        let t = TypeTag::of::<T>();
        let wrong = || Error::WrongType {
            expected: t.describe(),
            found: describe_tag(self.inner, self.tag),
        };
        if self.tag != t.tag {
            return Err(wrong());
        }
        T::ref_from_bytes(self).map_err(|_| wrong())
    }
}

impl Deref for ValueRef<'_> {
    type Target = [u8];

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn deref(&self) -> &[u8] {
        // SAFETY: the span lies in a published entry of the arena that
        // `self.inner` keeps mapped. Published entries are never written
        // again, and `self._pin` keeps this one from being reclaimed (and so
        // rewritten) until the guard drops, which ends the borrow.
        unsafe { self.span.as_slice() }
    }
}

impl std::fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueRef")
            .field("len", &self.span.len())
            .field("tag", &self.tag)
            .finish()
    }
}

/// A typed value in shared memory, read in place; derefs to `V`. From
/// [`TypedDict::get_ref`](crate::TypedDict::get_ref).
pub struct TypedRef<'a, V> {
    raw: ValueRef<'a>,
    _v: PhantomData<&'a V>,
}

impl<'a, V: FromBytes + KnownLayout + Immutable> TypedRef<'a, V> {
    /// Checks type and alignment once, so that `deref` cannot fail.
    pub(crate) fn new(raw: ValueRef<'a>) -> Result<Self> {
        raw.typed::<V>()?;
        Ok(Self {
            raw,
            _v: PhantomData,
        })
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
}

impl<V: FromBytes + KnownLayout + Immutable> Deref for TypedRef<'_, V> {
    type Target = V;

    fn deref(&self) -> &V {
        // `new` checked tag, size and alignment of these very bytes, which
        // do not change while the guard lives; this cannot fail.
        match V::ref_from_bytes(&self.raw) {
            Ok(v) => v,
            Err(_) => unreachable!("checked when the guard was made"),
        }
    }
}

impl<V: FromBytes + KnownLayout + Immutable + std::fmt::Debug> std::fmt::Debug for TypedRef<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}
