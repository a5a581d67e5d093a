//! [`Dict`] and [`TypedDict`]: the shared dictionary.
//!
//! Keys are byte strings: anything `zerocopy::IntoBytes + Immutable` (`str`,
//! `[u8]`, `[u8; N]`, integers, derived structs), compared by bytes. Values
//! are bytes ([`Dict::insert`], [`Dict::get`]) or typed plain-old-data
//! ([`Dict::insert_as`], [`Dict::get_as`], and the faster [`TypedDict`] view)
//! stored with a type tag that typed reads check.
//!
//! The table and its publish protocol are described in [`table`]; readers
//! never lock (see [`crate::storage::epoch`]), writers hold the manager's writer lock.

mod guard;

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::sync::Arc;

use zerocopy::{Immutable, IntoBytes};

pub use guard::{TypedRef, ValueRef};

use crate::error::{Error, Result};
use crate::objects::directory::{describe_tag, find_or_create, register_type, type_registered};
use crate::objects::types::{BYTES_TAG, Encoding, TypeTag};
use crate::objects::value::AtomicInt;
use crate::storage::epoch::pin;
use crate::storage::hash::hash;
use crate::storage::inner::Inner;
use crate::storage::layout::{BLOCK_HDR, dict_hdr, obj};
use crate::storage::layout::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::storage::{table, txn};
use ipc_core::Message;

/// How many items [`Dict::update`] applies per lock hold.
const UPDATE_CHUNK: usize = 256;

fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<()> {
    check_value_len(value.len())
}

fn check_value_len(len: usize) -> Result<()> {
    if len > MAX_VALUE_LEN {
        return Err(Error::ValueTooLarge {
            len,
            max: MAX_VALUE_LEN,
        });
    }
    Ok(())
}

/// A shared dictionary, found by name with [`Manager::dict`](crate::Manager::dict).
///
/// Cheap to clone; usable from any thread and, moved into a child started
/// with [`Process::spawn`](ipc_core::process::Process::spawn), from any
/// process. Reads are lock-free and never block each other or writers;
/// writes from all processes are serialised by the manager's writer lock.
/// Every single operation is atomic, also against a writer killed midway.
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use ipc_manager::Manager;
///
/// let m = Manager::new()?;
/// let d = m.dict("inventory")?;
/// d.insert("apples", b"3")?;
/// assert_eq!(d.get("apples")?, Some(b"3".to_vec()));
/// assert_eq!(d.get_or_insert("pears", b"0")?, b"0".to_vec()); // setdefault
/// d.update([("plums", "7"), ("figs", "1")])?;
/// assert_eq!(d.len()?, 4);
/// assert_eq!(d.pop("figs")?, Some(b"1".to_vec()));
/// assert!(d.remove("plums")?);
/// let mut keys = d.keys()?;
/// keys.sort();
/// assert_eq!(keys, vec![b"apples".to_vec(), b"pears".to_vec()]);
///
/// // Typed values remember their type.
/// d.insert_as("count", &42u64)?;
/// assert_eq!(d.get_as::<_, u64>("count")?, Some(42));
/// assert!(d.get_as::<_, u32>("count").is_err());
/// # Ok::<(), ipc_manager::Error>(())
/// ```
#[derive(Clone)]
pub struct Dict {
    inner: Arc<Inner>,
    /// Ref of the dictionary header.
    d: u64,
    name: Arc<str>,
}

impl std::fmt::Debug for Dict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dict").field("name", &self.name).finish()
    }
}

impl Dict {
    /// The dictionary called `name`, created empty if new.
    pub(crate) fn find_or_create(inner: &Arc<Inner>, name: &str) -> Result<Self> {
        let desc = find_or_create(inner, name, obj::DICT, None, Some(0), |w| {
            let b = w.alloc_zeroed(dict_hdr::SIZE)?;
            Ok((b, b + BLOCK_HDR))
        })?;
        Ok(Self::from_parts(inner.clone(), desc.object, name))
    }

    pub(crate) fn from_parts(inner: Arc<Inner>, d: u64, name: &str) -> Self {
        Self {
            inner,
            d,
            name: name.into(),
        }
    }

