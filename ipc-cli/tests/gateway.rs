//! `ipc gateway` between a local shared-memory queue and a queue on a real
//! `nats-server -js`, with the producer, the gateway and the consumer each
//! a process of its own.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipc_core::segment::SegmentOptions;
use ipc_queue::Queue;
use ipc_remote::{Error, Remote, RemoteOptions, RemoteQueue};
use ipc_test_support::nats::NatsServer;
use ipc_test_support::{daemon, join_ok, unique_name};

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
    const N: u64 = 2000;
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
    let consumer = {
        let (url, remote) = (s.url(), remote.clone());
        daemon(move || {
            let r = Remote::connect(&RemoteOptions::new(url)).unwrap();
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
            for want in 0..N {
                let m = q.get_bytes().unwrap();
                assert_eq!(u64::from_le_bytes(m.try_into().unwrap()), want);
            }
            // The gateway closed it once the local side was drained.
            assert!(matches!(
                q.get_bytes_timeout(Duration::from_secs(20)),
                Err(Error::Disconnected)
            ));
        })
    };
    join_ok(producer);
    finished(gw, N);
    join_ok(consumer);
    drop(q);
}

#[test]
fn a_remote_producers_messages_reach_a_local_consumer() {
    const N: u64 = 500;
    let Some(s) = NatsServer::start() else { return };
    let local = unique_name("gw-in");
    let remote = remote_name("gw-in");
    let q = local_queue(&local);
    let producer = {
        let (url, remote) = (s.url(), remote.clone());
        daemon(move || {
            let r = Remote::connect(&RemoteOptions::new(url)).unwrap();
            let q = RemoteQueue::builder(&r, &remote).open_or_create().unwrap();
            for i in 0..N {
                q.put_bytes(&i.to_le_bytes()).unwrap();
            }
            q.close().unwrap();
        })
    };
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
