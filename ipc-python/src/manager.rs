//! `Manager`: multiprocessing's `Manager()` without its server process,
//! over `ipc_manager::Manager`.
//!
//! Each process maps the manager's shared memory and reads and writes the
//! objects in place: a `d[key]` is a hash, a probe and a copy in this
//! process, where Python's manager pickles a request to its server and
//! waits for the answer.
//!
//! **Keys** are stored as bytes: a `str` as its UTF-8 (so a Rust program's
//! `dict.insert("alice", ..)` and Python's `d["alice"]` name the same
//! entry); any other key as a byte 0xFF (never found in UTF-8) and a kind
//! byte: `b` and the bytes, `i` and 8 bytes of an `int`, `p` and a pickle.
//! Keys are compared by that encoding. A number equal to an `i64` (`True`,
//! `2.0`, numpy's `int64(3)`) is encoded as that integer, so the keys a
//! Python dict finds as one are one here too.
//!
//! **Values** carry an encoding tag (see `ipc_manager::Encoding`): `bytes`
//! are plain bytes, an `int` within 64 bits an `i64` and a `float` an
//! `f64`, exactly as a Rust program stores them with `insert` and
//! `insert_as`; a `str` is UTF-8 under its own tag; anything else is a
//! pickle. A value a Rust program stored as `u64`, `i32`, ... or `f32`
//! reads back as an `int` or a `float`.
//!
//! **Atomic updates**: `increment` adds to an integer under the manager's
//! write lock; `update_with(key, fn)` computes the new value in Python,
//! outside any lock, and stores it by compare-and-swap, retrying until no
//! other process changed the value in between.

use std::mem::ManuallyDrop;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_core::segment::SegmentOptions;
use ipc_manager::{Dict, Encoding, Manager as RustManager};
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::blocking::{self, Step};
use crate::codec;
use crate::errors;

/// A manager, created or opened by name.
#[pyclass(module = "ipc_toolkit._native", subclass, frozen)]
pub(crate) struct Manager {
    m: RustManager,
    name: String,
}

#[pymethods]
impl Manager {
    /// A new manager (`open=False`) or an existing one, by name.
    #[new]
    #[pyo3(signature = (name=None, *, open=false))]
    fn new(name: Option<String>, open: bool) -> PyResult<Self> {
        let name = name.unwrap_or_else(|| crate::names::unique_name("m"));
        let b = RustManager::builder().options(SegmentOptions::named(&name));
        let m = if open { b.open() } else { b.create() }.map_err(errors::manager)?;
        Ok(Self { m, name })
    }

    /// The manager's name in `/dev/shm`.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
}

fn kind_name(kind: &str) -> &'static str {
    match kind {
        "Lock" => "Lock",
        "Event" => "Event",
        "Semaphore" => "Semaphore",
        _ => "Barrier",
    }
}

// ----- encodings ------------------------------------------------------------

/// The encodings this module writes and reads (see the module docs).
struct Encodings {
    i64: Encoding,
    f64: Encoding,
    ints: [u64; 7],
    f32: u64,
    str: Encoding,
    pickle: Encoding,
}

fn encodings() -> &'static Encodings {
    static E: OnceLock<Encodings> = OnceLock::new();
    E.get_or_init(|| Encodings {
        i64: Encoding::of::<i64>(),
        f64: Encoding::of::<f64>(),
        ints: [
            Encoding::of::<u64>().tag(),
            Encoding::of::<i32>().tag(),
            Encoding::of::<u32>().tag(),
            Encoding::of::<i16>().tag(),
            Encoding::of::<u16>().tag(),
            Encoding::of::<i8>().tag(),
            Encoding::of::<u8>().tag(),
        ],
        f32: Encoding::of::<f32>().tag(),
        str: Encoding::named("python str (utf-8)"),
        pickle: Encoding::named("python pickle (protocol 5)"),
    })
}

/// A value to store: its bytes and their encoding.
struct Stored {
    bytes: Vec<u8>,
    encoding: Encoding,
}

