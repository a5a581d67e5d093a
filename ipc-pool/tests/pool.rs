//! The pool with real worker processes: results, ordering, failures (panics,
//! killed workers, failing initializers), lifecycle, and cleanup.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ipc_core::process::{ExitStatus, Process};
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_pool::{Error, Pool};
use ipc_test_support::{SIGKILL, die_by_sigkill, eventually, is_running, sigkill};

fn square(x: u64) -> u64 {
    x * x
}

fn sleep_ms(ms: u64) -> u64 {
    thread::sleep(Duration::from_millis(ms));
    ms
}

fn my_pid(_: u8) -> u32 {
    std::process::id()
}

/// A counter in an anonymous segment: workers forked later share it.
fn counter() -> Arc<Shared<AtomicU64>> {
    Arc::new(Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0)).unwrap())
}

/// Runs `f` in a forked child (single-threaded there, whatever the test
/// harness runs beside it) and asserts it succeeded.
fn in_child(f: impl FnOnce() + 'static) {
    let status = Process::spawn(f).unwrap().join().unwrap();
    assert_eq!(status, ExitStatus::Exited(0));
}

// ----- results -----

#[test]
fn map_matches_serial_for_every_chunksize() {
    let pool = Pool::new(3).unwrap();
    let expected: Vec<u64> = (0..10_000).map(square).collect();
    assert_eq!(pool.map(square, 0..10_000).unwrap(), expected);
    for chunksize in [1, 7, 1000, 1 << 30] {
        let got = pool.chunksize(chunksize).map(square, 0..10_000).unwrap();
        assert_eq!(got, expected, "chunksize {chunksize}");
    }
    // Inputs without an exact length are collected first.
    let odd = (0..10_000u64).filter(|x| x % 2 == 1);
    let got = pool.map(square, odd).unwrap();
    assert_eq!(
        got,
        (0..10_000u64)
            .filter(|x| x % 2 == 1)
            .map(square)
            .collect::<Vec<_>>()
    );
    assert_eq!(pool.map(square, 0..0).unwrap(), Vec::<u64>::new());
    assert_eq!(pool.map(square, Vec::new()).unwrap(), Vec::<u64>::new());
}

#[test]
fn map_many_items_and_large_messages() {
    let pool = Pool::new(2).unwrap();
    let got = pool.map(square, 0..1_000_000).unwrap();
    assert_eq!(got.len(), 1_000_000);
    assert!(got.iter().zip(0u64..).all(|(&y, x)| y == x * x));
    // Messages much larger than a word, several per chunk.
    let rows = pool.map(|seed: u64| [seed; 512], 0..100).unwrap();
    assert!(
        rows.iter()
            .zip(0u64..)
            .all(|(row, s)| row.iter().all(|&v| v == s))
    );
}

/// Results with invalid bit patterns (`bool`, a fieldless enum) come back
/// through every way of collecting them, checked on the way.
#[test]
fn bool_and_enum_results() {
    use ipc_pool::zerocopy::{FromZeros, Immutable, IntoBytes, KnownLayout};

    #[derive(Debug, Clone, Copy, PartialEq, Eq, FromZeros, IntoBytes, Immutable, KnownLayout)]
    #[zerocopy(crate = "ipc_pool::zerocopy")]
    #[repr(u8)]
    enum Parity {
        Even = 0,
        Odd = 7,
    }
    fn parity(x: u64) -> Parity {
        if x.is_multiple_of(2) {
            Parity::Even
        } else {
            Parity::Odd
        }
    }
    fn is_prime(n: u64) -> bool {
        n >= 2
            && (2..n)
                .take_while(|d| d * d <= n)
                .all(|d| !n.is_multiple_of(d))
    }

    let pool = Pool::new(2).unwrap();
    let serial: Vec<bool> = (0..1000).map(is_prime).collect();
    assert_eq!(pool.map(is_prime, 0..1000u64).unwrap(), serial);
    for chunksize in [1, 7, 1000] {
        assert_eq!(
            pool.chunksize(chunksize).map(is_prime, 0..1000u64).unwrap(),
            serial
        );
    }
    let primes_below_100 = pool
        .imap_unordered(is_prime, 0..100u64)
        .unwrap()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(primes_below_100, 25);
    let parities: Vec<Parity> = pool
        .imap(parity, 0..10u64)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(parities, (0..10).map(parity).collect::<Vec<_>>());
    assert!(pool.apply(is_prime, 97u64).unwrap());
    assert_eq!(pool.apply(parity, 3u64).unwrap(), Parity::Odd);
}