    /// The dictionary's name in the manager.
    pub fn name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        hash(self.inner.seed, key)
    }

    /// Inserts a value with the given tag (bytes or a type's).
    fn insert_tagged(&self, key: &[u8], value: &[u8], t: Option<&TypeTag>) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        let h = self.hash(key);
        let tag = t.map_or(BYTES_TAG, |t| t.tag);
        txn::write(&self.inner, |w| {
            if let Some(t) = t {
                register_type(w, t)?;
            }
            table::insert(w, self.d, key, h, value, tag).map(drop)
        })
    }

    /// Finds `key` (pinned by the caller) and returns its entry and meta.
    #[inline]
    fn find(&self, key: &[u8]) -> Result<Option<(u64, table::EntryMeta)>> {
        if key.len() > MAX_KEY_LEN {
            return Ok(None);
        }
        let h = self.hash(key);
        table::lookup_meta(&self.inner.arena, self.d, key, h)
    }

    /// Reads a typed value out of entry `e`, checking its tag.
    fn read_typed<V: Message>(&self, e: u64, meta: &table::EntryMeta, t: &TypeTag) -> Result<V> {
        if meta.tag != t.tag || meta.val_len != size_of::<V>() as u64 {
            return Err(Error::WrongType {
                expected: t.describe(),
                found: describe_tag(&self.inner, meta.tag),
            });
        }
        let mut v = V::new_zeroed();
        self.inner
            .arena
            .read(e, meta.value_off(), v.as_mut_bytes())?;
        Ok(v)
    }

    // -- bytes ---------------------------------------------------------------

    /// Sets `key` to the bytes `value` (Python's `d[key] = value`),
    /// replacing any earlier value of any type.
    pub fn insert<K>(&self, key: &K, value: impl AsRef<[u8]>) -> Result<()>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        self.insert_tagged(key.as_bytes(), value.as_ref(), None)
    }

    /// A copy of the value of `key` (its bytes, whatever type it was
    /// stored as), or `None`.
    pub fn get<K>(&self, key: &K) -> Result<Option<Vec<u8>>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let _pin = pin(&self.inner)?;
        match self.find(key.as_bytes())? {
            None => Ok(None),
            Some((e, meta)) => table::read_value(&self.inner.arena, e, &meta).map(Some),
        }
    }

    /// Copies the value of `key` into `buf` (replacing its contents),
    /// without allocating when `buf` is large enough. Returns whether the
    /// key was present.
    pub fn get_into<K>(&self, key: &K, buf: &mut Vec<u8>) -> Result<bool>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let _pin = pin(&self.inner)?;
        match self.find(key.as_bytes())? {
            None => Ok(false),
            Some((e, meta)) => {
                buf.resize(meta.val_len as usize, 0);
                self.inner.arena.read(e, meta.value_off(), buf)?;
                Ok(true)
            }
        }
    }

    /// The value of `key` in place, without copying: a guard that derefs to
    /// the bytes in shared memory (see [`ValueRef`]).
    pub fn get_ref<K>(&self, key: &K) -> Result<Option<ValueRef<'_>>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let pin = pin(&self.inner)?;
        match self.find(key.as_bytes())? {
            None => Ok(None),
            Some((e, meta)) => {
                let span = self.inner.arena.span(e, meta.value_off(), meta.val_len)?;
                Ok(Some(ValueRef::new(pin, &self.inner, span, meta.tag)))
            }
        }
    }

    /// Whether `key` is present (Python's `key in d`).
    pub fn contains<K>(&self, key: &K) -> Result<bool>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let _pin = pin(&self.inner)?;
        Ok(self.find(key.as_bytes())?.is_some())
    }

    /// Removes `key`; returns whether it was present (Python's `del d[key]`).
    pub fn remove<K>(&self, key: &K) -> Result<bool>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let key = key.as_bytes();
        if key.len() > MAX_KEY_LEN {
            return Ok(false);
        }
        let h = self.hash(key);
        txn::write(&self.inner, |w| {
            Ok(table::remove(w, self.d, key, h)?.is_some())
        })
    }

    /// Removes `key` and returns its value's bytes (Python's `pop`).
    pub fn pop<K>(&self, key: &K) -> Result<Option<Vec<u8>>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        self.pop_entry(key.as_bytes(), |e, meta| {
            table::read_value(&self.inner.arena, e, meta)
        })
    }

    /// Removes `key` and returns its value's type tag and bytes, in one
    /// write (the encoded form of [`pop`](Self::pop), for a binding that
    /// decodes by tag, as [`get_encoded_with`](Self::get_encoded_with)
    /// reads).
    ///
    /// ```
    /// use ipc_manager::Manager;
    ///
    /// let m = Manager::new()?;
    /// let d = m.dict("jobs")?;
    /// d.insert("next", b"job-7")?;
    /// let (_tag, bytes) = d.pop_encoded("next")?.expect("present");
    /// assert_eq!(bytes, b"job-7");
    /// assert!(d.pop_encoded("next")?.is_none());
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    pub fn pop_encoded<K>(&self, key: &K) -> Result<Option<(u64, Vec<u8>)>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        self.pop_entry(key.as_bytes(), |e, meta| {
            Ok((meta.tag, table::read_value(&self.inner.arena, e, meta)?))
        })
    }

    /// Removes `key`, reading the entry with `read` first (the entry stays
    /// allocated until the write ends).
    fn pop_entry<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(u64, &table::EntryMeta) -> Result<R>,
    ) -> Result<Option<R>> {
        if key.len() > MAX_KEY_LEN {
            return Ok(None);
        }
        let h = self.hash(key);
        txn::write(&self.inner, |w| {
            let Some(e) = table::find(w, self.d, key, h)? else {
                return Ok(None);
            };
            let meta = table::entry_meta(w.arena, e)?;
            let v = read(e, &meta)?;
            table::remove(w, self.d, key, h)?;
            Ok(Some(v))
        })
    }

    /// Atomically replaces the value of `key` with `f(current)` (`None` when
    /// absent) and returns the new value; the bytes form of
    /// [`TypedDict::update_with`] (same rules: `f` runs under the writer
    /// lock, keep it short, do not call into this manager from it).
    ///
    /// ```
    /// use ipc_manager::Manager;
    ///
    /// let m = Manager::new()?;
    /// let log = m.dict("log")?;
    /// log.update_with("line", |old| [old.unwrap_or(b""), b"a"].concat())?;
    /// log.update_with("line", |old| [old.unwrap_or(b""), b"b"].concat())?;
    /// assert_eq!(log.get("line")?.as_deref(), Some(&b"ab"[..]));
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    pub fn update_with<K>(
        &self,
        key: &K,
        f: impl FnOnce(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let key = key.as_bytes();
        check_key(key)?;
        let h = self.hash(key);
        txn::write(&self.inner, |w| {
            let current = match table::find(w, self.d, key, h)? {
                Some(e) => {
                    let meta = table::entry_meta(w.arena, e)?;
                    Some(table::read_value(w.arena, e, &meta)?)
                }
                None => None,
            };
            let new = f(current.as_deref());
            check_value(&new)?;
            table::insert(w, self.d, key, h, &new, BYTES_TAG)?;
            Ok(new)
        })
    }

    /// Atomically stores `new` if the value of `key` is `current` (`None`:
    /// if `key` is absent); `Ok(Err(actual))` with what is stored otherwise,
    /// and nothing changes.
    pub fn compare_and_swap<K>(
        &self,
        key: &K,
        current: Option<&[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<std::result::Result<(), Option<Vec<u8>>>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let key = key.as_bytes();
        let new = new.as_ref();
        check_key(key)?;
        check_value(new)?;
        let h = self.hash(key);
        txn::write(&self.inner, |w| {
            let actual = match table::find(w, self.d, key, h)? {
                Some(e) => {
                    let meta = table::entry_meta(w.arena, e)?;
                    Some(table::read_value(w.arena, e, &meta)?)
                }
                None => None,
            };
            if actual.as_deref() != current {
                return Ok(Err(actual));
            }
            table::insert(w, self.d, key, h, new, BYTES_TAG)?;
            Ok(Ok(()))
        })
    }

    /// The value of `key`; if absent, inserts `default` first and returns
    /// it (Python's `setdefault`). Atomic: two processes racing both get
    /// the value that ended up stored.
    pub fn get_or_insert<K>(&self, key: &K, default: impl AsRef<[u8]>) -> Result<Vec<u8>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let key = key.as_bytes();
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        let default = default.as_ref();
        check_key(key)?;
        check_value(default)?;
        let h = self.hash(key);
        txn::write(&self.inner, |w| {
            if let Some(e) = table::find(w, self.d, key, h)? {
                let meta = table::entry_meta(w.arena, e)?;
                return table::read_value(w.arena, e, &meta);
            }
            table::insert(w, self.d, key, h, default, BYTES_TAG)?;
            Ok(default.to_vec())
        })
    }

    /// Inserts every `(key, value)` pair (Python's `update`). Each insert is
    /// atomic on its own; a writer killed midway leaves a prefix applied.
    pub fn update<K, V>(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<(K, V)> = items.by_ref().take(UPDATE_CHUNK).collect();
            for (k, v) in &chunk {
                check_key(k.as_ref())?;
                check_value(v.as_ref())?;
            }
            txn::write(&self.inner, |w| {
                for (k, v) in &chunk {
                    let k = k.as_ref();
                    let h = hash(w.inner.seed, k);
                    table::insert(w, self.d, k, h, v.as_ref(), BYTES_TAG)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The number of entries.
    pub fn len(&self) -> Result<u64> {
        txn::recover_if_needed(&self.inner)?;
        table::len(&self.inner.arena, self.d)
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every entry (one atomic step).
    pub fn clear(&self) -> Result<()> {
        txn::write(&self.inner, |w| table::clear(w, self.d))
    }

    /// Calls `f` with each key and value, in place, on a consistent snapshot
    /// of the dictionary (entries changed after the snapshot are seen as
    /// they were). The snapshot holds a pin until `f` has seen every entry,
    /// so keep `f` short. Stops at the first error `f` returns.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        self.for_each_tagged(|k, v, _| f(k, v))
    }

    /// [`for_each`](Self::for_each), also passing each value's type tag
    /// (compare it with [`Encoding::tag`]).
    pub fn for_each_tagged(
        &self,
        mut f: impl FnMut(&[u8], &[u8], u64) -> Result<()>,
    ) -> Result<()> {
        let _pin = pin(&self.inner)?;
        let mut key = Vec::new();
        let mut value = Vec::new();
        for e in self.snapshot()? {
            let meta = table::entry_meta(&self.inner.arena, e)?;
            key.resize(meta.key_len as usize, 0);
            self.inner
                .arena
                .read(e, crate::storage::layout::entry::KEY, &mut key)?;
            value.resize(meta.val_len as usize, 0);
            self.inner.arena.read(e, meta.value_off(), &mut value)?;
            f(&key, &value, meta.tag)?;
        }
        Ok(())
    }

    /// The live entries at one moment (pinned by the caller).
    fn snapshot(&self) -> Result<Vec<u64>> {
        txn::consistent_snapshot(&self.inner, self.d)
    }

    /// A snapshot of all `(key, value)` pairs (Python's `items()`).
    pub fn items(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.for_each(|k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// A snapshot of all keys (Python's `keys()`).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        let _pin = pin(&self.inner)?;
        self.snapshot()?
            .into_iter()
            .map(|e| {
                let meta = table::entry_meta(&self.inner.arena, e)?;
                table::read_key(&self.inner.arena, e, &meta)
            })
            .collect()
    }

    /// A snapshot of all values (Python's `values()`).
    pub fn values(&self) -> Result<Vec<Vec<u8>>> {
        let _pin = pin(&self.inner)?;
        self.snapshot()?
            .into_iter()
            .map(|e| {
                let meta = table::entry_meta(&self.inner.arena, e)?;
                table::read_value(&self.inner.arena, e, &meta)
            })
            .collect()
    }

    /// An iterator over a snapshot of all `(key, value)` pairs.
    pub fn iter(&self) -> Result<std::vec::IntoIter<(Vec<u8>, Vec<u8>)>> {
        Ok(self.items()?.into_iter())
    }

    // -- typed ---------------------------------------------------------------

    /// Sets `key` to the typed value `value`, stored with `V`'s type tag.
    pub fn insert_as<K, V: Message>(&self, key: &K, value: &V) -> Result<()>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let t = TypeTag::of::<V>();
        self.insert_tagged(key.as_bytes(), value.as_bytes(), Some(&t))
    }

    // -- encodings of other programs (see `Encoding`) -----------------------

    /// Sets `key` to `value` encoded as `encoding` (its tag is stored
    /// beside it, and named encodings are registered so errors can name
    /// them).
    pub fn insert_encoded<K>(&self, key: &K, value: &[u8], encoding: &Encoding) -> Result<()>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let t = (encoding.tag() != BYTES_TAG).then_some(&encoding.0);
        self.insert_tagged(key.as_bytes(), value, t)
    }

    /// Calls `f` with the type tag and the bytes of the value of `key`, in
    /// place (pinned for the call); `None` if `key` is absent.
    pub fn get_encoded_with<K, R>(
        &self,
        key: &K,
        f: impl FnOnce(u64, &[u8]) -> R,
    ) -> Result<Option<R>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        Ok(self.get_ref(key)?.map(|v| f(v.type_tag(), &v)))
    }

    /// Atomically stores `new` (encoded as `encoding`) if the value of
    /// `key` is `current`, compared by tag and bytes (`None`: if `key` is
    /// absent); `Ok(Err(actual))` with the stored tag and bytes otherwise,
    /// and nothing changes. The building block of an update computed
    /// outside the manager's write lock (a Python callback, say), retried
    /// until it wins.
    #[allow(clippy::type_complexity)]
    pub fn compare_and_swap_encoded<K>(
        &self,
        key: &K,
        current: Option<(u64, &[u8])>,
        new: &[u8],
        encoding: &Encoding,
    ) -> Result<std::result::Result<(), Option<(u64, Vec<u8>)>>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let key = key.as_bytes();
        check_key(key)?;
        check_value(new)?;
        let h = self.hash(key);
        let t = (encoding.tag() != BYTES_TAG).then_some(&encoding.0);
        txn::write(&self.inner, |w| {
            let actual = match table::find(w, self.d, key, h)? {
                Some(e) => {
                    let meta = table::entry_meta(w.arena, e)?;
                    Some((meta.tag, table::read_value(w.arena, e, &meta)?))
                }
                None => None,
            };
            let same = match (&actual, current) {
                (None, None) => true,
                (Some((tag, bytes)), Some((want_tag, want))) => {
                    *tag == want_tag && bytes.as_slice() == want
                }
                _ => false,
            };
            if !same {
                return Ok(Err(actual));
            }
            if let Some(t) = t {
                register_type(w, t)?;
            }
            table::insert(w, self.d, key, h, new, encoding.tag())?;
            Ok(Ok(()))
        })
    }

    /// The value of `key` as a `V`; [`Error::WrongType`] if it was stored
    /// as bytes or as another type.
    pub fn get_as<K, V: Message>(&self, key: &K) -> Result<Option<V>>
    where
        K: IntoBytes + Immutable + ?Sized,
    {
        let t = TypeTag::of::<V>();
        let _pin = pin(&self.inner)?;
        match self.find(key.as_bytes())? {
            None => Ok(None),
            Some((e, meta)) => self.read_typed(e, &meta, &t).map(Some),
        }
    }

    /// Sets `key` to any `Serialize` value (feature `serde`), encoded with
    /// postcard and tagged as a serde value, so that reading it as bytes or
    /// as a plain type is refused with [`Error::WrongType`]. As with serde
    /// everywhere, the type is structural: a `&str` stored reads back as a
    /// `String`, and a value of an incompatible shape fails to decode
    /// ([`Error::Decode`]). The encoding is made in a buffer of this process
    /// first (the writer then copies it into the dictionary under its lock,
    /// which is kept short that way).
    ///
    /// ```
    /// use ipc_manager::Manager;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Debug, PartialEq, Serialize, Deserialize)]
    /// struct Job { owner: String, retries: u32, args: Vec<String> }
    ///
    /// let m = Manager::new()?;
    /// let jobs = m.dict("jobs")?;
    /// let job = Job { owner: "ana".into(), retries: 2, args: vec!["--fast".into()] };
    /// jobs.insert_serde("j1", &job)?;
    /// assert_eq!(jobs.get_serde::<_, Job>("j1")?, Some(job));
    /// jobs.insert_serde("note", "short text")?;
    /// assert_eq!(jobs.get_serde::<_, String>("note")?.as_deref(), Some("short text"));
    /// assert!(jobs.get_serde::<_, Job>("note").is_err(), "another shape");
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    #[cfg(feature = "serde")]
    pub fn insert_serde<K, V>(&self, key: &K, value: &V) -> Result<()>
    where
        K: IntoBytes + Immutable + ?Sized,
        V: serde::Serialize + ?Sized,
    {
        let bytes = postcard::to_allocvec(value).map_err(|e| Error::Encode {
            reason: e.to_string(),
        })?;
        self.insert_tagged(key.as_bytes(), &bytes, Some(&TypeTag::SERDE))
    }

    /// The value of `key` decoded as a `V` (feature `serde`), read in place
    /// (no copy of the encoding); `None` if absent; [`Error::WrongType`] if
    /// it was stored as bytes or as a plain type; [`Error::Decode`] if it is
    /// not the encoding of a `V`.
    #[cfg(feature = "serde")]
    pub fn get_serde<K, V>(&self, key: &K) -> Result<Option<V>>
    where
        K: IntoBytes + Immutable + ?Sized,
        V: serde::de::DeserializeOwned,
    {
        let t = TypeTag::SERDE;
        let Some(value) = self.get_ref(key)? else {
            return Ok(None);
        };
        if value.type_tag() != t.tag {
            return Err(Error::WrongType {
                expected: t.describe(),
                found: describe_tag(&self.inner, value.type_tag()),
            });
        }
        let fail = |e: postcard::Error| Error::Decode {
            type_name: std::any::type_name::<V>(),
            reason: e.to_string(),
        };
        let (decoded, rest) = postcard::take_from_bytes::<V>(&value).map_err(fail)?;
        if !rest.is_empty() {
            return Err(fail(postcard::Error::DeserializeBadEncoding));
        }
        Ok(Some(decoded))
    }

    /// Sets `key` to the rkyv archive of `value` (feature `rkyv`), for
    /// readers that use it in place with [`get_rkyv_with`](Self::get_rkyv_with).
    /// The archive is made in a buffer of this process first (the writer
    /// copies it into the dictionary under its lock).
    ///
    /// ```
    /// use ipc_manager::Manager;
    ///
    /// #[derive(rkyv::Archive, rkyv::Serialize)]
    /// struct Route { from: String, to: String, hops: Vec<u32> }
    ///
    /// let m = Manager::new()?;
    /// let routes = m.dict("routes")?;
    /// routes.insert_rkyv("r1", &Route { from: "a".into(), to: "z".into(), hops: vec![3, 9] })?;
    /// // Read where it lies in shared memory: validated, not deserialized.
    /// let hops = routes.get_rkyv_with::<_, Route, _>("r1", |r| r.hops.len())?;
    /// assert_eq!(hops, Some(2));
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    #[cfg(feature = "rkyv")]
    pub fn insert_rkyv<K, V>(&self, key: &K, value: &V) -> Result<()>
    where
        K: IntoBytes + Immutable + ?Sized,
        V: for<'a> rkyv::Serialize<
                rkyv::api::high::HighSerializer<
                    rkyv::util::AlignedVec,
                    rkyv::ser::allocator::ArenaHandle<'a>,
                    rkyv::rancor::Error,
                >,
            >,
    {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(value).map_err(|e| Error::Encode {
            reason: e.to_string(),
        })?;
        self.insert_tagged(key.as_bytes(), &bytes, Some(&TypeTag::RKYV))
    }

    /// Validates the value of `key` as the archive of a `V` (feature
    /// `rkyv`) and calls `f` with it where it lies in shared memory (pinned
    /// while `f` runs); `None` if `key` is absent; [`Error::WrongType`] if it
    /// was not stored with [`insert_rkyv`](Self::insert_rkyv);
    /// [`Error::Decode`] if it does not validate as a `V`.
    #[cfg(feature = "rkyv")]
    pub fn get_rkyv_with<K, V, R>(
        &self,
        key: &K,
        f: impl FnOnce(&V::Archived) -> R,
    ) -> Result<Option<R>>
    where
        K: IntoBytes + Immutable + ?Sized,
        V: rkyv::Archive,
        V::Archived: for<'a> rkyv::bytecheck::CheckBytes<
                rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>,
            >,
    {
        let Some(value) = self.get_ref(key)? else {
            return Ok(None);
        };
        if value.type_tag() != TypeTag::RKYV.tag {
            return Err(Error::WrongType {
                expected: TypeTag::RKYV.describe(),
                found: describe_tag(&self.inner, value.type_tag()),
            });
        }
        let archived = rkyv::access::<V::Archived, rkyv::rancor::Error>(&value).map_err(|e| {
            Error::Decode {
                type_name: std::any::type_name::<V>(),
                reason: e.to_string(),
            }
        })?;
        Ok(Some(f(archived)))
    }

    /// A view with fixed key and value types, whose calls skip computing
    /// the type tag (the fastest way to use a dictionary of one type).
    pub fn typed<K, V>(&self) -> Result<TypedDict<K, V>>
    where
        K: IntoBytes + Immutable + ?Sized,
        V: Message,
    {
        let t = TypeTag::of::<V>();
        if !type_registered(&self.inner, &t)? {
            txn::write(&self.inner, |w| register_type(w, &t))?;
        }
        Ok(TypedDict {
            dict: self.clone(),
            t,
            _kv: PhantomData,
        })
    }
}

/// A [`Dict`] viewed with one key type `K` and one value type `V` (see
/// [`Dict::typed`]). Values stored through it carry `V`'s type tag; reading
/// a value of another type is an [`Error::WrongType`].
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use ipc_manager::Manager;
///
/// let m = Manager::new()?;
/// let prices = m.dict("prices")?.typed::<[u8; 4], f64>()?;
/// prices.insert(b"AAPL", &189.5)?;
/// assert_eq!(prices.get(b"AAPL")?, Some(189.5));
/// {
///     let in_place = prices.get_ref(b"AAPL")?.unwrap(); // zero-copy
///     assert_eq!(*in_place, 189.5);
/// }
/// assert_eq!(prices.pop(b"AAPL")?, Some(189.5));
/// # Ok::<(), ipc_manager::Error>(())
/// ```
pub struct TypedDict<K: ?Sized, V> {
    dict: Dict,
    t: TypeTag,
    _kv: PhantomData<fn(&K) -> V>,
}

impl<K: ?Sized, V> Clone for TypedDict<K, V> {
    fn clone(&self) -> Self {
        Self {
            dict: self.dict.clone(),
            t: self.t,
            _kv: PhantomData,
        }
    }
}

impl<K: ?Sized, V> std::fmt::Debug for TypedDict<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedDict")
            .field("name", &self.dict.name)
            .field("value_type", &self.t.name)
            .finish()
    }
}

