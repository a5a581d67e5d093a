//! [`Value<T>`]: one shared value of a plain-old-data type (Python's
//! `manager.Value`).
//!
//! The value block holds one 8-byte slot. A `T` of at most 8 bytes lives in
//! the slot itself and is loaded and stored with one atomic access of its
//! own width (1, 2, 4 or 8 bytes; other sizes use the whole word), so
//! integers also get lock-free `fetch_add`, `swap` and `compare_exchange`
//! across processes. A larger `T` lives in an immutable block that the slot
//! points to: `store` writes a new block and swaps the slot under the writer
//! lock (crash-atomic like a dictionary overwrite), `load` reads through a
//! pinned slot.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use crate::error::Result;
use crate::error::corrupted;
use crate::objects::directory::{find_or_create, register_type};
use crate::objects::types::TypeTag;
use crate::storage::epoch::pin;
use crate::storage::inner::Inner;
use crate::storage::layout::{BLOCK_HDR, boxed, obj, value};
use crate::storage::txn;
use ipc_core::Message;

/// A shared value of type `T`, found by name.
///
/// ```
/// use ipc_core::process::Process;
/// use ipc_core::segment::SegmentOptions;
/// use ipc_manager::Manager;
///
/// let m = Manager::new()?;
/// let hits = m.value::<u64>("hits", 0)?;
/// let children: Vec<_> = (0..2)
///     .map(|_| {
///         let hits = hits.clone();
///         Process::spawn(move || {
///             for _ in 0..1000 {
///                 hits.fetch_add(1).unwrap();
///             }
///         })
///     })
///     .collect::<Result<_, _>>()?;
/// for c in children {
///     assert!(c.join()?.success());
/// }
/// assert_eq!(hits.load()?, 2000);
/// # Ok::<(), ipc_manager::Error>(())
/// ```
pub struct Value<T: Message> {
    inner: Arc<Inner>,
    block: u64,
    name: Arc<str>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Message> Clone for Value<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            block: self.block,
            name: self.name.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Message> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("name", &self.name)
            .field("type", &core::any::type_name::<T>())
            .finish()
    }
}

/// Whether `T` lives in the slot itself.
const fn inline<T>() -> bool {
    size_of::<T>() <= 8
}

fn to_word<T: Message>(v: &T) -> u64 {
    let mut w = [0u8; 8];
    w[..size_of::<T>()].copy_from_slice(v.as_bytes());
    u64::from_le_bytes(w)
}

fn from_word<T: Message>(w: u64) -> Result<T> {
    T::read_from_bytes(&w.to_le_bytes()[..size_of::<T>()])
        .map_err(|_| corrupted("value of the wrong size"))
}

impl<T: Message> Value<T> {
    /// The value called `name`, created holding `initial` if new. An
    /// existing value of another type is an [`Error::WrongType`](crate::Error::WrongType).
    pub(crate) fn find_or_create(inner: &Arc<Inner>, name: &str, initial: T) -> Result<Self> {
        crate::objects::types::check_size::<T>()?;
        let t = TypeTag::of::<T>();
        let size = Some(size_of::<T>() as u64);
        let desc = find_or_create(inner, name, obj::VALUE, Some(&t), size, |w| {
            register_type(w, &t)?;
            let b = w.alloc_zeroed(value::DATA_LEN)?;
            let slot = if inline::<T>() {
                to_word(&initial)
            } else {
                let data = w.alloc(size_of::<T>() as u64)?;
                w.arena.write(data, boxed::DATA, initial.as_bytes())?;
                data
            };
            w.arena.word(b, value::SLOT)?.store(slot, Ordering::Relaxed);
            w.arena.word(b, value::TAG)?.store(t.tag, Ordering::Relaxed);
            Ok((b, b + BLOCK_HDR))
        })?;
        Ok(Value {
            inner: inner.clone(),
            block: desc.block,
            name: name.into(),
            _t: PhantomData,
        })
    }

