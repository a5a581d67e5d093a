//! LMDB, the memory-mapped key-value store processes share through a file:
//! the closest peer of the Manager dict. Through the `heed` crate, on
//! `/dev/shm` (a tmpfs, like the manager's segments), with the manager rows'
//! 10 000 keys (16 bytes) and 8-byte values. Another process reads or
//! writes, as in the manager rows: gets in one long read transaction
//! (LMDB's fastest way to read), sets each in a write transaction of its
//! own (as a `Dict::insert` commits each), and sets 1000 to a transaction.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions};
use ipc_core::segment::{SegmentOptions, Shared};

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::keys::{key, pick};
use crate::rows::kit::peer;

pub const GROUP: Group = Group {
    name: "lmdb",
    kind: Kind::Peer,
};

const KEYS: u64 = 10_000;

pub fn benches() -> Vec<Bench> {
    let row = |id, iters: (u64, u64), about, sample| Bench {
        id,
        group: &GROUP,
        workload: Workload::DictGet,
        metric: Metric::OpsPerS,
        iters: Iters {
            full: iters.0,
            quick: iters.1,
        },
        compare_to: &[],
        about,
        sample,
    };
    vec![
        row(
            "lmdb_get_8B",
            (2_000_000, 50_000),
            "LMDB (heed) on /dev/shm, another process: gets in one read transaction",
            get,
        ),
        row(
            "lmdb_set_8B",
            (20_000, 500),
            "LMDB (heed) on /dev/shm, another process: each put in its own write transaction",
            set_one,
        ),
        row(
            "lmdb_set_8B_batch1000",
            (500_000, 20_000),
            "LMDB (heed) on /dev/shm, another process: 1000 puts per write transaction",
            set_batched,
        ),
    ]
}

fn failed(what: &str, e: impl std::fmt::Display) -> SampleError {
    SampleError::failed(format!("lmdb {what}: {e}"))
}

/// An LMDB environment in a fresh directory under `/dev/shm`, removed when
/// dropped.
struct Store {
    dir: PathBuf,
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Store {
    /// A new store with the keys loaded.
    fn loaded() -> Result<Store, SampleError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = PathBuf::from(format!(
            "/dev/shm/ipc-bench-lmdb-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| failed("mkdir", e))?;
        let store = Store { dir };
        let (env, db) = store.open()?;
        let mut wtxn = env.write_txn().map_err(|e| failed("write txn", e))?;
        for i in 0..KEYS {
            db.put(&mut wtxn, &key(i), &i.to_le_bytes())
                .map_err(|e| failed("put", e))?;
        }
        wtxn.commit().map_err(|e| failed("commit", e))?;
        Ok(store)
    }

    /// Opens the environment (in the process that uses it: LMDB handles do
    /// not survive a fork).
    fn open(&self) -> Result<(Env, Database<Bytes, Bytes>), SampleError> {
        #[allow(unsafe_code)]
        // SAFETY: heed's contract for `open`: the directory is this row's
        // own, and nothing but LMDB itself maps or truncates its files.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(64 << 20)
                .max_readers(16)
                .open(&self.dir)
        }
        .map_err(|e| failed("open", e))?;
        let mut wtxn = env.write_txn().map_err(|e| failed("write txn", e))?;
        let db: Database<Bytes, Bytes> = env
            .create_database(&mut wtxn, None)
            .map_err(|e| failed("database", e))?;
        wtxn.commit().map_err(|e| failed("commit", e))?;
        Ok((env, db))
    }
}

/// A timed loop over an open store: `n` operations, returning a checksum.
type Work = fn(&Env, &Database<Bytes, Bytes>, u64) -> Result<u64, SampleError>;

/// Forks a child that opens the store, runs `work(n)` untimed for the
/// warm-up and timed for `ops`; returns operations per second.
fn in_child(ops: u64, work: Work) -> Result<f64, SampleError> {
    let store = Store::loaded()?;
    let report = Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0))?;
    let theirs = report.try_clone()?;
    let dir = store.dir.clone();
    let child = peer::spawn("lmdb-peer", move || {
        let store = Store { dir };
        let (env, db) = store.open().unwrap_or_else(|e| panic!("{e}"));
        work(&env, &db, warmup_for(ops)).unwrap_or_else(|e| panic!("warm-up: {e}"));
        let start = Instant::now();
        black_box(work(&env, &db, ops).unwrap_or_else(|e| panic!("loop: {e}")));
        theirs.store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
        // The parent removes the directory.
        std::mem::forget(store);
    })?;
    peer::join(child)?;
    Ok(ops as f64 / (report.load(Ordering::SeqCst) as f64 / 1e9))
}

fn get(ops: u64) -> Result<f64, SampleError> {
    in_child(ops, |env, db, n| {
        let rtxn = env.read_txn().map_err(|e| failed("read txn", e))?;
        let mut sum = 0u64;
        for i in 0..n {
            let k = pick(i, KEYS);
            let v = db
                .get(&rtxn, &key(k))
                .map_err(|e| failed("get", e))?
                .ok_or_else(|| failed("get", "missing key"))?;
            let v = u64::from_le_bytes(v.try_into().map_err(|_| failed("get", "bad length"))?);
            if v != k {
                return Err(failed("get", format!("key {k} read {v}")));
            }
            sum = sum.wrapping_add(v);
        }
        Ok(sum)
    })
}

fn set_one(ops: u64) -> Result<f64, SampleError> {
    in_child(ops, |env, db, n| {
        for i in 0..n {
            let k = pick(i, KEYS);
            let mut wtxn = env.write_txn().map_err(|e| failed("write txn", e))?;
            db.put(&mut wtxn, &key(k), &k.to_le_bytes())
                .map_err(|e| failed("put", e))?;
            wtxn.commit().map_err(|e| failed("commit", e))?;
        }
        Ok(n)
    })
}

fn set_batched(ops: u64) -> Result<f64, SampleError> {
    in_child(ops, |env, db, n| {
        let mut i = 0;
        while i < n {
            let mut wtxn = env.write_txn().map_err(|e| failed("write txn", e))?;
            for k in i..(i + 1000).min(n) {
                let k = pick(k, KEYS);
                db.put(&mut wtxn, &key(k), &k.to_le_bytes())
                    .map_err(|e| failed("put", e))?;
            }
            wtxn.commit().map_err(|e| failed("commit", e))?;
            i += 1000;
        }
        Ok(n)
    })
}
