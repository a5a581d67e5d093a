//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::process::Process;
use ipc_core::segment::{SegmentOptions, Shared};

/// A name no other test (or earlier run) uses.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "ipc-test-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Anonymous shared slots a forked child can report through.
pub fn slots<const N: usize>() -> Shared<[AtomicU64; N]> {
    Shared::create(
        &SegmentOptions::anonymous(),
        std::array::from_fn(|_| AtomicU64::new(0)),
    )
    .unwrap()
}

/// Polls `cond` until it holds or `timeout` passes (sleeping, never spinning).
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A forked child that is killed if the test fails before joining it.
pub fn daemon(f: impl FnOnce() + 'static) -> Process {
    Process::builder().daemon(true).spawn(f).unwrap()
}

/// Sleeps "forever" (bounded, so a lost child still goes away eventually).
pub fn park() -> ! {
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::process::exit(99)
}

/// Generous upper bound for "promptly" on a shared, noisy two-core machine.
pub const PROMPT: Duration = Duration::from_secs(5);
