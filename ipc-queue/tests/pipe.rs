//! Pipes and channels across real processes: ping-pong, streams, byte
//! frames, bad input, peers that drop or are SIGKILLed (also in a loop while
//! traffic flows), corrupted indices, a model-based property test of the
//! ring, and an idle receiver's CPU use.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipc_queue::pipe::{
    HEAD_OFFSET, MAX_CAPACITY, MAX_FRAME, Pipe, PipeBuilder, SLOTS_OFFSET, Side, TAIL_OFFSET,
    ring_ctl_offset,
};
use ipc_queue::{Error, channel, wait, wait_timeout};
use ipc_test_support::{
    PROMPT, Rng, Stamped, counter, cpu_time, daemon, parse_stamped_frame, stamped_frame,
    unique_name,
};
use proptest::prelude::*;

fn core_err(e: &Error) -> &ipc_core::Error {
    match e {
        Error::Core(c) => c,
        other => panic!("expected Error::Core, got {other:?}"),
    }
}

// ----- traffic ---------------------------------------------------------------

#[test]
fn duplex_pingpong_with_a_forked_child() {
    const N: u64 = 20_000;
    let (parent, child) = Pipe::<u64>::new().unwrap();
    let peer = daemon(move || {
        for _ in 0..N {
            let n = child.recv().unwrap();
            child.send(&(n * 3 + 1)).unwrap();
        }
    });
    for n in 0..N {
        parent.send(&n).unwrap();
        assert_eq!(parent.recv_timeout(PROMPT).unwrap(), n * 3 + 1);
    }
    assert!(peer.join().unwrap().success());
    // The child dropped its end on exit: drained, so disconnected at once.
    assert_eq!(parent.recv_timeout(PROMPT), Err(Error::Disconnected));
    assert_eq!(parent.send(&0), Err(Error::Disconnected));
}

#[test]
fn channel_streams_100k_in_order() {
    const N: u64 = 100_000;
    let (tx, rx) = channel::<u64>().unwrap();
    let peer = daemon(move || {
        for n in 0..N {
            tx.send(&n).unwrap();
        }
    });
    for n in 0..N {
        assert_eq!(rx.recv_timeout(PROMPT), Ok(n));
    }
    assert_eq!(rx.recv_timeout(PROMPT), Err(Error::Disconnected));
    assert!(peer.join().unwrap().success());
}

#[test]
fn batches_cross_processes_in_order() {
    const N: u64 = 100_000;
    let (tx, rx) = Pipe::<u64>::builder().capacity(64).channel().unwrap();
    let peer = daemon(move || {
        let all: Vec<u64> = (0..N).collect();
        let mut rest = &all[..];
        while !rest.is_empty() {
            let n = tx.send_batch(&rest[..rest.len().min(40)]).unwrap();
            assert!(n >= 1);
            rest = &rest[n..];
        }
    });
    let mut buf = [0u64; 50];
    let mut next = 0;
    while next < N {
        let n = rx.recv_batch(&mut buf).unwrap();
        assert!(n >= 1);
        for &v in &buf[..n] {
            assert_eq!(v, next);
            next += 1;
        }
    }
    assert_eq!(rx.recv_batch(&mut buf), Err(Error::Disconnected));
    assert!(peer.join().unwrap().success());
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + len) as u8).collect()
}

#[test]
fn byte_frames_of_every_length_including_zero_and_max() {
    const MAX: usize = 300;
    let lens = [0, 1, 7, 8, 9, 63, 64, 65, 255, 299, MAX];
    let (a, b) = Pipe::<u64>::builder()
        .capacity(4)
        .max_frame(MAX)
        .create()
        .unwrap();
    assert_eq!(a.max_frame(), MAX);
    let peer = daemon(move || {
        for len in lens {
            b.send_bytes(&pattern(len)).unwrap();
        }
        for len in lens {
            b.send_bytes(&pattern(len)).unwrap();
        }
    });
    for len in lens {
        assert_eq!(a.recv_bytes().unwrap(), pattern(len), "length {len}");
    }
    let mut buf = [0u8; MAX];
    for len in lens {
        assert_eq!(a.recv_bytes_into(&mut buf), Ok(len));
        assert_eq!(&buf[..len], &pattern(len)[..]);
    }
    assert!(peer.join().unwrap().success());
    assert_eq!(a.recv_bytes(), Err(Error::Disconnected));
}

#[test]
fn oversized_frame_is_refused_and_nothing_sent() {
    let (a, b) = Pipe::<u64>::builder().max_frame(16).create().unwrap();
    assert_eq!(
        a.send_bytes(&[1; 17]),
        Err(Error::TooLarge { len: 17, max: 16 })
    );
    assert_eq!(
        a.try_send_bytes(&[1; 1000]),
        Err(Error::TooLarge { len: 1000, max: 16 })
    );
    assert_eq!(b.try_recv_bytes(), Err(Error::Empty));
    assert!(!b.poll());
    a.send_bytes(&[2; 16]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), vec![2; 16]);
}