    /// The value's name in the manager.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn slot(&self) -> Result<&AtomicU64> {
        self.inner.arena.word(self.block, value::SLOT)
    }

    /// The current value.
    pub fn load(&self) -> Result<T> {
        let arena = &self.inner.arena;
        if inline::<T>() {
            let r = self.block + value::SLOT;
            return match size_of::<T>() {
                1 => from_word(u64::from(
                    arena.object::<AtomicU8>(r)?.load(Ordering::Acquire),
                )),
                2 => from_word(u64::from(
                    arena.object::<AtomicU16>(r)?.load(Ordering::Acquire),
                )),
                4 => from_word(u64::from(
                    arena.object::<AtomicU32>(r)?.load(Ordering::Acquire),
                )),
                _ => from_word(self.slot()?.load(Ordering::Acquire)),
            };
        }
        let _pin = pin(&self.inner)?;
        let data = self.slot()?.load(Ordering::Acquire);
        let mut v = T::new_zeroed();
        arena.read(data, boxed::DATA, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Replaces the value.
    pub fn store(&self, v: T) -> Result<()> {
        let arena = &self.inner.arena;
        if inline::<T>() {
            let r = self.block + value::SLOT;
            let w = to_word(&v);
            match size_of::<T>() {
                1 => arena
                    .object::<AtomicU8>(r)?
                    .store(w as u8, Ordering::Release),
                2 => arena
                    .object::<AtomicU16>(r)?
                    .store(w as u16, Ordering::Release),
                4 => arena
                    .object::<AtomicU32>(r)?
                    .store(w as u32, Ordering::Release),
                _ => self.slot()?.store(w, Ordering::Release),
            }
            return Ok(());
        }
        txn::write(&self.inner, |w| {
            let data = w.alloc(size_of::<T>() as u64)?;
            w.arena.write(data, boxed::DATA, v.as_bytes())?;
            let old = self.slot()?.swap(data, Ordering::AcqRel);
            w.retire(old)
        })
    }
}

mod sealed {
    /// The atomic type behind an integer, and how to apply an operation.
    pub trait Sealed: Sized {
        type Atomic: ipc_core::segment::ShmSafe;
        fn apply(a: &Self::Atomic, op: super::Rmw<Self>) -> Result<Self, Self>;
        fn wrapping_add(a: Self, b: Self) -> Self;
    }
}

/// Integer types whose [`Value`] supports atomic read-modify-write.
pub trait AtomicInt: Message + Copy + sealed::Sealed {}

/// A read-modify-write operation.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Rmw<T> {
    Add(T),
    Sub(T),
    Swap(T),
    Cas(T, T),
}

macro_rules! atomic_int {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {
            type Atomic = $a;
            fn apply(a: &$a, op: Rmw<Self>) -> std::result::Result<Self, Self> {
                match op {
                    Rmw::Add(d) => Ok(a.fetch_add(d, Ordering::AcqRel)),
                    Rmw::Sub(d) => Ok(a.fetch_sub(d, Ordering::AcqRel)),
                    Rmw::Swap(v) => Ok(a.swap(v, Ordering::AcqRel)),
                    Rmw::Cas(cur, new) => {
                        a.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
                    }
                }
            }
            fn wrapping_add(a: Self, b: Self) -> Self {
                a.wrapping_add(b)
            }
        }
        impl AtomicInt for $t {}
    )*};
}

atomic_int!(
    u8 => AtomicU8,
    u16 => AtomicU16,
    u32 => AtomicU32,
    u64 => AtomicU64,
    i8 => std::sync::atomic::AtomicI8,
    i16 => std::sync::atomic::AtomicI16,
    i32 => std::sync::atomic::AtomicI32,
    i64 => std::sync::atomic::AtomicI64,
);

impl<T: AtomicInt> Value<T> {
    fn rmw(&self, op: Rmw<T>) -> Result<std::result::Result<T, T>> {
        let a = self
            .inner
            .arena
            .object::<<T as sealed::Sealed>::Atomic>(self.block + value::SLOT)?;
        Ok(T::apply(a, op))
    }

    /// Adds `delta` (wrapping) and returns the previous value.
    pub fn fetch_add(&self, delta: T) -> Result<T> {
        self.rmw(Rmw::Add(delta)).map(|r| r.unwrap_or_else(|v| v))
    }

    /// Subtracts `delta` (wrapping) and returns the previous value.
    pub fn fetch_sub(&self, delta: T) -> Result<T> {
        self.rmw(Rmw::Sub(delta)).map(|r| r.unwrap_or_else(|v| v))
    }

    /// Stores `v` and returns the previous value.
    pub fn swap(&self, v: T) -> Result<T> {
        self.rmw(Rmw::Swap(v)).map(|r| r.unwrap_or_else(|v| v))
    }

    /// Stores `new` if the value is `current`: `Ok(Ok(previous))` if it
    /// did, `Ok(Err(actual))` if the value was something else.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<std::result::Result<T, T>> {
        self.rmw(Rmw::Cas(current, new))
    }
}
