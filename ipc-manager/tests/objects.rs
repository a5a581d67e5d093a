//! Lists, values, and the synchronisation primitives, across processes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ipc_core::process::{ExitStatus, Process};
use ipc_core::segment::SegmentOptions;
use ipc_core::sync::{LockError, RobustMutexExt};
use ipc_manager::{Error, Manager, ManagerConfig};
use ipc_test_support::{PROMPT, TempDir, daemon, join_ok, slots, unique_name};

#[test]
fn list_push_pop_set_across_processes() {
    let m = Manager::new().unwrap();
    let small = m.list::<u16>("small").unwrap();
    let big = m.list::<[u64; 3]>("big").unwrap();
    let children: Vec<_> = (0..2u64)
        .map(|c| {
            let (small, big) = (small.clone(), big.clone());
            Process::spawn(move || {
                for i in 0..500u64 {
                    small.push((c * 1000 + i) as u16).unwrap();
                    big.push([c, i, c ^ i]).unwrap();
                }
            })
            .unwrap()
        })
        .collect();
    for c in children {
        join_ok(c);
    }
    assert_eq!(small.len().unwrap(), 1000);
    let all = big.to_vec().unwrap();
    assert_eq!(all.len(), 1000);
    for c in 0..2u64 {
        // Each child's elements appear in its own order.
        let mine: Vec<u64> = all.iter().filter(|e| e[0] == c).map(|e| e[1]).collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>());
        assert!(all.iter().all(|e| e[2] == e[0] ^ e[1]));
    }
    big.set(0, [9, 9, 9]).unwrap();
    assert_eq!(big.get(0).unwrap(), Some([9, 9, 9]));
    assert_eq!(
        big.set(1000, [0; 3]).unwrap_err(),
        Error::IndexOutOfRange {
            index: 1000,
            len: 1000
        }
    );
    assert_eq!(big.get(1000).unwrap(), None);
    let last = big.pop().unwrap().unwrap();
    assert_eq!(big.len().unwrap(), 999);
    assert!(big.iter().unwrap().all(|e| e != last || e[0] == 9));
    big.clear().unwrap();
    small.clear().unwrap();
    assert!(big.is_empty().unwrap() && small.is_empty().unwrap());
    assert_eq!(big.pop().unwrap(), None);
    m.reclaim().unwrap();
    let report = m.check().unwrap();
    assert_eq!(report.leaked_blocks, 0);
}

#[test]
fn values_load_store_and_atomic_ops() {
    let m = Manager::new().unwrap();
    let counter = m.value::<i32>("counter", 0).unwrap();
    let wide = m.value::<[u64; 4]>("wide", [1, 2, 3, 4]).unwrap();
    let byte = m.value::<u8>("byte", 250).unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            let (counter, wide) = (counter.clone(), wide.clone());
            Process::spawn(move || {
                for i in 0..1000 {
                    counter.fetch_add(1).unwrap();
                    if i % 100 == 0 {
                        wide.store([i, i, i, i]).unwrap();
                    }
                }
            })
            .unwrap()
        })
        .collect();
    for c in children {
        join_ok(c);
    }
    assert_eq!(counter.load().unwrap(), 2000);
    let w = wide.load().unwrap();
    assert!(w.iter().all(|&x| x == w[0]), "torn value {w:?}");
    assert_eq!(counter.fetch_sub(500).unwrap(), 2000);
    assert_eq!(counter.compare_exchange(1500, 7).unwrap(), Ok(1500));
    assert_eq!(counter.compare_exchange(1500, 8).unwrap(), Err(7));
    assert_eq!(counter.swap(-1).unwrap(), 7);
    assert_eq!(counter.load().unwrap(), -1);
    assert_eq!(byte.fetch_add(10).unwrap(), 250);
    assert_eq!(byte.load().unwrap(), 4, "wraps");
    // Opening again finds the same value, not the new initial one.
    assert_eq!(m.value::<i32>("counter", 100).unwrap().load().unwrap(), -1);
    let f = m.value::<f64>("f", 0.5).unwrap();
    f.store(2.25).unwrap();
    assert_eq!(f.load().unwrap(), 2.25);
}

