//! How a Python object becomes a frame, and back.
//!
//! A frame sent by `put` or `send` is one tag byte and a body:
//!
//! | tag | body                     | Python value            |
//! |-----|--------------------------|-------------------------|
//! | `B` | the bytes                | `bytes` (and `memoryview`, which arrives as `bytes`) |
//! | `A` | the bytes                | `bytearray`             |
//! | `I` | 8 bytes, little-endian   | `int` within 64 bits    |
//! | `F` | 8 bytes, IEEE-754        | `float`                 |
//! | `S` | UTF-8                    | `str`                   |
//! | `N`, `t`, `f` | none           | `None`, `True`, `False` |
//! | `P` | a pickle (protocol 5)    | anything else           |
//! | `O` | a pickle and its out-of-band buffers | an object pickle 5 gives buffers for (a numpy array) |
//!
//! An `O` frame (built by the Python side, `queues.py`, straight into a
//! loaned slot) is laid out as: the tag and 3 zero bytes, the buffer count
//! `n` (u32), the pickle's length (u64), the `n` buffers' lengths (u64
//! each), then the pickle and each buffer, each starting at a multiple of
//! 8 bytes from the frame's start (all integers little-endian). A `get`
//! copies each buffer out into a `bytearray` (one copy: no pickle copy);
//! `Queue.get_shared` hands out views of them where they lie.
//!
//! A `Connection` sends an object whose frame is bigger than the pipe's
//! largest frame in parts, which only a `Connection` reads:
//!
//! | tag | body                     | meaning                 |
//! |-----|--------------------------|-------------------------|
//! | `M` | 8 bytes, little-endian: the whole frame's length | a multi-part frame follows |
//! | `m` | the next piece of the frame | a part                |
//! | `x` | none                     | the multi-part frame in progress is abandoned (its sender was interrupted) |
//!
//! A pipe direction has one sender, so the parts of one frame are never
//! mixed with other frames: after an `M`, the receiver reads `m` parts
//! until it has the whole frame, or an `x`. A sender interrupted between
//! parts (Ctrl-C, a full pipe's timeout) sends the `x` before its next
//! frame; a receiver interrupted keeps what it has and goes on at its next
//! `recv`. A sender that dies between parts leaves a frame that is never
//! completed: the receiver hears `EOFError`, never a torn object.
//!
//! Bytes go in as they are, without pickling; the scalars skip pickle's
//! framing too (a pickled `int` is 14 bytes and a call to `pickle.dumps`
//! and `pickle.loads`). Raw frames, without a tag, are what `put_bytes`,
//! `send_bytes` and Rust's `put_bytes` exchange; reading one with `get` is
//! refused with a `ValueError` unless it happens to start with a tag.
//!
//! As in `multiprocessing`, unpickling a message runs code its sender
//! chose: exchange pickles only with processes you trust.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString,
};

const TAG_BYTES: u8 = b'B';
const TAG_BYTEARRAY: u8 = b'A';
const TAG_INT: u8 = b'I';
const TAG_FLOAT: u8 = b'F';
const TAG_STR: u8 = b'S';
const TAG_NONE: u8 = b'N';
const TAG_TRUE: u8 = b't';
const TAG_FALSE: u8 = b'f';
const TAG_PICKLE: u8 = b'P';
const TAG_OUT_OF_BAND: u8 = b'O';
/// A multi-part frame's header (see the module docs).
const TAG_MULTI: u8 = b'M';
/// A part of a multi-part frame.
pub(crate) const TAG_PART: u8 = b'm';
/// The multi-part frame in progress is abandoned.
pub(crate) const TAG_ABORT: u8 = b'x';

/// The header frame of a multi-part frame of `total` bytes.
pub(crate) fn multi_header(total: usize) -> [u8; 9] {
    let mut h = [0; 9];
    h[0] = TAG_MULTI;
    h[1..].copy_from_slice(&(total as u64).to_le_bytes());
    h
}

/// The length a multi-part header announces, if `frame` is one.
pub(crate) fn multi_total(frame: &[u8]) -> Option<usize> {
    match frame.split_first() {
        Some((&TAG_MULTI, len)) => usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok(),
        _ => None,
    }
}

/// A multi-part frame being received: what came so far.
pub(crate) struct Reassembly {
    total: usize,
    buf: Vec<u8>,
}

/// What a frame read during a [`Reassembly`] did to it.
pub(crate) enum Step {
    /// A part; more are to come.
    More,
    /// The last part: the whole frame.
    Done(Vec<u8>),
    /// The sender abandoned the frame.
    Abandoned,
}

impl Reassembly {
    /// The frame a header announced (the buffer grows as parts come, so a
    /// damaged header cannot make it allocate its claim at once).
    pub(crate) fn new(total: usize) -> Self {
        Self {
            total,
            buf: Vec::new(),
        }
    }

