//! The one `pthread_atfork` registration of the toolkit, and the per-process
//! facts it keeps true across `fork`: the cached pid, how many times this
//! process has forked, and how many forks separate it from the process that
//! first loaded the toolkit.
//!
//! The handlers only store to atomics and call `getpid`, which are
//! async-signal-safe, as handlers run in a child of a multi-threaded parent
//! must be. Registration happens on the first call of any accessor below:
//! forks made before the toolkit was first used are not counted, and need not
//! be (nothing recorded a fork count before them).

use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

static PID: AtomicU32 = AtomicU32::new(0);
static FORKS_MADE: AtomicU64 = AtomicU64::new(0);
static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_parent() {
    FORKS_MADE.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    PID.store(super::process::getpid(), Ordering::Relaxed);
}

#[inline]
fn watch() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        PID.store(super::process::getpid(), Ordering::Relaxed);
        // SAFETY: registers two plain `extern "C" fn`s with no captured state
        // whose bodies are async-signal-safe (see the module docs).
        unsafe { libc::pthread_atfork(None, Some(in_parent), Some(in_child)) };
    });
}

/// The calling process's pid, refreshed in every forked child.
#[inline]
pub(crate) fn pid() -> u32 {
    watch();
    PID.load(Ordering::Relaxed)
}

/// How many times this process has forked (counted in the parent).
#[inline]
pub(crate) fn forks_made() -> u64 {
    watch();
    FORKS_MADE.load(Ordering::Relaxed)
}

/// A number that grows in each forked child (counted in the child).
#[inline]
pub(crate) fn generation() -> u64 {
    watch();
    GENERATION.load(Ordering::Relaxed)
}
