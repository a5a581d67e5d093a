//! Toolkit errors as Python exceptions.
//!
//! The exceptions are the ones multiprocessing's users already catch:
//! `queue.Empty` and `queue.Full`, `EOFError` for a receive whose peer is
//! gone, `BrokenPipeError` for a send, `TimeoutError`, `ValueError` for a
//! message over the size limit, `TypeError` for a value of the wrong type.
//! A queue's "gone" errors are both: `ipc_toolkit.ProducersGone` is an
//! `EOFError` and a `queue.Empty`, `ipc_toolkit.ConsumersGone` a
//! `BrokenPipeError` and a `queue.Full`, so the `except queue.Empty:` loops
//! written for `multiprocessing` end where they would otherwise never hear
//! that nobody is left to put (a connection raises the plain `EOFError` and
//! `BrokenPipeError`, as `multiprocessing.connection` does).
//! What has no Python counterpart is an `ipc_toolkit.Error` (an `OSError`):
//! `CorruptionError` for shared memory another process scribbled over, and
//! the segment errors (a name that exists, permission denied, ...), which
//! carry their errno where there is one.

use pyo3::exceptions::{
    PyBrokenPipeError, PyEOFError, PyFileExistsError, PyFileNotFoundError, PyIndexError,
    PyPermissionError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(
    ipc_toolkit,
    Error,
    pyo3::exceptions::PyOSError,
    "An error of the toolkit's shared memory with no built-in Python counterpart."
);
pyo3::create_exception!(
    ipc_toolkit,
    CorruptionError,
    Error,
    "Shared memory that fails its checks: another process wrote over it."
);
pyo3::import_exception!(queue, Empty);
pyo3::import_exception!(queue, Full);

/// `ProducersGone` and `ConsumersGone`: classes with two bases, which
/// `create_exception!` cannot make, so they are made by calling `type`.
static PRODUCERS_GONE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONSUMERS_GONE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The class of a queue's "gone" error for a call going `dir`:
/// `ProducersGone` (an `EOFError` and a `queue.Empty`) for a get,
/// `ConsumersGone` (a `BrokenPipeError` and a `queue.Full`) for a put.
/// Made once per process by calling `type` with the two bases.
fn queue_gone_class(py: Python<'_>, dir: Dir) -> PyResult<&Bound<'_, PyType>> {
    let (cell, name, bases, doc) = match dir {
        Dir::Recv => (
            &PRODUCERS_GONE,
            "ProducersGone",
            [py.get_type::<PyEOFError>(), py.get_type::<Empty>()],
            "A get from an empty queue whose producers are all gone (closed, exited or \
             killed): nothing more will come. Both an EOFError and a queue.Empty.",
        ),
        Dir::Send => (
            &CONSUMERS_GONE,
            "ConsumersGone",
            [py.get_type::<PyBrokenPipeError>(), py.get_type::<Full>()],
            "A put to a queue whose consumers are all gone (closed, exited or killed): \
             nobody would take the message. Both a BrokenPipeError and a queue.Full.",
        ),
    };
    cell.get_or_try_init(py, || {
        let namespace = PyDict::new(py);
        namespace.set_item("__doc__", doc)?;
        namespace.set_item("__module__", "ipc_toolkit")?;
        let class = py
            .get_type::<PyType>()
            .call1((name, PyTuple::new(py, bases)?, namespace))?;
        Ok(class.cast_into::<PyType>()?.unbind())
    })
    .map(|t| t.bind(py))
}

/// Adds the module's own exception types.
pub(crate) fn add_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("CorruptionError", py.get_type::<CorruptionError>())?;
    m.add("ProducersGone", queue_gone_class(py, Dir::Recv)?)?;
    m.add("ConsumersGone", queue_gone_class(py, Dir::Send)?)?;
    Ok(())
}

/// Which way a queue or connection call was going, for `Disconnected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// A receive: the peer that would send is gone (`EOFError`).
    Recv,
    /// A send: the peer that would receive is gone (`BrokenPipeError`).
    Send,
}

