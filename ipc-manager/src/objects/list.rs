//! [`List<T>`]: a growable shared list of plain-old-data elements (Python's
//! `manager.list()`).
//!
//! The list header holds `array` (the ref of a slot array) and `len`. A slot
//! is the element itself when it fits in 8 bytes, else the ref of an
//! immutable block holding it. Writers hold the writer lock; each change is
//! published by one atomic store:
//!
//! | operation | writes first                        | publishes                   | retires         |
//! |-----------|-------------------------------------|-----------------------------|-----------------|
//! | push      | slot `len` (past the end), maybe a larger array | `len + 1`          | old array       |
//! | pop       | -                                   | `len - 1`                   | element block   |
//! | set       | element block (if boxed)            | the slot                    | old block       |
//! | clear     | -                                   | `len = 0`                   | element blocks  |
//!
//! A grown array is published (by `array`) before `len` covers its new
//! slots, and arrays never shrink, so a reader that loads `len` and then
//! `array` always finds its index inside the array. Readers pin (see
//! [`crate::storage::epoch`]) and never lock.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::corrupted;
use crate::error::{Error, Result};
use crate::objects::directory::{find_or_create, register_type};
use crate::objects::types::TypeTag;
use crate::storage::epoch::pin;
use crate::storage::inner::Inner;
use crate::storage::layout::{BLOCK_HDR, boxed, list, obj};
use crate::storage::recovery::list_array_cap;
use crate::storage::txn;
use crate::storage::writer::Writer;
use ipc_core::Message;

/// A shared list of `T`, found by name.
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use ipc_manager::Manager;
///
/// let m = Manager::new()?;
/// let l = m.list::<u32>("queue")?;
/// l.push(1)?;
/// l.extend([2, 3])?;
/// assert_eq!(l.len()?, 3);
/// assert_eq!(l.get(1)?, Some(2));
/// l.set(1, 20)?;
/// assert_eq!(l.pop()?, Some(3));
/// assert_eq!(l.to_vec()?, vec![1, 20]);
/// # Ok::<(), ipc_manager::Error>(())
/// ```
pub struct List<T: Message> {
    inner: Arc<Inner>,
    /// The list's block.
    block: u64,
    name: Arc<str>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Message> Clone for List<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            block: self.block,
            name: self.name.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Message> std::fmt::Debug for List<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("List")
            .field("name", &self.name)
            .field("type", &core::any::type_name::<T>())
            .finish()
    }
}

const fn inline<T>() -> bool {
    size_of::<T>() <= 8
}

impl<T: Message> List<T> {
    /// The list called `name`, created empty if new. An existing list of
    /// another element type is an [`Error::WrongType`].
    pub(crate) fn find_or_create(inner: &Arc<Inner>, name: &str) -> Result<Self> {
        crate::objects::types::check_size::<T>()?;
        let t = TypeTag::of::<T>();
        let size = Some(size_of::<T>() as u64);
        let desc = find_or_create(inner, name, obj::LIST, Some(&t), size, |w| {
            register_type(w, &t)?;
            let b = w.alloc_zeroed(list::DATA_LEN)?;
            w.arena
                .word(b, list::ELEM_SIZE)?
                .store(size_of::<T>() as u64, Ordering::Relaxed);
            w.arena.word(b, list::TAG)?.store(t.tag, Ordering::Relaxed);
            Ok((b, b + BLOCK_HDR))
        })?;
        Ok(List {
            inner: inner.clone(),
            block: desc.block,
            name: name.into(),
            _t: PhantomData,
        })
    }

    /// The list's name in the manager.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of elements.
    pub fn len(&self) -> Result<u64> {
        Ok(self
            .inner
            .arena
            .word(self.block, list::LEN)?
            .load(Ordering::Acquire))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Decodes a slot.
    fn decode(&self, slot: u64) -> Result<T> {
        if inline::<T>() {
            T::read_from_bytes(&slot.to_le_bytes()[..size_of::<T>()])
                .map_err(|_| corrupted("list element of the wrong size"))
        } else {
            let mut v = T::new_zeroed();
            self.inner.arena.read(slot, boxed::DATA, v.as_mut_bytes())?;
            Ok(v)
        }
    }

    /// The element at `index` (None past the end). The caller is pinned.
    fn get_pinned(&self, index: u64) -> Result<Option<T>> {
        let arena = &self.inner.arena;
        let len = arena.word(self.block, list::LEN)?.load(Ordering::Acquire);
        if index >= len {
            return Ok(None);
        }
        let a = arena.word(self.block, list::ARRAY)?.load(Ordering::Acquire);
        if a == 0 {
            return Err(corrupted("non-empty list without an array"));
        }
        let cap = list_array_cap(arena, a)?;
        if index >= cap {
            return Err(corrupted("list length past its array"));
        }
        let slot = arena
            .word(a, list::SLOTS + index * 8)?
            .load(Ordering::Acquire);
        self.decode(slot).map(Some)
    }

    /// The element at `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Result<Option<T>> {
        let _pin = pin(&self.inner)?;
        self.get_pinned(index)
    }

