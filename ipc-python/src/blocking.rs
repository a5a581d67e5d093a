//! Blocking calls from Python: in slices, with the GIL released.
//!
//! A call that may wait (a `get`, a `recv`, a lock's `acquire`) waits in
//! slices of at most [`SLICE`], with the GIL released so other Python
//! threads run, and checks for signals between slices: Ctrl-C interrupts a
//! `q.get()` as it interrupts `multiprocessing`'s, with `KeyboardInterrupt`.

use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// The longest a call waits without looking at signals.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// A Python `timeout` argument: `None` waits forever; negative counts as 0
/// (as in `multiprocessing`).
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() => Err(pyo3::exceptions::PyValueError::new_err(
            "timeout must be a number",
        )),
        Some(t) => {
            let d = Duration::try_from_secs_f64(t.max(0.0)).unwrap_or(Duration::MAX);
            Ok(Some(
                Instant::now().checked_add(d).unwrap_or_else(far_future),
            ))
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// What one attempt of a blocking call did.
pub(crate) enum Step<R> {
    /// Finished (with a value or an error for Python).
    Done(R),
    /// The slice ran out; try again if time remains.
    Again,
}

/// Runs `attempt(slice)` with the GIL released until it is done or
/// `deadline` passes (`on_timeout` then); signals are checked between
/// slices.
pub(crate) fn wait_in_slices<R, E>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(Duration) -> Step<Result<R, E>> + Send,
    on_timeout: impl FnOnce() -> PyErr,
    to_py: impl Fn(E) -> PyErr,
) -> PyResult<R>
where
    R: Send,
    E: Send,
{
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(on_timeout());
                }
                left.min(SLICE)
            }
        };
        match py.detach(|| attempt(slice)) {
            Step::Done(r) => return r.map_err(to_py),
            Step::Again => {
                py.check_signals()?;
                crate::handoff::prune_if_pending(py)?;
            }
        }
    }
}