#[test]
fn small_buffer_leaves_the_frame_queued() {
    let (a, b) = Pipe::<u64>::builder().max_frame(64).create().unwrap();
    a.send_bytes(&pattern(40)).unwrap();
    let mut small = [0u8; 39];
    assert_eq!(
        b.recv_bytes_into(&mut small),
        Err(Error::BufferTooSmall {
            needed: 40,
            got: 39
        })
    );
    assert_eq!(
        b.try_recv_bytes_into(&mut []),
        Err(Error::BufferTooSmall { needed: 40, got: 0 })
    );
    let mut big = [0u8; 64];
    assert_eq!(b.recv_bytes_into(&mut big), Ok(40));
    assert_eq!(&big[..40], &pattern(40)[..]);
}

#[test]
fn typed_receive_of_a_wrong_length_frame_consumes_it() {
    let (a, b) = Pipe::<u64>::builder().max_frame(32).create().unwrap();
    a.send_bytes(&[9; 5]).unwrap();
    a.send(&77).unwrap();
    assert_eq!(
        b.recv(),
        Err(Error::WrongSize {
            expected: 8,
            found: 5
        })
    );
    assert_eq!(b.recv(), Ok(77));
    // An 8-byte frame is a u64.
    a.send_bytes(&5u64.to_ne_bytes()).unwrap();
    assert_eq!(b.recv(), Ok(5));
}

