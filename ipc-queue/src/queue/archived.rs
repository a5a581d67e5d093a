//! [`ArchivedGuard`]: a message validated as an rkyv archive and read in
//! place in its slot (feature `rkyv`), for as long as the guard lives.

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use super::RecvGuard;
use crate::{Message, Result};

/// The archived value of a message, where it lies in shared memory
/// (feature `rkyv`): [`Queue::get_rkyv`](super::Queue::get_rkyv). It
/// dereferences to `V::Archived`, validated once when the guard was made;
/// the slot is freed when the guard drops. As with [`RecvGuard`], the
/// message counts as delivered as soon as the guard exists.
///
/// ```
/// use ipc_queue::Queue;
///
/// #[derive(rkyv::Archive, rkyv::Serialize)]
/// struct Trade {
///     symbol: String,
///     prices: Vec<u64>,
/// }
///
/// let q = Queue::<u8>::builder().ring_bytes(64 << 10).create()?;
/// q.put_rkyv(&Trade { symbol: "ACME".into(), prices: vec![101, 103] })?;
/// let trade = q.get_rkyv::<Trade>()?;
/// assert_eq!(trade.symbol.as_str(), "ACME");
/// assert_eq!(trade.prices.len(), 2);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub struct ArchivedGuard<'q, T: Message, V: rkyv::Archive> {
    /// Holds the slot (HELD) and frees it on drop.
    guard: RecvGuard<'q, T>,
    /// The archived value inside the guard's frame.
    archived: NonNull<V::Archived>,
    _value: PhantomData<&'q V::Archived>,
}

impl<'q, T: Message, V: rkyv::Archive> ArchivedGuard<'q, T, V> {
    /// Validates the frame `guard` holds as the archive of a `V`; the slot is
    /// freed (the message consumed) if it is not one.
    pub(crate) fn new(guard: RecvGuard<'q, T>) -> Result<Self>
    where
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
    {
        let archived = NonNull::from(crate::archive::access::<V>(guard.bytes())?);
        Ok(Self {
            guard,
            archived,
            _value: PhantomData,
        })
    }

    /// The archive's bytes, as [`RecvGuard::bytes`].
    pub fn bytes(&self) -> &[u8] {
        self.guard.bytes()
    }
}

impl<T: Message, V: rkyv::Archive> Deref for ArchivedGuard<'_, T, V> {
    type Target = V::Archived;

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn deref(&self) -> &V::Archived {
        // SAFETY: `archived` points into the frame of the slot `guard`
        // holds (HELD: producers do not write it, and it is not freed
        // before `guard` drops, which is after this borrow of `self` ends);
        // the mapping lives while the queue handle `'q` does; the archive
        // was validated (bytecheck) when the guard was made and the bytes
        // have not changed since under the protocol (the trust model's
        // "lent-out message bytes").
        unsafe { self.archived.as_ref() }
    }
}

impl<T: Message, V: rkyv::Archive> std::fmt::Debug for ArchivedGuard<'_, T, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivedGuard")
            .field("bytes", &self.bytes().len())
            .finish()
    }
}
