//! Cross-process synchronisation, tested with real (forked) processes.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::Error;
use ipc_core::process::Process;
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_core::sync::{Barrier, Condvar, Event, LockError, RobustMutex, RobustMutexExt, Semaphore};
use ipc_test_support::{PROMPT, SIGKILL, cpu_time, daemon, eventually, park, sigkill, slots};

fn anon<T: ipc_core::ShmSafe>(v: T) -> Shared<T> {
    Shared::create(&SegmentOptions::anonymous(), v).unwrap()
}

/// A child takes the mutex, writes half an update, and is SIGKILLed; the parent
/// then gets the lock promptly and is told the owner died.
#[test]
fn killed_owner_is_reported_to_next_locker() {
    let m = anon(RobustMutex::new([0u64; 2]));
    let locked = anon(Event::new());
    let child = daemon({
        let (m, locked) = (m.try_clone().unwrap(), locked.try_clone().unwrap());
        move || {
            let mut g = m.lock();
            g[0] = 1; // half of an update that should set both words
            locked.set();
            park();
        }
    });
    locked.wait_for(PROMPT).unwrap();
    child.kill().unwrap();
    let _ = child.join().unwrap();

    let start = Instant::now();
    match m.lock_robust_for(PROMPT) {
        Err(LockError::OwnerDied(g)) => {
            assert_eq!(*g, [1, 0], "sees the half-done update");
            RobustMutex::mark_consistent(&g);
        }
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert!(start.elapsed() < PROMPT);
    // Repaired: later lockers get a clean lock.
    assert!(m.lock_robust().is_ok());
}

/// Unrepaired state keeps being reported, like std's poisoning.
#[test]
fn owner_died_persists_until_marked_consistent() {
    let m = anon(RobustMutex::new(0u32));
    let locked = anon(Event::new());
    let child = daemon({
        let (m, locked) = (m.try_clone().unwrap(), locked.try_clone().unwrap());
        move || {
            let _g = m.lock();
            locked.set();
            park();
        }
    });
    locked.wait_for(PROMPT).unwrap();
    child.kill().unwrap();
    let _ = child.join().unwrap();
    drop(
        m.lock_robust_for(PROMPT)
            .unwrap_err()
            .into_guard()
            .expect("owner died"),
    );
    assert!(m.is_inconsistent());
    let g = m
        .lock_robust()
        .unwrap_err()
        .into_guard()
        .expect("still inconsistent");
    RobustMutex::mark_consistent(&g);
    drop(g);
    assert!(!m.is_inconsistent());
}

/// The parent is already asleep in `lock` when the owner is killed (by a third
/// process): the kernel must wake it.
#[test]
fn sleeping_waiter_is_woken_by_owner_death() {
    let m = anon(RobustMutex::new(0u32));
    let locked = anon(Event::new());
    let owner = daemon({
        let (m, locked) = (m.try_clone().unwrap(), locked.try_clone().unwrap());
        move || {
            let _g = m.lock();
            locked.set();
            park();
        }
    });
    locked.wait_for(PROMPT).unwrap();
    let owner_pid = owner.pid();
    let killer = daemon(move || {
        std::thread::sleep(Duration::from_millis(100));
        // Our sibling, still unreaped: its pid cannot have been reused.
        sigkill(owner_pid);
    });
    let start = Instant::now();
    let r = m.lock_robust_for(PROMPT);
    assert!(matches!(r, Err(LockError::OwnerDied(_))), "{r:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "woke before the owner died"
    );
    drop(r);
    killer.join_ok().unwrap();
    assert_eq!(owner.join().unwrap().signal(), Some(SIGKILL));
}

/// Several processes queue on the mutex; the owner is killed; every waiter gets
/// through, exactly one of them is told about the death (it repairs).
#[test]
fn queued_waiters_all_proceed_after_owner_death() {
    const WAITERS: usize = 3;
    let m = anon(RobustMutex::new(0u64));
    let locked = anon(Event::new());
    // [0] = waiters done, [1] = owner-died reports, [2] = waiters started
    let out = slots::<3>();
    let owner = daemon({
        let (m, locked) = (m.try_clone().unwrap(), locked.try_clone().unwrap());
        move || {
            let _g = m.lock();
            locked.set();
            park();
        }
    });
    locked.wait_for(PROMPT).unwrap();
    let waiters: Vec<Process> = (0..WAITERS)
        .map(|_| {
            let (m, out) = (m.try_clone().unwrap(), out.try_clone().unwrap());
            daemon(move || {
                out[2].fetch_add(1, Ordering::SeqCst);
                let mut g = match m.lock_robust_for(PROMPT) {
                    Ok(g) => g,
                    Err(LockError::OwnerDied(g)) => {
                        out[1].fetch_add(1, Ordering::SeqCst);
                        RobustMutex::mark_consistent(&g);
                        g
                    }
                    Err(e) => panic!("waiter failed: {e:?}"),
                };
                *g += 1;
                out[0].fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert!(eventually(PROMPT, || out[2].load(Ordering::SeqCst) == WAITERS as u64));
    std::thread::sleep(Duration::from_millis(50)); // let them reach the kernel wait
    owner.kill().unwrap();
    for w in &waiters {
        assert!(w.join_timeout(PROMPT * 2).unwrap().success());
    }
    assert_eq!(out[0].load(Ordering::SeqCst), WAITERS as u64);
    assert_eq!(
        out[1].load(Ordering::SeqCst),
        1,
        "exactly one waiter repairs"
    );
    assert_eq!(*m.lock(), WAITERS as u64);
}

/// Mutual exclusion across processes: increments are never lost.
#[test]
fn mutex_excludes_across_processes() {
    let m = anon(RobustMutex::new([0u64; 2]));
    let kids: Vec<Process> = (0..2)
        .map(|_| {
            let m = m.try_clone().unwrap();
            daemon(move || {
                for _ in 0..20_000 {
                    let mut g = m.lock();
                    // Two words updated non-atomically: a race would split them.
                    g[0] += 1;
                    g[1] = g[0];
                }
            })
        })
        .collect();
    for k in kids {
        assert!(k.join().unwrap().success());
    }
    assert_eq!(*m.lock(), [40_000, 40_000]);
}

/// Every timed wait fires no earlier than its timeout, and not much later.
#[test]
fn timeouts_fire_on_time_never_early() {
    let timeout = Duration::from_millis(40);
    let check = |what: &str, start: Instant, r: Result<(), Error>| {
        let took = start.elapsed();
        assert_eq!(r, Err(Error::Timeout), "{what}");
        assert!(took >= timeout, "{what} returned early after {took:?}");
        assert!(took < timeout + PROMPT, "{what} took {took:?}");
    };
    let ev = anon(Event::new());
    let t = Instant::now();
    check("event", t, ev.wait_for(timeout));

    let sem = anon(Semaphore::new(0));
    let t = Instant::now();
    check("semaphore", t, sem.acquire_for(timeout));

    let m = anon(RobustMutex::new(0u32));
    let cv = anon(Condvar::new());
    let mut g = m.lock();
    let t = Instant::now();
    check("condvar", t, cv.wait_for(&mut g, timeout));
    drop(g);

    // The mutex held by another process.
    let locked = anon(Event::new());
    let holder = daemon({
        let (m, locked) = (m.try_clone().unwrap(), locked.try_clone().unwrap());
        move || {
            let _g = m.lock();
            locked.set();
            park();
        }
    });
    locked.wait_for(PROMPT).unwrap();
    let t = Instant::now();
    check(
        "mutex",
        t,
        m.lock_robust_for(timeout).map(drop).map_err(Error::from),
    );
    holder.kill().unwrap();
    let _ = holder.join().unwrap();

    let b = anon(Barrier::new(2));
    let t = Instant::now();
    check("barrier", t, b.wait_for(timeout).map(drop));
    assert!(b.is_broken(), "a timed-out party breaks the barrier");
    assert_eq!(b.wait().map(drop), Err(Error::BrokenBarrier));
    b.reset();
    assert!(!b.is_broken());
}

#[test]
fn event_set_by_child_wakes_parent() {
    let ev = anon(Event::new());
    let child = daemon({
        let ev = ev.try_clone().unwrap();
        move || {
            std::thread::sleep(Duration::from_millis(30));
            ev.set();
        }
    });
    let t = Instant::now();
    ev.wait_for(PROMPT).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
    assert!(child.join().unwrap().success());
}

#[test]
fn semaphore_hands_permits_between_processes() {
    let items = anon(Semaphore::new(0));
    let got = slots::<1>();
    let consumer = daemon({
        let (items, got) = (items.try_clone().unwrap(), got.try_clone().unwrap());
        move || {
            for _ in 0..100 {
                items.acquire_for(PROMPT).unwrap();
                got[0].fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    for _ in 0..100 {
        items.release(1).unwrap();
    }
    assert!(consumer.join().unwrap().success());
    assert_eq!(got[0].load(Ordering::SeqCst), 100);
    assert_eq!(items.value(), 0);
    assert!(items.release(u32::MAX).is_err(), "overflow refused");
    assert_eq!(items.value(), 0, "refused release changed nothing");
}

#[test]
fn barrier_releases_three_processes_per_round() {
    let b = anon(Barrier::new(3));
    let out = slots::<2>(); // [0] leaders, [1] passes
    let kids: Vec<Process> = (0..2)
        .map(|_| {
            let (b, out) = (b.try_clone().unwrap(), out.try_clone().unwrap());
            daemon(move || {
                for _ in 0..50 {
                    let r = b.wait_for(PROMPT).unwrap();
                    out[0].fetch_add(r.is_leader() as u64, Ordering::SeqCst);
                    out[1].fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for _ in 0..50 {
        let r = b.wait_for(PROMPT).unwrap();
        out[0].fetch_add(r.is_leader() as u64, Ordering::SeqCst);
        out[1].fetch_add(1, Ordering::SeqCst);
    }
    for k in kids {
        assert!(k.join().unwrap().success());
    }
    assert_eq!(out[0].load(Ordering::SeqCst), 50, "one leader per round");
    assert_eq!(out[1].load(Ordering::SeqCst), 150);
}

/// A barrier party that dies never arrives; the others time out and the barrier
/// is reported broken instead of hanging.
#[test]
fn barrier_with_dead_party_breaks_instead_of_hanging() {
    let b = anon(Barrier::new(3));
    let waiting = daemon({
        let b = b.try_clone().unwrap();
        move || {
            let r = b.wait();
            std::process::exit(if r == Err(Error::BrokenBarrier) { 0 } else { 1 });
        }
    });
    let doomed = daemon(|| park());
    doomed.kill().unwrap();
    let _ = doomed.join().unwrap();
    assert_eq!(
        b.wait_for(Duration::from_millis(100)).map(drop),
        Err(Error::Timeout)
    );
    assert!(
        waiting.join_timeout(PROMPT).unwrap().success(),
        "the other waiter was told"
    );
}

#[test]
fn condvar_signals_across_processes() {
    let m = anon(RobustMutex::new(0u64));
    let cv = anon(Condvar::new());
    let child = daemon({
        let (m, cv) = (m.try_clone().unwrap(), cv.try_clone().unwrap());
        move || {
            for i in 1..=20u64 {
                let mut g = m.lock();
                cv.wait_while(&mut g, |v| *v != 2 * i - 1).unwrap();
                *g += 1;
                cv.notify_all();
            }
        }
    });
    for i in 1..=20u64 {
        let mut g = m.lock();
        cv.wait_while(&mut g, |v| *v != 2 * (i - 1)).unwrap();
        *g += 1;
        cv.notify_all();
    }
    assert!(child.join_timeout(PROMPT).unwrap().success());
    assert_eq!(*m.lock(), 40);
}

/// A bounded `wait_while` returns once another process makes the condition
/// false, and times out (never early, lock held again) when nobody does.
#[test]
fn condvar_wait_while_for_is_bounded() {
    let m = anon(RobustMutex::new(0u64));
    let cv = anon(Condvar::new());
    let child = daemon({
        let (m, cv) = (m.try_clone().unwrap(), cv.try_clone().unwrap());
        move || {
            std::thread::sleep(Duration::from_millis(50));
            *m.lock() = 7;
            cv.notify_all();
        }
    });
    let mut g = m.lock();
    cv.wait_while_for(&mut g, PROMPT, |v| *v != 7).unwrap();
    assert_eq!(*g, 7);
    let start = Instant::now();
    let r = cv.wait_while_for(&mut g, Duration::from_millis(30), |v| *v != 8);
    assert_eq!(r, Err(ipc_core::Error::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(*g, 7, "the lock is held again");
    drop(g);
    assert!(child.join_timeout(PROMPT).unwrap().success());
}

/// An idle waiter sleeps instead of spinning: its CPU time stays tiny while it
/// waits a long while.
#[test]
fn idle_waiter_uses_no_cpu() {
    let ev = anon(Event::new());
    let cpu = slots::<1>();
    let child = daemon({
        let (ev, cpu) = (ev.try_clone().unwrap(), cpu.try_clone().unwrap());
        move || {
            ev.wait().unwrap();
            cpu[0].store(cpu_time().as_micros() as u64, Ordering::SeqCst);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    ev.set();
    assert!(child.join().unwrap().success());
    let cpu_us = cpu[0].load(Ordering::SeqCst);
    assert!(
        cpu_us < 100_000,
        "waiter burned {cpu_us} µs of CPU in 300 ms"
    );
}