#[test]
fn timeouts_full_and_empty() {
    let (a, b) = Pipe::<u32>::builder().capacity(2).create().unwrap();
    assert_eq!(b.try_recv(), Err(Error::Empty));
    let start = Instant::now();
    assert_eq!(
        b.recv_timeout(Duration::from_millis(60)),
        Err(Error::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert!(!b.poll_timeout(Duration::from_millis(30)));
    a.send(&1).unwrap();
    a.try_send(&2).unwrap();
    assert_eq!(a.try_send(&3), Err(Error::Full));
    let start = Instant::now();
    assert_eq!(
        a.send_timeout(&3, Duration::from_millis(60)),
        Err(Error::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert!(b.poll_timeout(PROMPT));
    assert_eq!(b.recv(), Ok(1));
    a.send_timeout(&3, PROMPT).unwrap();
    assert_eq!((b.recv(), b.recv()), (Ok(2), Ok(3)));
    // The other direction is independent.
    b.send(&10).unwrap();
    assert_eq!(a.recv(), Ok(10));
}

#[test]
fn wait_on_several_pipe_ends() {
    let (a1, b1) = Pipe::<u64>::new().unwrap();
    let (tx, rx) = channel::<u64>().unwrap();
    assert!(wait_timeout(&[&b1, &rx], Duration::from_millis(20)).is_empty());
    let peer = daemon(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send(&5).unwrap();
        std::thread::sleep(Duration::from_secs(30));
    });
    assert_eq!(wait_timeout(&[&b1, &rx], PROMPT), vec![1]);
    assert_eq!(rx.recv(), Ok(5));
    a1.send(&6).unwrap();
    assert_eq!(wait(&[&b1, &rx]), vec![0]);
    // A killed peer makes its receiver ready (disconnected).
    assert_eq!(b1.recv(), Ok(6));
    peer.kill().unwrap();
    let _ = peer.join().unwrap();
    assert_eq!(wait_timeout(&[&rx], PROMPT), vec![0]);
    assert_eq!(rx.try_recv(), Err(Error::Disconnected));
}

/// A receiver's `readiness()` waited on by another thread (what a notifier
/// does): ready when the forked peer sends, without taking the frame or
/// the end; ready again when the peer is SIGKILLed.
#[test]
fn readiness_is_waited_on_from_another_thread() {
    let (tx, rx) = channel::<u64>().unwrap();
    let peer = daemon(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send(&9).unwrap();
        std::thread::sleep(Duration::from_secs(30));
    });
    let ready = rx.readiness();
    assert!(wait_timeout(&[&ready], Duration::from_millis(10)).is_empty());
    let watcher = {
        let ready = ready.clone();
        std::thread::spawn(move || wait_timeout(&[&ready], PROMPT))
    };
    assert_eq!(watcher.join().unwrap(), vec![0]);
    // Still there for the end's user, which still owns the end.
    assert_eq!(rx.recv_timeout(PROMPT), Ok(9));
    assert!(!rx.claimed_elsewhere());
    assert!(wait_timeout(&[&ready], Duration::from_millis(30)).is_empty());
    peer.kill().unwrap();
    let _ = peer.join().unwrap();
    let watcher = std::thread::spawn(move || wait_timeout(&[&ready], PROMPT));
    assert_eq!(
        watcher.join().unwrap(),
        vec![0],
        "a killed peer makes it ready"
    );
    assert_eq!(rx.try_recv(), Err(Error::Disconnected));
}

// ----- bad input ---------------------------------------------------------------

#[test]
fn absurd_sizes_are_typed_errors() {
    let size_err = |b: PipeBuilder<u64>| {
        let e = b.create().unwrap_err();
        assert!(
            matches!(core_err(&e), ipc_core::Error::InvalidSize { .. }),
            "{e:?}"
        );
    };
    size_err(Pipe::builder().capacity(0));
    size_err(Pipe::builder().capacity(1 << 40));
    size_err(Pipe::builder().capacity(MAX_CAPACITY + 1));
    size_err(Pipe::builder().capacity(usize::MAX));
    size_err(Pipe::builder().max_frame(MAX_FRAME + 1));
    size_err(Pipe::builder().max_frame(usize::MAX));
    // Each limit alone is fine, together they exceed a segment.
    size_err(Pipe::builder().capacity(MAX_CAPACITY).max_frame(MAX_FRAME));
    let e = Pipe::<u64>::builder().max_frame(7).create().unwrap_err();
    assert!(
        matches!(core_err(&e), ipc_core::Error::InvalidArgument { .. }),
        "{e:?}"
    );
    let e = Pipe::<u64>::builder().capacity(0).channel().unwrap_err();
    assert!(matches!(core_err(&e), ipc_core::Error::InvalidSize { .. }));

    // Rounded up to a power of two; one slot works.
    let (a, _b) = Pipe::<u64>::builder().capacity(100).create().unwrap();
    assert_eq!(a.capacity(), 128);
    let (a, b) = Pipe::<u64>::builder().capacity(1).create().unwrap();
    a.send(&1).unwrap();
    assert_eq!(a.try_send(&2), Err(Error::Full));
    assert_eq!(b.recv(), Ok(1));
    a.send(&2).unwrap();
    assert_eq!(b.recv(), Ok(2));
    // Zero-sized messages are fine too.
    let (tx, rx) = channel::<()>().unwrap();
    tx.send(&()).unwrap();
    assert_eq!(rx.recv(), Ok(()));
}

#[test]
fn wrong_type_or_kind_on_open_is_refused() {
    let name = unique_name("type");
    let builder = Pipe::<u64>::builder().named(&name);
    let (_a, _b) = builder.create().unwrap();
    let e = Pipe::<u32>::builder()
        .named(&name)
        .open(Side::B)
        .unwrap_err();
    assert!(
        matches!(core_err(&e), ipc_core::Error::WrongType { .. }),
        "{e:?}"
    );
    // Same size, different type: still refused.
    let e = Pipe::<[u8; 8]>::builder()
        .named(&name)
        .open(Side::B)
        .unwrap_err();
    assert!(
        matches!(core_err(&e), ipc_core::Error::WrongType { .. }),
        "{e:?}"
    );
    let e = builder.open_receiver().unwrap_err();
    assert!(
        matches!(core_err(&e), ipc_core::Error::WrongKind { .. }),
        "{e:?}"
    );
    builder.open(Side::B).unwrap();

    // And from another process.
    let peer = daemon(move || {
        let e = Pipe::<i64>::builder()
            .named(&name)
            .open(Side::A)
            .unwrap_err();
        let ok = matches!(e, Error::Core(ipc_core::Error::WrongType { .. }));
        std::process::exit(if ok { 0 } else { 1 });
    });
    assert!(peer.join().unwrap().success());
}

#[test]
fn named_pipe_opened_by_another_process() {
    let name = unique_name("named");
    let builder = Pipe::<u64>::builder()
        .named(&name)
        .capacity(8)
        .max_frame(64);
    // Our handle on end B stays unused (dropping it would close B until
    // another process claims it).
    let (a, _b) = builder.create().unwrap();
    let peer = daemon(move || {
        let b = Pipe::<u64>::builder().named(&name).open(Side::B).unwrap();
        assert_eq!(b.capacity(), 8);
        assert_eq!(b.max_frame(), 64);
        let n = b.recv().unwrap();
        b.send_bytes(&n.to_le_bytes()[..3]).unwrap();
        b.send(&(n + 1)).unwrap();
    });
    a.send(&0x0102_0304).unwrap();
    assert_eq!(a.recv_bytes_timeout(PROMPT).unwrap(), vec![4, 3, 2]);
    assert_eq!(a.recv_timeout(PROMPT), Ok(0x0102_0305));
    assert!(peer.join().unwrap().success());
    assert_eq!(a.recv_timeout(PROMPT), Err(Error::Disconnected));
}

// ----- peers that go away -----------------------------------------------------------

#[test]
fn dropping_an_unused_end_disconnects_at_once() {
    let (a, b) = Pipe::<u64>::new().unwrap();
    drop(b);
    assert_eq!(a.recv_timeout(PROMPT), Err(Error::Disconnected));
    assert_eq!(a.send(&1), Err(Error::Disconnected));
    assert!(a.poll());

    let (tx, rx) = channel::<u64>().unwrap();
    tx.send(&1).unwrap();
    tx.close();
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(Error::Disconnected));
}

#[test]
fn peer_dropped_in_child_drains_then_disconnects() {
    let (a, b) = Pipe::<u64>::builder().capacity(16).create().unwrap();
    let peer = daemon(move || {
        for n in 0..10 {
            b.send(&n).unwrap();
        }
        // `b` is dropped here: end B closes.
    });
    assert!(peer.join().unwrap().success());
    for n in 0..10 {
        assert_eq!(a.recv_timeout(PROMPT), Ok(n));
    }
    assert_eq!(a.recv_timeout(PROMPT), Err(Error::Disconnected));
    assert_eq!(a.try_recv(), Err(Error::Disconnected));
    assert_eq!(a.send(&1), Err(Error::Disconnected));
}

#[test]
fn parent_dropping_its_copy_after_spawn_keeps_the_pipe_open() {
    let (a, b) = Pipe::<u64>::new().unwrap();
    // `spawn` drops the parent's copy of the closure, and with it of `b`,
    // before the child has used `b`.
    let peer = daemon(move || {
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..3 {
            let n = b.recv().unwrap();
            b.send(&(n * 2)).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    assert!(!a.poll(), "the pipe looks disconnected");
    for n in 1..=3 {
        a.send(&n).unwrap();
        assert_eq!(a.recv_timeout(PROMPT), Ok(n * 2));
    }
    assert!(peer.join().unwrap().success());
    assert_eq!(a.recv_timeout(PROMPT), Err(Error::Disconnected));
}

#[test]
fn sigkill_of_a_blocked_receiver_disconnects_promptly() {
    let (a, b) = Pipe::<u64>::builder().capacity(8).create().unwrap();
    let peer = daemon(move || {
        b.send(&1).unwrap(); // claims end B and tells the parent
        let _ = b.recv(); // blocks: nobody sends
        std::process::exit(3);
    });
    assert_eq!(a.recv_timeout(PROMPT), Ok(1));
    std::thread::sleep(Duration::from_millis(50));
    peer.kill().unwrap();
    let start = Instant::now();
    assert_eq!(a.recv_timeout(PROMPT), Err(Error::Disconnected));
    assert!(a.poll_timeout(PROMPT));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Sends into the dead receiver's ring fill it, then report the death.
    let mut sent = 0;
    let err = loop {
        match a.send_timeout(&7, PROMPT) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::Disconnected);
    assert!(sent <= 8);
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(peer);
}

#[test]
fn sigkill_after_sending_drains_then_disconnects() {
    let (tx, rx) = Pipe::<Stamped>::builder().capacity(64).channel().unwrap();
    let sent = counter();
    let sent2 = sent.try_clone().unwrap();
    let peer = daemon(move || {
        for n in 0..50 {
            tx.send(&Stamped::new(0, n)).unwrap();
        }
        sent2.store(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(60));
    });
    let start = Instant::now();
    while sent.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < PROMPT);
        std::thread::sleep(Duration::from_millis(1));
    }
    peer.kill().unwrap();
    let _ = peer.join().unwrap();
    for n in 0..50 {
        let m = rx.recv_timeout(PROMPT).unwrap();
        assert!(m.intact());
        assert_eq!(m.seq, n);
    }
    let start = Instant::now();
    assert_eq!(rx.recv_timeout(PROMPT), Err(Error::Disconnected));
    assert!(start.elapsed() < Duration::from_secs(2));
}

/// A sender is SIGKILLed at random moments while it streams; each time a new
/// child takes the end over (inheriting the handle, or re-opening the channel
/// by name) and continues after the last message the parent received. Every
/// committed message arrives exactly once, in order, intact.
#[test]
fn kill_loop_delivers_every_committed_message_exactly_once() {
    let name = unique_name("killloop");
    kill_loop(
        &name,
        Pipe::<Stamped>::builder().named(&name).capacity(16),
        |tx, m| tx.send(m),
        |rx| rx.recv_timeout(PROMPT).map(Some),
    );
}

/// The same over variable-size frames (64 B to 1.5 KiB) in a 4 KiB byte
/// ring, which they wrap every few frames and fill as often as the slots:
/// a sender killed mid-frame exposes nothing, and no frame's bytes are
/// reused while it is queued (a torn frame fails its pattern check).
#[test]
fn kill_loop_over_a_byte_ring_delivers_every_committed_frame_exactly_once() {
    let name = unique_name("killring");
    kill_loop(
        &name,
        Pipe::<u8>::builder()
            .named(&name)
            .capacity(16)
            .ring_bytes(4 << 10)
            .max_frame(2 << 10),
        |tx, m| tx.send_bytes(&stamped_frame(m)),
        |rx| {
            rx.recv_bytes_timeout(PROMPT)
                .map(|b| parse_stamped_frame(&b))
        },
    );
}

type SendFn<T> = fn(&ipc_queue::pipe::Sender<T>, &Stamped) -> Result<(), Error>;
type RecvFn<T> = fn(&ipc_queue::pipe::Receiver<T>) -> Result<Option<Stamped>, Error>;

/// The kill loop over a channel made by `builder` (named `name`): `send`
/// sends a message, `recv` receives one (`None`: torn).
fn kill_loop<T: ipc_queue::Message>(
    name: &str,
    builder: PipeBuilder<T>,
    send: SendFn<T>,
    recv: RecvFn<T>,
) {
    const ROUNDS: u32 = 150;
    let name = name.to_string();
    let (tx, rx) = builder.channel().unwrap();
    let tx = Rc::new(tx);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut next = 0u64;
    let budget = Instant::now() + Duration::from_secs(15);
    let mut rounds = 0;
    // The round whose sender has claimed the end (made its first send).
    let claimed = counter();
    while rounds < ROUNDS && Instant::now() < budget {
        let start = next;
        let inherit = rounds % 2 == 0;
        let (mine, name2) = (Rc::clone(&tx), name.clone());
        let claimed2 = claimed.try_clone().unwrap();
        let round = u64::from(rounds) + 1;
        let peer = daemon(move || {
            let reopened;
            let tx = if inherit {
                &*mine
            } else {
                reopened = PipeBuilder::<T>::new().named(&name2).open_sender().unwrap();
                &reopened
            };
            let mut seq = start;
            loop {
                if send(tx, &Stamped::new(0, seq)).is_err() {
                    std::process::exit(2);
                }
                if seq == start {
                    claimed2.store(round, Ordering::SeqCst);
                }
                seq += 1;
            }
        });
        // Until the new sender's first send, the end still belongs to the
        // killed one, and a receive would report Disconnected.
        let t = Instant::now();
        while claimed.load(Ordering::SeqCst) != round {
            assert!(t.elapsed() < PROMPT, "sender never started");
            std::thread::sleep(Duration::from_micros(200));
        }
        // Receive a random number of messages, then kill at a random moment.
        for _ in 0..rng.below(200) {
            let m = recv(&rx).expect("live sender stalled");
            let m = m.filter(Stamped::intact).expect("torn message");
            assert_eq!(m.seq, next, "out of order or duplicated");
            next += 1;
        }
        let spin = rng.below(300);
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(spin) {
            std::hint::spin_loop();
        }
        peer.kill().unwrap();
        let _ = peer.join().unwrap();
        // Drain what it committed; then the dead sender disconnects us.
        loop {
            match recv(&rx) {
                Ok(m) => {
                    let m = m.filter(Stamped::intact).expect("torn message");
                    assert_eq!(m.seq, next, "out of order or duplicated");
                    next += 1;
                }
                Err(Error::Disconnected) => break,
                Err(e) => panic!("after the kill: {e:?}"),
            }
        }
        rounds += 1;
    }
    assert!(rounds >= 50, "only {rounds} rounds in the time budget");
    // A last sender finishes normally.
    let (mine, start) = (Rc::clone(&tx), next);
    let peer = daemon(move || {
        for seq in start..start + 100 {
            send(&mine, &Stamped::new(0, seq)).unwrap();
        }
    });
    for _ in 0..100 {
        let m = recv(&rx).unwrap().filter(Stamped::intact).expect("torn");
        assert_eq!(m.seq, next);
        next += 1;
    }
    assert!(peer.join().unwrap().success());
    assert_eq!(recv(&rx), Err(Error::Disconnected));
    eprintln!("kill loop: {rounds} rounds, {next} messages");
}

#[test]
fn idle_receiver_does_not_burn_cpu() {
    let (_a, b) = Pipe::<u64>::new().unwrap();
    let peer = daemon(move || {
        let before = cpu_time();
        let r = b.recv_timeout(Duration::from_millis(300));
        let used_us = (cpu_time() - before).as_micros();
        let ok = r == Err(Error::Timeout) && used_us < 100_000;
        if !ok {
            eprintln!("recv: {r:?}, CPU used: {used_us} µs");
        }
        std::process::exit(if ok { 0 } else { 1 });
    });
    assert!(peer.join().unwrap().success());
}

// ----- corrupted shared state ---------------------------------------------------

/// The word at `offset` of the pipe's payload.
fn word(payload: std::ptr::NonNull<u8>, offset: usize) -> &'static AtomicU32 {
    // SAFETY: test-only: `offset` lies inside the mapped payload (the
    // documented layout), is 4-aligned, and the pipe outlives every use
    // within the test; AtomicU32 tolerates the concurrent access.
    unsafe { &*payload.as_ptr().add(offset).cast::<AtomicU32>() }
}

#[test]
fn corrupted_indices_and_slots_are_errors_not_crashes() {
    // Ring 0 carries A -> B. u64 frames: slots of 16 bytes, payload at 0,
    // `len` at 8, `seq` at 12.
    let fresh = || {
        let (a, b) = Pipe::<u64>::builder().capacity(8).create().unwrap();
        let p = a.object().payload();
        (a, b, p)
    };
    let is_corrupted =
        |r: &Result<u64, Error>| matches!(r, Err(Error::Core(ipc_core::Error::Corrupted { .. })));

    // A scribbled head: the receiver refuses to read through it.
    let (a, b, p) = fresh();
    a.send(&1).unwrap();
    for garbage in [0xDEAD_BEEF, 0x8000_0000, 1000] {
        word(p, ring_ctl_offset(0) + HEAD_OFFSET).store(garbage, Ordering::SeqCst);
        let r = b.try_recv();
        assert!(is_corrupted(&r), "head {garbage:#x}: {r:?}");
        assert!(is_corrupted(&b.recv_timeout(PROMPT)));
        assert!(b.poll(), "corruption counts as ready");
    }

    // A scribbled tail: the sender refuses to write through it.
    let (a, b, p) = fresh();
    for _ in 0..8 {
        a.send(&1).unwrap();
    }
    word(p, ring_ctl_offset(0) + TAIL_OFFSET).store(0x7000_0000, Ordering::SeqCst);
    let r = a.try_send(&2);
    assert!(
        matches!(r, Err(Error::Core(ipc_core::Error::Corrupted { .. }))),
        "{r:?}"
    );
    assert_eq!(b.recv(), Ok(1), "the consumer's side is still consistent");

    // A scribbled slot sequence word or frame length.
    let (a, b, p) = fresh();
    a.send(&1).unwrap();
    word(p, SLOTS_OFFSET + 12).store(0x1234_5678, Ordering::SeqCst);
    assert!(is_corrupted(&b.try_recv()));
    let (a, b, p) = fresh();
    a.send(&1).unwrap();
    word(p, SLOTS_OFFSET + 8).store(u32::MAX, Ordering::SeqCst);
    assert!(is_corrupted(&b.try_recv()));
    let mut buf = [0u8; 8];
    assert!(matches!(
        b.recv_bytes_into(&mut buf),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));

    // Garbage everywhere in the control block and slots: errors or
    // messages, never a crash.
    let (a, b, p) = fresh();
    let mut rng = Rng(42);
    let len = a.object().payload_len();
    for _ in 0..2000 {
        let off = (rng.below((len / 4) as u64) * 4) as usize;
        if off < 64 {
            continue; // the immutable config is only read at open
        }
        word(p, off).store(rng.next() as u32, Ordering::SeqCst);
        let _ = b.try_recv();
        let _ = a.try_send(&3);
        let _ = b.try_recv_bytes_into(&mut buf);
        let _ = a.try_recv();
        let _ = b.try_send(&4);
    }
}

#[test]
fn corrupted_config_is_refused_on_open() {
    let name = unique_name("config");
    let builder = Pipe::<u64>::builder().named(&name);
    let (a, _b) = builder.create().unwrap();
    let p = a.object().payload();
    // capacity word of the config line (magic, rings, capacity, ...)
    word(p, 8).store(1 << 20, Ordering::SeqCst);
    let e = builder.open(Side::B).unwrap_err();
    assert!(
        matches!(core_err(&e), ipc_core::Error::Corrupted { .. }),
        "{e:?}"
    );
    // The handles already open keep their own validated copy.
    a.send(&1).unwrap();
}

// ----- the ring against a model ------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Send(u64),
    SendBytes(Vec<u8>),
    SendBatch(Vec<u64>),
    Recv,
    RecvBytes,
    RecvInto(usize),
    RecvBatch(usize),
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u64>().prop_map(Op::Send),
        2 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Op::SendBytes),
        2 => prop::collection::vec(any::<u64>(), 1..7).prop_map(Op::SendBatch),
        3 => Just(Op::Recv),
        1 => Just(Op::RecvBytes),
        1 => (0usize..20).prop_map(Op::RecvInto),
        2 => (1usize..7).prop_map(Op::RecvBatch),
        1 => Just(Op::Poll),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Typed(u64),
    Bytes(Vec<u8>),
}

