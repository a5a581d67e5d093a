//! The Queue across real processes: ordering, exactly-once delivery, crashes
//! at random points, closing, joining, loans, guards, bytes and bad input.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::process::Process;
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_queue::queue::offsets;
use ipc_queue::{Error, Queue, wait_timeout};
use ipc_test_support::{PROMPT, Stamped, cpu_time, daemon, slots, unique_name};

#[test]
fn fifo_capacity_and_nonblocking_errors() {
    let q = Queue::<u64>::new(3).unwrap();
    assert_eq!(q.capacity(), 3);
    assert_eq!(q.try_get(), Err(Error::Empty));
    for i in 0..3 {
        q.try_put(&i).unwrap();
    }
    assert!(q.is_full());
    assert_eq!(q.try_put(&9), Err(Error::Full));
    assert_eq!(q.len(), 3);
    assert_eq!(
        (q.get().unwrap(), q.get().unwrap(), q.get().unwrap()),
        (0, 1, 2)
    );
    assert!(q.is_empty());
    // Wrap around many times.
    for i in 0..100u64 {
        q.put(&i).unwrap();
        assert_eq!(q.get().unwrap(), i);
    }
}

#[test]
fn stream_between_processes_in_order() {
    let q = Queue::<u64>::new(64).unwrap();
    let tx = q.try_clone().unwrap();
    let child = daemon(move || {
        for i in 0..20_000u64 {
            tx.put(&i).unwrap();
        }
    });
    for i in 0..20_000u64 {
        assert_eq!(q.get_timeout(PROMPT).unwrap(), i);
    }
    assert!(child.join().unwrap().success());
}