/// Results need no zero value (an enum without a variant 0), and a task may
/// return `Result<R, E>`: its `Err` fails that item alone, with the text.
#[test]
fn enums_without_zero_and_result_tasks() {
    use ipc_pool::zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes};

    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, TryFromBytes, IntoBytes, Immutable, KnownLayout,
    )]
    #[zerocopy(crate = "ipc_pool::zerocopy")]
    #[repr(u8)]
    enum Size {
        Small = 1,
        Large = 2,
    }
    fn size(x: u32) -> Size {
        if x < 50 { Size::Small } else { Size::Large }
    }
    fn checked_sqrt(x: i64) -> Result<u32, String> {
        if x < 0 {
            return Err(format!("{x} is negative"));
        }
        Ok((x as f64).sqrt() as u32)
    }

    let pool = Pool::new(2).unwrap();
    let serial: Vec<Size> = (0..100).map(size).collect();
    assert_eq!(pool.map(size, 0..100u32).unwrap(), serial);
    assert_eq!(pool.chunksize(7).map(size, 0..100u32).unwrap(), serial);
    assert_eq!(pool.apply(size, 70u32).unwrap(), Size::Large);

    assert_eq!(pool.map(checked_sqrt, [0, 4, 81]).unwrap(), [0, 2, 9]);
    let err = pool
        .chunksize(2)
        .map(checked_sqrt, [1, 4, -9, 16])
        .unwrap_err();
    assert_eq!(
        err,
        Error::TaskFailed {
            index: 2,
            message: "-9 is negative".into(),
            location: None
        }
    );
    let each: Vec<Result<u32, Error>> = pool
        .chunksize(3)
        .imap(checked_sqrt, [9, -1, 25, -2, 36])
        .unwrap()
        .collect();
    assert_eq!(each[0], Ok(3));
    assert!(
        matches!(&each[1], Err(Error::TaskFailed { index: 1, message, .. }) if message == "-1 is negative")
    );
    assert_eq!(each[2], Ok(5));
    assert!(matches!(&each[3], Err(Error::TaskFailed { index: 3, .. })));
    assert_eq!(each[4], Ok(6));
    let starred = pool
        .starmap(
            |a: u32, b: u32| a.checked_sub(b).ok_or("underflow"),
            [(5, 3), (1, 2)],
        )
        .unwrap_err();
    assert!(
        matches!(starred, Error::TaskFailed { index: 1, ref message, .. } if message == "underflow")
    );
    let r = pool.apply_async(checked_sqrt, -4i64).unwrap();
    assert!(matches!(r.get(), Err(Error::TaskFailed { index: 0, .. })));
    assert_eq!(r.successful(), Some(false));
}

#[test]
fn zero_sized_messages() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(|_: ()| 7u8, vec![(); 5]).unwrap(), [7; 5]);
    assert_eq!(
        pool.map(
            |x: u8| {
                let _ = x;
            },
            [1u8, 2]
        )
        .unwrap(),
        [(), ()]
    );
}

#[test]
fn starmap_spreads_tuples() {
    let pool = Pool::new(2).unwrap();
    fn power(base: u64, exp: u32) -> u64 {
        base.pow(exp)
    }
    assert_eq!(
        pool.starmap(power, [(2, 10), (3, 3), (5, 0)]).unwrap(),
        [1024, 27, 1]
    );
    let sums = pool
        .chunksize(2)
        .starmap(
            |a: u8, b: u16, c: u64| a as u64 + b as u64 + c,
            [(1, 2, 3), (4, 5, 6), (7, 8, 9)],
        )
        .unwrap();
    assert_eq!(sums, [6, 15, 24]);
    assert_eq!(pool.starmap(|a: i32| -a, [(1,), (2,)]).unwrap(), [-1, -2]);
}

