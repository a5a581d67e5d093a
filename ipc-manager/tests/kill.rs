//! Writers SIGKILLed mid-operation, hundreds of times: after every kill the
//! survivor locks, recovers, and finds exactly the committed operations
//! (plus, possibly, the one in flight, whole).
//!
//! The writer child applies a deterministic sequence of operations. Before
//! operation `i` it stores `i + 1` into a shared "started" word, after the
//! call returns it stores `i + 1` into "committed". The parent replays the
//! committed operations into a `HashMap` model; the one operation that was
//! started but not committed must be either fully applied or not at all.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipc_core::process::ExitStatus;
use ipc_core::segment::SegmentOptions;
use ipc_manager::{Dict, Manager, ManagerConfig};
use ipc_test_support::{Rng, SIGKILL, daemon, slots, unique_name};

#[derive(Debug, Clone, Copy)]
enum Op {
    Insert { key: u64, len: usize },
    Remove { key: u64 },
    Pop { key: u64 },
    Clear,
}

/// The mix of operations a kill loop runs.
#[derive(Clone, Copy)]
enum Mix {
    /// Few keys, all operations, small and large values.
    Churn,
    /// A slowly growing key space with large values: the arena keeps growing.
    Growth,
}

fn op(seed: u64, i: u64, mix: Mix) -> Op {
    let mut r = Rng(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    match mix {
        Mix::Churn => {
            let key = r.below(48);
            match r.below(100) {
                0..45 => Op::Insert {
                    key,
                    len: r.below(64) as usize,
                },
                45..60 => Op::Insert {
                    key,
                    len: 500 + r.below(3000) as usize,
                },
                60..85 => Op::Remove { key },
                85..99 => Op::Pop { key },
                _ => Op::Clear,
            }
        }
        Mix::Growth => {
            let keys = 32 + i / 4;
            let key = r.below(keys);
            match r.below(10) {
                0 => Op::Remove { key },
                _ => Op::Insert {
                    key,
                    len: 1024 + r.below(12 * 1024) as usize,
                },
            }
        }
    }
}

fn key_bytes(k: u64) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn value_for(i: u64, len: usize) -> Vec<u8> {
    i.to_le_bytes().iter().copied().cycle().take(len).collect()
}

fn apply_model(m: &mut HashMap<Vec<u8>, Vec<u8>>, op: Op, i: u64) {
    match op {
        Op::Insert { key, len } => {
            m.insert(key_bytes(key), value_for(i, len));
        }
        Op::Remove { key } | Op::Pop { key } => {
            m.remove(&key_bytes(key));
        }
        Op::Clear => m.clear(),
    }
}

fn apply_dict(d: &Dict, op: Op, i: u64) {
    match op {
        Op::Insert { key, len } => d.insert(&key_bytes(key)[..], value_for(i, len)).unwrap(),
        Op::Remove { key } => {
            d.remove(&key_bytes(key)[..]).unwrap();
        }
        Op::Pop { key } => {
            d.pop(&key_bytes(key)[..]).unwrap();
        }
        Op::Clear => d.clear().unwrap(),
    }
}

/// Runs `iterations` writer lives, each SIGKILLed after a random delay.
/// How long a writer child lives before it is killed, at most.
#[derive(Clone, Copy)]
struct Timing {
    max_life_us: u64,
    /// A pause inside every growth step (0: none).
    growth_pause_us: u64,
}

const QUICK: Timing = Timing {
    max_life_us: 2800,
    growth_pause_us: 0,
};

fn kill_loop(opts: SegmentOptions, config: ManagerConfig, mix: Mix, iterations: u64, seed: u64) {
    // KILL_SCALE=n multiplies the number of kills (for soak runs).
    let scale = ipc_test_support::env_u64("KILL_SCALE", 1);
    let iterations = iterations * scale;
    let (stats, mid_op) = kill_loop_timed(opts, config, mix, iterations, seed, QUICK);
    assert!(
        mid_op > iterations / 4,
        "too few kills landed mid-operation"
    );
    assert!(
        stats.recoveries > 0,
        "no kill landed while the writer lock was held"
    );
}

fn kill_loop_timed(
    opts: SegmentOptions,
    config: ManagerConfig,
    mix: Mix,
    iterations: u64,
    seed: u64,
    timing: Timing,
) -> (ipc_manager::Stats, u64) {
    let m = Manager::builder()
        .options(opts.clone())
        .config(config.clone())
        .create()
        .unwrap();
    let d = m.dict("kv").unwrap();
    // [0] committed, [1] started (both "index + 1"), [2] ops done this life.
    let log = slots::<3>();
    let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    let mut next = 0u64;
    let mut rng = Rng(seed);
    let mut in_flight_applied = 0;
    let mut in_flight_total = 0;
    for life in 0..iterations {
        log[0].store(next, Ordering::SeqCst);
        log[1].store(next, Ordering::SeqCst);
        // Alternate between a child using the inherited handle and one that
        // opens the manager afresh (named/file managers only).
        let reopen =
            life % 2 == 1 && !matches!(opts.backing(), ipc_core::segment::Backing::Anonymous);
        let child = daemon({
            let log = log.try_clone().unwrap();
            let (m, opts) = (m.clone(), opts.clone());
            move || {
                ipc_manager::testing::set_growth_pause(Duration::from_micros(
                    timing.growth_pause_us,
                ));
                let m = if reopen {
                    Manager::builder().options(opts.clone()).open().unwrap()
                } else {
                    m
                };
                let d = m.dict("kv").unwrap();
                let mut i = log[0].load(Ordering::SeqCst);
                loop {
                    log[1].store(i + 1, Ordering::SeqCst);
                    apply_dict(&d, op(seed, i, mix), i);
                    log[0].store(i + 1, Ordering::SeqCst);
                    log[2].fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }
        });
        std::thread::sleep(Duration::from_micros(
            300 + rng.below(timing.max_life_us - 300),
        ));
        child.kill().unwrap();
        assert_eq!(child.join().unwrap(), ExitStatus::Signaled(SIGKILL));

        let committed = log[0].load(Ordering::SeqCst);
        let started = log[1].load(Ordering::SeqCst);
        while next < committed {
            apply_model(&mut model, op(seed, next, mix), next);
            next += 1;
        }
        let actual: HashMap<Vec<u8>, Vec<u8>> = d.items().unwrap().into_iter().collect();
        if started > committed {
            in_flight_total += 1;
            if actual != model {
                let mut with = model.clone();
                apply_model(&mut with, op(seed, committed, mix), committed);
                assert!(
                    actual == with,
                    "life {life}: contents match neither before nor after op {committed} ({:?})",
                    op(seed, committed, mix)
                );
                model = with;
                next = committed + 1;
                in_flight_applied += 1;
            }
        } else {
            assert!(
                actual == model,
                "life {life}: contents differ from the model"
            );
        }
        assert_eq!(d.len().unwrap(), model.len() as u64, "life {life}: len");
        let report = m.check().unwrap();
        assert_eq!(report.leaked_blocks, 0, "life {life}: {report:?}");
    }
    let stats = m.stats().unwrap();
    if iterations > 1 {
        eprintln!(
            "{iterations} kills: {next} ops committed, {in_flight_total} kills mid-op \
         ({in_flight_applied} of those applied), {} recoveries ({} mid-growth), {} segments, \
         {} bytes",
            stats.recoveries, stats.interrupted_growths, stats.segments, stats.committed_bytes
        );
    }
    // Space is reused: after everything is removed and reclaimed, the heap
    // is (nearly) all free again.
    d.clear().unwrap();
    m.reclaim().unwrap();
    let report = m.check().unwrap();
    assert_eq!(report.leaked_blocks, 0);
    assert!(report.live_blocks < 16, "{report:?}");
    (stats, in_flight_total)
}

fn small() -> ManagerConfig {
    ManagerConfig {
        initial_size: 64 * 1024,
        ..ManagerConfig::default()
    }
}

/// Named manager, churning a few keys: hundreds of kills mid-insert,
/// mid-remove, mid-clear, mid-reclamation.
#[test]
fn kill_loop_named_churn() {
    let name = unique_name("kill-churn");
    kill_loop(SegmentOptions::named(&name), small(), Mix::Churn, 300, 1);
}

/// Named manager that keeps growing: kills land in the middle of adding
/// segments; a half-made segment is removed, the contents stay intact.
#[test]
fn kill_loop_named_growth() {
    let name = unique_name("kill-growth");
    kill_loop(SegmentOptions::named(&name), small(), Mix::Growth, 120, 2);
    // No unpublished segment is left behind in /dev/shm.
    let m = Manager::builder().named(&name).open();
    drop(m);
}

/// Kills aimed at growth: every growth step pauses, and each writer life
/// starts on a fresh, small manager that must grow at once, so many kills
/// land in the middle of adding a segment (named) or extending one
/// (anonymous).
#[test]
fn kill_loop_mid_growth() {
    let timing = Timing {
        max_life_us: 5000,
        growth_pause_us: 1000,
    };
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        anonymous_capacity: 64 << 20,
        ..ManagerConfig::default()
    };
    let mut interrupted = [0, 0];
    for life in 0..40u64 {
        let named = life % 2 == 0;
        let opts = if named {
            SegmentOptions::named(&unique_name("kill-midgrowth"))
        } else {
            SegmentOptions::anonymous()
        };
        let (stats, _) = kill_loop_timed(opts, config.clone(), Mix::Growth, 1, 10 + life, timing);
        interrupted[usize::from(named)] += stats.interrupted_growths;
    }
    eprintln!(
        "kills mid-growth: {} anonymous, {} named",
        interrupted[0], interrupted[1]
    );
    assert!(
        interrupted[0] >= 3 && interrupted[1] >= 3,
        "too few kills landed mid-growth: {interrupted:?}"
    );
}

/// Anonymous manager (one segment, committed as it grows): kills land in
/// the middle of extending it.
#[test]
fn kill_loop_anonymous_growth() {
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        anonymous_capacity: 256 << 20,
        ..ManagerConfig::default()
    };
    kill_loop(SegmentOptions::anonymous(), config, Mix::Growth, 120, 3);
}

