//! Async receive and send with real processes on the other side: tokio's
//! multi-thread and current-thread runtimes and smol; futures dropped while
//! pending lose nothing (cancellation safety); an idle waiting task uses no
//! CPU; a producer that dies or leaves ends the wait with `Disconnected`.
//!
//! Every test forks its peers before it starts a runtime (a process with
//! threads must not fork). A peer that runs a runtime itself starts fresh
//! instead ([`spawn_entry`]): other tests' threads of this binary may be
//! building a runtime's process-wide parts (smol's reactor) at the moment of
//! a fork, which the child would then wait for forever.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::process::run_entry_point;
use ipc_queue::pipe::Side;
use ipc_queue::{Error, Pipe, Queue};
use ipc_test_support::{
    cpu_time, daemon, entry_arg, eventually, join_ok, park, slots, spawn_entry, unique_name,
};

fn tokio_multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn tokio_current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A child that puts `n` numbers into the named queue, pausing now and then
/// so that the receiver really waits.
fn producer(name: &str, n: u64) -> ipc_core::process::Process {
    let name = name.to_owned();
    daemon(move || {
        let q = Queue::<u64>::builder().named(&name).open().unwrap();
        for i in 0..n {
            if i % 97 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            q.put(&i).unwrap();
        }
    })
}

#[test]
fn queue_get_async_on_tokio_and_smol() {
    for runtime in ["tokio-multi", "tokio-current", "smol"] {
        let name = unique_name("async-q");
        let q = Queue::<u64>::builder()
            .named(&name)
            .capacity(16)
            .create()
            .unwrap();
        let child = producer(&name, 2000);
        let receive = async {
            let mut got = Vec::new();
            loop {
                match q.get_async().await {
                    Ok(v) => got.push(v),
                    Err(Error::Disconnected) => break,
                    Err(e) => panic!("{runtime}: {e}"),
                }
            }
            got
        };
        let got = match runtime {
            "tokio-multi" => {
                // Spawned, so the future must be Send.
                let q2 = q.clone();
                tokio_multi().block_on(async move {
                    tokio::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = q2.get_async().await {
                            got.push(v);
                        }
                        got
                    })
                    .await
                    .unwrap()
                })
            }
            "tokio-current" => tokio_current().block_on(receive),
            _ => smol::block_on(receive),
        };
        assert_eq!(got, (0..2000).collect::<Vec<u64>>(), "{runtime}");
        join_ok(child);
    }
}

#[test]
fn queue_put_async_waits_for_room() {
    let name = unique_name("async-put");
    let q = Queue::<u64>::builder()
        .named(&name)
        .capacity(4)
        .create()
        .unwrap();
    let count = Arc::new(slots::<1>());
    let consumer = daemon({
        let (name, count) = (name.clone(), count.clone());
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            for i in 0..500u64 {
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
                assert_eq!(q.get().unwrap(), i);
                count[0].fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    smol::block_on(async {
        for i in 0..500u64 {
            q.put_async(&i).await.unwrap();
        }
    });
    join_ok(consumer);
    assert_eq!(count[0].load(Ordering::SeqCst), 500);
}

/// Futures dropped while pending (a timeout that fires first) take
/// nothing: every one of 300 messages, sent at random moments by another
/// process, is received exactly once.
#[test]
fn dropped_futures_lose_nothing() {
    let name = unique_name("async-cancel");
    let q = Queue::<u64>::builder()
        .named(&name)
        .capacity(8)
        .create()
        .unwrap();
    let pipe = unique_name("async-cancel-p");
    let (mut a, _b) = Pipe::<u64>::builder().named(&pipe).create().unwrap();
    let child = daemon({
        let (name, pipe) = (name.clone(), pipe.clone());
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            let b = Pipe::<u64>::builder().named(&pipe).open(Side::B).unwrap();
            let mut x = 12345u64;
            for i in 0..300u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                std::thread::sleep(Duration::from_micros(x % 3000));
                q.put(&i).unwrap();
                b.send(&i).unwrap();
            }
        }
    });
    let (from_queue, from_pipe, timeouts) = tokio_current().block_on(async {
        let (mut from_queue, mut from_pipe, mut timeouts) = (Vec::new(), Vec::new(), 0);
        while from_queue.len() < 300 || from_pipe.len() < 300 {
            let limit = Duration::from_micros(500);
            if from_queue.len() < 300 {
                match tokio::time::timeout(limit, q.get_async()).await {
                    Ok(v) => from_queue.push(v.unwrap()),
                    Err(_) => timeouts += 1,
                }
            }
            if from_pipe.len() < 300 {
                match tokio::time::timeout(limit, a.recv_async()).await {
                    Ok(v) => from_pipe.push(v.unwrap()),
                    Err(_) => timeouts += 1,
                }
            }
        }
        (from_queue, from_pipe, timeouts)
    });
    join_ok(child);
    let all: Vec<u64> = (0..300).collect();
    assert_eq!(from_queue, all);
    assert_eq!(from_pipe, all);
    assert!(
        timeouts > 50,
        "only {timeouts} futures were dropped pending"
    );
    assert!(q.is_empty());
}

/// A task waiting for a message that does not come uses no CPU: the
/// process spends less than 5% of a core over half a second.
#[test]
fn an_idle_wait_uses_no_cpu() {
    let name = unique_name("async-idle");
    let q = Queue::<u64>::builder().named(&name).create().unwrap();
    let ready = Arc::new(slots::<1>());
    // A live producer that sends nothing (so the queue is not disconnected).
    let quiet = daemon({
        let (name, ready) = (name.clone(), ready.clone());
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            q.put(&1).unwrap();
            ready[0].store(1, Ordering::SeqCst);
            park();
        }
    });
    assert!(eventually(Duration::from_secs(5), || ready[0]
        .load(Ordering::SeqCst)
        == 1));
    assert_eq!(q.get().unwrap(), 1);
    // Measured in a child of its own: this test process runs other tests'
    // threads meanwhile, whose CPU time would count.
    join_ok(spawn_entry("idle_waiter", &[("queue", &name)]));
    quiet.kill().unwrap();
    let _ = quiet.join();
}