impl Frame {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Frame::Typed(v) => v.to_ne_bytes().to_vec(),
            Frame::Bytes(b) => b.clone(),
        }
    }
}

const MODEL_MAX_FRAME: usize = 16;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ring_matches_a_vecdeque_model(
        cap_log in 0u32..4,
        start in prop_oneof![Just(0u32), Just(u32::MAX - 2), (u32::MAX - 20..=u32::MAX), any::<u32>()],
        byte_ring in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let cap = 1usize << cap_log;
        // With a byte ring: the smallest ring that always has room for
        // `cap` frames of the limit (16 bytes each, and padding of less than
        // one at the wrap), so the slots stay what fills up and the frames
        // wrap the ring every few sends.
        let ring_bytes = if byte_ring { cap * MODEL_MAX_FRAME + MODEL_MAX_FRAME } else { 0 };
        let (tx, rx) = Pipe::<u64>::builder()
            .capacity(cap)
            .max_frame(MODEL_MAX_FRAME)
            .ring_bytes(ring_bytes)
            .start_position(start)
            .channel()
            .unwrap();
        let mut model: VecDeque<Frame> = VecDeque::new();
        for op in ops {
            match op {
                Op::Send(v) => {
                    if model.len() == cap {
                        prop_assert_eq!(tx.try_send(&v), Err(Error::Full));
                    } else {
                        prop_assert_eq!(tx.try_send(&v), Ok(()));
                        model.push_back(Frame::Typed(v));
                    }
                }
                Op::SendBytes(b) => {
                    let r = tx.try_send_bytes(&b);
                    if b.len() > MODEL_MAX_FRAME {
                        prop_assert_eq!(r, Err(Error::TooLarge { len: b.len(), max: MODEL_MAX_FRAME }));
                    } else if model.len() == cap {
                        prop_assert_eq!(r, Err(Error::Full));
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        model.push_back(Frame::Bytes(b));
                    }
                }
                Op::SendBatch(vs) => {
                    if model.len() == cap {
                        prop_assert_eq!(tx.try_send(&vs[0]), Err(Error::Full));
                    } else {
                        let n = tx.send_batch(&vs).unwrap();
                        prop_assert_eq!(n, vs.len().min(cap - model.len()));
                        model.extend(vs[..n].iter().map(|&v| Frame::Typed(v)));
                    }
                }
                Op::Recv => {
                    let r = rx.try_recv();
                    match model.pop_front() {
                        None => prop_assert_eq!(r, Err(Error::Empty)),
                        Some(f) => {
                            let b = f.bytes();
                            if b.len() == 8 {
                                prop_assert_eq!(r, Ok(u64::from_ne_bytes(b.try_into().unwrap())));
                            } else {
                                prop_assert_eq!(r, Err(Error::WrongSize { expected: 8, found: b.len() }));
                            }
                        }
                    }
                }
                Op::RecvBytes => {
                    let r = rx.try_recv_bytes();
                    match model.pop_front() {
                        None => prop_assert_eq!(r, Err(Error::Empty)),
                        Some(f) => prop_assert_eq!(r, Ok(f.bytes())),
                    }
                }
                Op::RecvInto(n) => {
                    let mut buf = vec![0xAA; n];
                    let r = rx.try_recv_bytes_into(&mut buf);
                    match model.front() {
                        None => prop_assert_eq!(r, Err(Error::Empty)),
                        Some(f) => {
                            let b = f.bytes();
                            if b.len() > n {
                                prop_assert_eq!(r, Err(Error::BufferTooSmall { needed: b.len(), got: n }));
                            } else {
                                prop_assert_eq!(r, Ok(b.len()));
                                prop_assert_eq!(&buf[..b.len()], &b[..]);
                                model.pop_front();
                            }
                        }
                    }
                }
                Op::RecvBatch(k) => {
                    if model.is_empty() {
                        prop_assert!(!rx.poll());
                        continue;
                    }
                    let mut out = vec![0u64; k];
                    let r = rx.recv_batch(&mut out);
                    let first = model[0].bytes();
                    if first.len() != 8 {
                        prop_assert_eq!(r, Err(Error::WrongSize { expected: 8, found: first.len() }));
                        model.pop_front();
                    } else {
                        let mut expect = Vec::new();
                        while expect.len() < k && model.front().is_some_and(|f| f.bytes().len() == 8) {
                            let b = model.pop_front().unwrap().bytes();
                            expect.push(u64::from_ne_bytes(b.try_into().unwrap()));
                        }
                        prop_assert_eq!(r, Ok(expect.len()));
                        prop_assert_eq!(&out[..expect.len()], &expect[..]);
                    }
                }
                Op::Poll => {
                    prop_assert_eq!(rx.poll(), !model.is_empty());
                }
            }
        }
        // Drain: everything still in the model comes out in order.
        while let Some(f) = model.pop_front() {
            prop_assert_eq!(rx.try_recv_bytes(), Ok(f.bytes()));
        }
        prop_assert_eq!(rx.try_recv_bytes(), Err(Error::Empty));
        // `close`, not `drop`: other tests of this binary fork from their
        // threads, and a drop after a fork closes nothing (the fork rule,
        // see the pipe module docs; drops are tested across processes).
        tx.close();
        prop_assert_eq!(rx.try_recv_bytes(), Err(Error::Disconnected));
    }
}