/// A reader killed while holding a zero-copy guard (so its reader slot stays
/// pinned) does not stop memory from being reused: writers notice the dead
/// owner and free its slot.
#[test]
fn killed_pinned_reader_does_not_block_reclamation() {
    let m = Manager::new().unwrap();
    let d = m.dict("d").unwrap();
    d.insert("k", vec![1u8; 1000]).unwrap();
    let pinned = slots::<1>();
    let child = daemon({
        let (d, pinned) = (d.clone(), pinned.try_clone().unwrap());
        move || {
            let guard = d.get_ref("k").unwrap().unwrap();
            pinned[0].store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(60));
            drop(guard);
        }
    });
    assert!(ipc_test_support::eventually(
        ipc_test_support::PROMPT,
        || pinned[0].load(Ordering::SeqCst) == 1
    ));
    child.kill().unwrap();
    let _ = child.join().unwrap();
    // Overwrite a lot: several MiB of garbage pass through limbo.
    let big = vec![2u8; 64 * 1024];
    for i in 0..200u64 {
        d.insert("k", &big).unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    m.reclaim().unwrap();
    let stats = m.stats().unwrap();
    assert!(
        stats.limbo_bytes < 4 << 20,
        "limbo stays full behind a dead reader: {stats:?}"
    );
    // And the heap did not grow by the 12 MiB written.
    assert!(stats.committed_bytes < 8 << 20, "{stats:?}");
}

