//! Toolkit errors as Python exceptions.
//!
//! The exceptions are the ones multiprocessing's users already catch:
//! `queue.Empty` and `queue.Full`, `EOFError` for a receive whose peer is
//! gone, `BrokenPipeError` for a send, `TimeoutError`, `ValueError` for a
//! message over the size limit, `TypeError` for a value of the wrong type.
//! What has no Python counterpart is an `ipc_toolkit.Error` (an `OSError`):
//! `CorruptionError` for shared memory another process scribbled over, and
//! the segment errors (a name that exists, permission denied, ...), which
//! carry their errno where there is one.

use pyo3::exceptions::{
    PyBrokenPipeError, PyEOFError, PyFileExistsError, PyFileNotFoundError, PyIndexError,
    PyPermissionError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

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

/// Adds the module's own exception types.
pub(crate) fn add_exceptions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("CorruptionError", m.py().get_type::<CorruptionError>())?;
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
        Dir::Recv => PyEOFError::new_err("the sending side is gone (closed, exited or killed)"),
        Dir::Send => {
            PyBrokenPipeError::new_err("the receiving side is gone (closed, exited or killed)")
        }
    }
}

/// A queue or pipe error as a Python exception.
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