#[test]
fn imap_is_ordered_and_lazy() {
    let pool = Pool::new(3).unwrap();
    // Later items finish first; imap still yields in input order.
    let delays = [60u64, 1, 30, 1, 10];
    let got: Vec<u64> = pool
        .imap(sleep_ms, delays)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, delays);
    // Endless input: only what is taken (plus a window) is computed.
    let firsts: Vec<u64> = pool
        .imap(square, 0..)
        .unwrap()
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(firsts, [0, 1, 4, 9, 16]);
    let chunked: Vec<u64> = pool
        .chunksize(16)
        .imap(square, 0..1000)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(chunked, (0..1000).map(square).collect::<Vec<_>>());
    assert_eq!(pool.imap(square, 0..0).unwrap().count(), 0);
}

#[test]
fn imap_unordered_yields_as_results_arrive() {
    let pool = Pool::new(3).unwrap();
    let mut it = pool.imap_unordered(sleep_ms, [300u64, 5, 5]).unwrap();
    let (first, value) = it.next_indexed().unwrap();
    assert_ne!(first, 0, "the slow item came first");
    assert_eq!(value.unwrap(), 5);
    let rest: HashSet<u64> = it.map(Result::unwrap).collect();
    assert_eq!(rest, HashSet::from([5, 300]));
    let all: HashSet<u64> = pool
        .chunksize(10)
        .imap_unordered(square, 0..500)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(all, (0..500).map(square).collect::<HashSet<u64>>());
}

#[test]
fn imap_next_timeout() {
    let pool = Pool::new(1).unwrap();
    let mut it = pool.imap(sleep_ms, [400u64]).unwrap();
    assert_eq!(
        it.next_timeout(Duration::from_millis(20)),
        Some(Err(Error::Timeout))
    );
    assert_eq!(it.next_timeout(Duration::from_secs(10)), Some(Ok(400)));
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn imap_input_may_come_from_the_same_pool() {
    let pool = Pool::new(2).unwrap();
    let inner = pool.imap(square, 0..20u64).unwrap().map(Result::unwrap);
    let got: Vec<u64> = pool
        .imap(|x: u64| x + 1, inner)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..20).map(|x| x * x + 1).collect::<Vec<_>>());
}

#[test]
fn apply_and_apply_async() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply(square, 12).unwrap(), 144);
    assert_ne!(pool.apply(my_pid, 0).unwrap(), std::process::id());

    let slow = pool.apply_async(sleep_ms, 300).unwrap();
    assert!(!slow.ready());
    assert_eq!(slow.successful(), None);
    assert_eq!(
        slow.get_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    assert!(!slow.wait_timeout(Duration::from_millis(10)));
    assert_eq!(slow.get().unwrap(), 300);
    assert!(slow.ready());
    assert_eq!(slow.successful(), Some(true));
    assert_eq!(slow.get().unwrap(), 300, "get can be called again");

    let many: Vec<_> = (0..50u64)
        .map(|x| pool.apply_async(square, x).unwrap())
        .collect();
    for (x, h) in (0u64..).zip(&many) {
        assert_eq!(h.get().unwrap(), x * x);
    }
}

#[test]
fn dropped_handles_do_not_cancel() {
    let hits = counter();
    let pool = Pool::new(2).unwrap();
    let h = hits.clone();
    let bump = move |_: u8| {
        h.fetch_add(1, Ordering::SeqCst);
    };
    for _ in 0..10 {
        drop(pool.apply_async(bump.clone(), 0).unwrap());
    }
    pool.close();
    pool.join().unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 10);
}

#[test]
fn capturing_closures_see_their_own_state() {
    let pool = Pool::new(2).unwrap();
    for k in [3u64, 5, 7] {
        assert_eq!(
            pool.map(move |x: u64| x * k, 0..4).unwrap(),
            [0, k, 2 * k, 3 * k]
        );
    }
    // Stateless functions (each fn item, each closure expression) are new
    // to the pool once: then the same workers keep running them.
    let inc = |x: u64| x + 1;
    pool.map(square, 0..10).unwrap();
    pool.map(inc, 0..10).unwrap();
    let before = pool.pids().unwrap();
    for _ in 0..3 {
        assert_eq!(pool.map(square, 0..3).unwrap(), [0, 1, 4]);
        assert_eq!(pool.map(inc, 0..3).unwrap(), [1, 2, 3]);
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
    }
    assert_eq!(pool.pids().unwrap(), before);
    // A capturing closure is new every time: fresh workers.
    let k = 2;
    pool.map(move |x: u64| x * k, 0..10).unwrap();
    assert!(pool.pids().unwrap().iter().all(|pid| !before.contains(pid)));
}

