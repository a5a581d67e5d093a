//! The remote pool with worker processes on a real `nats-server -js`:
//! map, imap_unordered, apply_async, failing tasks, and a worker killed
//! mid-task. The workers start fresh, not forked (see
//! `ipc_test_support::spawn_entry`).

use std::time::{Duration, Instant};

use ipc_core::process::{Process, run_entry_point};
use ipc_remote::{Error, Remote, RemoteOptions, RemotePool, Worker};
use ipc_test_support::nats::NatsServer;
use ipc_test_support::{entry_arg, join_ok, sigkill, spawn_entry, unique_name};

fn pool_name(tag: &str) -> String {
    unique_name(tag).replace(['/', '.'], "_")
}

/// A worker process of pool `name` with the tasks the tests use.
fn worker(url: String, name: String, redeliver: Duration) -> Process {
    let redeliver = redeliver.as_millis().to_string();
    spawn_entry(
        "worker",
        &[("url", &url), ("pool", &name), ("redeliver_ms", &redeliver)],
    )
}

/// A child: the worker [`worker`] starts.
fn run_worker() {
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let name = entry_arg("pool");
    let redeliver = Duration::from_millis(entry_arg("redeliver_ms").parse().unwrap());
    RemotePool::open_with(&r, &name, redeliver).unwrap();
    Worker::new(&r, &name)
        .unwrap()
        .task("square", |x: u64| x * x)
        .task("slow_square", |x: u64| {
            std::thread::sleep(Duration::from_millis(30));
            x * x
        })
        .task("pid", |_: ()| std::process::id())
        .task("fail_on_3", |x: u64| {
            assert_ne!(x, 3, "three is not allowed");
            x
        })
        .run()
        .unwrap();
}

/// A child: a worker of pool `pool` with one task, `long` (2.5 s), which
/// counts its runs per argument in the dict `{pool}-runs`.
fn run_long_worker() {
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let name = entry_arg("pool");
    let runs = ipc_remote::RemoteDict::builder(&r, &format!("{name}-runs"))
        .open()
        .unwrap();
    Worker::new(&r, &name)
        .unwrap()
        .task("long", move |x: u64| {
            runs.update_with(&x.to_le_bytes(), |n| vec![n.map_or(0, |b| b[0]) + 1])
                .unwrap();
            std::thread::sleep(Duration::from_millis(2500));
            x
        })
        .run()
        .unwrap();
}

/// The children's entry points (see `ipc_test_support::spawn_entry`).
#[test]
fn entry_child() {
    run_entry_point(&[("worker", run_worker), ("long_worker", run_long_worker)]);
}

#[test]
fn map_imap_and_apply_async_across_worker_processes() {
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let name = pool_name("pool");
    let pool = RemotePool::open(&r, &name).unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| worker(s.url(), name.clone(), Duration::from_secs(30)))
        .collect();
    let squares: Vec<u64> = pool.map("square", 0..500u64).unwrap();
    assert_eq!(squares, (0..500u64).map(|x| x * x).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool
        .imap_unordered("square", 0..100u64)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    unordered.sort_unstable();
    assert_eq!(unordered, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
    let mut a = pool.apply_async::<_, u64>("square", 12u64).unwrap();
    assert_eq!(a.get_timeout(Duration::from_secs(20)).unwrap(), 144);
    // Both workers took part.
    let pids: std::collections::HashSet<u32> = pool
        .map::<(), u32>("pid", (0..200).map(|_| ()))
        .unwrap()
        .into_iter()
        .collect();
    assert!(!pids.is_empty());
    // Failing tasks fail their item; the pool goes on.
    match pool.map::<u64, u64>("fail_on_3", 0..10u64) {
        Err(Error::TaskFailed { message }) => assert!(message.contains("three"), "{message}"),
        other => panic!("{other:?}"),
    }
    match pool.map::<u64, u64>("no_such_task", [1u64]) {
        Err(Error::TaskFailed { message }) => {
            assert!(message.contains("no_such_task"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.map::<u64, u64>("square", [9u64]).unwrap(), [81]);
    pool.close().unwrap();
    for w in workers {
        join_ok(w);
    }
}

/// A worker SIGKILLed while it runs tasks: its task goes to another
/// worker after `redeliver_after`, and map returns every result.
#[test]
fn a_worker_killed_mid_task_does_not_hang_the_map() {
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let name = pool_name("poolkill");
    let redeliver = Duration::from_secs(1);
    let pool = RemotePool::open_with(&r, &name, redeliver).unwrap();
    let victim = worker(s.url(), name.clone(), redeliver);
    let survivor = worker(s.url(), name.clone(), redeliver);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        sigkill(victim.pid());
        let _ = victim.join();
    });
    // The map in a thread of its own, so that a hang is a failure.
    let (tx, rx) = std::sync::mpsc::channel();
    let (url, n) = (s.url(), name.clone());
    std::thread::spawn(move || {
        let r = Remote::connect(&RemoteOptions::new(url)).unwrap();
        let pool = RemotePool::open(&r, &n).unwrap();
        let _ = tx.send(pool.map::<u64, u64>("slow_square", 0..100u64));
    });
    let started = Instant::now();
    let squares = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("map did not return within 60 s of a worker's death")
        .unwrap();
    assert_eq!(squares, (0..100u64).map(|x| x * x).collect::<Vec<_>>());
    killer.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    pool.close().unwrap();
    join_ok(survivor);
}

/// Tasks longer than `redeliver_after` are not given to a second worker
/// while their worker lives: its heartbeats keep them.
#[test]
fn long_tasks_run_once_thanks_to_heartbeats() {
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let name = pool_name("poollong");
    let redeliver = Duration::from_secs(1);
    let pool = RemotePool::open_with(&r, &name, redeliver).unwrap();
    let runs = ipc_remote::RemoteDict::builder(&r, &format!("{name}-runs"))
        .create()
        .unwrap();
    let url = s.url();
    let workers: Vec<_> = (0..2)
        .map(|_| spawn_entry("long_worker", &[("url", &url), ("pool", &name)]))
        .collect();
    let out: Vec<u64> = pool.map("long", 0..3u64).unwrap();
    assert_eq!(out, [0, 1, 2]);
    for x in 0..3u64 {
        assert_eq!(
            runs.get(&x.to_le_bytes()).unwrap(),
            Some(vec![1]),
            "task {x} ran more than once"
        );
    }
    pool.close().unwrap();
    for w in workers {
        join_ok(w);
    }
}