    /// Takes the next frame of the sequence.
    pub(crate) fn add(&mut self, frame: &[u8]) -> PyResult<Step> {
        match frame.split_first() {
            Some((&TAG_PART, piece)) if self.buf.len() + piece.len() <= self.total => {
                self.buf.extend_from_slice(piece);
                if self.buf.len() == self.total {
                    Ok(Step::Done(std::mem::take(&mut self.buf)))
                } else {
                    Ok(Step::More)
                }
            }
            Some((&TAG_ABORT, [])) => Ok(Step::Abandoned),
            _ => Err(not_ours("a multi-part frame whose parts do not add up")),
        }
    }
}

/// The pickle protocol used (5: out-of-band buffers exist, and it is
/// what `multiprocessing` uses on Python 3.8+).
const PICKLE_PROTOCOL: u8 = 5;

static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `pickle.dumps(obj, 5)`.
pub(crate) fn dumps<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    let dumps = DUMPS.import(py, "pickle", "dumps")?;
    Ok(dumps.call1((obj, PICKLE_PROTOCOL))?.cast_into()?)
}

/// `pickle.loads(data)`.
pub(crate) fn loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let loads = LOADS.import(py, "pickle", "loads")?;
    loads.call1((PyBytes::new(py, data),))
}

/// The parts of an out-of-band frame (see the module docs): the pickle
/// and the buffers, or `None` if the frame is malformed.
pub(crate) fn split_out_of_band(frame: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    let u64_at = |at: usize| -> Option<usize> {
        let b = frame.get(at..at.checked_add(8)?)?;
        usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok()
    };
    if frame.first() != Some(&TAG_OUT_OF_BAND) {
        return None;
    }
    let n = u32::from_le_bytes(frame.get(4..8)?.try_into().ok()?) as usize;
    let main_len = u64_at(8)?;
    let header = n.checked_mul(8)?.checked_add(16)?;
    let mut at = header.next_multiple_of(8);
    let main = frame.get(at..at.checked_add(main_len)?)?;
    at = (at + main_len).next_multiple_of(8);
    let mut buffers = Vec::with_capacity(n.min(1024));
    for i in 0..n {
        let len = u64_at(16 + 8 * i)?;
        buffers.push(frame.get(at..at.checked_add(len)?)?);
        at = at.checked_add(len)?.next_multiple_of(8);
    }
    Some((main, buffers))
}

/// An object encoded: a head (the tag, and a scalar's bytes) and a body
/// borrowed from a Python `bytes` object where there is one.
pub(crate) struct Frame<'py> {
    head: [u8; 9],
    head_len: usize,
    body: Option<Bound<'py, PyBytes>>,
}

impl<'py> Frame<'py> {
    fn tag_only(tag: u8) -> Self {
        let mut head = [0; 9];
        head[0] = tag;
        Frame {
            head,
            head_len: 1,
            body: None,
        }
    }

    fn scalar(tag: u8, bytes: [u8; 8]) -> Self {
        let mut head = [0; 9];
        head[0] = tag;
        head[1..].copy_from_slice(&bytes);
        Frame {
            head,
            head_len: 9,
            body: None,
        }
    }

    fn with_body(tag: u8, body: Bound<'py, PyBytes>) -> Self {
        let mut f = Frame::tag_only(tag);
        f.body = Some(body);
        f
    }

    /// The frame's two parts, to be written one after the other.
    pub(crate) fn parts(&self) -> (&[u8], &[u8]) {
        let body = self.body.as_ref().map_or(&[][..], |b| b.as_bytes());
        (&self.head[..self.head_len], body)
    }

    /// The frame's length in bytes.
    pub(crate) fn len(&self) -> usize {
        let (h, b) = self.parts();
        h.len() + b.len()
    }

    /// Writes the frame into `dst` (exactly [`len`](Self::len) bytes long).
    pub(crate) fn write_to(&self, dst: &mut [u8]) {
        let (h, b) = self.parts();
        write_parts(dst, h, b);
    }
}

/// Writes a frame's two parts (see [`Frame::parts`]) one after the other
/// into `dst`, which holds at least both.
pub(crate) fn write_parts(dst: &mut [u8], head: &[u8], body: &[u8]) {
    dst[..head.len()].copy_from_slice(head);
    dst[head.len()..head.len() + body.len()].copy_from_slice(body);
}