#[test]
fn shared_between_threads() {
    let pool = Pool::new(2).unwrap();
    thread::scope(|s| {
        for t in 0..4u64 {
            let pool = &pool;
            s.spawn(move || {
                for round in 0..5u64 {
                    let base = t * 1000 + round * 100;
                    let got = pool.map(square, base..base + 100).unwrap();
                    assert_eq!(got, (base..base + 100).map(square).collect::<Vec<_>>());
                    assert_eq!(pool.apply(square, base).unwrap(), base * base);
                }
            });
        }
    });
}

#[test]
fn map_bytes_and_size_limits() {
    let pool = Pool::builder()
        .processes(2)
        .max_message(4096)
        .build()
        .unwrap();
    let words = ["alpha", "", "gamma"];
    let got = pool
        .map_bytes(|s: &[u8]| s.iter().rev().copied().collect(), words)
        .unwrap();
    assert_eq!(got, [b"ahpla".to_vec(), vec![], b"ammag".to_vec()]);
    // Many small items, chunked by bytes.
    let items: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_string().into_bytes()).collect();
    let got = pool.map_bytes(|s: &[u8]| s.to_vec(), &items).unwrap();
    assert_eq!(got, items);
    // A result that cannot fit fails its item only.
    let err = pool
        .map_bytes(|s: &[u8]| vec![0; s.len() * 10_000], [&[1u8][..], &[]])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ResultTooLarge {
                index: 0,
                len: 10_000,
                ..
            }
        ),
        "{err:?}"
    );
    // Arguments that cannot fit are refused up front.
    let big = vec![0u8; 5000];
    assert!(matches!(
        pool.map_bytes(|s: &[u8]| s.to_vec(), [&big]),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        pool.map(|x: [u64; 600]| x[0], [[0u64; 600]]),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        pool.apply(|x: u8| [x; 5000], 1),
        Err(Error::TooLarge { .. })
    ));
    // The pool still works.
    assert_eq!(pool.map(square, 0..3).unwrap(), [0, 1, 4]);
}

#[test]
fn bad_settings_are_refused() {
    assert!(matches!(Pool::new(0), Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        Pool::builder().max_message(10).build(),
        Err(Error::InvalidArgument { .. })
    ));
    let pool = Pool::new(1).unwrap();
    assert!(matches!(pool.join(), Err(Error::InvalidState { .. })));
}

// ----- panics -----

fn fragile(x: u64) -> u64 {
    if x % 10 == 3 {
        panic!("bad item {x}");
    }
    x * 2
}

#[test]
fn a_panicking_task_fails_only_itself() {
    let pool = Pool::new(2).unwrap();
    let err = pool.chunksize(1).map(fragile, [1u64, 2, 3]).unwrap_err();
    match err {
        Error::TaskFailed {
            index,
            message,
            location,
        } => {
            assert_eq!(index, 2);
            assert_eq!(message, "bad item 3");
            assert!(location.unwrap().contains("pool.rs"));
        }
        other => panic!("unexpected {other:?}"),
    }
    // Items in the same chunk as a panicking one still get their results.
    let got: Vec<Result<u64, Error>> = pool.chunksize(5).imap(fragile, 0..20).unwrap().collect();
    for (x, r) in (0u64..).zip(&got) {
        match r {
            Ok(v) => assert_eq!(*v, x * 2),
            Err(e) => {
                assert_eq!(x % 10, 3);
                assert_eq!(e.index(), Some(x as usize));
                assert!(e.is_item_error());
            }
        }
    }
    assert_eq!(got.iter().filter(|r| r.is_err()).count(), 2);

    let h = pool.apply_async(fragile, 13).unwrap();
    assert!(matches!(h.get(), Err(Error::TaskFailed { index: 0, .. })));
    assert_eq!(h.successful(), Some(false));
    // The workers survived the panics.
    let pids = pool.pids().unwrap();
    assert_eq!(pool.map(fragile, 0..3).unwrap(), [0, 2, 4]);
    assert_eq!(pool.pids().unwrap(), pids);
}