fn encode_value(obj: &Bound<'_, PyAny>) -> PyResult<Stored> {
    let e = encodings();
    if let Ok(b) = obj.cast_exact::<PyBytes>() {
        return Ok(Stored {
            bytes: b.as_bytes().to_vec(),
            encoding: Encoding::BYTES,
        });
    }
    if obj.is_exact_instance_of::<PyInt>()
        && let Ok(v) = obj.extract::<i64>()
    {
        return Ok(Stored {
            bytes: v.to_le_bytes().to_vec(),
            encoding: e.i64,
        });
    }
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        return Ok(Stored {
            bytes: f.value().to_le_bytes().to_vec(),
            encoding: e.f64,
        });
    }
    // (A str with a lone surrogate has no UTF-8: it is pickled.)
    if let Ok(s) = obj.cast_exact::<PyString>()
        && let Ok(utf8) = s.encode_utf8()
    {
        return Ok(Stored {
            bytes: utf8.as_bytes().to_vec(),
            encoding: e.str,
        });
    }
    Ok(Stored {
        bytes: codec::dumps(obj)?.as_bytes().to_vec(),
        encoding: e.pickle,
    })
}

fn decode_value<'py>(py: Python<'py>, tag: u64, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let e = encodings();
    let fixed = |n: usize| -> PyResult<&[u8]> {
        if b.len() == n {
            Ok(b)
        } else {
            Err(crate::errors::CorruptionError::new_err(
                "a fixed-size value of the wrong length",
            ))
        }
    };
    if tag == Encoding::BYTES.tag() {
        return Ok(PyBytes::new(py, b).into_any());
    }
    if tag == e.i64.tag() {
        let v = i64::from_le_bytes(fixed(8)?.try_into().unwrap_or_default());
        return Ok(v.into_pyobject(py)?.into_any());
    }
    if tag == e.pickle.tag() {
        return codec::loads(py, b);
    }
    if tag == e.str.tag() {
        let s = std::str::from_utf8(b).map_err(|_| {
            crate::errors::CorruptionError::new_err("a str value that is not UTF-8")
        })?;
        return Ok(PyString::new(py, s).into_any());
    }
    if tag == e.f64.tag() {
        let v = f64::from_le_bytes(fixed(8)?.try_into().unwrap_or_default());
        return Ok(PyFloat::new(py, v).into_any());
    }
    if tag == e.f32 {
        let v = f32::from_le_bytes(fixed(4)?.try_into().unwrap_or_default());
        return Ok(PyFloat::new(py, f64::from(v)).into_any());
    }
    // The other integer types a Rust program may store.
    let [u64_, i32_, u32_, i16_, u16_, i8_, u8_] = e.ints;
    let int = |v: i128| -> PyResult<Bound<'py, PyAny>> { Ok(v.into_pyobject(py)?.into_any()) };
    match tag {
        t if t == u64_ => int(u64::from_le_bytes(fixed(8)?.try_into().unwrap_or_default()).into()),
        t if t == i32_ => int(i32::from_le_bytes(fixed(4)?.try_into().unwrap_or_default()).into()),
        t if t == u32_ => int(u32::from_le_bytes(fixed(4)?.try_into().unwrap_or_default()).into()),
        t if t == i16_ => int(i16::from_le_bytes(fixed(2)?.try_into().unwrap_or_default()).into()),
        t if t == u16_ => int(u16::from_le_bytes(fixed(2)?.try_into().unwrap_or_default()).into()),
        t if t == i8_ => int(i8::from_le_bytes(fixed(1)?.try_into().unwrap_or_default()).into()),
        t if t == u8_ => int(u8::from_le_bytes(fixed(1)?.try_into().unwrap_or_default()).into()),
        _ => Err(PyTypeError::new_err(
            "the value was stored by another program in an encoding Python cannot read (a Rust struct, serde or rkyv value)",
        )),
    }
}

const KEY_MARK: u8 = 0xFF;

