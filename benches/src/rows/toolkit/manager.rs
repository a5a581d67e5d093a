//! Rows measuring `ipc_manager::Manager`'s dictionary from other processes,
//! next to the in-process reference: a `parking_lot::RwLock<HashMap>`.
//!
//! Every row builds an anonymous manager with [`Fixture`], forks the
//! process(es) that do the work, and has each child time its own loop (after
//! an untimed tenth of it) and report through shared memory, so the fork is
//! never part of a measurement.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::manager_fixture::{Fixture, key, pick};
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_core::sync::Event;
use parking_lot::RwLock;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::harness::{allocs, footprint};
use crate::rows::kit::peer;
use crate::rows::limits;

pub const GROUP: Group = Group {
    name: "manager",
    kind: Kind::Toolkit,
};

/// Keys in the dictionary of the 8-byte rows.
const KEYS: u64 = 10_000;
/// Values in the dictionary of the 4 KiB row.
const BLOBS: u64 = 256;

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "limit_inproc_map_bytes_per_entry_1M",
            group: &limits::GROUP,
            workload: Workload::DictMemory,
            metric: Metric::BytesPerEntry,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "HashMap<[u8; 16], u64> of 1M entries in one process: heap bytes per entry (counted by the suite's allocator)",
            sample: inproc_bytes_per_entry,
        },
        Bench {
            id: "manager_bytes_per_entry_1M",
            group: &GROUP,
            workload: Workload::DictMemory,
            metric: Metric::BytesPerEntry,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &["limit_inproc_map_bytes_per_entry_1M"],
            about: "a manager dict of 1M entries (16-byte keys, u64 values): committed shared memory per entry",
            sample: manager_bytes_per_entry,
        },
        Bench {
            id: "limit_inproc_map_get",
            group: &limits::GROUP,
            workload: Workload::DictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 5_000_000,
                quick: 100_000,
            },
            compare_to: &[],
            about: "parking_lot::RwLock<HashMap<[u8; 16], u64>> read in one process (10k keys)",
            sample: inproc_get,
        },
        Bench {
            id: "manager_get_8B",
            group: &GROUP,
            workload: Workload::DictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 5_000_000,
                quick: 100_000,
            },
            compare_to: &["limit_inproc_map_get"],
            about: "another process reads 8-byte values by 16-byte keys (10k keys), copying get",
            sample: get_8b,
        },
        Bench {
            id: "manager_set_8B",
            group: &GROUP,
            workload: Workload::DictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 500_000,
                quick: 10_000,
            },
            compare_to: &["limit_inproc_map_get"],
            about: "another process overwrites 8-byte values of existing 16-byte keys",
            sample: set_8b,
        },
        Bench {
            id: "manager_mixed_2proc",
            group: &GROUP,
            workload: Workload::DictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 2_000_000,
                quick: 50_000,
            },
            compare_to: &["limit_inproc_map_get"],
            about: "two processes at once, 90% gets and 10% sets each; total ops/s",
            sample: mixed_2proc,
        },
        Bench {
            id: "manager_get_4KiB_inplace",
            group: &GROUP,
            workload: Workload::DictGet,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 2_000_000,
                quick: 50_000,
            },
            compare_to: &["limit_memcpy_4KiB"],
            about: "another process reads 4 KiB values in place through zero-copy guards",
            sample: get_4kib_inplace,
        },
    ]
}

fn inproc_get(iters: u64) -> Result<f64, SampleError> {
    let map: RwLock<HashMap<[u8; 16], u64>> = RwLock::new((0..KEYS).map(|i| (key(i), i)).collect());
    let read = |n: u64| {
        let mut sum = 0u64;
        for i in 0..n {
            sum = sum.wrapping_add(*map.read().get(&key(pick(i, KEYS))).unwrap_or(&0));
        }
        black_box(sum)
    };
    read(warmup_for(iters));
    let start = Instant::now();
    read(iters);
    Ok(iters as f64 / start.elapsed().as_secs_f64())
}