#[test]
fn a_pipe_that_never_spins_still_hands_off() {
    let (a, b) = Pipe::<u64>::builder()
        .capacity(2)
        .spin(Duration::ZERO)
        .create()
        .unwrap();
    assert_eq!((a.spin(), b.spin()), (Duration::ZERO, Duration::ZERO));
    let peer = daemon(move || {
        for _ in 0..200 {
            let n = b.recv_timeout(PROMPT).unwrap();
            b.send_timeout(&(n + 1), PROMPT).unwrap();
        }
        // Fill the ring: the blocked send sleeps until the parent makes room.
        for n in 0..10 {
            b.send_timeout(&n, PROMPT).unwrap();
        }
    });
    for n in 0..200 {
        a.send(&n).unwrap();
        assert_eq!(a.recv_timeout(PROMPT), Ok(n + 1));
    }
    std::thread::sleep(Duration::from_millis(50));
    for n in 0..10 {
        assert_eq!(a.recv_timeout(PROMPT), Ok(n));
    }
    assert!(peer.join().unwrap().success());
    a.set_spin(Duration::from_micros(3));
    assert_eq!(a.spin(), Duration::from_micros(3));
}

#[test]
fn separate_ring_layout_works_and_is_learnt_by_openers() {
    let name = unique_name("separate");
    let builder = Pipe::<u64>::builder()
        .named(&name)
        .capacity(8)
        .interleave(false);
    let (a, _b) = builder.create().unwrap();
    // The opener does not say; it reads the layout from the pipe.
    let opener = Pipe::<u64>::builder().named(&name);
    let peer = daemon(move || {
        let b = opener.open(Side::B).unwrap();
        for _ in 0..100 {
            let n = b.recv_timeout(PROMPT).unwrap();
            b.send(&(n * 3)).unwrap();
        }
    });
    for n in 0..100u64 {
        a.send(&n).unwrap();
        assert_eq!(a.recv_timeout(PROMPT), Ok(n * 3));
    }
    assert!(peer.join().unwrap().success());
    // Ring 1 (B -> A) starts after ring 0's 8 slots of 16 bytes.
    let p = a.object().payload();
    assert_eq!(
        word(p, SLOTS_OFFSET + 8 * 16 + 12).load(Ordering::SeqCst),
        97
    );
}