fn encode_key(key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    // (A str with a lone surrogate has no UTF-8: it is pickled below.)
    if let Ok(s) = key.cast_exact::<PyString>()
        && let Ok(utf8) = s.encode_utf8()
    {
        return Ok(utf8.as_bytes().to_vec());
    }
    let (kind, body) = if let Ok(b) = key.cast_exact::<PyBytes>() {
        (b'b', b.as_bytes().to_vec())
    } else if key.is_exact_instance_of::<PyInt>()
        && let Ok(v) = key.extract::<i64>()
    {
        (b'i', v.to_le_bytes().to_vec())
    } else if let Some(v) = integral_key(key) {
        (b'i', v.to_le_bytes().to_vec())
    } else {
        // Only hashable objects are keys, as in a dict.
        key.hash()?;
        (b'p', codec::dumps(key)?.as_bytes().to_vec())
    };
    let mut k = Vec::with_capacity(2 + body.len());
    k.extend_from_slice(&[KEY_MARK, kind]);
    k.extend_from_slice(&body);
    Ok(k)
}

/// The integer a key equals, if it is a number Python's dict would find
/// under that integer (`True` and `1`, `2.0` and `2`, numpy's `int64(3)`
/// and `3`: equal, with equal hashes), within `i64`; such keys share the
/// integer's encoding, so the shared dict finds them as a dict would.
/// (An integral key then comes back from `keys()` as a plain `int`.)
fn integral_key(key: &Bound<'_, PyAny>) -> Option<i64> {
    if key.is_instance_of::<PyInt>() {
        // int subclasses, bool among them.
        return key.extract::<i64>().ok();
    }
    if let Ok(f) = key.cast::<PyFloat>() {
        let v = f.value();
        // -2^63 is exact as f64; 2^63 is not an i64.
        let low = i64::MIN as f64;
        let in_range = (low..-low).contains(&v);
        return (v.fract() == 0.0 && in_range).then_some(v as i64);
    }
    // An integer type of another library (numpy's): `__index__` says it
    // is one. Floats of other libraries that are not `float` subclasses
    // are not looked at (they are pickled).
    if key.hasattr("__index__").unwrap_or(false) {
        let index = key.py().import("operator").ok()?.getattr("index").ok()?;
        return index.call1((key,)).ok()?.extract::<i64>().ok();
    }
    None
}

fn decode_key<'py>(py: Python<'py>, k: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(s) = std::str::from_utf8(k) {
        return Ok(PyString::new(py, s).into_any());
    }
    match k {
        [KEY_MARK, b'b', body @ ..] => Ok(PyBytes::new(py, body).into_any()),
        [KEY_MARK, b'i', body @ ..] if body.len() == 8 => {
            let v = i64::from_le_bytes(body.try_into().unwrap_or_default());
            Ok(v.into_pyobject(py)?.into_any())
        }
        [KEY_MARK, b'p', body @ ..] => codec::loads(py, body),
        // A key another program stored as raw bytes.
        _ => Ok(PyBytes::new(py, k).into_any()),
    }
}

// ----- the dict -------------------------------------------------------------

/// A shared dictionary (the methods the Python `DictProxy`, a
/// `MutableMapping`, builds on).
#[pyclass(module = "ipc_toolkit._native", subclass, frozen)]
pub(crate) struct DictProxy {
    d: Dict,
    name: String,
    manager: String,
}