/// The heap a `HashMap<[u8; 16], u64>` of `n` entries takes, per entry.
fn inproc_bytes_per_entry(n: u64) -> Result<f64, SampleError> {
    let before = allocs::live_bytes();
    let map: HashMap<[u8; 16], u64> = (0..n).map(|i| (key(i), i)).collect();
    let bytes = allocs::live_bytes().saturating_sub(before);
    black_box(&map);
    Ok(bytes as f64 / n as f64)
}

/// The shared memory a manager dict of `n` entries commits, per entry
/// (the whole manager: its root, directory and heap).
fn manager_bytes_per_entry(n: u64) -> Result<f64, SampleError> {
    let m = ipc_manager::Manager::new()?;
    let d = m.dict("bench")?.typed::<[u8; 16], u64>()?;
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        d.update((i..end).map(|k| (key(k), k)))?;
        i = end;
    }
    if d.len()? != n {
        return Err(SampleError::failed("manager: entries missing"));
    }
    let bytes = m.stats()?.committed_bytes;
    footprint::record(bytes as usize);
    Ok(bytes as f64 / n as f64)
}

/// Slots a child reports its timed nanoseconds (and a checksum) through.
fn report_slots() -> Result<Shared<[AtomicU64; 4]>, SampleError> {
    Ok(Shared::create(
        &SegmentOptions::anonymous(),
        std::array::from_fn(|_| AtomicU64::new(0)),
    )?)
}

/// Forks one child that runs `work(fixture, n)` untimed for the warm-up and
/// timed for `iters`; returns the child's timed seconds.
fn in_child(
    fixture: Fixture,
    iters: u64,
    work: fn(&Fixture, u64) -> ipc_manager::Result<u64>,
) -> Result<f64, SampleError> {
    let slots = report_slots()?;
    let theirs = slots.try_clone()?;
    let child = peer::spawn("manager-peer", move || {
        work(&fixture, warmup_for(iters)).unwrap_or_else(|e| panic!("manager warm-up: {e}"));
        let start = Instant::now();
        let sum = work(&fixture, iters).unwrap_or_else(|e| panic!("manager loop: {e}"));
        theirs[0].store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
        theirs[1].store(black_box(sum), Ordering::SeqCst);
    })?;
    peer::join(child)?;
    Ok(slots[0].load(Ordering::SeqCst) as f64 / 1e9)
}

fn get_8b(iters: u64) -> Result<f64, SampleError> {
    let secs = in_child(Fixture::small(KEYS)?, iters, Fixture::get_loop)?;
    Ok(iters as f64 / secs)
}

fn set_8b(iters: u64) -> Result<f64, SampleError> {
    let secs = in_child(Fixture::small(KEYS)?, iters, |f, n| {
        f.set_loop(n).map(|()| n)
    })?;
    Ok(iters as f64 / secs)
}

fn get_4kib_inplace(iters: u64) -> Result<f64, SampleError> {
    let fixture = Fixture::blobs(BLOBS, 4096)?;
    let secs = in_child(fixture, iters, Fixture::get_inplace_loop)?;
    Ok(iters as f64 * 4096.0 / secs / 1e9)
}

/// Two children released together by an event; the parent times from the
/// release to the second child's exit.
fn mixed_2proc(iters: u64) -> Result<f64, SampleError> {
    let fixture = Fixture::small(KEYS)?;
    let go = Shared::create(&SegmentOptions::anonymous(), Event::new())?;
    let ready = Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0))?;
    let mut kids = Vec::new();
    for _ in 0..2 {
        let (f, go, ready) = (fixture.clone(), go.try_clone()?, ready.try_clone()?);
        kids.push(peer::spawn("manager-mixed", move || {
            f.mixed_loop(warmup_for(iters), 10)
                .unwrap_or_else(|e| panic!("warm-up: {e}"));
            ready.fetch_add(1, Ordering::SeqCst);
            go.wait().unwrap_or_else(|e| panic!("go: {e}"));
            black_box(
                f.mixed_loop(iters, 10)
                    .unwrap_or_else(|e| panic!("mixed: {e}")),
            );
        })?);
    }
    while ready.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let start = Instant::now();
    go.set();
    for k in kids {
        peer::join(k)?;
    }
    Ok(2.0 * iters as f64 / start.elapsed().as_secs_f64())
}
