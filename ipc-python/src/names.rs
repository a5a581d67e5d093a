//! Names of the shared objects Python creates.
//!
//! Every object a Python program creates is named (not anonymous), so that
//! pickling it (`Process(args=(q,))` under the `spawn` start method) can
//! carry the name and the child re-open the same object. The creator's
//! handle removes the name when it is dropped (the segments' default);
//! processes that opened it keep their mapping. A creator killed leaves the
//! name behind, which `ipc clean` removes once no process uses it.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;

/// A fresh object name: `ipct-<kind>-<pid>-<n>-<random>`, unique among the
/// live processes of this host (the pid), within this process (the
/// counter) and across a pid's reuse (the random part).
#[pyfunction]
pub(crate) fn unique_name(kind: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // A cheap mix of the clock and the counter: not a secret, only a
    // guard against a reused pid meeting a stale name.
    let salt = (u64::from(nanos) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & 0xffff_ffff;
    format!("ipct-{kind}-{}-{n}-{salt:08x}", std::process::id())
}
