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
        "ipcmgr-test-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(unique_name(tag));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Anonymous shared counters a forked child can report through.
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
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// A forked child that is killed if the test fails before joining it.
pub fn daemon(f: impl FnOnce() + 'static) -> Process {
    Process::builder().daemon(true).spawn(f).unwrap()
}

/// Joins a child and asserts it succeeded.
pub fn join_ok(p: Process) {
    let status = p.join_timeout(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "child failed: {status:?}");
}

/// A small deterministic PRNG (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Generous upper bound for "promptly" on a shared, noisy two-core machine.
pub const PROMPT: Duration = Duration::from_secs(10);
