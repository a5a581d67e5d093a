//! Calls that do not wait (`try_get` in a polling loop, or a binding that
//! waits on its own and then tries again, as the Python package does) see
//! what the blocking calls see: a dead producer's slot at the head is
//! stepped over, and a producer registering is counted throughout. In a
//! binary of its own, like the other fork tests.

use std::time::{Duration, Instant};

use ipc_queue::{Error, Queue};
use ipc_test_support::{PROMPT, counter, daemon, eventually, park, sigkill};

/// A producer SIGKILLed holding a loan leaves a WRITING slot at the head;
/// a consumer that only ever calls `try_get` steps over it (once per peer
/// check period) and gets the next producer's message. Before, only the
/// slow form of a blocked get stepped over it, and the polling consumer
/// found the queue empty forever.
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
