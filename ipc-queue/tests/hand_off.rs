//! Handles passed to another process by name (a Python `spawn` child
//! unpickling a queue or a pipe end): the sender holds the receiver's
//! place until it opens the object, so the other side hears no
//! `Disconnected` in between. In a binary of its own, like the other fork
//! tests.

use std::time::{Duration, Instant};

use ipc_core::segment::SegmentOptions;
use ipc_queue::pipe::Side;
use ipc_queue::{Error, Pipe, Queue};
use ipc_test_support::{PROMPT, daemon, unique_name};

/// A consumer that drained what the only producer sent, and saw it go,
/// waits for a producer the queue was handed off to by name (which opens
/// it late: here 200 ms) instead of reporting `Disconnected`; once that
/// producer has put and exited, the queue is gone again.
#[test]
fn a_queue_handed_off_by_name_waits_for_its_receiver() {
    let name = unique_name("hand-off-q");
    let q = Queue::<u64>::builder()
        .options(SegmentOptions::named(&name))
        .capacity(8)
        .create()
        .unwrap();
    let first = daemon({
        let q = q.clone();
        move || q.put(&1).unwrap()
    });
    assert!(first.join().unwrap().success());
    assert_eq!(q.get_timeout(PROMPT), Ok(1));

    assert!(q.hand_off());
    let parent = std::process::id();
    // The child gets no handle: it opens the queue by name, as an
    // unpickling process does.
    let late = daemon({
        let name = name.clone();
        move || {
            std::thread::sleep(Duration::from_millis(200));
            let q = Queue::<u64>::builder()
                .options(SegmentOptions::named(&name))
                .open()
                .unwrap();
            assert!(q.take_hand_off(parent));
            q.put(&2).unwrap();
        }
    });
    let t = Instant::now();
    assert_eq!(
        q.get_timeout(PROMPT),
        Ok(2),
        "the producer the queue was handed off to was not waited for"
    );
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert!(late.join().unwrap().success());
    assert_eq!(q.get_timeout(PROMPT), Err(Error::Disconnected));
}

/// A pipe end handed off by name and then dropped here, before the
/// receiving process opened it, is not closed: the peer waits for that
/// process's message instead of hearing `Disconnected`.
#[test]
fn a_pipe_end_handed_off_by_name_is_not_closed_by_its_sender() {
    let name = unique_name("hand-off-p");
    let (a, b) = Pipe::<u64>::builder()
        .options(SegmentOptions::named(&name))
        .create()
        .unwrap();
    b.hand_off();
    drop(b);
    let late = daemon({
        let name = name.clone();
        move || {
            std::thread::sleep(Duration::from_millis(200));
            let b = Pipe::<u64>::builder()
                .options(SegmentOptions::named(&name))
                .open(Side::B)
                .unwrap();
            b.send(&7).unwrap();
        }
    });
    assert_eq!(a.recv_timeout(PROMPT), Ok(7));
    assert!(late.join().unwrap().success());
    assert_eq!(a.recv_timeout(PROMPT), Err(Error::Disconnected));
}