/// A writer killed inside `clear`, after it unlinked the table and before
/// it zeroed the length: the next writer's recovery recounts the length
/// from the table (it used to keep the stale count: `len` said 16 of an
/// empty dictionary).
#[test]
fn writer_killed_inside_clear_leaves_a_true_len() {
    let name = unique_name("clear");
    let m = Manager::builder().named(&name).create().unwrap();
    let d = m.dict("d").unwrap();
    for k in 0..16u64 {
        d.insert(&k, b"value").unwrap();
    }
    let entered = slots::<1>();
    let child = daemon({
        let (d, entered) = (d.clone(), entered.try_clone().unwrap());
        move || {
            ipc_manager::testing::set_clear_pause(Duration::from_secs(30));
            entered[0].store(1, Ordering::SeqCst);
            d.clear().unwrap();
        }
    });
    assert!(ipc_test_support::eventually(
        ipc_test_support::PROMPT,
        || { entered[0].load(Ordering::SeqCst) == 1 }
    ));
    // The child is inside `clear` within microseconds of the flag; the pause
    // holds it there for 30 s.
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    assert_eq!(child.join().unwrap(), ExitStatus::Signaled(SIGKILL));
    let items = d.items().unwrap().len() as u64;
    assert_eq!(d.len().unwrap(), items, "len agrees with the contents");
    assert_eq!(items, 0, "the unlinked table was the commit");
    assert!(m.stats().unwrap().recoveries > 0, "the kill held the lock");
    d.insert(&1u64, b"again").unwrap();
    assert_eq!(d.len().unwrap(), 1);
    assert_eq!(m.check().unwrap().leaked_blocks, 0);
}

