//! The remote queue's API against a real `nats-server -js` on loopback
//! (and the remote pipe's, with a peer process started fresh, not forked:
//! see `ipc_test_support::spawn_entry`).

use std::time::{Duration, Instant};

use ipc_core::process::run_entry_point;
use ipc_remote::{Error, Remote, RemoteOptions, RemoteQueue};
use ipc_test_support::nats::{NatsServer, free_port};
use ipc_test_support::{entry_arg, join_ok, spawn_entry, unique_name};

fn server() -> Option<(NatsServer, Remote)> {
    let s = NatsServer::start()?;
    let r = Remote::connect(&RemoteOptions::new(s.url())).expect("connect");
    Some((s, r))
}

/// A valid remote name unique to this test run.
fn qname(tag: &str) -> String {
    unique_name(tag).replace(['/', '.'], "_")
}

#[test]
fn put_and_get_in_order_with_bytes_and_serde() {
    let Some((_s, r)) = server() else { return };
    let q = RemoteQueue::builder(&r, &qname("order")).create().unwrap();
    for i in 0..100u32 {
        q.put_bytes(&i.to_le_bytes()).unwrap();
    }
    for i in 0..100u32 {
        assert_eq!(q.get_bytes().unwrap(), i.to_le_bytes());
    }
    q.put_serde(&("widget".to_string(), 3u32)).unwrap();
    let got: (String, u32) = q.get_serde().unwrap();
    assert_eq!(got, ("widget".into(), 3));
    assert!(matches!(q.try_get_bytes(), Err(Error::Empty)));
    assert_eq!(q.len().unwrap(), 0);
}

#[test]
fn a_second_handle_opens_the_same_queue() {
    let Some((_s, r)) = server() else { return };
    let name = qname("open");
    assert!(matches!(
        RemoteQueue::builder(&r, &name).open(),
        Err(Error::NotFound { .. })
    ));
    let a = RemoteQueue::builder(&r, &name).create().unwrap();
    assert!(matches!(
        RemoteQueue::builder(&r, &name).create(),
        Err(Error::AlreadyExists { .. })
    ));
    let b = RemoteQueue::builder(&r, &name).open().unwrap();
    a.put_bytes(b"hello").unwrap();
    assert_eq!(
        b.get_bytes_timeout(Duration::from_secs(5)).unwrap(),
        b"hello"
    );
}

#[test]
fn capacity_refuses_with_full_and_timeout_then_takes_after_a_get() {
    let Some((_s, r)) = server() else { return };
    let q = RemoteQueue::builder(&r, &qname("cap"))
        .capacity(3)
        .create()
        .unwrap();
    for i in 0..3u8 {
        q.try_put_bytes(&[i]).unwrap();
    }
    assert!(matches!(q.try_put_bytes(b"x"), Err(Error::Full)));
    let t = Instant::now();
    assert!(matches!(
        q.put_bytes_timeout(b"x", Duration::from_millis(300)),
        Err(Error::Timeout)
    ));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(q.get_bytes().unwrap(), [0]);
    q.put_bytes_timeout(b"x", Duration::from_secs(5)).unwrap();
    assert_eq!(q.len().unwrap(), 3);
}

#[test]
fn get_timeout_is_honoured_and_empty_is_immediate() {
    let Some((_s, r)) = server() else { return };
    let q = RemoteQueue::builder(&r, &qname("tmo")).create().unwrap();
    let t = Instant::now();
    assert!(matches!(q.try_get_bytes(), Err(Error::Empty)));
    assert!(t.elapsed() < Duration::from_secs(1));
    for ms in [50u64, 400, 1500] {
        let t = Instant::now();
        assert!(matches!(
            q.get_bytes_timeout(Duration::from_millis(ms)),
            Err(Error::Timeout)
        ));
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(ms), "{ms}: {waited:?}");
        assert!(
            waited < Duration::from_millis(ms + 1000),
            "{ms}: {waited:?}"
        );
    }
}

#[test]
fn close_disconnects_puts_at_once_and_gets_after_the_drain() {
    let Some((_s, r)) = server() else { return };
    let name = qname("close");
    let q = RemoteQueue::builder(&r, &name).create().unwrap();
    let other = RemoteQueue::builder(&r, &name).open().unwrap();
    q.put_bytes(b"a").unwrap();
    q.put_bytes(b"b").unwrap();
    q.close().unwrap();
    assert!(other.is_closed().unwrap());
    assert!(matches!(
        other.put_bytes_timeout(b"c", Duration::from_secs(5)),
        Err(Error::Disconnected)
    ));
    assert_eq!(other.get_bytes().unwrap(), b"a");
    assert_eq!(other.get_bytes().unwrap(), b"b");
    let t = Instant::now();
    assert!(matches!(other.get_bytes(), Err(Error::Disconnected)));
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(matches!(other.try_get_bytes(), Err(Error::Disconnected)));
}

