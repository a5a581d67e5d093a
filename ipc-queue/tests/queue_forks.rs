//! A child forked with a queue handle counts as a possible producer (and
//! consumer) from the fork (see "Inheritors" in the queue's protocol). In
//! a binary of its own: other tests forking from other threads of the same
//! process (what `cargo test` does) are outside the fork rule the docs
//! state (forking is for single-threaded parents), and their timing would
//! blur this test's.

use std::time::{Duration, Instant};

use ipc_queue::{Error, Queue};
use ipc_test_support::{PROMPT, daemon};

/// A producer forked while the queue is held counts from the fork, not
/// from its first put: a consumer that drained what the earlier producers
/// sent waits for it instead of reporting Disconnected (before, a child
/// slower to start than its siblings to finish made `log_shipper` fail now
/// and then). A child that chooses the consumer role, or dies, stops
/// counting; a child given no handle never counts.
#[test]
fn a_forked_producer_counts_before_its_first_put() {
    let q = Queue::<u64>::new(8).unwrap();
    let first = daemon({
        let q = q.clone();
        move || q.put(&1).unwrap()
    });
    assert!(first.join().unwrap().success());
    let late = daemon({
        let q = q.clone();
        move || {
            std::thread::sleep(Duration::from_millis(150));
            q.put(&2).unwrap();
        }
    });
    assert_eq!(q.get_timeout(PROMPT), Ok(1));
    let t = Instant::now();
    assert_eq!(
        q.get_timeout(PROMPT),
        Ok(2),
        "the late producer was not waited for"
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(late.join().unwrap().success());
    assert_eq!(q.get_timeout(PROMPT), Err(Error::Disconnected));

    // A child that chose the consumer role, and one that died holding the
    // queue unused, stop counting as possible producers.
    let consumer = daemon({
        let q = q.clone();
        move || {
            let _ = q.try_get();
            ipc_test_support::park();
        }
    });
    let idler = daemon({
        let q = q.clone();
        move || {
            let _keep = q;
            ipc_test_support::park();
        }
    });
    // A child given no handle of the queue does not count.
    let unrelated = daemon(|| ipc_test_support::park());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        q.try_get(),
        Err(Error::Empty),
        "the idler may still produce"
    );
    idler.kill().unwrap();
    let t = Instant::now();
    assert_eq!(q.get_timeout(PROMPT), Err(Error::Disconnected));
    assert!(t.elapsed() < PROMPT / 4, "{:?}", t.elapsed());
    drop((consumer, unrelated));
}