// ----- workers dying -----

#[test]
fn killed_worker_fails_its_task_and_is_replaced() {
    let started = counter();
    let pool = Pool::new(1).unwrap();
    let s = started.clone();
    let slow = move |ms: u64| {
        s.fetch_add(1, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(ms));
        ms
    };
    let running = pool.apply_async(slow.clone(), 5000).unwrap();
    let queued = pool.apply_async(slow.clone(), 10).unwrap();
    let queued2 = pool.apply_async(slow.clone(), 20).unwrap();
    let victim = pool.pids().unwrap()[0];
    assert!(eventually(Duration::from_secs(5), || started
        .load(Ordering::SeqCst)
        == 1));
    sigkill(victim);
    let t = Instant::now();
    match running.get() {
        Err(Error::WorkerDied {
            index: 0,
            pid,
            status,
        }) => {
            assert_eq!(pid, victim);
            assert_eq!(status, ExitStatus::Signaled(SIGKILL));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "noticed late: {:?}",
        t.elapsed()
    );
    // The tasks queued behind it were not charged: they ran on the new worker.
    assert_eq!(queued.get().unwrap(), 10);
    assert_eq!(queued2.get().unwrap(), 20);
    let now = pool.pids().unwrap();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], victim);
    assert!(!running_or_zombie(victim));
    assert_eq!(pool.apply(square, 9).unwrap(), 81);
}