#[pymethods]
impl DictProxy {
    /// The shared dictionary `name` of `manager` (created empty if new).
    #[new]
    fn new(manager: &Manager, name: &str) -> PyResult<Self> {
        let d = manager.m.dict(name).map_err(errors::manager)?;
        Ok(DictProxy {
            d,
            name: name.to_owned(),
            manager: manager.name.clone(),
        })
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = encode_key(key)?;
        match self
            .d
            .get_encoded_with(&k[..], |tag, b| decode_value(py, tag, b))
            .map_err(errors::manager)?
        {
            Some(v) => v,
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __setitem__(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = encode_key(key)?;
        let v = encode_value(value)?;
        self.d
            .insert_encoded(&k[..], &v.bytes, &v.encoding)
            .map_err(errors::manager)
    }

    fn __delitem__(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = encode_key(key)?;
        if self.d.remove(&k[..]).map_err(errors::manager)? {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.clone().unbind()))
        }
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let k = encode_key(key)?;
        self.d.contains(&k[..]).map_err(errors::manager)
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.d.len().map_err(errors::manager)? as usize)
    }

    /// `d[key]` if present, else `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = encode_key(key)?;
        match self
            .d
            .get_encoded_with(&k[..], |tag, b| decode_value(py, tag, b))
            .map_err(errors::manager)?
        {
            Some(v) => v,
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    /// The keys, at one moment (a list).
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.snapshot(py, true, false)
    }

    /// The values, at one moment (a list).
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.snapshot(py, false, true)
    }

    /// The `(key, value)` pairs, at one moment (a list).
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.snapshot(py, true, true)
    }

    /// Removes every entry.
    fn clear(&self) -> PyResult<()> {
        self.d.clear().map_err(errors::manager)
    }

    /// Removes `key` and returns its value (`default` if absent, or
    /// `KeyError` without one), in one step: of two processes popping the
    /// same key, one gets the value and the other finds it gone.
    #[pyo3(signature = (key, *default))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if default.len() > 1 {
            return Err(PyTypeError::new_err(format!(
                "pop expected at most 2 arguments, got {}",
                default.len() + 1
            )));
        }
        let k = encode_key(key)?;
        match self.d.pop_encoded(&k[..]).map_err(errors::manager)? {
            Some((tag, bytes)) => decode_value(py, tag, &bytes),
            None => match default.get_item(0) {
                Ok(d) => Ok(d),
                Err(_) => Err(PyKeyError::new_err(key.clone().unbind())),
            },
        }
    }

    /// `d[key]`, inserting `default` first if absent (atomic: two processes
    /// racing both get the value that ended up stored).
    #[pyo3(signature = (key, default=None))]
    fn setdefault<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let k = encode_key(key)?;
        let v = encode_value(&default)?;
        loop {
            match self
                .d
                .compare_and_swap_encoded(&k[..], None, &v.bytes, &v.encoding)
                .map_err(errors::manager)?
            {
                Ok(()) => return Ok(default),
                Err(Some((tag, bytes))) => return decode_value(py, tag, &bytes),
                // Removed in between: try again.
                Err(None) => continue,
            }
        }
    }

    /// Atomically adds `delta` to the integer at `key` (0 if absent) and
    /// returns the new value; `TypeError` if the value is not an integer
    /// stored as one (a Rust program's `i64` counter is one).
    #[pyo3(signature = (key, delta=1))]
    fn increment(&self, key: &Bound<'_, PyAny>, delta: i64) -> PyResult<i64> {
        let k = encode_key(key)?;
        let typed = self.d.typed::<[u8], i64>().map_err(errors::manager)?;
        let previous = typed.fetch_add(&k[..], delta).map_err(errors::manager)?;
        Ok(previous.wrapping_add(delta))
    }

    /// Atomically replaces the value at `key` with `fn(value)` (`fn(default)`
    /// if absent) and returns the new value. `fn` runs outside any lock
    /// and may run more than once: if another process changed the value
    /// meanwhile, it is called again with the new one.
    #[pyo3(signature = (key, func, default=None))]
    fn update_with<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        func: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = encode_key(key)?;
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let mut current: Option<(u64, Vec<u8>)> = self
            .d
            .get_encoded_with(&k[..], |tag, b| (tag, b.to_vec()))
            .map_err(errors::manager)?;
        loop {
            let old = match &current {
                Some((tag, b)) => decode_value(py, *tag, b)?,
                None => default.clone(),
            };
            let new = func.call1((old,))?;
            let v = encode_value(&new)?;
            let expected = current.as_ref().map(|(t, b)| (*t, b.as_slice()));
            match self
                .d
                .compare_and_swap_encoded(&k[..], expected, &v.bytes, &v.encoding)
                .map_err(errors::manager)?
            {
                Ok(()) => return Ok(new),
                Err(actual) => current = actual,
            }
        }
    }

    /// The dict's name in its manager.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The manager's name.
    #[getter]
    fn manager(&self) -> &str {
        &self.manager
    }
}