/// A pipe end is exclusive: a second live opener gets `InUse` naming the
/// holder (two replicas opening the same end used to both succeed, and
/// messages came out duplicated or the pipe reported corruption). A dead
/// holder's end is taken over, and one that dropped its handle frees it.
#[test]
fn a_pipe_end_is_exclusive() {
    let name = unique_name("exclusive");
    let builder = Pipe::<u64>::builder().named(&name).capacity(8);
    let (a, _b) = builder.create().unwrap();
    a.send(&1).unwrap();
    let held = counter();
    let holder = daemon({
        let (builder, held) = (builder.clone(), held.try_clone().unwrap());
        move || {
            let b = builder.open(Side::B).unwrap();
            assert_eq!(b.recv(), Ok(1));
            held.store(1, Ordering::SeqCst);
            ipc_test_support::park();
        }
    });
    assert!(ipc_test_support::eventually(PROMPT, || held
        .load(Ordering::SeqCst)
        == 1));
    let second = builder.open(Side::B).map(drop);
    assert_eq!(second, Err(Error::InUse { pid: holder.pid() }));
    // The holder dies: its end is taken over, and works.
    holder.kill().unwrap();
    let _ = holder.join().unwrap();
    let b = builder.open(Side::B).unwrap();
    a.send(&2).unwrap();
    assert_eq!(b.recv_timeout(PROMPT), Ok(2));
    // A holder that drops its handle (and lives on) frees the end.
    drop(b);
    held.store(0, Ordering::SeqCst);
    let polite = daemon({
        let (builder, held) = (builder.clone(), held.try_clone().unwrap());
        move || {
            drop(builder.open(Side::B).unwrap());
            held.store(1, Ordering::SeqCst);
            ipc_test_support::park();
        }
    });
    assert!(ipc_test_support::eventually(PROMPT, || held
        .load(Ordering::SeqCst)
        == 1));
    assert!(builder.open(Side::B).is_ok());
    drop(polite);

    // A channel's ends too.
    let cname = unique_name("exclusive-ch");
    let cb = Pipe::<u64>::builder().named(&cname);
    let (_tx, _rx) = cb.channel().unwrap();
    let rx = cb.open_receiver().unwrap();
    let other = daemon({
        let cb = cb.clone();
        move || {
            assert!(matches!(cb.open_receiver(), Err(Error::InUse { .. })));
        }
    });
    assert!(other.join().unwrap().success());
    drop(rx);
}