/// The frame of `obj` if it is bytes or a plain scalar (not pickled).
fn encode_plain<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Frame<'py>>> {
    if let Ok(b) = obj.cast_exact::<PyBytes>() {
        return Ok(Some(Frame::with_body(TAG_BYTES, b.clone())));
    }
    if obj.is_exact_instance_of::<PyInt>()
        && let Ok(v) = obj.extract::<i64>()
    {
        return Ok(Some(Frame::scalar(TAG_INT, v.to_le_bytes())));
    }
    if obj.is_exact_instance_of::<PyString>() {
        // A str with a lone surrogate has no UTF-8: pickle carries it.
        if let Ok(utf8) = obj.cast::<PyString>()?.encode_utf8() {
            return Ok(Some(Frame::with_body(TAG_STR, utf8)));
        }
        return Ok(None);
    }
    if obj.is_none() {
        return Ok(Some(Frame::tag_only(TAG_NONE)));
    }
    if let Ok(b) = obj.cast_exact::<PyBool>() {
        return Ok(Some(Frame::tag_only(if b.is_true() {
            TAG_TRUE
        } else {
            TAG_FALSE
        })));
    }
    if let Ok(f) = obj.cast_exact::<PyFloat>() {
        return Ok(Some(Frame::scalar(TAG_FLOAT, f.value().to_le_bytes())));
    }
    if let Ok(a) = obj.cast_exact::<PyByteArray>() {
        let copy = PyBytes::new(obj.py(), &a.to_vec());
        return Ok(Some(Frame::with_body(TAG_BYTEARRAY, copy)));
    }
    if obj.is_exact_instance_of::<PyMemoryView>() {
        let copy = obj.call_method0("tobytes")?.cast_into::<PyBytes>()?;
        return Ok(Some(Frame::with_body(TAG_BYTES, copy)));
    }
    Ok(None)
}

/// Encodes `obj` as a tagged frame (see the module docs), pickled in band
/// unless it is bytes or a plain scalar.
pub(crate) fn encode<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Frame<'py>> {
    match encode_plain(obj)? {
        Some(frame) => Ok(frame),
        None => Ok(Frame::with_body(TAG_PICKLE, dumps(obj)?)),
    }
}

/// An object as a queue sends it: a frame, or a pickle whose out-of-band
/// buffers (a numpy array's data) are to be copied into the slot as they
/// are, without a pickle copy.
pub(crate) enum Encoded<'py> {
    Frame(Frame<'py>),
    OutOfBand {
        pickle: Bound<'py, PyBytes>,
        buffers: Bound<'py, PyList>,
    },
}

/// [`encode`], with pickle's out-of-band buffers kept apart: the one
/// pickling pass hands them to a callback instead of copying them in.
pub(crate) fn encode_out_of_band<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Encoded<'py>> {
    if let Some(frame) = encode_plain(obj)? {
        return Ok(Encoded::Frame(frame));
    }
    let py = obj.py();
    let buffers = PyList::empty(py);
    let kwargs = PyDict::new(py);
    kwargs.set_item("buffer_callback", buffers.getattr("append")?)?;
    let dumps = DUMPS.import(py, "pickle", "dumps")?;
    let pickle: Bound<'py, PyBytes> = dumps
        .call((obj, PICKLE_PROTOCOL), Some(&kwargs))?
        .cast_into()?;
    if buffers.is_empty() {
        return Ok(Encoded::Frame(Frame::with_body(TAG_PICKLE, pickle)));
    }
    Ok(Encoded::OutOfBand { pickle, buffers })
}

/// Decodes a tagged frame back into a Python object.
pub(crate) fn decode<'py>(py: Python<'py>, frame: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let Some((&tag, body)) = frame.split_first() else {
        return Err(not_ours("an empty frame"));
    };
    let scalar = || -> PyResult<[u8; 8]> {
        body.try_into()
            .map_err(|_| not_ours("a scalar frame of the wrong length"))
    };
    Ok(match tag {
        TAG_BYTES => PyBytes::new(py, body).into_any(),
        TAG_BYTEARRAY => PyByteArray::new(py, body).into_any(),
        TAG_INT => i64::from_le_bytes(scalar()?).into_pyobject(py)?.into_any(),
        TAG_FLOAT => PyFloat::new(py, f64::from_le_bytes(scalar()?)).into_any(),
        TAG_STR => {
            let s =
                std::str::from_utf8(body).map_err(|_| not_ours("a str frame that is not UTF-8"))?;
            PyString::new(py, s).into_any()
        }
        TAG_NONE if body.is_empty() => py.None().into_bound(py),
        TAG_TRUE if body.is_empty() => PyBool::new(py, true).to_owned().into_any(),
        TAG_FALSE if body.is_empty() => PyBool::new(py, false).to_owned().into_any(),
        TAG_PICKLE => loads(py, body)?,
        TAG_OUT_OF_BAND => {
            let (main, buffers) = split_out_of_band(frame)
                .ok_or_else(|| not_ours("a malformed out-of-band frame"))?;
            let copies = PyList::empty(py);
            for b in buffers {
                copies.append(PyByteArray::new(py, b))?;
            }
            let loads = LOADS.import(py, "pickle", "loads")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("buffers", copies)?;
            loads.call((PyBytes::new(py, main),), Some(&kwargs))?
        }
        _ => return Err(not_ours("an unknown tag")),
    })
}

fn not_ours(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "not a message encoded by ipc_toolkit ({what}); raw frames (put_bytes, send_bytes, a Rust put_bytes) are read with get_bytes or recv_bytes"
    ))
}