impl DictProxy {
    fn snapshot<'py>(
        &self,
        py: Python<'py>,
        keys: bool,
        values: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut raw: Vec<(Vec<u8>, u64, Vec<u8>)> = Vec::new();
        self.d
            .for_each_tagged(|k, v, tag| {
                raw.push((k.to_vec(), tag, v.to_vec()));
                Ok(())
            })
            .map_err(errors::manager)?;
        let out = PyList::empty(py);
        for (k, tag, v) in raw {
            match (keys, values) {
                (true, false) => out.append(decode_key(py, &k)?)?,
                (false, true) => out.append(decode_value(py, tag, &v)?)?,
                _ => out.append(PyTuple::new(
                    py,
                    [decode_key(py, &k)?, decode_value(py, tag, &v)?],
                )?)?,
            }
        }
        Ok(out)
    }
}

// ----- Value ----------------------------------------------------------------

/// A shared single value (multiprocessing's `Manager().Value`), stored in a
/// hidden dict of the manager under its own name.
#[pyclass(module = "ipc_toolkit._native", subclass, frozen)]
pub(crate) struct ValueProxy {
    d: Dict,
    key: Vec<u8>,
    typecode: String,
}

#[pymethods]
impl ValueProxy {
    /// Opens value `name` of `manager`, setting it to `initial` if new.
    #[new]
    fn new(
        manager: &Manager,
        name: &str,
        typecode: String,
        initial: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let d = manager.m.dict("__values__").map_err(errors::manager)?;
        let key = name.as_bytes().to_vec();
        let v = encode_value(initial)?;
        // Set only if absent: a re-open keeps the current value.
        let _ = d
            .compare_and_swap_encoded(&key[..], None, &v.bytes, &v.encoding)
            .map_err(errors::manager)?;
        Ok(Self { d, key, typecode })
    }

    /// The current value.
    #[getter]
    fn get_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self
            .d
            .get_encoded_with(&self.key[..], |tag, b| decode_value(py, tag, b))
            .map_err(errors::manager)?
        {
            Some(v) => v,
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Sets the value.
    #[setter]
    fn set_value(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = encode_value(value)?;
        self.d
            .insert_encoded(&self.key[..], &v.bytes, &v.encoding)
            .map_err(errors::manager)
    }

    /// The type code it was created with (`'i'`, `'d'`, ...).
    #[getter]
    fn typecode(&self) -> &str {
        &self.typecode
    }

    /// Atomically adds `delta` to an integer value; returns the new value.
    #[pyo3(signature = (delta=1))]
    fn increment(&self, delta: i64) -> PyResult<i64> {
        let typed = self.d.typed::<[u8], i64>().map_err(errors::manager)?;
        let previous = typed
            .fetch_add(&self.key[..], delta)
            .map_err(errors::manager)?;
        Ok(previous.wrapping_add(delta))
    }
}

// ----- locks, events, semaphores, barriers ----------------------------------

enum Sync {
    Lock(ipc_manager::Lock),
    Event(ipc_manager::Handle<ipc_core::sync::Event>),
    Semaphore(ipc_manager::Handle<ipc_core::sync::Semaphore>),
    Barrier(ipc_manager::Handle<ipc_core::sync::Barrier>),
}

/// A named lock, event, semaphore or barrier of a manager. The Python
/// classes `Lock`, `Event`, `Semaphore` and `Barrier` give each its
/// threading-style face.
#[pyclass(module = "ipc_toolkit._native", subclass, frozen)]
pub(crate) struct SyncProxy {
    /// Dropped by hand (see `Drop`): a lock held by another thread of this
    /// process at drop time is leaked, mapping and all, instead.
    obj: ManuallyDrop<Sync>,
    kind: &'static str,
    name: String,
    manager: String,
    /// For a lock: the process and thread holding it through this handle
    /// (see `this_thread`; 0: none), so that a release from another thread
    /// is refused instead of unlocking a pthread mutex its owner did not
    /// lock, and a forked child's copy of the handle does not take itself
    /// for the holder.
    holder: AtomicU64,
    arg: u32,
}

/// This thread, in this process: the pid in the high half, a hash of the
/// thread id in the low half (never 0).
fn this_thread() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    (u64::from(std::process::id()) << 32) | (h.finish() & 0xffff_ffff) | 1
}

