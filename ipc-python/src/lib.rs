//! The native half of the Python package `ipc_toolkit` (imported as
//! `ipc_toolkit._native`): multiprocessing's Queue, Pipe and Manager over
//! the toolkit's shared memory.
//!
//! The Python half (`python/ipc_toolkit/`) subclasses these classes to add
//! what is plain Python (pickling support, the Manager's context manager,
//! `connection.wait`); every call on a hot path (`put`, `get`, `send`,
//! `recv`, a dict lookup) is one call into Rust, with the GIL released
//! whenever it may block.
//!
//! Layers, bottom up (a file imports only from below it):
//! - `errors`: toolkit errors as Python exceptions;
//! - `codec`: how a Python object becomes a frame (tagged: bytes and small
//!   scalars as they are, everything else pickled) and back;
//! - `handoff`: pending hand-offs, looked at between wait slices;
//! - `blocking`: waits in slices, with the GIL released and signals
//!   (Ctrl-C) checked between slices;
//! - `queue`, `connection`, `manager`: the classes.
//!
//! `unsafe` is denied but for five blocks, each argued where it stands:
//! two borrow a `bytearray`'s storage for one copy while the GIL is held,
//! two unlock a manager lock this thread is recorded as holding, one drops
//! a lock handle by hand (or leaks it, mapping and all, while another
//! thread holds the lock).
#![deny(unsafe_code)]

mod blocking;
mod codec;
mod connection;
mod errors;
mod handoff;
mod manager;
mod names;
mod notifier;
mod queue;

use pyo3::prelude::*;

/// The module `ipc_toolkit._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<queue::Queue>()?;
    m.add_class::<queue::HeldMessage>()?;
    m.add_class::<queue::LoanedSlot>()?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<connection::PipeEnds>()?;
    m.add_function(wrap_pyfunction!(connection::wait_ready, m)?)?;
    m.add_class::<manager::Manager>()?;
    m.add_class::<manager::DictProxy>()?;
    m.add_class::<manager::ValueProxy>()?;
    m.add_class::<manager::SyncProxy>()?;
    m.add_function(wrap_pyfunction!(names::unique_name, m)?)?;
    m.add_function(wrap_pyfunction!(handoff::_set_handoffs_pending, m)?)?;
    errors::add_exceptions(m)?;
    Ok(())
}
