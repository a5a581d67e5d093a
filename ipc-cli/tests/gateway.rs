//! `ipc gateway` between a local shared-memory queue and a queue on a real
//! `nats-server -js`, with the producer, the gateway and the consumer each
//! a process of its own. The children that use NATS start fresh, not
//! forked (see `ipc_test_support::spawn_entry`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipc_core::process::run_entry_point;
use ipc_core::segment::SegmentOptions;
use ipc_queue::Queue;
use ipc_remote::{Error, Remote, RemoteOptions, RemoteQueue};
use ipc_test_support::nats::NatsServer;
use ipc_test_support::{daemon, entry_arg, join_ok, spawn_entry, unique_name};

fn remote_name(tag: &str) -> String {
    unique_name(tag).replace(['/', '.'], "_")
}

fn local_queue(name: &str) -> Queue<u8> {
    Queue::<u8>::builder()
        .options(SegmentOptions::named(name))
        .capacity(64)
        .ring_bytes(1 << 20)
        .create()
        .unwrap()
}

fn gateway(args: &[&str], url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ipc"))
        .arg("gateway")
        .args(args)
        .args(["--url", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ipc gateway")
}

/// Waits for the gateway to exit on its own and checks its report.
fn finished(child: Child, forwarded: u64) {
    let started = Instant::now();
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the gateway did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gateway failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("forwarded {forwarded} messages"));
}

#[test]
fn a_local_producers_messages_reach_a_remote_consumer() {
    const N: u64 = TO_REMOTE;
    let Some(s) = NatsServer::start() else { return };
    let local = unique_name("gw-out");
    let remote = remote_name("gw-out");
    let q = local_queue(&local);
    let producer = {
        let local = local.clone();
        daemon(move || {
            let q = Queue::<u8>::builder()
                .options(SegmentOptions::named(&local))
                .open()
                .unwrap();
            for i in 0..N {
                q.put_bytes(&i.to_le_bytes()).unwrap();
            }
        })
    };
    let gw = gateway(&["to-remote", &local, &remote, "--close"], &s.url());
    let consumer = spawn_entry("remote_consumer", &[("url", &s.url()), ("queue", &remote)]);
    join_ok(producer);
    finished(gw, N);
    join_ok(consumer);
    drop(q);
}

/// How many messages the remote consumer expects.
const TO_REMOTE: u64 = 2000;

/// A child: gets `0..TO_REMOTE` in order from remote queue `queue` (which
/// the gateway creates), then sees the gateway's close.
fn remote_consumer() {
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let remote = entry_arg("queue");
    // The gateway creates it; wait for it to be there.
    let started = Instant::now();
    let q = loop {
        match RemoteQueue::builder(&r, &remote).open() {
            Ok(q) => break q,
            Err(Error::NotFound { .. }) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("open: {e}"),
        }
    };
    for want in 0..TO_REMOTE {
        let m = q.get_bytes().unwrap();
        assert_eq!(u64::from_le_bytes(m.try_into().unwrap()), want);
    }
    // The gateway closed it once the local side was drained.
    assert!(matches!(
        q.get_bytes_timeout(Duration::from_secs(20)),
        Err(Error::Disconnected)
    ));
}

/// How many messages the remote producer puts.
const FROM_REMOTE: u64 = 500;

/// A child: puts `0..FROM_REMOTE` to remote queue `queue`, then closes it.
fn remote_producer() {
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let q = RemoteQueue::builder(&r, &entry_arg("queue"))
        .open_or_create()
        .unwrap();
    for i in 0..FROM_REMOTE {
        q.put_bytes(&i.to_le_bytes()).unwrap();
    }
    q.close().unwrap();
}

/// The children's entry points (see `ipc_test_support::spawn_entry`).
#[test]
fn entry_child() {
    run_entry_point(&[
        ("remote_consumer", remote_consumer),
        ("remote_producer", remote_producer),
    ]);
}

#[test]
fn a_remote_producers_messages_reach_a_local_consumer() {
    const N: u64 = FROM_REMOTE;
    let Some(s) = NatsServer::start() else { return };
    let local = unique_name("gw-in");
    let remote = remote_name("gw-in");
    let q = local_queue(&local);
    let producer = spawn_entry("remote_producer", &[("url", &s.url()), ("queue", &remote)]);
    join_ok(producer);
    let gw = gateway(&["from-remote", &local, &remote], &s.url());
    for want in 0..N {
        let m = q.get_bytes_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(u64::from_le_bytes(m.try_into().unwrap()), want);
    }
    finished(gw, N);
}

#[test]
fn a_wrong_password_is_reported_not_waited_on() {
    let Some(s) = NatsServer::start_with_config("authorization { user: gw, password: right }\n")
    else {
        return;
    };
    let local = unique_name("gw-auth");
    let _q = local_queue(&local);
    let out = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["gateway", "to-remote", &local, "authq", "--url", &s.url()])
        .args(["--user", "gw", "--password", "wrong"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused"), "{err}");
}