impl Drop for SyncProxy {
    fn drop(&mut self) {
        let held = self.holder.swap(0, Ordering::AcqRel);
        if let Sync::Lock(lock) = &*self.obj
            && held != 0
        {
            if held == this_thread() {
                // SAFETY: this thread acquired the lock through this handle
                // (`holder` said so, and the swap cleared it): the one
                // unlock that pairs with that lock. Unlocking before the
                // handle (and maybe the mapping) goes keeps a mapped mutex
                // off this thread's robust list.
                #[allow(unsafe_code)]
                unsafe {
                    lock.force_unlock();
                }
            } else if held >> 32 == u64::from(std::process::id()) {
                // Held by another thread of this process: that thread's
                // robust list still links the mutex, so its memory must stay
                // mapped. Leak the handle (and so the mapping) instead.
                return;
            }
        }
        // SAFETY: `obj` is not used after this, and `drop` runs once.
        #[allow(unsafe_code)]
        unsafe {
            ManuallyDrop::drop(&mut self.obj);
        }
    }
}

fn wrong_kind(kind: &str, what: &str) -> PyErr {
    PyTypeError::new_err(format!("a {kind} has no {what}"))
}

impl SyncProxy {
    /// The event behind an Event's method (`what`, for the error).
    fn event(&self, what: &str) -> PyResult<&ipc_core::sync::Event> {
        match &*self.obj {
            Sync::Event(e) => Ok(e),
            _ => Err(wrong_kind(self.kind, what)),
        }
    }

    /// The barrier behind a Barrier's method (`what`, for the error).
    fn barrier(&self, what: &str) -> PyResult<&ipc_core::sync::Barrier> {
        match &*self.obj {
            Sync::Barrier(b) => Ok(b),
            _ => Err(wrong_kind(self.kind, what)),
        }
    }
}

#[pymethods]
impl SyncProxy {
    /// The named lock, event, semaphore or barrier (`kind`) of `manager`,
    /// created with `arg` (a semaphore's value, a barrier's parties) if new.
    #[new]
    #[pyo3(signature = (manager, kind, name, arg=0))]
    fn new(manager: &Manager, kind: &str, name: &str, arg: u32) -> PyResult<Self> {
        let m = &manager.m;
        let obj = match kind {
            "Lock" => Sync::Lock(m.lock(name).map_err(errors::manager)?),
            "Event" => Sync::Event(m.event(name).map_err(errors::manager)?),
            "Semaphore" => Sync::Semaphore(m.semaphore(name, arg).map_err(errors::manager)?),
            "Barrier" => Sync::Barrier(m.barrier(name, arg).map_err(errors::manager)?),
            other => return Err(PyValueError::new_err(format!("unknown kind {other:?}"))),
        };
        Ok(SyncProxy {
            obj: ManuallyDrop::new(obj),
            kind: kind_name(kind),
            name: name.to_owned(),
            manager: manager.name.clone(),
            holder: AtomicU64::new(0),
            arg,
        })
    }