/// A byte-ring pipe: memory follows the data (a 256 KiB ring per
/// direction, where 1024 fixed slots of 64 KiB would map 128 MiB); frames
/// of mixed sizes and of 16 MiB cross processes whole; a frame over the
/// limit is refused naming the setting; a full ring says `Full` and a
/// blocked send proceeds once the other process reads.
#[test]
fn byte_ring_pipe_carries_what_it_is_sized_for() {
    let (a, b) = Pipe::<u8>::builder()
        .capacity(1024)
        .max_frame(64 << 10)
        .ring_bytes(256 << 10)
        .create()
        .unwrap();
    assert!(a.shm_bytes() < 600 << 10, "{}", a.shm_bytes());
    let err = a.send_bytes(&vec![0; 70_000]).unwrap_err();
    assert!(matches!(
        err,
        Error::TooLarge {
            len: 70_000,
            max: 65_536
        }
    ));
    assert!(err.to_string().contains("ring_bytes"), "{err}");
    let frame = |i: usize| -> Vec<u8> {
        let len = if i.is_multiple_of(50) {
            64 << 10
        } else {
            1 + i * 7919 % 3000
        };
        (0..len).map(|k| (i ^ k) as u8).collect()
    };
    let peer = daemon(move || {
        for i in 0..3000 {
            let got = b.recv_bytes_timeout(PROMPT).unwrap();
            assert!(got == frame(i), "frame {i}");
            b.send_bytes(&got[..got.len().min(100)]).unwrap();
        }
    });
    for i in 0..3000 {
        a.send_bytes(&frame(i)).unwrap();
        let back = a.recv_bytes_timeout(PROMPT).unwrap();
        assert_eq!(back, frame(i)[..back.len()]);
    }
    assert!(peer.join().unwrap().success());

    const BIG: usize = 16 << 20;
    let (tx, rx) = Pipe::<u8>::builder()
        .capacity(4)
        .ring_bytes(20 << 20)
        .max_frame(BIG)
        .channel()
        .unwrap();
    let mut big = vec![7u8; BIG];
    big[BIG - 1] = 9;
    tx.send_bytes(&big).unwrap();
    assert_eq!(
        tx.try_send_bytes(&big),
        Err(Error::Full),
        "the ring holds one"
    );
    tx.send_bytes(&[1; 1000]).unwrap(); // small frames still fit beside it
    let peer = daemon(move || {
        std::thread::sleep(Duration::from_millis(100));
        let got = rx.recv_bytes().unwrap();
        assert!(got.len() == BIG && got[BIG - 1] == 9 && got[0] == 7);
        assert_eq!(rx.recv_bytes().unwrap(), vec![1; 1000]);
        assert_eq!(rx.recv_bytes().unwrap().len(), BIG);
    });
    let t = Instant::now();
    tx.send_bytes_timeout(&big, PROMPT).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(50),
        "send did not wait"
    );
    assert!(peer.join().unwrap().success());
}

/// A scribbled frame position in a byte-ring pipe is a typed error, never a
/// read outside the ring.
#[test]
fn byte_ring_pipe_corruption_is_an_error() {
    let (tx, rx) = Pipe::<u8>::builder()
        .capacity(4)
        .ring_bytes(4096)
        .channel()
        .unwrap();
    tx.send_bytes(b"hello").unwrap();
    let payload = tx.object().payload();
    // SAFETY: slot 0's payload, in a byte-ring pipe the frame's u64 byte
    // position, aligned, inside the payload; scribbled on purpose.
    unsafe {
        (*payload
            .as_ptr()
            .add(SLOTS_OFFSET)
            .cast::<std::sync::atomic::AtomicU64>())
        .store(4093, Ordering::SeqCst)
    };
    assert!(matches!(
        rx.try_recv_bytes(),
        Err(Error::Core(ipc_core::Error::Corrupted { .. }))
    ));
}
