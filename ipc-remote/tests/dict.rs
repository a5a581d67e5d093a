//! The remote dict against a real `nats-server -js`, with real processes
//! for the concurrent updates (started fresh, not forked: see
//! `ipc_test_support::spawn_entry`).

use std::time::Duration;

use ipc_core::process::run_entry_point;
use ipc_remote::{Error, Remote, RemoteDict, RemoteOptions};
use ipc_test_support::nats::NatsServer;
use ipc_test_support::{entry_arg, join_ok, spawn_entry, unique_name};

fn name(tag: &str) -> String {
    unique_name(tag).replace(['/', '.'], "_")
}

#[test]
fn the_dict_api_with_any_key() {
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let d = RemoteDict::builder(&r, &name("api")).create().unwrap();
    assert!(d.is_empty().unwrap());
    d.insert("plain", b"1").unwrap();
    d.insert("with space.and dot", b"2").unwrap();
    d.insert(&b"\x00\xffbin"[..], b"3").unwrap();
    assert_eq!(d.get("plain").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        d.get("with space.and dot").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        d.get(&b"\x00\xffbin"[..]).unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(d.get("missing").unwrap(), None);
    let mut keys = d.keys().unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            b"\x00\xffbin".to_vec(),
            b"plain".to_vec(),
            b"with space.and dot".to_vec()
        ]
    );
    assert_eq!(d.len().unwrap(), 3);
    assert!(d.contains("plain").unwrap());
    assert_eq!(d.pop("plain").unwrap().as_deref(), Some(&b"1"[..]));
    assert!(!d.remove("plain").unwrap());
    assert_eq!(
        d.compare_and_swap("k", None, b"a").unwrap(),
        Ok(()),
        "absent key: swapped"
    );
    assert_eq!(
        d.compare_and_swap("k", None, b"b").unwrap(),
        Err(Some(b"a".to_vec()))
    );
    assert_eq!(d.compare_and_swap("k", Some(b"a"), b"c").unwrap(), Ok(()));
    assert_eq!(d.get_or_insert("k", b"z").unwrap(), b"c");
    assert_eq!(d.get_or_insert("new", b"z").unwrap(), b"z");
    d.remove("new").unwrap();
    // A removed key can be created again (its deletion has a revision).
    assert_eq!(d.get_or_insert("new", b"y").unwrap(), b"y");
    d.clear().unwrap();
    assert!(d.is_empty().unwrap());
    assert!(matches!(d.insert("", b"x"), Err(Error::InvalidKey { .. })));
    assert!(matches!(
        d.insert("big", vec![0; r.max_payload()]),
        Err(Error::TooLarge { .. })
    ));
    let other = RemoteDict::builder(&r, d.name()).open().unwrap();
    other.insert("shared", b"yes").unwrap();
    assert_eq!(d.get("shared").unwrap().as_deref(), Some(&b"yes"[..]));
    assert!(matches!(
        RemoteDict::builder(&r, &name("none")).open(),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        RemoteDict::builder(&r, "bad.name").open_or_create(),
        Err(Error::InvalidName { .. })
    ));
}

#[test]
fn watches_see_each_change_in_order() {
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let d = RemoteDict::builder(&r, &name("watch")).create().unwrap();
    let mut one = d.watch("a b").unwrap();
    let mut all = d.watch_all().unwrap();
    d.insert("a b", b"1").unwrap();
    d.insert("other", b"2").unwrap();
    d.remove("a b").unwrap();
    let c = one.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (c.key.as_slice(), c.value.as_deref()),
        (&b"a b"[..], Some(&b"1"[..]))
    );
    let c = one.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((c.key.as_slice(), c.value), (&b"a b"[..], None));
    assert!(matches!(
        one.recv_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    let seen: Vec<_> = (0..3)
        .map(|_| all.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    assert_eq!(seen[1].key, b"other");
    assert!(seen.windows(2).all(|w| w[0].revision < w[1].revision));
}

/// Four processes each add 1 to one counter [`EACH`] times through the
/// atomic update: no increment is lost.
#[test]
fn atomic_increments_from_four_processes_lose_nothing() {
    const PROCS: u64 = 4;
    let Some(s) = NatsServer::start() else { return };
    let r = Remote::connect(&RemoteOptions::new(s.url())).unwrap();
    let dict_name = name("incr");
    let d = RemoteDict::builder(&r, &dict_name).create().unwrap();
    let url = s.url();
    let children: Vec<_> = (0..PROCS)
        .map(|_| spawn_entry("increment", &[("url", &url), ("dict", &dict_name)]))
        .collect();
    for c in children {
        join_ok(c);
    }
    let n = u64::from_le_bytes(d.get("counter").unwrap().unwrap().try_into().unwrap());
    assert_eq!(n, PROCS * EACH);
}

/// How many increments each child makes.
const EACH: u64 = 150;

/// A child: adds 1 to the counter [`EACH`] times.
fn increment() {
    let r = Remote::connect(&RemoteOptions::new(entry_arg("url"))).unwrap();
    let d = RemoteDict::builder(&r, &entry_arg("dict")).open().unwrap();
    for _ in 0..EACH {
        d.update_with("counter", |old| {
            let n = old.map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
            (n + 1).to_le_bytes().to_vec()
        })
        .unwrap();
    }
}

/// The children's entry points (see `ipc_test_support::spawn_entry`).
#[test]
fn entry_child() {
    run_entry_point(&[("increment", increment)]);
}