/// N producer processes × M consumer processes: every message arrives exactly
/// once, and each consumer sees each producer's messages in order.
#[test]
fn many_producers_many_consumers_exactly_once_in_order() {
    const P: u64 = 3;
    const C: usize = 2;
    const PER: u64 = 3000;
    let q = Queue::<Stamped>::new(32).unwrap();
    // seen[p * PER + seq] counts deliveries; bad[0] counts violations.
    let seen = Shared::create(
        &SegmentOptions::anonymous(),
        std::array::from_fn::<AtomicU64, { (P * PER) as usize }, _>(|_| AtomicU64::new(0)),
    )
    .unwrap();
    let bad = slots::<1>();
    let producers: Vec<Process> = (0..P)
        .map(|p| {
            let q = q.try_clone().unwrap();
            daemon(move || {
                for seq in 0..PER {
                    q.put(&Stamped::new(p, seq)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<Process> = (0..C)
        .map(|_| {
            let (q, seen, bad) = (
                q.try_clone().unwrap(),
                seen.try_clone().unwrap(),
                bad.try_clone().unwrap(),
            );
            daemon(move || {
                let mut last = [None::<u64>; P as usize];
                loop {
                    let m = match q.get_timeout(PROMPT) {
                        Ok(m) => m,
                        Err(Error::Disconnected) => break,
                        Err(e) => panic!("{e}"),
                    };
                    let in_order = last[m.source as usize].is_none_or(|l| l < m.seq);
                    if !m.intact() || !in_order {
                        bad[0].fetch_add(1, Ordering::SeqCst);
                    }
                    last[m.source as usize] = Some(m.seq);
                    seen[(m.source * PER + m.seq) as usize].fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for p in producers {
        assert!(p.join().unwrap().success());
    }
    q.close().unwrap();
    for c in consumers {
        assert!(c.join_timeout(PROMPT).unwrap().success());
    }
    assert_eq!(
        bad[0].load(Ordering::SeqCst),
        0,
        "torn or out-of-order messages"
    );
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(
            s.load(Ordering::SeqCst),
            1,
            "message {i} delivered a wrong number of times"
        );
    }
}

#[test]
fn close_wakes_blocked_waiters_and_drains() {
    let q = Queue::<u64>::new(2).unwrap();
    let rx = q.try_clone().unwrap();
    let blocked = daemon(move || {
        let r = rx.get();
        std::process::exit(if r == Err(Error::Disconnected) { 0 } else { 1 });
    });
    std::thread::sleep(Duration::from_millis(50));
    q.close().unwrap();
    assert!(
        blocked.join_timeout(PROMPT).unwrap().success(),
        "blocked get woke with Disconnected"
    );

    let q = Queue::<u64>::new(2).unwrap();
    q.put(&1).unwrap();
    q.put(&2).unwrap();
    let tx = q.try_clone().unwrap();
    let blocked_put = daemon(move || {
        let r = tx.put(&3);
        std::process::exit(if r == Err(Error::Disconnected) { 0 } else { 1 });
    });
    std::thread::sleep(Duration::from_millis(50));
    q.close().unwrap();
    assert!(
        blocked_put.join_timeout(PROMPT).unwrap().success(),
        "blocked put woke with Disconnected"
    );
    assert_eq!(q.put(&4), Err(Error::Disconnected));
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get(), Ok(2));
    assert_eq!(q.get(), Err(Error::Disconnected));
    assert!(q.is_closed());
}

#[test]
fn joinable_queue_join_waits_for_task_done() {
    let q = Queue::<u64>::new(8).unwrap();
    for i in 0..5 {
        q.put(&i).unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 5);
    let worker_q = q.try_clone().unwrap();
    let worker = daemon(move || {
        for _ in 0..5 {
            worker_q.get().unwrap();
            std::thread::sleep(Duration::from_millis(5));
            worker_q.task_done().unwrap();
        }
    });
    let t = Instant::now();
    q.join_timeout(PROMPT).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err(), "more task_done than puts");
    assert!(worker.join().unwrap().success());
}

#[test]
fn batches_cross_processes() {
    let q = Queue::<u64>::new(16).unwrap();
    let tx = q.try_clone().unwrap();
    let child = daemon(move || {
        let all: Vec<u64> = (0..10_000).collect();
        tx.put_all(&all).unwrap();
    });
    let mut got = Vec::new();
    let mut buf = [0u64; 7];
    while got.len() < 10_000 {
        let n = q.get_batch(&mut buf).unwrap();
        assert!(n >= 1);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    assert!(child.join().unwrap().success());
}

#[test]
fn loans_commit_or_give_back() {
    let q = Queue::<[u64; 4]>::new(2).unwrap();
    {
        let mut l = q.loan().unwrap();
        *l.as_mut().unwrap() = [7; 4];
        // dropped without commit: nothing delivered
    }
    let mut l = q.loan().unwrap();
    *l.as_mut().unwrap() = [1, 2, 3, 4];
    l.commit();
    assert_eq!(q.get().unwrap(), [1, 2, 3, 4]);
    assert_eq!(q.try_get(), Err(Error::Empty));
    // The abandoned slot was given back: the full capacity is usable.
    q.try_put(&[5; 4]).unwrap();
    q.try_put(&[6; 4]).unwrap();
    assert_eq!(q.try_put(&[0; 4]), Err(Error::Full));
}

/// A producer killed while holding a loan (mid-write) delivers nothing torn,
/// and the messages after it still flow.
#[test]
fn producer_killed_holding_a_loan_is_stepped_over() {
    let q = Queue::<Stamped>::new(4).unwrap();
    let ready = slots::<1>();
    let child = daemon({
        let (q, ready) = (q.try_clone().unwrap(), ready.try_clone().unwrap());
        move || {
            let mut l = q.loan().unwrap();
            l.bytes_mut()[..8].copy_from_slice(&[0xAB; 8]); // half-written
            ready[0].store(1, Ordering::SeqCst);
            loop {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    while ready[0].load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    q.put(&Stamped::new(1, 1)).unwrap();
    child.kill().unwrap();
    let _ = child.join().unwrap();
    let t = Instant::now();
    let m = q.get_timeout(PROMPT).unwrap();
    assert_eq!(
        m,
        Stamped::new(1, 1),
        "the dead loan is skipped, nothing torn"
    );
    assert!(t.elapsed() < PROMPT);
    assert_eq!(q.try_get(), Err(Error::Empty));
}

/// A consumer killed while holding a receive guard: producers reclaim the slot.
#[test]
fn consumer_killed_holding_a_guard_frees_the_slot() {
    let q = Queue::<u64>::new(1).unwrap();
    q.put(&5).unwrap();
    let held = slots::<1>();
    let child = daemon({
        let (q, held) = (q.try_clone().unwrap(), held.try_clone().unwrap());
        move || {
            let g = q.recv_guard().unwrap();
            held[0].store(*g.get().unwrap(), Ordering::SeqCst);
            loop {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    while held[0].load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        held[0].load(Ordering::SeqCst),
        5,
        "guard read the message in place"
    );
    assert_eq!(
        q.try_put(&6),
        Err(Error::Full),
        "the held slot is not reused while its holder lives"
    );
    child.kill().unwrap();
    let _ = child.join().unwrap();
    q.put_timeout(&6, PROMPT).unwrap();
    assert_eq!(q.get().unwrap(), 6);
}

/// A consumer killed in the middle of `get_with` does not lose the message: it
/// is delivered again to the next consumer.
#[test]
fn consumer_killed_mid_get_redelivers() {
    let q = Queue::<u64>::new(4).unwrap();
    q.put(&11).unwrap();
    q.put(&12).unwrap();
    let inside = slots::<1>();
    let child = daemon({
        let (q, inside) = (q.try_clone().unwrap(), inside.try_clone().unwrap());
        move || {
            q.get_with(|m| {
                inside[0].store(*m, Ordering::SeqCst);
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .unwrap();
        }
    });
    while inside[0].load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    let _ = child.join().unwrap();
    assert_eq!(q.get_timeout(PROMPT).unwrap(), 11, "redelivered in order");
    assert_eq!(q.get_timeout(PROMPT).unwrap(), 12);
}

/// A process killed while holding one of the queue's locks (the producers'
/// or the consumers'): the next locker repairs and carries on.
#[test]
fn lock_holder_killed_does_not_wedge_the_queue() {
    for offset in [offsets::PRODUCER_LOCK, offsets::CONSUMER_LOCK] {
        lock_holder_killed(offset);
    }
}

fn lock_holder_killed(offset: usize) {
    let q = Queue::<u64>::new(8).unwrap();
    q.put(&1).unwrap();
    // Reach the queue's robust mutex through its layout: it is the first
    // field of the payload.
    let payload = q.object().payload().as_ptr() as usize;
    let locked = slots::<1>();
    let child = daemon({
        let (q2, locked) = (q.try_clone().unwrap(), locked.try_clone().unwrap());
        move || {
            let p = q2.object().payload().as_ptr() as usize + offset;
            // SAFETY: at both offsets a queue payload holds a
            // RobustMutex<()> (`offsets`, computed from the layout).
            let m = unsafe { &*(p as *const ipc_core::sync::RobustMutex<()>) };
            let _g = m.lock();
            locked[0].store(1, Ordering::SeqCst);
            loop {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let _ = payload;
    while locked[0].load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    let _ = child.join().unwrap();
    q.put_timeout(&2, PROMPT).unwrap();
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get().unwrap(), 2);
}

/// A queue opened through a read-only mapping is refused at open with a
/// typed error; nothing writes to the mapping (it used to open, and the
/// first `try_get` killed the process with SIGSEGV taking the lock). The
/// attempt runs in a child so a fault would show as its signal.
#[test]
fn read_only_open_is_refused_not_a_crash() {
    let name = unique_name("ro");
    let q = Queue::<u64>::builder()
        .named(&name)
        .capacity(4)
        .create()
        .unwrap();
    q.put(&7).unwrap();
    let child = daemon(move || {
        let ro = Queue::<u64>::builder()
            .options(SegmentOptions::named(&name).read_only(true))
            .open();
        match ro {
            Err(Error::Core(ipc_core::Error::InvalidArgument { .. })) => {}
            Err(e) => panic!("wrong error: {e:?}"),
            Ok(q) => {
                // What used to happen: this faulted.
                let _ = q.try_get();
                panic!("a read-only queue opened");
            }
        }
    });
    assert_eq!(
        child.join().unwrap(),
        ipc_core::process::ExitStatus::Exited(0)
    );
    assert_eq!(q.try_get(), Ok(7), "nothing was taken");
}

/// Every bounded call returns by its deadline while another process holds
/// the lock it needs (a stopped or wedged process, here one that sits on it
/// for 3 s): `put_timeout`/`get_timeout` report `Timeout`, `try_put`/`try_get`
/// report `Full`/`Empty`, all within a fraction of the hold. (The locks used
/// to be taken without a deadline: each call waited out the whole hold.)
#[test]
fn timeouts_hold_while_another_process_holds_a_lock() {
    const HOLD: Duration = Duration::from_secs(3);
    const BOUND: Duration = Duration::from_secs(1);
    for offset in [offsets::PRODUCER_LOCK, offsets::CONSUMER_LOCK] {
        let q = Queue::<u64>::new(4).unwrap();
        q.put(&1).unwrap();
        let locked = slots::<1>();
        let holder = daemon({
            let (q2, locked) = (q.try_clone().unwrap(), locked.try_clone().unwrap());
            move || {
                let p = q2.object().payload().as_ptr() as usize + offset;
                // SAFETY: at both offsets a queue payload holds a
                // RobustMutex<()> (`offsets`, computed from the layout).
                let m = unsafe { &*(p as *const ipc_core::sync::RobustMutex<()>) };
                let _g = m.lock();
                locked[0].store(1, Ordering::SeqCst);
                std::thread::sleep(HOLD);
            }
        });
        assert!(ipc_test_support::eventually(PROMPT, || locked[0]
            .load(Ordering::SeqCst)
            == 1));
        let t = Instant::now();
        let (timed, tried) = if offset == offsets::PRODUCER_LOCK {
            (q.put_timeout(&2, Duration::from_millis(20)), q.try_put(&2))
        } else {
            (
                q.get_timeout(Duration::from_millis(20)).map(drop),
                q.try_get().map(drop),
            )
        };
        let took = t.elapsed();
        assert_eq!(timed, Err(Error::Timeout), "lock at {offset}");
        let busy = if offset == offsets::PRODUCER_LOCK {
            Error::Full
        } else {
            Error::Empty
        };
        assert_eq!(tried, Err(busy));
        assert!(took < BOUND, "lock at {offset}: {took:?} for a 20 ms call");
        holder.kill().unwrap();
        let _ = holder.join().unwrap();
        // The holder died with the lock: the next call repairs and goes on.
        q.put_timeout(&3, PROMPT).unwrap();
        assert_eq!(q.get_timeout(PROMPT), Ok(1));
    }
}

#[test]
fn byte_frames_and_their_errors() {
    let q = Queue::<u8>::builder()
        .capacity(4)
        .max_frame(64)
        .create()
        .unwrap();
    assert_eq!(q.max_frame(), 64);
    q.put_bytes(b"").unwrap();
    q.put_str("hello").unwrap();
    q.put_bytes(&[9u8; 64]).unwrap();
    assert_eq!(
        q.put_bytes(&[1u8; 65]),
        Err(Error::TooLarge { len: 65, max: 64 })
    );
    assert_eq!(q.len(), 3, "an oversized frame sends nothing");
    assert_eq!(q.get_bytes().unwrap(), b"");
    assert_eq!(q.get_string().unwrap(), "hello");
    let mut small = [0u8; 10];
    assert_eq!(
        q.get_bytes_into(&mut small),
        Err(Error::BufferTooSmall {
            needed: 64,
            got: 10
        })
    );
    let mut big = [0u8; 100];
    assert_eq!(
        q.get_bytes_into(&mut big).unwrap(),
        64,
        "the frame stayed queued"
    );
    // A typed get of a frame of the wrong size reports it.
    q.put_bytes(b"xy").unwrap();
    assert_eq!(
        q.get(),
        Err(Error::WrongSize {
            expected: 1,
            found: 2
        })
    );
}

#[test]
fn bad_configurations_and_wrong_types_are_typed_errors() {
    assert!(matches!(
        Queue::<u64>::new(0),
        Err(Error::Core(ipc_core::Error::InvalidSize { .. }))
    ));
    assert!(matches!(
        Queue::<u64>::new(1 << 40),
        Err(Error::Core(ipc_core::Error::InvalidSize { .. }))
    ));
    assert!(matches!(
        Queue::<u64>::builder().max_frame(1 << 40).create(),
        Err(Error::Core(ipc_core::Error::InvalidSize { .. }))
    ));
    let name = unique_name("types");
    let _q = Queue::<u64>::builder().named(&name).create().unwrap();
    match Queue::<u32>::builder().named(&name).open() {
        Err(Error::Core(ipc_core::Error::WrongType {
            expected, found, ..
        })) => {
            assert!(expected.contains("u32") && found.contains("u64"));
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert!(matches!(
        Queue::<u64>::builder()
            .named(&unique_name("missing"))
            .open(),
        Err(Error::Core(ipc_core::Error::NotFound { .. }))
    ));
}

#[test]
fn named_queue_between_unrelated_openers() {
    let name = unique_name("named");
    let q = Queue::<u64>::builder()
        .named(&name)
        .capacity(8)
        .create()
        .unwrap();
    let child = daemon({
        let name = name.clone();
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            q.put(&99).unwrap();
        }
    });
    assert_eq!(q.get_timeout(PROMPT).unwrap(), 99);
    assert!(child.join().unwrap().success());
}

/// Garbage written over the indices or a frame length gives an error, never
/// an out-of-bounds access or a panic.
#[test]
fn corrupted_indices_are_errors() {
    let q = Queue::<u64>::new(4).unwrap();
    q.put(&1).unwrap();
    let base = q.object().payload().as_ptr();
    // SAFETY: `offsets::TAIL` is the `tail` index, an aligned u64 inside the
    // payload; we scribble over it on purpose, as a buggy process might.
    unsafe { (*base.add(offsets::TAIL).cast::<AtomicU64>()).store(u64::MAX / 3, Ordering::SeqCst) };
    assert!(matches!(
        q.get(),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));
    assert!(matches!(
        q.put(&2),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));

    let q = Queue::<u64>::new(4).unwrap();
    q.put(&1).unwrap();
    let base = q.object().payload().as_ptr();
    // SAFETY: slot 0's `len` word: an aligned u32 inside the payload.
    unsafe {
        (*base
            .add(offsets::SLOTS + offsets::SLOT_LEN)
            .cast::<std::sync::atomic::AtomicU32>())
        .store(1 << 30, Ordering::SeqCst)
    };
    assert!(matches!(
        q.get(),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));

    let q = Queue::<u64>::new(4).unwrap();
    q.put(&1).unwrap();
    let base = q.object().payload().as_ptr();
    // SAFETY: slot 0's `state` word: an aligned u32 inside the payload;
    // scribbled on purpose.
    unsafe {
        (*base
            .add(offsets::SLOTS + offsets::SLOT_STATE)
            .cast::<std::sync::atomic::AtomicU32>())
        .store(0xdead, Ordering::SeqCst)
    };
    assert!(matches!(
        q.get(),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));
}

#[test]
fn timeouts_are_never_early() {
    let q = Queue::<u64>::new(1).unwrap();
    let t = Instant::now();
    assert_eq!(
        q.get_timeout(Duration::from_millis(30)),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    q.put(&1).unwrap();
    let t = Instant::now();
    assert_eq!(
        q.put_timeout(&2, Duration::from_millis(30)),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
}

#[test]
fn wait_on_several_queues_across_processes() {
    let a = Queue::<u64>::new(4).unwrap();
    let b = Queue::<u64>::new(4).unwrap();
    assert!(wait_timeout(&[&a, &b], Duration::from_millis(10)).is_empty());
    let b2 = b.try_clone().unwrap();
    let child = daemon(move || {
        std::thread::sleep(Duration::from_millis(30));
        b2.put(&1).unwrap();
    });
    let t = Instant::now();
    assert_eq!(wait_timeout(&[&a, &b], PROMPT), vec![1]);
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert!(child.join().unwrap().success());
    a.close().unwrap();
    assert_eq!(
        wait_timeout(&[&a, &b], PROMPT),
        vec![0, 1],
        "closed counts as ready"
    );
}

#[test]
fn idle_consumer_uses_no_cpu() {
    let q = Queue::<u64>::new(4).unwrap();
    let cpu = slots::<1>();
    let child = daemon({
        let (q, cpu) = (q.try_clone().unwrap(), cpu.try_clone().unwrap());
        move || {
            q.get().unwrap();
            cpu[0].store(cpu_time().as_micros() as u64, Ordering::SeqCst);
        }
    });
    std::thread::sleep(Duration::from_millis(400));
    q.put(&1).unwrap();
    assert!(child.join().unwrap().success());
    let used = cpu[0].load(Ordering::SeqCst);
    assert!(
        used < 100_000,
        "idle consumer used {used} µs of CPU in 400 ms"
    );
}

#[test]
fn a_queue_that_never_spins_still_hands_off_in_both_directions() {
    let make = || {
        Queue::<u64>::builder()
            .capacity(2)
            .spin(Duration::ZERO)
            .create()
            .unwrap()
    };
    let (ping, pong) = (make(), make());
    assert_eq!(ping.spin(), Duration::ZERO);
    let theirs = (ping.try_clone().unwrap(), pong.try_clone().unwrap());
    assert_eq!(theirs.0.spin(), Duration::ZERO, "a clone keeps the setting");
    let child = daemon(move || {
        for _ in 0..200 {
            let n = theirs.0.get_timeout(PROMPT).unwrap();
            theirs.1.put_timeout(&(n + 1), PROMPT).unwrap();
        }
        // A full queue: the blocked put sleeps until the parent makes room.
        for n in 0..10 {
            theirs.1.put_timeout(&n, PROMPT).unwrap();
        }
    });
    for n in 0..200 {
        ping.put(&n).unwrap();
        assert_eq!(pong.get_timeout(PROMPT), Ok(n + 1));
    }
    std::thread::sleep(Duration::from_millis(50));
    for n in 0..10 {
        assert_eq!(pong.get_timeout(PROMPT), Ok(n));
    }
    assert!(child.join().unwrap().success());
    ping.set_spin(Duration::from_micros(5));
    assert_eq!(ping.spin(), Duration::from_micros(5));
}

// ----- disconnection ----------------------------------------------------------

/// A consumer is told when its producers are gone: one that left (its
/// handle dropped: at once) and one that was SIGKILLed while the consumer
/// slept in `get` (within a sleep slice, about 20 ms). Before, both gets
/// waited out their whole timeout (and `get` forever).
#[test]
fn consumers_are_told_when_their_producers_are_gone() {
    // A producer that leaves.
    let q = Queue::<u64>::new(8).unwrap();
    let producer = daemon({
        let q = q.try_clone().unwrap();
        move || {
            for i in 0..3u64 {
                q.put(&i).unwrap();
            }
        }
    });
    let got: Vec<u64> = (0..3).map(|_| q.get_timeout(PROMPT).unwrap()).collect();
    assert_eq!(got, [0, 1, 2]);
    let t = Instant::now();
    assert_eq!(q.get_timeout(PROMPT), Err(Error::Disconnected));
    assert!(t.elapsed() < PROMPT / 4, "{:?}", t.elapsed());
    assert!(producer.join().unwrap().success());

    // A producer SIGKILLed while the consumer sleeps in get.
    let q = Queue::<u64>::new(8).unwrap();
    let started = slots::<1>();
    let producer = daemon({
        let (q, started) = (q.clone(), started.try_clone().unwrap());
        move || {
            q.put(&7).unwrap();
            started[0].store(1, Ordering::SeqCst);
            ipc_test_support::park();
        }
    });
    assert_eq!(q.get_timeout(PROMPT), Ok(7));
    let pid = producer.pid();
    let killer = daemon(move || {
        std::thread::sleep(Duration::from_millis(100));
        ipc_test_support::sigkill(pid);
    });
    let t = Instant::now();
    assert_eq!(q.get_timeout(PROMPT), Err(Error::Disconnected));
    assert!(t.elapsed() >= Duration::from_millis(90), "before the kill");
    assert!(t.elapsed() < PROMPT / 4, "{:?}", t.elapsed());
    assert!(killer.join().unwrap().success());
    drop(producer);
    // A producer that registers later connects the queue again.
    let again = daemon({
        let q = q.clone();
        move || q.put(&8).unwrap()
    });
    assert!(again.join().unwrap().success());
    assert_eq!(q.get_timeout(PROMPT), Ok(8));
}

/// Producers blocked on a full queue are told when its consumers are gone
/// (they used to stay blocked forever, orphaned).
#[test]
fn producers_on_a_full_queue_are_told_when_consumers_are_gone() {
    let q = Queue::<u64>::new(2).unwrap();
    let consumer = daemon({
        let q = q.try_clone().unwrap();
        move || {
            assert_eq!(q.get_timeout(PROMPT), Ok(1));
        }
    });
    q.put(&1).unwrap();
    assert!(consumer.join().unwrap().success());
    q.put(&2).unwrap();
    q.put(&3).unwrap();
    let t = Instant::now();
    assert_eq!(q.put_timeout(&4, PROMPT), Err(Error::Disconnected));
    assert!(t.elapsed() < PROMPT / 4, "{:?}", t.elapsed());
    assert_eq!(q.try_put(&4), Err(Error::Disconnected));
    assert_eq!(q.len(), 2, "nothing lost, nothing added");
}

/// A producer that puts its last messages and leaves while a consumer is
/// between finding the queue empty and looking for producers loses none of
/// them: the consumer drains them and only then hears `Disconnected`. (It
/// used to report `Disconnected` over them: the throughput benchmark hit
/// this when the machine was busy; a pause point holds the consumer in that
/// window here.)
#[test]
fn messages_put_just_before_the_producer_leaves_are_not_lost() {
    let q = Queue::<u64>::new(4).unwrap();
    let consumer = daemon({
        let q = q.try_clone().unwrap();
        move || {
            ipc_queue::testing::set_role_check_pause(Duration::from_millis(500));
            let mut got = Vec::new();
            let err = loop {
                match q.get_timeout(PROMPT) {
                    Ok(v) => got.push(v),
                    Err(e) => break e,
                }
            };
            assert_eq!(got, [0, 1, 2], "{err}");
            assert_eq!(err, Error::Disconnected);
        }
    });
    // The consumer is now in its pause, past its look at the empty queue.
    std::thread::sleep(Duration::from_millis(100));
    let producer = Process::spawn({
        let q = q.try_clone().unwrap();
        move || {
            for i in 0..3u64 {
                q.put(&i).unwrap();
            }
        }
    })
    .unwrap();
    producer.join_ok().unwrap();
    consumer.join_ok().unwrap();
}

/// Python's order keeps working: producers fill a queue before any consumer
/// exists (`Full`, not `Disconnected`, when it is full), and the consumer
/// that comes later gets everything; a consumer that starts before any
/// producer waits for one.
#[test]
fn the_other_side_may_come_later() {
    let q = Queue::<u64>::new(4).unwrap();
    for i in 0..4u64 {
        q.put(&i).unwrap();
    }
    assert_eq!(q.try_put(&9), Err(Error::Full));
    let consumer = daemon({
        let q = q.clone();
        move || {
            let got: Vec<u64> = (0..4).map(|_| q.get_timeout(PROMPT).unwrap()).collect();
            assert_eq!(got, [0, 1, 2, 3]);
        }
    });
    assert!(consumer.join().unwrap().success());

    let fresh = Queue::<u64>::new(4).unwrap();
    let early = daemon({
        let q = fresh.clone();
        move || assert_eq!(q.get_timeout(PROMPT), Ok(5))
    });
    std::thread::sleep(Duration::from_millis(50));
    fresh.put(&5).unwrap();
    assert!(early.join().unwrap().success());
}

/// A named queue whose users all left (or died), with nothing left in it,
/// starts afresh: a consumer that opens it waits for producers instead of
/// hearing about the old ones.
#[test]
fn a_named_queue_reopened_after_its_users_left_starts_afresh() {
    let name = unique_name("afresh");
    let q = Queue::<u64>::builder()
        .named(&name)
        .capacity(4)
        .create()
        .unwrap();
    let old = daemon({
        let name = name.clone();
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            q.put(&1).unwrap();
            assert_eq!(q.get_timeout(PROMPT), Ok(1));
            ipc_test_support::park();
        }
    });
    assert!(ipc_test_support::eventually(PROMPT, || q.is_empty() && old.is_alive()));
    std::thread::sleep(Duration::from_millis(50));
    old.kill().unwrap();
    let _ = old.join().unwrap();
    let consumer = daemon({
        let name = name.clone();
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            assert_eq!(q.get_timeout(PROMPT), Ok(2), "waited for a new producer");
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    q.put(&2).unwrap();
    assert!(consumer.join().unwrap().success());
}

/// Clones are cheap and share a registration; `for msg in &q` ends when the
/// producers are gone and the queue is drained.
#[test]
fn iterating_ends_with_the_producers() {
    let q = Queue::<u64>::new(8).unwrap();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let q = q.clone();
            daemon(move || {
                for i in 0..100u64 {
                    q.put(&(p * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    // The loop runs in a child joined with a bound: a regression fails the
    // test instead of hanging it.
    let result = slots::<2>();
    let consumer = daemon({
        let (q, result) = (q.clone(), result.try_clone().unwrap());
        move || {
            let (mut n, mut sum) = (0, 0);
            for m in &q {
                n += 1;
                sum += m;
            }
            result[0].store(n, Ordering::SeqCst);
            result[1].store(sum, Ordering::SeqCst);
        }
    });
    let status = consumer.join_timeout(PROMPT).unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(result[0].load(Ordering::SeqCst), 200);
    assert_eq!(
        result[1].load(Ordering::SeqCst),
        2 * (0..100).sum::<u64>() + 1000 * 100
    );
    for p in producers {
        assert!(p.join().unwrap().success());
    }
    assert_eq!(q.try_iter().count(), 0);
}

/// Frame `i` of a byte-ring test: a length from 1 byte to 2000 (and every
/// 97th frame the 64 KiB limit), bytes that follow from `i`.
fn ring_frame(i: u64) -> Vec<u8> {
    let len = if i.is_multiple_of(97) {
        64 << 10
    } else {
        1 + (i.wrapping_mul(2654435761) % 2000) as usize
    };
    (0..len).map(|k| (i as usize ^ k) as u8).collect()
}

/// A byte ring takes each frame's length, not the frame limit: 1024 slots
/// with a 64 KiB limit map a 256 KiB ring where fixed slots map 64 MiB,
/// and frames of mixed sizes (wrapping the ring hundreds of times, the
/// limit among them) arrive whole and in order in another process.
#[test]
fn byte_ring_memory_follows_the_data() {
    let fixed = Queue::<u8>::builder()
        .capacity(1024)
        .max_frame(64 << 10)
        .create()
        .unwrap();
    let q = Queue::<u8>::builder()
        .capacity(1024)
        .max_frame(64 << 10)
        .ring_bytes(256 << 10)
        .create()
        .unwrap();
    assert!(fixed.shm_bytes() >= 64 << 20, "{}", fixed.shm_bytes());
    assert!(q.shm_bytes() < 320 << 10, "{}", q.shm_bytes());
    assert_eq!((q.ring_bytes(), q.max_frame()), (256 << 10, 64 << 10));
    const N: u64 = 5000;
    let tx = q.clone();
    let child = Process::spawn(move || {
        for i in 0..N {
            tx.put_bytes(&ring_frame(i)).unwrap();
        }
    })
    .unwrap();
    for i in 0..N {
        let got = q.get_bytes_timeout(PROMPT).unwrap();
        assert!(
            got == ring_frame(i),
            "frame {i} differs ({} bytes)",
            got.len()
        );
    }
    child.join_ok().unwrap();
}

/// A frame over the limit is refused with the setting that raises it named,
/// nothing sent; a ring too small for one frame of the limit is refused at
/// creation; a full ring makes `try_put` say `Full` and a timed put
/// `Timeout`, and a blocked put proceeds once another process makes room.
#[test]
fn byte_ring_limits_are_typed_errors_and_full_waits() {
    let q = Queue::<u8>::builder().ring_bytes(4096).create().unwrap();
    assert_eq!(q.max_frame(), 4096);
    let err = q.put_bytes(&[0; 5000]).unwrap_err();
    assert!(matches!(
        err,
        Error::TooLarge {
            len: 5000,
            max: 4096
        }
    ));
    assert!(err.to_string().contains("ring_bytes"), "{err}");
    assert!(q.is_empty());
    assert!(matches!(
        Queue::<u8>::builder()
            .ring_bytes(4096)
            .max_frame(8192)
            .create(),
        Err(Error::Core(ipc_core::Error::InvalidSize { .. }))
    ));

    q.put_bytes(&[1; 3000]).unwrap();
    assert_eq!(q.try_put_bytes(&[2; 3000]), Err(Error::Full));
    let t = Instant::now();
    assert_eq!(
        q.put_bytes_timeout(&[2; 3000], Duration::from_millis(50)),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(50));
    // Small frames still fit beside the big one.
    q.put_bytes(&[3; 900]).unwrap();
    let rx = q.clone();
    let child = Process::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(rx.get_bytes().unwrap(), vec![1; 3000]);
    })
    .unwrap();
    let t = Instant::now();
    q.put_bytes_timeout(&[2; 3000], PROMPT).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(50), "put did not wait");
    child.join_ok().unwrap();
    assert_eq!(q.get_bytes().unwrap(), vec![3; 900]);
    assert_eq!(q.get_bytes().unwrap(), vec![2; 3000]);
}

/// Frames of 16 MiB go through a ring sized for them, between processes,
/// read in place.
#[test]
fn byte_ring_carries_16_mib_frames() {
    const BIG: usize = 16 << 20;
    let q = Queue::<u8>::builder()
        .capacity(8)
        .ring_bytes(40 << 20)
        .max_frame(BIG)
        .create()
        .unwrap();
    let tx = q.clone();
    let child = Process::spawn(move || {
        for i in 0..5u8 {
            let mut loan = tx.loan_bytes(BIG).unwrap();
            loan.bytes_mut().fill(i);
            loan.bytes_mut()[BIG - 1] = !i;
            loan.commit_bytes(BIG);
        }
    })
    .unwrap();
    for i in 0..5u8 {
        let ok = q
            .get_bytes_with_timeout(PROMPT, |b| {
                b.len() == BIG && b[..BIG - 1].iter().all(|&x| x == i) && b[BIG - 1] == !i
            })
            .unwrap();
        assert!(ok, "16 MiB frame {i} differs");
    }
    child.join_ok().unwrap();
}

/// A named byte-ring queue opened elsewhere (with a builder that does not
/// repeat the ring's size) uses the ring its creator chose.
#[test]
fn byte_ring_named_queue_opens_with_its_geometry() {
    let name = unique_name("ring-open");
    let q = Queue::<u8>::builder()
        .named(&name)
        .capacity(64)
        .ring_bytes(100_000)
        .create()
        .unwrap();
    assert_eq!(q.ring_bytes(), 100_032, "rounded up to 64");
    let child_name = name.clone();
    let child = Process::spawn(move || {
        let q = Queue::<u8>::builder().named(&child_name).open().unwrap();
        assert_eq!(q.ring_bytes(), 100_032);
        for i in 0..200 {
            q.put_bytes(&ring_frame(i + 1)).unwrap();
        }
    })
    .unwrap();
    for i in 0..200 {
        assert_eq!(q.get_bytes_timeout(PROMPT).unwrap(), ring_frame(i + 1));
    }
    child.join_ok().unwrap();
    q.put_bytes(&[0; 1000]).unwrap();
    let report = ipc_queue::queue::inspect(&SegmentOptions::named(&name)).unwrap();
    assert_eq!(report.ring_bytes, 100_032);
    assert!((1000..1100).contains(&report.ring_used), "{report:?}");
}

/// Scribbled byte-ring words are typed errors, never an access outside the
/// ring: a frame position far away, a data head out of range.
#[test]
fn byte_ring_corruption_is_an_error() {
    let q = Queue::<u8>::builder()
        .capacity(4)
        .ring_bytes(4096)
        .create()
        .unwrap();
    q.put_bytes(b"hello").unwrap();
    let base = q.object().payload().as_ptr();
    // SAFETY: slot 0's frame position, an aligned u64 inside the payload;
    // scribbled on purpose.
    unsafe {
        (*base
            .add(offsets::SLOTS + offsets::SLOT_FRAME_AT)
            .cast::<AtomicU64>())
        .store(4090, Ordering::SeqCst)
    };
    assert!(matches!(
        q.get_bytes(),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));

    let q = Queue::<u8>::builder()
        .capacity(4)
        .ring_bytes(4096)
        .create()
        .unwrap();
    q.put_bytes(b"hello").unwrap();
    let base = q.object().payload().as_ptr();
    // SAFETY: the data head, an aligned u64 inside the payload.
    unsafe { (*base.add(offsets::DATA_HEAD).cast::<AtomicU64>()).store(1 << 40, Ordering::SeqCst) };
    assert!(matches!(
        q.put_bytes(b"again"),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));
    assert_eq!(q.get_bytes().unwrap(), b"hello");
}

/// A byte ring whose bytes a receive guard holds: a stopped holder keeps
/// them (a timed put reports `Timeout` on time, however many slots are
/// free), and once the holder is SIGKILLed a blocked put gets the bytes
/// back (the dead guard's slot and frame are reclaimed, not leaked).
#[test]
fn byte_ring_bytes_held_by_a_stopped_then_killed_guard() {
    let q = Queue::<u8>::builder()
        .capacity(8)
        .ring_bytes(4096)
        .create()
        .unwrap();
    q.put_bytes(&[9; 3000]).unwrap();
    let held = slots::<1>();
    let child = daemon({
        let (q, held) = (q.clone(), held.try_clone().unwrap());
        move || {
            let g = q.recv_guard().unwrap();
            held[0].store(g.bytes().len() as u64, Ordering::SeqCst);
            ipc_test_support::park();
        }
    });
    assert!(ipc_test_support::eventually(PROMPT, || held[0]
        .load(Ordering::SeqCst)
        == 3000));
    ipc_test_support::sigstop(child.pid());
    let t = Instant::now();
    assert_eq!(
        q.put_bytes_timeout(&[1; 3000], Duration::from_millis(100)),
        Err(Error::Timeout)
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
    child.kill().unwrap();
    let _ = child.join();
    q.put_bytes_timeout(&[1; 3000], PROMPT).unwrap();
    assert_eq!(q.get_bytes().unwrap(), vec![1; 3000]);
}