/// A writer child that churns a dict of 2000 keys (values of 0 B to 12 KB)
/// until it is killed.
fn churn_forever(name: &str, seed: u64) {
    let m = Manager::builder().named(name).open().unwrap();
    let d = m.dict("d").unwrap();
    let mut r = Rng(seed);
    loop {
        let key = r.below(2000).to_le_bytes();
        if r.below(10) < 6 {
            let len = match r.below(10) {
                0..7 => r.below(200),
                7..9 => 500 + r.below(2000),
                _ => 4000 + r.below(8000),
            };
            d.insert(&key, vec![7u8; len as usize]).unwrap();
        } else {
            d.remove(&key).unwrap();
        }
    }
}

/// Space is reused after long churn: 60 writer lives SIGKILLed at random
/// while another process reads, holding each value 3 ms (as a reader
/// preempted mid-read does), and the mapped size stays within 4x the live
/// data plus the first segment. Writers used to grow the arena whenever a
/// pinned reader kept the garbage from being freed at that instant, and
/// growth doubles: 9-18 MB for 1.5 MB of live data here (6-12x), 54-58 MB
/// in a longer run. They now wait up to 10 ms for readers to move on first.
#[test]
fn churn_with_kills_and_readers_stays_bounded() {
    let name = unique_name("kill-bound");
    let initial = ManagerConfig::default().initial_size;
    let m = Manager::builder().named(&name).create().unwrap();
    m.dict("d").unwrap();
    let reader_name = name.clone();
    let reader = daemon(move || {
        let m = Manager::builder().named(&reader_name).open().unwrap();
        let d = m.dict("d").unwrap();
        let mut r = Rng(99);
        loop {
            let value = d.get_ref(&r.below(2000).to_le_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(3));
            drop(value);
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let mut r = Rng(7);
    let mut peak_live = 0;
    for life in 0..60u64 {
        let writer_name = name.clone();
        let writer = daemon(move || churn_forever(&writer_name, life));
        std::thread::sleep(Duration::from_millis(20 + r.below(80)));
        writer.kill().unwrap();
        let _ = writer.join();
        if life % 5 == 4 {
            peak_live = peak_live.max(m.check().unwrap().live_bytes);
        }
    }
    reader.kill().unwrap();
    let _ = reader.join();
    let stats = m.stats().unwrap();
    assert!(
        stats.recoveries > 0,
        "no writer was killed holding the lock"
    );
    assert!(
        stats.committed_bytes <= 4 * peak_live + initial,
        "{} KB mapped in {} segments for at most {} KB of live data",
        stats.committed_bytes / 1024,
        stats.segments,
        peak_live / 1024
    );
}