#[test]
fn oversized_messages_and_bad_names_are_refused_with_typed_errors() {
    let Some((_s, r)) = server() else { return };
    let q = RemoteQueue::builder(&r, &qname("big"))
        .max_message(1000)
        .create()
        .unwrap();
    assert!(matches!(
        q.put_bytes(&[0; 1001]),
        Err(Error::TooLarge {
            len: 1001,
            max: 1000
        })
    ));
    q.put_bytes(&[7; 1000]).unwrap();
    assert_eq!(q.get_bytes().unwrap(), [7; 1000]);
    // The server's max_payload (1 MiB by default) bounds every queue.
    let max = r.max_payload();
    let unbounded = RemoteQueue::builder(&r, &qname("payload"))
        .create()
        .unwrap();
    assert!(matches!(
        unbounded.put_bytes(&vec![0; max + 1]),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        RemoteQueue::builder(&r, &qname("toolarge"))
            .max_message(max + 1)
            .create(),
        Err(Error::TooLarge { .. })
    ));
    for bad in ["", "a.b", "a b", "a*", "a>", "a/b", &"x".repeat(200)] {
        assert!(
            matches!(
                RemoteQueue::builder(&r, bad).open_or_create(),
                Err(Error::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn an_unreachable_server_is_a_typed_error_within_the_timeout() {
    let port = free_port();
    let t = Instant::now();
    let opts = RemoteOptions::new(format!("nats://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(500));
    assert!(matches!(
        Remote::connect(&opts),
        Err(Error::Unreachable { .. })
    ));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn deliveries_not_acknowledged_go_back_and_a_nak_redelivers_at_once() {
    let Some((_s, r)) = server() else { return };
    let q = RemoteQueue::builder(&r, &qname("nak"))
        .prefetch(1)
        .create()
        .unwrap();
    q.put_bytes(b"one").unwrap();
    let d = q.get_delivery().unwrap();
    assert_eq!(d.bytes(), b"one");
    d.nak().unwrap();
    let d = q.get_delivery_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(d.bytes(), b"one");
    d.ack().unwrap();
    assert!(matches!(
        q.get_bytes_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
}

#[test]
fn async_twins_work_in_the_callers_runtime() {
    let Some((s, _r)) = server() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = Remote::connect_async(&RemoteOptions::new(s.url()))
            .await
            .unwrap();
        let q = RemoteQueue::builder(&r, &qname("async"))
            .create_async()
            .await
            .unwrap();
        q.put_bytes_async(b"x").await.unwrap();
        q.put_serde_async(&42u64).await.unwrap();
        assert_eq!(q.get_bytes_async().await.unwrap(), b"x");
        assert_eq!(q.get_serde_async::<u64>().await.unwrap(), 42);
    });
}

#[test]
fn a_remote_pipe_carries_frames_both_ways_between_processes() {
    use ipc_remote::{PipeSide, RemotePipeEnd};
    let Some((s, r)) = server() else { return };
    let name = qname("pipe");
    let a = RemotePipeEnd::open(&r, &name, PipeSide::A).unwrap();
    let peer = spawn_entry("echo", &[("url", &s.url()), ("pipe", &name)]);
    for i in 0..20u8 {
        a.send_bytes(&[i, 1, 2]).unwrap();
        assert_eq!(
            a.recv_bytes_timeout(Duration::from_secs(10)).unwrap(),
            [2, 1, i]
        );
    }
    a.close().unwrap();
    assert!(matches!(
        a.recv_bytes_timeout(Duration::from_secs(10)),
        Err(Error::Disconnected)
    ));
    join_ok(peer);
}

/// A child: side B of pipe `pipe`, an echo server sending each frame back
/// reversed until side A closes.
fn echo() {
    use ipc_remote::{PipeSide, RemotePipeEnd};
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let b = RemotePipeEnd::open(&r, &entry_arg("pipe"), PipeSide::B).unwrap();
    loop {
        match b.recv_bytes() {
            Ok(mut m) => {
                m.reverse();
                b.send_bytes(&m).unwrap();
            }
            Err(Error::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    b.close().unwrap();
}

/// The children's entry points (see `ipc_test_support::spawn_entry`).
#[test]
fn entry_child() {
    run_entry_point(&[("echo", echo)]);
}
