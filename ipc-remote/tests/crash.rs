//! The remote queue with processes (standing in for hosts) killed, and the
//! server killed and restarted: every acknowledged message is delivered,
//! none lost.
//!
//! Each message is a (producer, sequence) pair. Producers record in shared
//! memory how many of their puts returned (acknowledged); consumers record
//! each message they took in a shared bitmap *inside* `get_bytes_with`,
//! before the acknowledgement, so a consumer killed at any instant either
//! recorded a message (and then it may come again: at least once) or left
//! it unacknowledged for another consumer.
//!
//! The children start fresh, not forked (see
//! `ipc_test_support::spawn_entry`), and find the board by its name.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::process::{Process, run_entry_point};
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_remote::{Error, Remote, RemoteOptions, RemoteQueue};
use ipc_test_support::nats::NatsServer;
use ipc_test_support::{Rng, entry_arg, join_ok, sigkill, spawn_entry, unique_name};

const WORDS: usize = 100_000 / 64 + 1;

/// Shared counters: words `0..WORDS` a bitmap (bit i: message i was taken
/// by some consumer), then the messages taken (repeats included), then the
/// puts acknowledged per producer.
const SLOTS: usize = WORDS + 3;
type Slots = [AtomicU64; SLOTS];

struct Board {
    slots: Shared<Slots>,
    name: String,
}

impl Board {
    fn seen(&self, i: usize) -> &AtomicU64 {
        &self.slots[i / 64]
    }
    fn taken(&self) -> &AtomicU64 {
        &self.slots[WORDS]
    }
    fn acked(&self, producer: usize) -> &AtomicU64 {
        &self.slots[WORDS + 1 + producer]
    }
}

/// A new board in named shared memory (removed when the test's handle
/// drops).
fn board() -> Board {
    let name = unique_name("board");
    let slots = Shared::create(
        &SegmentOptions::named(&name),
        std::array::from_fn(|_| AtomicU64::new(0)),
    )
    .unwrap();
    Board { slots, name }
}

/// In a child, the board its parent named.
fn opened_board() -> Board {
    let name = entry_arg("board");
    let slots = Shared::open(&SegmentOptions::named(&name)).unwrap();
    Board { slots, name }
}

/// A child running `entry` (`"consumer"`, or `"producer"` of the sequence
/// numbers `range`) on queue `name` of server `url`.
fn start(entry: &str, url: &str, name: &str, b: &Board, range: std::ops::Range<u64>) -> Process {
    let (start, end) = (range.start.to_string(), range.end.to_string());
    spawn_entry(
        entry,
        &[
            ("url", url),
            ("queue", name),
            ("board", &b.name),
            ("start", &start),
            ("end", &end),
        ],
    )
}

fn qname(tag: &str) -> String {
    unique_name(tag).replace(['/', '.'], "_")
}

/// A child: gets messages, marking each on the board, until the queue is
/// closed and drained.
fn consumer() {
    let b = opened_board();
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let q = RemoteQueue::builder(&r, &entry_arg("queue"))
        .prefetch(16)
        .open()
        .unwrap();
    loop {
        match q.get_bytes_with(|m| {
            let i = u64::from_le_bytes(m.try_into().unwrap()) as usize;
            b.seen(i).fetch_or(1 << (i % 64), Ordering::SeqCst);
            b.taken().fetch_add(1, Ordering::SeqCst);
        }) {
            Ok(()) => {}
            Err(Error::Disconnected) => return,
            Err(e) => panic!("consumer: {e}"),
        }
    }
}

/// A child: puts the sequence numbers `start..end`, counting the
/// acknowledged puts on the board (producer 0 starts at 0, producer 1
/// above it).
fn producer() {
    let b = opened_board();
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let q = RemoteQueue::builder(&r, &entry_arg("queue"))
        .open()
        .unwrap();
    let start: u64 = entry_arg("start").parse().unwrap();
    let end: u64 = entry_arg("end").parse().unwrap();
    let id = usize::from(start > 0);
    for i in start..end {
        q.put_bytes(&i.to_le_bytes()).unwrap();
        b.acked(id).fetch_add(1, Ordering::SeqCst);
    }
}

fn missing(b: &Board, total: u64) -> Vec<u64> {
    (0..total)
        .filter(|&i| b.seen(i as usize).load(Ordering::SeqCst) & (1 << (i % 64)) == 0)
        .collect()
}

