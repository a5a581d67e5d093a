//! A child forked while a queue is held counts as a possible producer and
//! consumer from the fork (see "Inheritors" in the queue's protocol), and
//! stops counting once it registers in a role, even when the parent records
//! it only after that. In a binary of its own: the test slows every spawn
//! of its process down through a spawn hook.

use std::time::Duration;

use ipc_core::process::{SpawnEvent, on_spawn};
use ipc_queue::Queue;
use ipc_test_support::{PROMPT, daemon};

/// Holds the parent between the fork and the queue's own hook, which runs
/// after this one (registered first): the child registers as a consumer
/// before its parent records it as an inheritor.
fn parent_slow_after_fork(event: SpawnEvent) {
    if let SpawnEvent::Forked { .. } = event {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Before the fix the consumer's own late entry kept it waiting for itself
/// as a possible producer: it never saw the producers gone.
#[test]
fn a_child_recorded_after_it_registered_does_not_wait_for_itself() {
    on_spawn(parent_slow_after_fork);
    let q = Queue::<u64>::new(8).unwrap();
    let consumer = daemon({
        let q = q.clone();
        move || {
            let got: Vec<u64> = q.iter().collect();
            assert_eq!(got, [0, 1, 2]);
        }
    });
    for i in 0..3 {
        q.put(&i).unwrap();
    }
    drop(q);
    let status = consumer.join_timeout(PROMPT).unwrap();
    assert!(status.success(), "{status:?}");
}