/// A child: waits half a second on tokio for a message of queue `queue`
/// that does not come, and checks it used less than 5% of a core.
fn idle_waiter() {
    let q = Queue::<u64>::builder()
        .named(&entry_arg("queue"))
        .open()
        .unwrap();
    let (cpu, waited) = tokio_multi().block_on(async {
        let before = cpu_time();
        let t = Instant::now();
        let r = tokio::time::timeout(Duration::from_millis(500), q.get_async()).await;
        assert!(r.is_err(), "nothing was sent");
        (cpu_time() - before, t.elapsed())
    });
    assert!(waited >= Duration::from_millis(500));
    assert!(
        cpu < Duration::from_millis(25),
        "{cpu:?} of CPU in {waited:?} of waiting"
    );
}

/// A producer that drops its handle, or is SIGKILLed, ends the wait.
#[test]
fn a_gone_producer_ends_the_wait() {
    for kill in [false, true] {
        let name = unique_name("async-gone");
        let q = Queue::<u64>::builder().named(&name).create().unwrap();
        let ready = Arc::new(slots::<1>());
        let child = daemon({
            let (name, ready) = (name.clone(), ready.clone());
            move || {
                let q = Queue::<u64>::builder().named(&name).open().unwrap();
                q.put(&7).unwrap();
                ready[0].store(1, Ordering::SeqCst);
                if kill {
                    park();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        assert!(eventually(Duration::from_secs(5), || ready[0]
            .load(Ordering::SeqCst)
            == 1));
        if kill {
            std::thread::sleep(Duration::from_millis(50));
            child.kill().unwrap();
        }
        let t = Instant::now();
        let (first, second) =
            tokio_current().block_on(async { (q.get_async().await, q.get_async().await) });
        assert_eq!(first, Ok(7));
        assert_eq!(second, Err(Error::Disconnected), "kill: {kill}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        let _ = child.join();
    }
}

/// Both ends of a pipe async, on two runtimes in two processes.
#[test]
fn pipe_ping_pong_async_in_two_processes() {
    let name = unique_name("async-pipe");
    let (mut a, _b) = Pipe::<u64>::builder().named(&name).create().unwrap();
    let child = daemon({
        let name = name.clone();
        move || {
            let mut b = Pipe::<u64>::builder().named(&name).open(Side::B).unwrap();
            smol::block_on(async {
                while let Ok(x) = b.recv_async().await {
                    b.send_async(&(x + 1)).await.unwrap();
                }
            });
        }
    });
    tokio_multi().block_on(async move {
        tokio::spawn(async move {
            for i in 0..1000u64 {
                a.send_async(&(2 * i)).await.unwrap();
                assert_eq!(a.recv_async().await.unwrap(), 2 * i + 1);
            }
        })
        .await
        .unwrap();
    });
    join_ok(child);
}

/// The sync objects' waits, async: an event set and permits released by
/// another process.
#[test]
fn event_and_semaphore_async() {
    use ipc_core::segment::{SegmentOptions, Shared};
    use ipc_core::sync::{Event, Semaphore};

    let event = Arc::new(Shared::create(&SegmentOptions::anonymous(), Event::new()).unwrap());
    let permits =
        Arc::new(Shared::create(&SegmentOptions::anonymous(), Semaphore::new(0)).unwrap());
    let child = daemon({
        let (event, permits) = (event.clone(), permits.clone());
        move || {
            std::thread::sleep(Duration::from_millis(30));
            event.set();
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(10));
                permits.release(1).unwrap();
            }
        }
    });
    let t = Instant::now();
    smol::block_on(async {
        event.wait_async().await.unwrap();
        for _ in 0..3 {
            permits.acquire_async().await.unwrap();
        }
    });
    assert!(t.elapsed() >= Duration::from_millis(55));
    assert!(permits.try_acquire().is_err());
    join_ok(child);
}

/// A channel's ends as a Stream and a Sink in two processes: the sink in a
/// child (smol), the stream in the parent (tokio); the stream ends when the
/// sink closes.
#[test]
fn stream_and_sink_across_processes() {
    use futures_util::StreamExt;
    use ipc_queue::pipe::stream::RecvStream;

    let name = unique_name("async-stream");
    // The creator's sender stays unused (a drop would close the end); the
    // child takes the sending end over.
    let (_unused, rx) = Pipe::<u64>::builder()
        .named(&name)
        .capacity(8)
        .channel()
        .unwrap();
    let child = spawn_entry("sink", &[("pipe", &name)]);
    let got: Vec<u64> = tokio_current().block_on(RecvStream::new(rx).map(|r| r.unwrap()).collect());
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    join_ok(child);
}

/// More pending futures than one `futex_waitv` call watches (127): the
/// reactor watches them in turns, and every one completes when its message
/// comes from another process.
#[test]
fn hundreds_of_pending_futures_all_complete() {
    const N: usize = 300;
    let base = unique_name("async-many");
    let queues: Vec<Queue<u64>> = (0..N)
        .map(|i| {
            Queue::<u64>::builder()
                .named(&format!("{base}-{i}"))
                .capacity(2)
                .create()
                .unwrap()
        })
        .collect();
    let child = daemon({
        let base = base.clone();
        move || {
            let qs: Vec<Queue<u64>> = (0..N)
                .map(|i| {
                    Queue::<u64>::builder()
                        .named(&format!("{base}-{i}"))
                        .open()
                        .unwrap()
                })
                .collect();
            // Let the parent's futures register first, then answer them in
            // a scattered order.
            std::thread::sleep(Duration::from_millis(200));
            for k in 0..N {
                let i = (k * 7) % N;
                qs[i].put(&(i as u64)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let t = Instant::now();
    let got: Vec<u64> = tokio_current().block_on(async {
        let futures = queues.iter().map(|q| q.get_async());
        let mut out = Vec::new();
        for r in futures_util::future::join_all(futures).await {
            out.push(r.unwrap());
        }
        out
    });
    assert_eq!(got, (0..N as u64).collect::<Vec<_>>());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    join_ok(child);
}

/// A queue as a Sink in two producer processes and as a Stream in the
/// consumer; the stream ends when both producers are gone. (Each producer
/// registers with a first message and waits for the other: a producer that
/// finished before the other started would rightly end the stream, as the
/// queue's disconnection rule says.)
#[test]
fn queue_stream_and_sink_across_processes() {
    use futures_util::{SinkExt, StreamExt};
    use ipc_queue::queue::stream::{QueueSink, QueueStream};

    const HELLO: u64 = u64::MAX;
    let name = unique_name("async-qstream");
    let q = Queue::<u64>::builder()
        .named(&name)
        .capacity(8)
        .create()
        .unwrap();
    let registered = Arc::new(slots::<1>());
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let (name, registered) = (name.clone(), registered.clone());
            daemon(move || {
                let q = Queue::<u64>::builder().named(&name).open().unwrap();
                q.put(&HELLO).unwrap();
                registered[0].fetch_add(1, Ordering::SeqCst);
                while registered[0].load(Ordering::SeqCst) < 2 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                smol::block_on(async {
                    let mut sink = QueueSink::new(q);
                    let mut items =
                        futures_util::stream::iter((0..300u64).map(|i| Ok(p * 1000 + i)));
                    sink.send_all(&mut items).await.unwrap();
                    sink.close().await.unwrap();
                });
            })
        })
        .collect();
    let mut got: Vec<u64> = tokio_current().block_on(
        QueueStream::new(q)
            .map(|r| r.unwrap())
            .filter(|&v| std::future::ready(v != HELLO))
            .collect(),
    );
    got.sort_unstable();
    let expected: Vec<u64> = (0..300).chain(1000..1300).collect();
    assert_eq!(got, expected);
    for p in producers {
        join_ok(p);
    }
}

/// A child: sends `0..500` through a `SendSink` on smol into the sending
/// end of channel `pipe`, then closes it.
fn sink() {
    use futures_util::SinkExt;
    use ipc_queue::pipe::stream::SendSink;

    let tx = Pipe::<u64>::builder()
        .named(&entry_arg("pipe"))
        .open_sender()
        .unwrap();
    smol::block_on(async {
        let mut sink = SendSink::new(tx);
        let mut items = futures_util::stream::iter((0..500u64).map(Ok));
        sink.send_all(&mut items).await.unwrap();
        sink.close().await.unwrap();
    });
}

/// The children's entry points (see `ipc_test_support::spawn_entry`).
#[test]
fn entry_child() {
    run_entry_point(&[("idle_waiter", idle_waiter), ("sink", sink)]);
}