fn running_or_zombie(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn killed_worker_task_is_retried_when_allowed() {
    let started = counter();
    let pool = Pool::builder().processes(2).retries(1).build().unwrap();
    let s = started.clone();
    let once_slow = move |x: u64| {
        // The first attempt is slow (and gets killed), the retry is quick.
        if s.fetch_add(1, Ordering::SeqCst) == 0 {
            thread::sleep(Duration::from_secs(30));
        }
        x + 1
    };
    let h = pool.apply_async(once_slow, 41).unwrap();
    assert!(eventually(Duration::from_secs(5), || started
        .load(Ordering::SeqCst)
        == 1));
    // Kill whichever worker runs it: both, to be sure.
    for pid in pool.pids().unwrap() {
        sigkill(pid);
    }
    assert_eq!(h.get_timeout(Duration::from_secs(10)).unwrap(), 42);
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

fn slow_every_hundred(x: u64) -> u64 {
    if x.is_multiple_of(100) {
        thread::sleep(Duration::from_millis(5));
    }
    x * 2
}

#[test]
fn a_map_survives_repeated_kills_with_retries() {
    let pool = Pool::builder().processes(2).retries(10).build().unwrap();
    thread::scope(|s| {
        let pool = &pool;
        let killer = s.spawn(move || {
            let mut killed = Vec::new();
            for _ in 0..5 {
                thread::sleep(Duration::from_millis(60));
                if let Some(&pid) = pool.pids().unwrap().first() {
                    sigkill(pid);
                    killed.push(pid);
                }
            }
            killed
        });
        let got = pool
            .chunksize(100)
            .map(slow_every_hundred, 0..40_000)
            .unwrap();
        assert!(got.iter().zip(0u64..).all(|(&y, x)| y == 2 * x));
        let killed = killer.join().unwrap();
        assert_eq!(killed.len(), 5);
        let now = pool.pids().unwrap();
        assert!(now.iter().all(|pid| !killed.contains(pid)));
    });
}

fn suicidal(x: u64) -> u64 {
    if x == 5 {
        die_by_sigkill();
    }
    if x == 6 {
        std::process::exit(3);
    }
    x
}

#[test]
fn tasks_that_kill_their_worker_never_hang_the_pool() {
    // Python's pool hangs here (bpo-22393).
    let pool = Pool::builder().processes(2).retries(2).build().unwrap();
    let t = Instant::now();
    let got: Vec<Result<u64, Error>> = pool.imap(suicidal, 0..10).unwrap().collect();
    assert!(t.elapsed() < Duration::from_secs(10));
    for (x, r) in (0u64..).zip(&got) {
        match (x, r) {
            (
                5,
                Err(Error::WorkerDied {
                    index: 5, status, ..
                }),
            ) => {
                assert_eq!(*status, ExitStatus::Signaled(SIGKILL))
            }
            (
                6,
                Err(Error::WorkerDied {
                    index: 6, status, ..
                }),
            ) => {
                assert_eq!(*status, ExitStatus::Exited(3))
            }
            (x, Ok(v)) if x != 5 && x != 6 => assert_eq!(*v, x),
            other => panic!("unexpected {other:?}"),
        }
    }
    // map reports it as an error instead of hanging.
    let err = pool.map(suicidal, 0..10).unwrap_err();
    assert!(matches!(err, Error::WorkerDied { .. }), "{err:?}");
    assert_eq!(pool.map(square, 0..5).unwrap(), [0, 1, 4, 9, 16]);
}

fn dies_at_seven(x: u64) -> u64 {
    if x == 7 {
        die_by_sigkill();
    }
    x
}

/// A worker killed in the middle of a chunk blames the item it was running,
/// not the chunk's first unanswered one; the chunk's other items (done
/// before it, whose results died with the worker, and not yet run) run
/// again and succeed.
#[test]
fn a_worker_killed_mid_chunk_blames_the_running_item() {
    let pool = Pool::new(2).unwrap();
    let err = pool.chunksize(10).map(dies_at_seven, 0..20).unwrap_err();
    assert!(matches!(err, Error::WorkerDied { index: 7, .. }), "{err:?}");
    let got: Vec<Result<u64, Error>> = pool
        .chunksize(10)
        .imap(dies_at_seven, 0..20)
        .unwrap()
        .collect();
    for (x, r) in (0u64..).zip(&got) {
        match r {
            Ok(v) => assert_eq!(*v, x),
            Err(Error::WorkerDied {
                index: 7, status, ..
            }) if x == 7 => {
                assert_eq!(*status, ExitStatus::Signaled(SIGKILL))
            }
            Err(e) => panic!("item {x} failed: {e}"),
        }
    }
    // With a retry, the item runs (and dies) once more, then fails alone.
    let pool = Pool::builder().processes(2).retries(1).build().unwrap();
    let got: Vec<Result<u64, Error>> = pool
        .chunksize(5)
        .imap_unordered(dies_at_seven, 0..10)
        .unwrap()
        .collect();
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 9);
}

// ----- background progress and callbacks -----

/// `apply_async` work completes while the parent does something else:
/// ten 200 ms tasks on two workers, and a parent that does not call into
/// the pool for 1.5 s, finds all ten done (without the progress thread only
/// the first four were: nothing moved until a thread called into the pool).
#[test]
fn apply_async_completes_while_the_parent_is_busy() {
    let pool = Pool::new(2).unwrap();
    pool.pids().unwrap(); // workers forked before the clock starts
    let handles: Vec<_> = (0..10)
        .map(|_| pool.apply_async(sleep_ms, 200).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(1500));
    let ready = handles.iter().filter(|h| h.ready()).count();
    assert_eq!(ready, 10, "only {ready} of 10 tasks done after 1.5 s");
}

/// Callbacks run with each task's outcome while the parent only waits on
/// its own channel; `join` returns only once every callback has returned.
#[test]
fn apply_async_then_calls_back() {
    use std::sync::mpsc;

    fn check(x: u64) -> Result<u64, String> {
        if x == 3 {
            Err("three".into())
        } else {
            Ok(x * 10)
        }
    }
    let pool = Pool::new(2).unwrap();
    let (tx, rx) = mpsc::channel();
    for x in 0..6u64 {
        let tx = tx.clone();
        pool.apply_async_then(check, x, move |r| tx.send((x, r)).unwrap())
            .unwrap();
    }
    let mut got: Vec<(u64, Result<u64, Error>)> = (0..6)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a callback never came")
        })
        .collect();
    got.sort_by_key(|(x, _)| *x);
    for (x, r) in got {
        match r {
            Ok(v) => assert_eq!(v, x * 10),
            Err(Error::TaskFailed { message, .. }) => assert_eq!((x, &message[..]), (3, "three")),
            Err(e) => panic!("{x}: {e}"),
        }
    }

    // Slow callbacks running on the progress thread: a handle is ready, and
    // join returns, only once its callback returned.
    let done = Arc::new(AtomicU32::new(0));
    let slow_callback = |done: &Arc<AtomicU32>| {
        let done = done.clone();
        move |_| {
            thread::sleep(Duration::from_millis(100));
            done.fetch_add(1, Ordering::SeqCst);
        }
    };
    let first = pool
        .apply_async_then(square, 2, slow_callback(&done))
        .unwrap();
    thread::sleep(Duration::from_millis(50)); // the callback is running
    assert_eq!(first.get().unwrap(), 4);
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "get returned before the callback"
    );
    for x in 0..4u64 {
        pool.apply_async_then(square, x, slow_callback(&done))
            .unwrap();
    }
    // By now the progress thread has taken every callback and is running
    // them, one after another (400 ms in all).
    thread::sleep(Duration::from_millis(150));
    pool.close();
    pool.join().unwrap();
    assert_eq!(
        done.load(Ordering::SeqCst),
        5,
        "join returned before every callback"
    );
}