    /// All elements, in order (a snapshot: concurrent pushes past the
    /// length read first are not included).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let _pin = pin(&self.inner)?;
        let len = self.len()?;
        let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
        for i in 0..len {
            match self.get_pinned(i)? {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(out)
    }

    /// An iterator over a snapshot of the elements (see [`to_vec`](Self::to_vec)).
    pub fn iter(&self) -> Result<std::vec::IntoIter<T>> {
        Ok(self.to_vec()?.into_iter())
    }

    /// A slot value for `v` (writing a boxed block if needed).
    fn encode(&self, w: &mut Writer<'_>, v: &T) -> Result<u64> {
        if inline::<T>() {
            let mut b = [0u8; 8];
            b[..size_of::<T>()].copy_from_slice(v.as_bytes());
            Ok(u64::from_le_bytes(b))
        } else {
            let data = w.alloc(size_of::<T>() as u64)?;
            w.arena.write(data, boxed::DATA, v.as_bytes())?;
            Ok(data)
        }
    }

    fn push_locked(&self, w: &mut Writer<'_>, v: &T) -> Result<()> {
        let arena = w.arena;
        let len = arena.word(self.block, list::LEN)?.load(Ordering::Relaxed);
        let mut a = arena.word(self.block, list::ARRAY)?.load(Ordering::Relaxed);
        let cap = if a == 0 { 0 } else { list_array_cap(arena, a)? };
        if len > cap {
            return Err(corrupted("list length past its array"));
        }
        let slot = self.encode(w, v)?;
        if len == cap {
            let new_cap = (cap * 2).max(8);
            let grown = match w.alloc(BLOCK_HDR + new_cap * 8) {
                Ok(g) => g,
                Err(e) => {
                    if !inline::<T>() {
                        w.heap().free_now(slot)?;
                    }
                    return Err(e);
                }
            };
            arena
                .word(grown, list::CAP)?
                .store(new_cap, Ordering::Relaxed);
            w.heap().zero(grown, list::SLOTS, new_cap * 8)?;
            if a != 0 {
                let old = arena.words(a, list::SLOTS, cap)?;
                let new = arena.words(grown, list::SLOTS, new_cap)?;
                for (n, o) in new.iter().zip(old) {
                    n.store(o.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
            arena
                .word(self.block, list::ARRAY)?
                .store(grown, Ordering::Release);
            if a != 0 {
                w.retire(a)?;
            }
            a = grown;
        }
        arena
            .word(a, list::SLOTS + len * 8)?
            .store(slot, Ordering::Release);
        arena
            .word(self.block, list::LEN)?
            .store(len + 1, Ordering::Release);
        Ok(())
    }

    /// Appends `v` (Python's `append`).
    pub fn push(&self, v: T) -> Result<()> {
        txn::write(&self.inner, |w| self.push_locked(w, &v))
    }

    /// Appends every element of `items` (each append is atomic on its own;
    /// a writer killed midway leaves a prefix appended).
    pub fn extend(&self, items: impl IntoIterator<Item = T>) -> Result<()> {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<T> = items.by_ref().take(256).collect();
            txn::write(&self.inner, |w| {
                for v in &chunk {
                    self.push_locked(w, v)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Removes and returns the last element.
    pub fn pop(&self) -> Result<Option<T>> {
        txn::write(&self.inner, |w| {
            let arena = w.arena;
            let len = arena.word(self.block, list::LEN)?.load(Ordering::Relaxed);
            if len == 0 {
                return Ok(None);
            }
            let a = arena.word(self.block, list::ARRAY)?.load(Ordering::Relaxed);
            if len > list_array_cap(arena, a)? {
                return Err(corrupted("list length past its array"));
            }
            let slot = arena
                .word(a, list::SLOTS + (len - 1) * 8)?
                .load(Ordering::Relaxed);
            let v = self.decode(slot)?;
            arena
                .word(self.block, list::LEN)?
                .store(len - 1, Ordering::Release);
            if !inline::<T>() {
                w.retire(slot)?;
            }
            Ok(Some(v))
        })
    }

    /// Replaces the element at `index`; [`Error::IndexOutOfRange`] past the end.
    pub fn set(&self, index: u64, v: T) -> Result<()> {
        txn::write(&self.inner, |w| {
            let arena = w.arena;
            let len = arena.word(self.block, list::LEN)?.load(Ordering::Relaxed);
            if index >= len {
                return Err(Error::IndexOutOfRange { index, len });
            }
            let a = arena.word(self.block, list::ARRAY)?.load(Ordering::Relaxed);
            if index >= list_array_cap(arena, a)? {
                return Err(corrupted("list length past its array"));
            }
            let cell = arena.word(a, list::SLOTS + index * 8)?;
            let slot = self.encode(w, &v)?;
            let old = cell.swap(slot, Ordering::AcqRel);
            if !inline::<T>() {
                w.retire(old)?;
            }
            Ok(())
        })
    }

    /// Removes every element.
    pub fn clear(&self) -> Result<()> {
        txn::write(&self.inner, |w| {
            let arena = w.arena;
            let len = arena.word(self.block, list::LEN)?.load(Ordering::Relaxed);
            arena
                .word(self.block, list::LEN)?
                .store(0, Ordering::Release);
            if !inline::<T>() && len > 0 {
                let a = arena.word(self.block, list::ARRAY)?.load(Ordering::Relaxed);
                for s in arena.words(a, list::SLOTS, len)? {
                    w.retire(s.load(Ordering::Relaxed))?;
                }
            }
            Ok(())
        })
    }
}
