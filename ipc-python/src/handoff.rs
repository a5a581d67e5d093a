//! Hand-offs still pending, as the blocking calls see them.
//!
//! An object pickled for another process is kept by the Python side
//! (`_handoff.py`) until that process opens it, or until it is seen to
//! have exited without doing so (then the place held for it is given back,
//! and a pipe end handed to it is closed, so the other side hears "gone").
//! A process blocked in `get` or `recv` must see that happen: while any
//! hand-off is pending, the blocking loops call the Python side's `prune`
//! between their wait slices.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;

static PENDING: AtomicBool = AtomicBool::new(false);

/// Called by `_handoff.py` when its list becomes non-empty or empty.
#[pyfunction]
pub(crate) fn _set_handoffs_pending(pending: bool) {
    PENDING.store(pending, Ordering::Relaxed);
}

/// Between two wait slices: lets the Python side look at pending
/// hand-offs, if there are any (one relaxed load otherwise).
pub(crate) fn prune_if_pending(py: Python<'_>) -> PyResult<()> {
    if PENDING.load(Ordering::Relaxed) {
        py.import("ipc_toolkit._handoff")?.call_method0("prune")?;
    }
    Ok(())
}