/// 100 000 messages from 2 producers to consumers SIGKILLed at random
/// and replaced: each message is delivered.
#[test]
fn killed_consumers_lose_no_message() {
    const TOTAL: u64 = 100_000;
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let name = qname("kill");
    let q = RemoteQueue::builder(&r, &name)
        .redeliver_after(Duration::from_secs(1))
        .create()
        .unwrap();
    let b = board();
    let url = s.url();
    let half = TOTAL / 2;
    let producers = [
        start("producer", &url, &name, &b, 0..half),
        start("producer", &url, &name, &b, half..TOTAL),
    ];
    let spawn = || start("consumer", &url, &name, &b, 0..0);
    let mut consumers = vec![spawn(), spawn()];
    let mut rng = Rng(7);
    let started = Instant::now();
    let mut kills = 0;
    let acked = || b.acked(0).load(Ordering::SeqCst) + b.acked(1).load(Ordering::SeqCst);
    // Kill a consumer every 0.2-0.6 s while the producers put.
    while acked() < TOTAL {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the producers stalled at {} acknowledged puts",
            acked()
        );
        std::thread::sleep(Duration::from_millis(200 + rng.below(400)));
        let victim = rng.below(consumers.len() as u64) as usize;
        sigkill(consumers[victim].pid());
        let _ = consumers[victim].join();
        consumers[victim] = spawn();
        kills += 1;
    }
    for p in producers {
        join_ok(p);
    }
    // Every put returned: close, and the consumers drain and leave.
    q.close().unwrap();
    for c in consumers {
        let status = c.join_timeout(Duration::from_secs(120)).unwrap();
        assert!(status.success(), "consumer: {status:?}");
    }
    let lost = missing(&b, TOTAL);
    assert!(
        lost.is_empty(),
        "{} of {TOTAL} lost, first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(kills >= 3, "only {kills} consumers were killed");
    assert!(b.taken().load(Ordering::SeqCst) >= TOTAL);
}

/// The server SIGKILLed and restarted (file store) while a producer puts
/// and a consumer gets: every acknowledged put is delivered.
#[test]
fn a_server_restart_loses_no_acknowledged_message() {
    const TOTAL: u64 = 20_000;
    let Some(mut s) = NatsServer::start() else {
        return;
    };
    let name = qname("restart");
    {
        let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
        RemoteQueue::builder(&r, &name)
            .redeliver_after(Duration::from_secs(2))
            .create()
            .unwrap();
    }
    let b = board();
    let url = s.url();
    let prod = start("producer", &url, &name, &b, 0..TOTAL);
    let cons = start("consumer", &url, &name, &b, 0..0);
    // Restart twice, mid-traffic.
    for _ in 0..2 {
        let before = b.acked(0).load(Ordering::SeqCst);
        let t = Instant::now();
        while b.acked(0).load(Ordering::SeqCst) < before + 2000
            && t.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        s.kill();
        std::thread::sleep(Duration::from_millis(500));
        s.restart();
    }
    join_ok(prod);
    assert_eq!(b.acked(0).load(Ordering::SeqCst), TOTAL);
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let q = RemoteQueue::builder(&r, &name).open().unwrap();
    q.close().unwrap();
    join_ok(cons);
    let lost = missing(&b, TOTAL);
    assert!(
        lost.is_empty(),
        "{} lost, first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// A get blocked while the server is down honours its deadline.
#[test]
fn calls_honour_their_deadlines_while_the_server_is_down() {
    let Some(mut s) = NatsServer::start() else {
        return;
    };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let q = RemoteQueue::builder(&r, &qname("down")).create().unwrap();
    s.kill();
    for (what, call) in [
        (
            "get",
            Box::new(|| q.get_bytes_timeout(Duration::from_millis(700)).map(drop))
                as Box<dyn Fn() -> Result<(), Error>>,
        ),
        (
            "put",
            Box::new(|| q.put_bytes_timeout(b"x", Duration::from_millis(700))),
        ),
    ] {
        let t = Instant::now();
        let e = call().unwrap_err();
        let took = t.elapsed();
        assert!(e.is_timeout(), "{what}: {e}");
        assert!(took >= Duration::from_millis(700), "{what}: {took:?}");
        assert!(took < Duration::from_millis(2500), "{what}: {took:?}");
    }
    s.restart();
    q.put_bytes_timeout(b"back", Duration::from_secs(20))
        .unwrap();
    // The put that timed out may have been stored after all (the client
    // sent it on reconnecting), as with any network call cut short.
    let mut first = q.get_bytes_timeout(Duration::from_secs(20)).unwrap();
    if first == b"x" {
        first = q.get_bytes_timeout(Duration::from_secs(20)).unwrap();
    }
    assert_eq!(first, b"back");
}

/// The children's entry points (see `ipc_test_support::spawn_entry`).
#[test]
fn entry_child() {
    run_entry_point(&[("producer", producer), ("consumer", consumer)]);
}