    /// Lock, semaphore: acquires, waiting if `block` (at most `timeout`
    /// seconds); whether it was acquired. A lock whose holder died is taken
    /// over. `blocking` is `threading`'s name for `block` (what a
    /// `multiprocessing` manager's lock takes); with it, a negative
    /// `timeout` (`threading`'s -1) waits without limit.
    #[pyo3(signature = (block=true, timeout=None, *, blocking=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        block: bool,
        timeout: Option<f64>,
        blocking: Option<bool>,
    ) -> PyResult<bool> {
        let (block, timeout) = match blocking {
            Some(b) => (b, timeout.filter(|t| *t >= 0.0)),
            None => (block, timeout),
        };
        let deadline = if block {
            blocking::deadline(timeout)?
        } else {
            Some(std::time::Instant::now())
        };
        match &*self.obj {
            Sync::Lock(lock) => {
                let me = this_thread();
                if self.holder.load(Ordering::Acquire) == me {
                    // A Lock is not re-entrant: as threading's, this thread
                    // cannot get it until it releases it. A blocking call
                    // would wait forever, so it is refused.
                    return match deadline {
                        None => Err(PyRuntimeError::new_err(
                            "this thread holds the lock already (a Lock is not re-entrant): acquiring it would wait forever",
                        )),
                        Some(d) => {
                            let left = d.saturating_duration_since(std::time::Instant::now());
                            if !left.is_zero() {
                                py.detach(|| std::thread::sleep(left));
                            }
                            Ok(false)
                        }
                    };
                }
                let got = try_wait(py, deadline, |slice| {
                    match lock.try_lock_for(slice) {
                        Some(guard) => {
                            // The lock stays held past this call; `release`
                            // unlocks it (see there).
                            std::mem::forget(guard);
                            true
                        }
                        None => false,
                    }
                })?;
                if got {
                    self.holder.store(me, Ordering::Release);
                }
                Ok(got)
            }
            Sync::Semaphore(s) => try_wait(py, deadline, |slice| s.acquire_for(slice).is_ok()),
            _ => Err(wrong_kind(self.kind, "acquire()")),
        }
    }

    /// Lock: releases (from the thread that acquired it); semaphore: adds
    /// `n`, refusing with `ValueError` (and adding nothing) if its value
    /// would pass `bound` (a `BoundedSemaphore`'s initial value).
    #[pyo3(signature = (n=1, *, bound=None))]
    fn release(&self, n: u32, bound: Option<u32>) -> PyResult<()> {
        match &*self.obj {
            Sync::Lock(lock) => {
                let me = this_thread();
                if self
                    .holder
                    .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    return Err(PyRuntimeError::new_err(
                        "release unlocked lock (or a lock acquired by another thread)",
                    ));
                }
                // SAFETY: `holder` said this thread acquired the lock through
                // this handle (`acquire` forgot the guard and recorded the
                // thread), and the compare-exchange above cleared it, so
                // this is the one unlock that pairs with that lock.
                #[allow(unsafe_code)]
                unsafe {
                    lock.force_unlock();
                }
                Ok(())
            }
            Sync::Semaphore(s) => {
                if n == 0 {
                    return Err(PyValueError::new_err("n must be one or more"));
                }
                let released = match bound {
                    Some(bound) => s.release_within(n, bound),
                    None => s.release(n),
                };
                released.map_err(|e| match e {
                    ipc_core::Error::InvalidArgument { .. } if bound.is_some() => {
                        PyValueError::new_err("Semaphore released too many times")
                    }
                    e => errors::core(e, errors::Dir::Send),
                })
            }
            _ => Err(wrong_kind(self.kind, "release()")),
        }
    }

    /// Lock: whether this thread (of this process) holds it through this
    /// handle (for `Condition`).
    fn _held_by_me(&self) -> PyResult<bool> {
        match &*self.obj {
            Sync::Lock(_) => Ok(self.holder.load(Ordering::Acquire) == this_thread()),
            _ => Err(wrong_kind(self.kind, "owner")),
        }
    }

    /// Event: sets it, waking every waiter.
    fn set(&self) -> PyResult<()> {
        self.event("set()")?.set();
        Ok(())
    }

    /// Event: clears it.
    fn clear(&self) -> PyResult<()> {
        self.event("clear()")?.clear();
        Ok(())
    }

    /// Event: whether it is set.
    fn is_set(&self) -> PyResult<bool> {
        Ok(self.event("is_set()")?.is_set())
    }

    /// Event: waits until set (at most `timeout` seconds); whether it is
    /// set. Barrier: waits for all parties and returns this party's place
    /// in the order of arrival (0 to parties - 1, as threading's);
    /// `threading.BrokenBarrierError` if broken or on timeout.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let deadline = blocking::deadline(timeout)?;
        match &*self.obj {
            Sync::Event(e) => {
                let set = try_wait(py, deadline, |slice| e.wait_for(slice).is_ok())?;
                Ok(set.into_pyobject(py)?.to_owned().into_any().unbind())
            }
            Sync::Barrier(b) => {
                // One arrival, then sleeps of a slice with the GIL released;
                // between them, signals are looked at (the GIL taken for
                // that). Ctrl-C breaks the round, so the other parties hear
                // it (BrokenBarrierError) instead of waiting for this one.
                let mut interrupted: Option<PyErr> = None;
                let r = py.detach(|| {
                    b.wait_checking(deadline, blocking::SLICE, || {
                        Python::attach(|py| match py.check_signals() {
                            Ok(()) => false,
                            Err(e) => {
                                interrupted = Some(e);
                                true
                            }
                        })
                    })
                });
                if let Some(e) = interrupted {
                    return Err(e);
                }
                match r {
                    Ok(w) => Ok(w.index().into_pyobject(py)?.into_any().unbind()),
                    Err(e) => {
                        let broken = py.import("threading")?.getattr("BrokenBarrierError")?;
                        Err(PyErr::from_value(broken.call1((e.to_string(),))?))
                    }
                }
            }
            _ => Err(wrong_kind(self.kind, "wait()")),
        }
    }

    /// Barrier: breaks it (waiters get `BrokenBarrierError`).
    fn abort(&self) -> PyResult<()> {
        self.barrier("abort()")?.abort();
        Ok(())
    }

    /// Barrier: back to its initial state.
    fn reset(&self) -> PyResult<()> {
        self.barrier("reset()")?.reset();
        Ok(())
    }

    /// Barrier: the number of parties.
    #[getter]
    fn parties(&self) -> PyResult<u32> {
        Ok(self.barrier("parties")?.parties())
    }

    /// Barrier: how many parties wait in the current round.
    #[getter]
    fn n_waiting(&self) -> PyResult<u32> {
        Ok(self.barrier("n_waiting")?.waiting())
    }

    /// Barrier: whether it is broken.
    #[getter]
    fn broken(&self) -> PyResult<bool> {
        Ok(self.barrier("broken")?.is_broken())
    }

    /// Semaphore: its current value.
    fn get_value(&self) -> PyResult<u32> {
        match &*self.obj {
            Sync::Semaphore(s) => Ok(s.value()),
            _ => Err(wrong_kind(self.kind, "get_value()")),
        }
    }

    /// "Lock", "Event", "Semaphore" or "Barrier".
    #[getter]
    fn kind(&self) -> &str {
        self.kind
    }

    /// The object's name in its manager.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The manager's name.
    #[getter]
    fn manager(&self) -> &str {
        &self.manager
    }

    /// The creation argument (a semaphore's value, a barrier's parties).
    #[getter]
    fn arg(&self) -> u32 {
        self.arg
    }
}

/// Calls `attempt(slice)` with the GIL released until it returns true or
/// `deadline` passes (then `false`); signals are checked between slices.
fn try_wait(
    py: Python<'_>,
    deadline: Option<std::time::Instant>,
    attempt: impl Fn(Duration) -> bool + Send + std::marker::Sync,
) -> PyResult<bool> {
    if attempt(Duration::ZERO) {
        return Ok(true);
    }
    let r: PyResult<()> = blocking::wait_in_slices(
        py,
        deadline,
        |slice| {
            if attempt(slice) {
                Step::Done(Ok::<(), ()>(()))
            } else {
                Step::Again
            }
        },
        || PyRuntimeError::new_err("timed out"),
        |()| PyRuntimeError::new_err("unreachable"),
    );
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.is_instance_of::<PyRuntimeError>(py) => Ok(false),
        Err(e) => Err(e),
    }
}