/// A callback may use the pool, and one that panics stops nothing.
#[test]
fn callbacks_may_use_the_pool_and_panic() {
    let pool = Arc::new(Pool::new(2).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = pool.clone();
    pool.apply_async_then(square, 3, move |r| {
        let nine = r.unwrap();
        tx.send(inner.apply(square, nine).unwrap()).unwrap();
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 81);
    let bad = pool
        .apply_async_then(square, 1, |_| {
            panic!("callback panic (expected by the test)")
        })
        .unwrap();
    assert_eq!(bad.get().unwrap(), 1);
    let later = pool.apply_async(square, 5).unwrap();
    thread::sleep(Duration::from_millis(300));
    assert!(
        later.ready(),
        "the progress thread stopped after a panicking callback"
    );
    assert_eq!(later.get().unwrap(), 25);
}

// ----- initializer, maxtasksperchild -----

#[test]
fn initializer_runs_once_per_worker() {
    let inits = counter();
    let i = inits.clone();
    let pool = Pool::builder()
        .processes(3)
        .initializer(move || {
            i.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    pool.map(square, 0..1000).unwrap();
    pool.map(square, 0..1000).unwrap();
    assert_eq!(inits.load(Ordering::SeqCst), 3);
}

#[test]
fn failing_initializer_breaks_the_pool_instead_of_looping() {
    let pool = Pool::builder()
        .processes(2)
        .initializer(|| panic!("no database"))
        .build()
        .unwrap();
    let err = pool.map(square, 0..10).unwrap_err();
    match &err {
        Error::InitializerFailed { message } => {
            assert!(message.contains("no database"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(pool.apply(square, 1), Err(err));

    let pool = Pool::builder()
        .processes(1)
        .initializer(|| std::process::exit(1))
        .build()
        .unwrap();
    assert!(matches!(
        pool.map(square, 0..10),
        Err(Error::InitializerFailed { .. })
    ));
}

#[test]
fn maxtasksperchild_replaces_workers() {
    let pool = Pool::builder()
        .processes(1)
        .maxtasksperchild(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..6).map(|_| pool.apply(my_pid, 0).unwrap()).collect();
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "{pids:?}");
    assert!(pids.chunks(2).all(|pair| pair[0] == pair[1]), "{pids:?}");
    // A map's chunks count as tasks too.
    let got = pool.chunksize(1).map(square, 0..9).unwrap();
    assert_eq!(got, (0..9).map(square).collect::<Vec<_>>());
}

// ----- lifecycle -----

#[test]
fn close_then_join_finishes_work() {
    let pool = Pool::new(2).unwrap();
    let pending: Vec<_> = (0..4u64)
        .map(|x| pool.apply_async(sleep_ms, 50 + x).unwrap())
        .collect();
    let pids = pool.pids().unwrap();
    pool.close();
    assert_eq!(pool.map(square, 0..3), Err(Error::NotRunning));
    assert!(matches!(
        pool.apply_async(square, 1),
        Err(Error::NotRunning)
    ));
    pool.join().unwrap();
    for (x, h) in (0u64..).zip(&pending) {
        assert!(h.ready());
        assert_eq!(h.get().unwrap(), 50 + x);
    }
    for pid in pids {
        assert!(!running_or_zombie(pid), "worker {pid} still there");
    }
    pool.join().unwrap();
}

#[test]
fn terminate_stops_everything_now() {
    let pool = Pool::new(2).unwrap();
    let long = pool.apply_async(sleep_ms, 30_000).unwrap();
    let pids = pool.pids().unwrap();
    let t = Instant::now();
    pool.terminate();
    assert_eq!(long.get(), Err(Error::Terminated));
    assert!(t.elapsed() < Duration::from_secs(2));
    for pid in pids {
        assert!(!running_or_zombie(pid));
    }
    assert_eq!(pool.apply(square, 1), Err(Error::NotRunning));
    pool.join().unwrap();
}

#[test]
fn a_forked_copy_of_the_pool_refuses_to_work() {
    let pool = Arc::new(Pool::new(1).unwrap());
    assert_eq!(pool.apply(square, 2).unwrap(), 4);
    let pids = pool.pids().unwrap();
    let copy = pool.clone();
    in_child(move || {
        assert!(matches!(
            copy.map(square, 0..3),
            Err(Error::InvalidState { .. })
        ));
        assert!(matches!(copy.pids(), Err(Error::InvalidState { .. })));
        copy.terminate();
    });
    // The child's copy touched nothing of ours.
    assert_eq!(pool.pids().unwrap(), pids);
    assert_eq!(pool.apply(square, 3).unwrap(), 9);
}

fn memfd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("memfd:"))
        .count()
}

fn memfd_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains("memfd:"))
        .count()
}

fn dev_shm() -> HashSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn drop_leaves_no_process_and_no_segment() {
    // In a child: a single-threaded process whose descriptors and mappings
    // no other test touches meanwhile.
    in_child(|| {
        let (fds, maps, shm) = (memfd_count(), memfd_mappings(), dev_shm());
        let pids = {
            let pool = Pool::new(3).unwrap();
            let busy = pool.apply_async(sleep_ms, 30_000).unwrap();
            assert_eq!(pool.map(square, 0..1000).unwrap().len(), 1000);
            let pids = pool.pids().unwrap();
            assert!(pids.iter().all(|&pid| is_running(pid)));
            assert!(memfd_count() > fds);
            drop(busy);
            pids
        };
        for pid in pids {
            assert!(!running_or_zombie(pid), "worker {pid} left behind");
        }
        let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
        assert_eq!(threads, 1, "the progress thread outlived the pool");
        assert_eq!(memfd_count(), fds, "memfd descriptors left open");
        assert_eq!(memfd_mappings(), maps, "memfd mappings left");
        assert!(dev_shm().is_subset(&shm), "new /dev/shm entries");
    });
}

#[test]
fn workers_exit_when_the_parent_dies() {
    let pids = Arc::new(
        Shared::create(
            &SegmentOptions::anonymous(),
            [const { AtomicU32::new(0) }; 2],
        )
        .unwrap(),
    );
    let theirs = pids.clone();
    let parent = Process::builder()
        .daemon(true)
        .spawn(move || {
            let pool = Pool::new(2).unwrap();
            for (slot, pid) in theirs.iter().zip(pool.pids().unwrap()) {
                slot.store(pid, Ordering::SeqCst);
            }
            thread::sleep(Duration::from_secs(60));
        })
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || pids
        .iter()
        .all(|p| p.load(Ordering::SeqCst) != 0)));
    let workers: Vec<u32> = pids.iter().map(|p| p.load(Ordering::SeqCst)).collect();
    assert!(workers.iter().all(|&pid| is_running(pid)));
    parent.kill().unwrap();
    let _ = parent.join().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || workers
            .iter()
            .all(|&pid| !is_running(pid))),
        "orphaned workers {workers:?} still running"
    );
}
