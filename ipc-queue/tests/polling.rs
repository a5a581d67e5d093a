//! Callers that do not block in the queue (a polling loop, or a binding
//! that waits on its own and then tries again, as the Python package does)
//! see what the blocking calls see: a dead producer's slot at the head is
//! stepped over (`recover_head`), and a producer registering is counted
//! throughout. In a
//! binary of its own, like the other fork tests.

use std::time::{Duration, Instant};

use ipc_queue::{Error, Queue};
use ipc_test_support::{PROMPT, counter, daemon, eventually, park, sigkill};

/// A producer SIGKILLed holding a loan leaves a WRITING slot at the head;
/// a consumer that waits on its own and calls `try_get` (as the Python
/// binding does) steps over it with `recover_head` between its tries, and
/// gets the next producer's message. Without it (only `try_get`) the
/// consumer would find the queue empty forever: the tries never read
/// `/proc`.
#[test]
fn a_polling_consumer_steps_over_a_dead_producers_slot() {
    let q = Queue::<u64>::new(8).unwrap();
    let loaned = counter();
    let stuck = daemon({
        let q = q.clone();
        let loaned = loaned.try_clone().unwrap();
        move || {
            let _loan = q.loan().unwrap();
            loaned.store(1, std::sync::atomic::Ordering::SeqCst);
            park();
        }
    });
    assert!(eventually(PROMPT, || loaned
        .load(std::sync::atomic::Ordering::SeqCst)
        == 1));
    let next = daemon({
        let q = q.clone();
        move || q.put(&5).unwrap()
    });
    assert!(next.join().unwrap().success());
    sigkill(stuck.pid());
    let _ = stuck.join();
    let deadline = Instant::now() + PROMPT;
    let got = loop {
        match q.try_get() {
            Ok(v) => break Ok(v),
            Err(Error::Empty) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
                q.recover_head().unwrap();
            }
            Err(e) => break Err(e),
        }
    };
    assert_eq!(
        got,
        Ok(5),
        "the polling consumer never stepped over the dead slot"
    );
}

/// A forked producer whose registration is slow (paused inside it, after
/// it looked over the tables of the empty queue) is counted throughout: the
/// consumer, which drained an earlier producer that left, waits for its
/// message instead of hearing `Disconnected` in between. Before, the
/// registration took the producer's own inheritor entry away before it
/// took its producer slot, and woke the consumer into that gap.
#[test]
fn a_producer_registering_slowly_is_counted_throughout() {
    let q = Queue::<u64>::new(8).unwrap();
    let first = daemon({
        let q = q.clone();
        move || q.put(&1).unwrap()
    });
    assert!(first.join().unwrap().success());
    assert_eq!(q.get_timeout(PROMPT), Ok(1));
    let late = daemon({
        let q = q.clone();
        move || {
            ipc_queue::testing::set_register_pause(Duration::from_millis(300));
            q.put(&2).unwrap();
        }
    });
    assert_eq!(
        q.get_timeout(PROMPT),
        Ok(2),
        "the consumer heard Disconnected while the producer registered"
    );
    assert!(late.join().unwrap().success());
    assert_eq!(q.get_timeout(PROMPT), Err(Error::Disconnected));
}

/// Consumers that finish a copy move `head` on without the consumer lock;
/// a claim that looked at a busy head slot (paused there: the window a
/// preempted process would leave) must not then take the slot at its old
/// `head` index, which by then may hold a later lap's message. Before, it
/// did, and delivered that message out of order (28 runs in 30 of this
/// test with the pause; now and then without it, on a loaded machine).
#[test]
fn a_claim_overtaken_by_a_finishing_consumer_starts_again() {
    const P: u64 = 2;
    const C: usize = 2;
    const PER: u64 = 3000;
    let q = Queue::<u64>::new(4).unwrap();
    let seen = ipc_test_support::slots::<{ (P * PER) as usize }>();
    let bad = ipc_test_support::slots::<1>();
    let producers: Vec<_> = (0..P)
        .map(|p| {
            let q = q.try_clone().unwrap();
            daemon(move || {
                for seq in 0..PER {
                    q.put(&(p << 32 | seq)).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..C)
        .map(|_| {
            let (q, seen, bad) = (
                q.try_clone().unwrap(),
                seen.try_clone().unwrap(),
                bad.try_clone().unwrap(),
            );
            daemon(move || {
                ipc_queue::testing::set_claim_pause(Duration::from_micros(30));
                let mut last = [None::<u64>; P as usize];
                loop {
                    let m = match q.get_timeout(PROMPT) {
                        Ok(m) => m,
                        Err(Error::Disconnected) => break,
                        Err(e) => panic!("{e}"),
                    };
                    let (p, seq) = ((m >> 32) as usize, m & 0xffff_ffff);
                    if p >= P as usize || last[p].is_some_and(|l| l >= seq) {
                        bad[0].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    } else {
                        last[p] = Some(seq);
                        seen[p * PER as usize + seq as usize]
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
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
        bad[0].load(std::sync::atomic::Ordering::SeqCst),
        0,
        "out-of-order messages"
    );
    assert!(
        seen.iter()
            .all(|s| s.load(std::sync::atomic::Ordering::SeqCst) == 1),
        "a message lost or delivered twice"
    );
}