#[test]
fn lock_event_semaphore_barrier_across_processes() {
    let name = unique_name("sync");
    let m = Manager::builder().named(&name).create().unwrap();
    let lock = m.lock("lock").unwrap();
    let total = m.value::<u64>("total", 0).unwrap();
    let started = m.event("started").unwrap();
    let sem = m.semaphore("sem", 0).unwrap();
    let barrier = m.barrier("barrier", 3).unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            let name = name.clone();
            daemon(move || {
                let m = Manager::builder().named(&name).open().unwrap();
                let lock = m.lock("lock").unwrap();
                let total = m.value::<u64>("total", 0).unwrap();
                m.event("started").unwrap().wait_for(PROMPT).unwrap();
                for _ in 0..200 {
                    let _g = lock.lock();
                    // A non-atomic read-modify-write, made safe by the lock.
                    let v = total.load().unwrap();
                    total.store(v + 1).unwrap();
                }
                m.semaphore("sem", 0).unwrap().release(1).unwrap();
                m.barrier("barrier", 3).unwrap().wait_for(PROMPT).unwrap();
            })
        })
        .collect();
    started.set();
    sem.acquire_for(PROMPT).unwrap();
    sem.acquire_for(PROMPT).unwrap();
    barrier.wait_for(PROMPT).unwrap();
    for c in children {
        join_ok(c);
    }
    assert_eq!(total.load().unwrap(), 400);
    assert!(lock.try_lock().is_some());
    let mut kinds = m.objects().unwrap();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("barrier".to_owned(), "barrier"),
            ("lock".to_owned(), "lock"),
            ("sem".to_owned(), "semaphore"),
            ("started".to_owned(), "event"),
            ("total".to_owned(), "value"),
        ]
    );
}

/// A process killed while holding a manager lock: the next locker is told.
#[test]
fn killed_lock_holder_is_reported() {
    let m = Manager::new().unwrap();
    let lock = m.lock("l").unwrap();
    let held = slots::<1>();
    let child = daemon({
        let (lock, held) = (lock.clone(), held.try_clone().unwrap());
        move || {
            let _g = lock.lock();
            held[0].store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(60));
        }
    });
    assert!(ipc_test_support::eventually(PROMPT, || held[0]
        .load(Ordering::SeqCst)
        == 1));
    child.kill().unwrap();
    assert_eq!(child.join().unwrap(), ExitStatus::Signaled(9));
    match lock.lock_robust_for(PROMPT) {
        Err(LockError::OwnerDied(g)) => ipc_core::sync::RobustMutex::mark_consistent(&g),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert!(lock.lock_robust().is_ok());
}

/// A file-backed manager reopened after every process exited, and again
/// "after a reboot": the writer mutex was held when the machine went down
/// (simulated by a copy of the files taken while a writer held it, with the
/// recorded boot id changed). The first opener resets the mutex and
/// recovery runs; nothing hangs and nothing is lost.
#[test]
fn file_backed_manager_after_a_reboot() {
    let dir = TempDir::new("reboot");
    let path = dir.path("live");
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        ..ManagerConfig::default()
    };
    let m = Manager::builder()
        .options(SegmentOptions::file(&path))
        .config(config.clone())
        .create()
        .unwrap();
    let d = m.dict("d").unwrap();
    for k in 0..200u64 {
        d.insert(&k, vec![k as u8; 700]).unwrap();
    }
    let segments = m.stats().unwrap().segments;
    assert!(segments > 1);
    // Hold the writer mutex in a child while the files are copied: a key
    // whose `borrow` (called under the lock by `update`) sleeps the second
    // time (the first is the size check before locking).
    struct Sleepy(
        [u8; 8],
        std::cell::Cell<u32>,
        ipc_core::segment::Shared<[std::sync::atomic::AtomicU64; 1]>,
    );
    impl std::borrow::Borrow<[u8; 8]> for Sleepy {
        fn borrow(&self) -> &[u8; 8] {
            self.1.set(self.1.get() + 1);
            if self.1.get() == 2 {
                self.2[0].store(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_secs(60));
            }
            &self.0
        }
    }
    let holding = slots::<1>();
    let child = daemon({
        let (d, holding) = (d.clone(), holding.try_clone().unwrap());
        move || {
            let t = d.typed::<[u8; 8], u64>().unwrap();
            t.update([(Sleepy(*b"sleepkey", std::cell::Cell::new(0), holding), 1u64)])
                .unwrap();
        }
    });
    assert!(ipc_test_support::eventually(PROMPT, || holding[0]
        .load(Ordering::SeqCst)
        == 1));
    assert!(
        d.get(&0u64).unwrap().is_some(),
        "reads still work while the writer sleeps"
    );
    let copy = dir.path("copy");
    std::fs::copy(&path, &copy).unwrap();
    for n in 1..segments {
        std::fs::copy(
            format!("{}.{n}", path.display()),
            format!("{}.{n}", copy.display()),
        )
        .unwrap();
    }
    child.kill().unwrap();
    let _ = child.join().unwrap();
    drop((d, m));
    // The root's boot word (root offset 192 + 56) names another boot.
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
    f.seek(SeekFrom::Start(256 + 192 + 56)).unwrap();
    f.write_all(&12345u64.to_le_bytes()).unwrap();
    drop(f);

    let m = Manager::builder()
        .options(SegmentOptions::file(&copy))
        .open()
        .unwrap();
    let d = m.dict("d").unwrap();
    assert_eq!(d.len().unwrap(), 200);
    d.insert("after", b"reboot").unwrap();
    for k in 0..200u64 {
        assert_eq!(d.get(&k).unwrap(), Some(vec![k as u8; 700]));
    }
    assert_eq!(m.check().unwrap().leaked_blocks, 0);
    assert!(m.stats().unwrap().recoveries >= 1);
}