/// A core error (segments, locks, processes) as a Python exception.
pub(crate) fn core(e: ipc_core::Error, dir: Dir) -> PyErr {
    use ipc_core::Error as E;
    let msg = e.to_string();
    match e {
        E::Timeout => PyTimeoutError::new_err(msg),
        E::Disconnected => disconnected(dir),
        E::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        E::AlreadyExists { .. } => PyFileExistsError::new_err(msg),
        E::PermissionDenied { .. } => PyPermissionError::new_err(msg),
        E::InvalidName { .. } | E::InvalidSize { .. } | E::InvalidArgument { .. } => {
            PyValueError::new_err(msg)
        }
        E::WrongKind { .. } | E::WrongType { .. } => PyTypeError::new_err(msg),
        E::CorruptHeader { .. } | E::Corrupted { .. } => CorruptionError::new_err(msg),
        ref other => match other.errno() {
            Some(errno) => Error::new_err((errno, msg)),
            None => Error::new_err(msg),
        },
    }
}

/// The exception for a peer that is gone.
pub(crate) fn disconnected(dir: Dir) -> PyErr {
    match dir {
        Dir::Recv => PyEOFError::new_err(disconnected_message(dir)),
        Dir::Send => PyBrokenPipeError::new_err(disconnected_message(dir)),
    }
}

/// A queue's error as a Python exception: as [`queue`], but a peer that is
/// gone is `ProducersGone` or `ConsumersGone`.
pub(crate) fn for_queue(e: ipc_queue::Error, dir: Dir) -> PyErr {
    let gone = matches!(
        e,
        ipc_queue::Error::Disconnected | ipc_queue::Error::Core(ipc_core::Error::Disconnected)
    );
    if !gone {
        return queue(e, dir);
    }
    queue_gone(dir)
}

/// The exception for a queue whose other side is gone.
pub(crate) fn queue_gone(dir: Dir) -> PyErr {
    Python::attach(|py| match queue_gone_class(py, dir) {
        Ok(class) => PyErr::from_type(class.clone(), disconnected_message(dir)),
        Err(e) => e,
    })
}

fn disconnected_message(dir: Dir) -> &'static str {
    match dir {
        Dir::Recv => "the sending side is gone (closed, exited or killed)",
        Dir::Send => "the receiving side is gone (closed, exited or killed)",
    }
}

/// A pipe's (or a manager's) error as a Python exception.
pub(crate) fn queue(e: ipc_queue::Error, dir: Dir) -> PyErr {
    use ipc_queue::Error as E;
    let msg = e.to_string();
    match e {
        E::Full => Full::new_err(()),
        E::Empty => Empty::new_err(()),
        E::Timeout => PyTimeoutError::new_err(msg),
        E::Disconnected => disconnected(dir),
        E::TooLarge { .. } | E::WrongSize { .. } | E::BufferTooSmall { .. } => {
            PyValueError::new_err(msg)
        }
        E::Encode { .. } | E::Decode { .. } => PyValueError::new_err(msg),
        E::InUse { .. } => Error::new_err(msg),
        E::Core(c) => core(c, dir),
        other => Error::new_err(other.to_string()),
    }
}

/// A manager error as a Python exception.
pub(crate) fn manager(e: ipc_manager::Error) -> PyErr {
    use ipc_manager::Error as E;
    let msg = e.to_string();
    match e {
        E::KeyTooLarge { .. } | E::ValueTooLarge { .. } | E::InvalidName { .. } => {
            PyValueError::new_err(msg)
        }
        E::WrongType { .. } | E::WrongKind { .. } => PyTypeError::new_err(msg),
        E::IndexOutOfRange { .. } => PyIndexError::new_err(msg),
        E::Corrupted { .. } => CorruptionError::new_err(msg),
        E::Core(c) => core(c, Dir::Recv),
        other => Error::new_err(other.to_string()),
    }
}