impl<K, V> TypedDict<K, V>
where
    K: IntoBytes + Immutable + ?Sized,
    V: Message,
{
    /// The untyped dictionary beneath.
    pub fn dict(&self) -> &Dict {
        &self.dict
    }

    /// Sets `key` to `value`.
    pub fn insert(&self, key: &K, value: &V) -> Result<()> {
        let key = key.as_bytes();
        check_key(key)?;
        check_value(value.as_bytes())?;
        let h = self.dict.hash(key);
        let tag = self.t.tag;
        txn::write(&self.dict.inner, |w| {
            table::insert(w, self.dict.d, key, h, value.as_bytes(), tag).map(drop)
        })
    }

    /// A copy of the value of `key`.
    #[inline]
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let _pin = pin(&self.dict.inner)?;
        match self.dict.find(key.as_bytes())? {
            None => Ok(None),
            Some((e, meta)) => self.dict.read_typed(e, &meta, &self.t).map(Some),
        }
    }

    /// The value of `key` in place (zero-copy), as a guard deref-ing to `V`.
    pub fn get_ref(&self, key: &K) -> Result<Option<TypedRef<'_, V>>> {
        match self.dict.get_ref(key)? {
            None => Ok(None),
            Some(raw) => TypedRef::new(raw).map(Some),
        }
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &K) -> Result<bool> {
        self.dict.contains(key)
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &K) -> Result<bool> {
        self.dict.remove(key)
    }

    /// Removes `key` and returns its value.
    pub fn pop(&self, key: &K) -> Result<Option<V>> {
        self.dict.pop_entry(key.as_bytes(), |e, meta| {
            self.dict.read_typed(e, meta, &self.t)
        })
    }

    /// Atomically replaces the value of `key` with `f(current)` (`None` when
    /// absent) and returns the new value. The read, `f` and the write happen
    /// under the manager's writer lock, so no other process's change falls
    /// in between: `insert(k, &(get(k)? + 1))` from several processes loses
    /// updates, this does not. `f` runs holding the lock: keep it short, and
    /// do not call into this manager from it (the lock is not reentrant). A
    /// stored value of another type is an [`Error::WrongType`], and `f` is
    /// not called.
    ///
    /// ```
    /// use ipc_manager::Manager;
    ///
    /// let m = Manager::new()?;
    /// let hits = m.dict("hits")?.typed::<str, u64>()?;
    /// assert_eq!(hits.update_with("/", |n| n.unwrap_or(0) + 1)?, 1);
    /// assert_eq!(hits.update_with("/", |n| n.unwrap_or(0) + 1)?, 2);
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    pub fn update_with(&self, key: &K, f: impl FnOnce(Option<V>) -> V) -> Result<V> {
        let key = key.as_bytes();
        check_key(key)?;
        check_value_len(size_of::<V>())?;
        let h = self.dict.hash(key);
        txn::write(&self.dict.inner, |w| {
            let current = match table::find(w, self.dict.d, key, h)? {
                Some(e) => {
                    let meta = table::entry_meta(w.arena, e)?;
                    Some(self.dict.read_typed(e, &meta, &self.t)?)
                }
                None => None,
            };
            let new = f(current);
            table::insert(w, self.dict.d, key, h, new.as_bytes(), self.t.tag)?;
            Ok(new)
        })
    }

    /// Atomically stores `new` if the value of `key` is `current` (`None`:
    /// if `key` is absent); `Ok(Err(actual))` with what is stored otherwise,
    /// and nothing changes. Compares bytes.
    pub fn compare_and_swap(
        &self,
        key: &K,
        current: Option<&V>,
        new: &V,
    ) -> Result<std::result::Result<(), Option<V>>> {
        let key = key.as_bytes();
        check_key(key)?;
        check_value(new.as_bytes())?;
        let h = self.dict.hash(key);
        txn::write(&self.dict.inner, |w| {
            let actual: Option<V> = match table::find(w, self.dict.d, key, h)? {
                Some(e) => {
                    let meta = table::entry_meta(w.arena, e)?;
                    Some(self.dict.read_typed(e, &meta, &self.t)?)
                }
                None => None,
            };
            let matches = match (&actual, current) {
                (None, None) => true,
                (Some(a), Some(c)) => a.as_bytes() == c.as_bytes(),
                _ => false,
            };
            if !matches {
                return Ok(Err(actual));
            }
            table::insert(w, self.dict.d, key, h, new.as_bytes(), self.t.tag)?;
            Ok(Ok(()))
        })
    }

    /// The value of `key`, inserting `default` first if absent (setdefault).
    pub fn get_or_insert(&self, key: &K, default: &V) -> Result<V> {
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        let key = key.as_bytes();
        check_key(key)?;
        check_value(default.as_bytes())?;
        let h = self.dict.hash(key);
        txn::write(&self.dict.inner, |w| {
            if let Some(e) = table::find(w, self.dict.d, key, h)? {
                let meta = table::entry_meta(w.arena, e)?;
                return self.dict.read_typed(e, &meta, &self.t);
            }
            table::insert(w, self.dict.d, key, h, default.as_bytes(), self.t.tag)?;
            Ok(V::read_from_bytes(default.as_bytes()).unwrap_or_else(|_| V::new_zeroed()))
        })
    }

    /// Inserts every `(key, value)` pair (each insert atomic on its own).
    /// The pairs' `borrow` is called while the manager's writer lock is
    /// held: it must not call into the manager.
    pub fn update<Q, B>(&self, items: impl IntoIterator<Item = (Q, B)>) -> Result<()>
    where
        Q: Borrow<K>,
        B: Borrow<V>,
    {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<(Q, B)> = items.by_ref().take(UPDATE_CHUNK).collect();
            for (k, v) in &chunk {
                check_key(k.borrow().as_bytes())?;
                check_value(v.borrow().as_bytes())?;
            }
            txn::write(&self.dict.inner, |w| {
                for (k, v) in &chunk {
                    let k = k.borrow().as_bytes();
                    let h = hash(w.inner.seed, k);
                    table::insert(w, self.dict.d, k, h, v.borrow().as_bytes(), self.t.tag)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The number of entries.
    pub fn len(&self) -> Result<u64> {
        self.dict.len()
    }

    /// Whether the dictionary is empty.
    pub fn is_empty(&self) -> Result<bool> {
        self.dict.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<()> {
        self.dict.clear()
    }

    /// A snapshot of all `(key bytes, value)` pairs; a value of another type
    /// is an [`Error::WrongType`].
    pub fn items(&self) -> Result<Vec<(Vec<u8>, V)>> {
        let mut out = Vec::new();
        let t = &self.t;
        let inner = &self.dict.inner;
        self.dict.for_each_tagged(|k, v, tag| {
            let wrong = || Error::WrongType {
                expected: t.describe(),
                found: describe_tag(inner, tag),
            };
            if tag != t.tag {
                return Err(wrong());
            }
            out.push((k.to_vec(), V::read_from_bytes(v).map_err(|_| wrong())?));
            Ok(())
        })?;
        Ok(out)
    }

    /// A snapshot of all keys (as bytes).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        self.dict.keys()
    }

    /// A snapshot of all values.
    pub fn values(&self) -> Result<Vec<V>> {
        Ok(self.items()?.into_iter().map(|(_, v)| v).collect())
    }
}

impl<K, V> TypedDict<K, V>
where
    K: IntoBytes + Immutable + ?Sized,
    V: AtomicInt,
{
    /// Atomically adds `delta` (wrapping) to the integer stored under `key`
    /// (an absent key counts as 0) and returns the previous value: a shared
    /// counter that loses no increment, whatever the number of processes.
    ///
    /// ```
    /// use ipc_manager::Manager;
    ///
    /// let m = Manager::new()?;
    /// let hits = m.dict("hits")?.typed::<str, u64>()?;
    /// assert_eq!(hits.fetch_add("/index.html", 1)?, 0);
    /// assert_eq!(hits.fetch_add("/index.html", 1)?, 1);
    /// assert_eq!(hits.get("/index.html")?, Some(2));
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    pub fn fetch_add(&self, key: &K, delta: V) -> Result<V> {
        let mut previous = None;
        self.update_with(key, |current| {
            let current = current.unwrap_or_else(V::new_zeroed);
            previous = Some(current);
            V::wrapping_add(current, delta)
        })?;
        Ok(previous.unwrap_or_else(V::new_zeroed))
    }
}
