//! The dictionary used by several real processes at once.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipc_core::process::Process;
use ipc_core::segment::SegmentOptions;
use ipc_manager::{Manager, ManagerConfig, TypedDict};
use ipc_test_support::{PROMPT, Rng, TempDir, daemon, eventually, join_ok, slots, unique_name};

const MAGIC: u64 = 0x5A5A_1234_8765_A5A5;

/// A self-checking value: writer, key, version, checksum.
fn record(w: u64, k: u64, ver: u64) -> [u64; 4] {
    [
        w,
        k,
        ver,
        w ^ k.rotate_left(17) ^ ver.rotate_left(31) ^ MAGIC,
    ]
}

fn valid(v: &[u64; 4]) -> bool {
    v[3] == v[0] ^ v[1].rotate_left(17) ^ v[2].rotate_left(31) ^ MAGIC
}

fn key(k: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&k.to_le_bytes());
    b[8..].copy_from_slice(b"concurnt");
    b
}

const KEYS: u64 = 96;
const WRITERS: u64 = 2;
const WRITER_OPS: u64 = 20_000;

/// What writer `w` leaves behind: its keys' final records (replayed from
/// the same seed as the child).
fn writer_model(w: u64) -> HashMap<u64, [u64; 4]> {
    let mut rng = Rng(100 + w);
    let mut ver: HashMap<u64, u64> = HashMap::new();
    let mut model = HashMap::new();
    for _ in 0..WRITER_OPS {
        let k = rng.below(KEYS / WRITERS) * WRITERS + w;
        let v = ver.entry(k).or_insert(0);
        *v += 1;
        if rng.below(10) == 0 {
            model.remove(&k);
        } else {
            model.insert(k, record(w, k, *v));
        }
    }
    model
}

fn run_writer(d: &TypedDict<[u8; 16], [u64; 4]>, w: u64) {
    let mut rng = Rng(100 + w);
    let mut ver: HashMap<u64, u64> = HashMap::new();
    for _ in 0..WRITER_OPS {
        let k = rng.below(KEYS / WRITERS) * WRITERS + w;
        let v = ver.entry(k).or_insert(0);
        *v += 1;
        if rng.below(10) == 0 {
            d.remove(&key(k)).unwrap();
        } else {
            d.insert(&key(k), &record(w, k, *v)).unwrap();
        }
    }
}

/// Two writer processes and two reader processes on one dictionary: readers
/// never see a torn or stale-going-backwards value, and the final contents
/// equal the writers' models.
#[test]
fn concurrent_writers_and_readers_match_model() {
    let name = unique_name("concurrent");
    let m = Manager::builder().named(&name).create().unwrap();
    let d = m.dict("kv").unwrap().typed::<[u8; 16], [u64; 4]>().unwrap();
    // [0] writers done, [1] reads checked, [2] errors, [3] snapshots checked
    let report = slots::<4>();

    let readers: Vec<Process> = (0..2u64)
        .map(|r| {
            let (name, report) = (name.clone(), report.try_clone().unwrap());
            daemon(move || {
                let m = Manager::builder().named(&name).open().unwrap();
                let d = m.dict("kv").unwrap().typed::<[u8; 16], [u64; 4]>().unwrap();
                let mut last: HashMap<u64, u64> = HashMap::new();
                let mut rng = Rng(7 + r);
                let mut bad = 0u64;
                let mut n = 0u64;
                while report[0].load(Ordering::SeqCst) < WRITERS {
                    let k = rng.below(KEYS);
                    let got = if n.is_multiple_of(3) {
                        d.get_ref(&key(k)).unwrap().map(|g| *g)
                    } else {
                        d.get(&key(k)).unwrap()
                    };
                    if let Some(v) = got {
                        let newer = v[2] >= last.get(&k).copied().unwrap_or(0);
                        if !valid(&v) || v[1] != k || v[0] != k % WRITERS || !newer {
                            bad += 1;
                        }
                        last.insert(k, v[2]);
                    }
                    if n.is_multiple_of(64) {
                        // Four processes share two cores: readers leave room.
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    if n.is_multiple_of(500) {
                        for (kb, v) in d.items().unwrap() {
                            if !valid(&v) || kb != key(v[1]) {
                                bad += 1;
                            }
                        }
                        report[3].fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                report[1].fetch_add(n, Ordering::Relaxed);
                report[2].fetch_add(bad, Ordering::Relaxed);
            })
        })
        .collect();

    let writers: Vec<Process> = (0..WRITERS)
        .map(|w| {
            let (d, report) = (d.clone(), report.try_clone().unwrap());
            daemon(move || {
                run_writer(&d, w);
                report[0].fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for w in writers {
        join_ok(w);
    }
    for r in readers {
        join_ok(r);
    }
    assert_eq!(
        report[2].load(Ordering::SeqCst),
        0,
        "readers saw bad values"
    );
    assert!(report[1].load(Ordering::SeqCst) > 500, "readers barely ran");
    assert!(report[3].load(Ordering::SeqCst) > 0);

    let mut expected: HashMap<[u8; 16], [u64; 4]> = HashMap::new();
    for w in 0..WRITERS {
        for (k, v) in writer_model(w) {
            expected.insert(key(k), v);
        }
    }
    let actual: HashMap<[u8; 16], [u64; 4]> = d
        .items()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.try_into().unwrap(), v))
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(d.len().unwrap(), expected.len() as u64);
    let heap = m.check().unwrap();
    assert_eq!(heap.leaked_blocks, 0);
}

/// The arena grows by many segments while another process reads: the reader
/// picks every new segment up on its next access, without reopening.
#[test]
fn growth_while_another_process_reads() {
    let name = unique_name("growth");
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        ..ManagerConfig::default()
    };
    let m = Manager::builder()
        .named(&name)
        .config(config.clone())
        .create()
        .unwrap();
    let d = m.dict("d").unwrap();
    let progress = m.value::<u64>("progress", 0).unwrap();
    for k in 0..100u64 {
        d.insert(&k, k.to_le_bytes()).unwrap();
    }
    const BIG: u64 = 400;
    let big = |k: u64| vec![(k % 251) as u8; 8 * 1024];
    let report = slots::<2>();
    let reader = daemon({
        let (name, report) = (name.clone(), report.try_clone().unwrap());
        move || {
            let m = Manager::builder().named(&name).open().unwrap();
            let d = m.dict("d").unwrap();
            let progress = m.value::<u64>("progress", 0).unwrap();
            let mut bad = 0;
            let mut rounds = 0;
            loop {
                let p = progress.load().unwrap();
                for k in 0..100u64 {
                    if d.get(&k).unwrap() != Some(k.to_le_bytes().to_vec()) {
                        bad += 1;
                    }
                }
                // Everything published before `p` was read must be visible.
                for k in 1000..1000 + p {
                    match d.get_ref(&k).unwrap() {
                        Some(v) if v.len() == 8192 && v[8191] == (k % 251) as u8 => {}
                        _ => bad += 1,
                    }
                }
                rounds += 1;
                if p == BIG {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            report[0].store(bad, Ordering::SeqCst);
            report[1].store(rounds, Ordering::SeqCst);
        }
    });
    for k in 1000..1000 + BIG {
        d.insert(&k, big(k)).unwrap();
        progress.store(k - 999).unwrap();
    }
    join_ok(reader);
    assert_eq!(report[0].load(Ordering::SeqCst), 0);
    assert!(report[1].load(Ordering::SeqCst) >= 2);
    let stats = m.stats().unwrap();
    assert!(stats.segments >= 4, "{stats:?}");
    assert_eq!(m.check().unwrap().leaked_blocks, 0);
}

/// A file-backed manager outlives every process: created and filled by one
/// child, changed by another, and found intact by a third opener after all
/// have exited.
#[test]
fn file_backed_manager_survives_all_processes() {
    let dir = TempDir::new("file");
    let path = dir.path("store.mgr");
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        ..ManagerConfig::default()
    };
    join_ok(
        Process::spawn({
            let path = path.clone();
            move || {
                let m = Manager::builder()
                    .options(SegmentOptions::file(&path))
                    .config(config.clone())
                    .create()
                    .unwrap();
                let d = m.dict("d").unwrap();
                for k in 0..300u64 {
                    d.insert(&k, vec![k as u8; 1000]).unwrap();
                }
                let l = m.list::<u64>("l").unwrap();
                l.extend(0..1000).unwrap();
                m.value::<i64>("v", -5).unwrap();
                m.semaphore("s", 3).unwrap().acquire().unwrap();
                m.event("e").unwrap().set();
            }
        })
        .unwrap(),
    );
    assert!(path.exists());
    assert!(
        ipc_manager_files(&path) >= 2,
        "the manager should have grown"
    );
    join_ok(
        Process::spawn({
            let path = path.clone();
            move || {
                let m = Manager::builder()
                    .options(SegmentOptions::file(&path))
                    .open()
                    .unwrap();
                let d = m.dict("d").unwrap();
                for k in 0..100u64 {
                    assert!(d.remove(&k).unwrap());
                }
                d.insert("new", b"entry").unwrap();
                m.value::<i64>("v", 0).unwrap().fetch_add(10).unwrap();
            }
        })
        .unwrap(),
    );
    let m = Manager::builder()
        .options(SegmentOptions::file(&path))
        .open()
        .unwrap();
    let d = m.dict("d").unwrap();
    assert_eq!(d.len().unwrap(), 201);
    for k in 0..300u64 {
        let want = (k >= 100).then(|| vec![k as u8; 1000]);
        assert_eq!(d.get(&k).unwrap(), want);
    }
    assert_eq!(d.get("new").unwrap().as_deref(), Some(&b"entry"[..]));
    assert_eq!(
        m.list::<u64>("l").unwrap().to_vec().unwrap(),
        (0..1000).collect::<Vec<_>>()
    );
    assert_eq!(m.value::<i64>("v", 0).unwrap().load().unwrap(), 5);
    assert_eq!(m.semaphore("s", 0).unwrap().value(), 2);
    assert!(m.event("e").unwrap().is_set());
    let mut names: Vec<_> = m.objects().unwrap().into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(names, ["d", "e", "l", "s", "v"]);
    assert_eq!(m.check().unwrap().leaked_blocks, 0);
    drop((d, m));
    ipc_manager::Manager::remove_files(&path).unwrap();
    assert_eq!(ipc_manager_files(&path), 0);
}

/// How many files `<path>`, `<path>.1`, ... exist.
fn ipc_manager_files(path: &std::path::Path) -> usize {
    let dir = path.parent().unwrap();
    let stem = path.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let n = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            n == stem || n.starts_with(&format!("{stem}."))
        })
        .count()
}

/// A zero-copy guard keeps showing the value it was taken on while another
/// process overwrites and removes the key; once dropped, the space is reused.
#[test]
fn guard_pins_its_entry_against_other_processes() {
    let m = Manager::new().unwrap();
    let d = m.dict("d").unwrap();
    d.insert("k", vec![0xAB; 4096]).unwrap();
    let guard = d.get_ref("k").unwrap().unwrap();
    let child = Process::spawn({
        let d = d.clone();
        move || {
            for i in 0..500u32 {
                d.insert("k", vec![i as u8; 4096]).unwrap();
                if i % 7 == 0 {
                    d.remove("k").unwrap();
                }
            }
        }
    })
    .unwrap();
    join_ok(child);
    assert!(
        guard.iter().all(|&b| b == 0xAB),
        "the guarded value changed"
    );
    assert!(m.stats().unwrap().limbo_bytes > 0);
    drop(guard);
    m.reclaim().unwrap();
    m.reclaim().unwrap();
    assert_eq!(m.stats().unwrap().limbo_bytes, 0);
}

/// Processes racing to create the same objects all end up with the same ones.
#[test]
fn racing_creators_share_one_object() {
    let name = unique_name("race");
    let opts = SegmentOptions::named(&name);
    let m = Manager::builder()
        .options(opts.clone())
        .open_or_create()
        .unwrap();
    let go = m.event("go").unwrap();
    let children: Vec<Process> = (0..4u64)
        .map(|c| {
            let opts = opts.clone();
            daemon(move || {
                let m = Manager::builder()
                    .options(opts.clone())
                    .open_or_create()
                    .unwrap();
                m.event("go").unwrap().wait_for(PROMPT).unwrap();
                let d = m.dict("shared").unwrap();
                let l = m.list::<u64>("list").unwrap();
                let hits = m.value::<u64>("hits", 0).unwrap();
                for i in 0..50 {
                    d.insert(&(c * 1000 + i), b"x").unwrap();
                    l.push(c).unwrap();
                    hits.fetch_add(1).unwrap();
                }
            })
        })
        .collect();
    go.set();
    for c in children {
        join_ok(c);
    }
    assert_eq!(m.dict("shared").unwrap().len().unwrap(), 200);
    assert_eq!(m.list::<u64>("list").unwrap().len().unwrap(), 200);
    assert_eq!(m.value::<u64>("hits", 0).unwrap().load().unwrap(), 200);
    assert!(eventually(Duration::from_secs(1), || m
        .objects()
        .unwrap()
        .len()
        == 4));
}

/// Four processes increment one counter 2000 times each: `fetch_add` (and
/// `update_with`) lose nothing, because the read, the addition and the write
/// happen under the writer lock. (The README's old `insert(k, get(k) + 1)`
/// ended at 13-15k of 24k in the same test.)
#[test]
fn atomic_updates_from_four_processes_lose_nothing() {
    const PROCS: u64 = 4;
    const EACH: u64 = 2000;
    let m = Manager::new().unwrap();
    let hits = m.dict("hits").unwrap().typed::<str, u64>().unwrap();
    let children: Vec<_> = (0..PROCS)
        .map(|p| {
            let hits = hits.clone();
            daemon(move || {
                for i in 0..EACH {
                    if (p + i) % 2 == 0 {
                        hits.fetch_add("/index.html", 1).unwrap();
                    } else {
                        hits.update_with("/index.html", |n| n.unwrap_or(0) + 1)
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for c in children {
        join_ok(c);
    }
    assert_eq!(hits.get("/index.html").unwrap(), Some(PROCS * EACH));
}

/// `compare_and_swap` stores only over the value it was given, and tells
/// what it found otherwise; `None` means "absent".
#[test]
fn compare_and_swap_checks_the_current_value() {
    let m = Manager::new().unwrap();
    let d = m.dict("cas").unwrap().typed::<str, u64>().unwrap();
    assert_eq!(d.compare_and_swap("k", None, &1).unwrap(), Ok(()));
    assert_eq!(d.compare_and_swap("k", None, &2).unwrap(), Err(Some(1)));
    assert_eq!(d.compare_and_swap("k", Some(&7), &2).unwrap(), Err(Some(1)));
    assert_eq!(d.compare_and_swap("k", Some(&1), &2).unwrap(), Ok(()));
    assert_eq!(d.get("k").unwrap(), Some(2));
    assert_eq!(d.compare_and_swap("gone", Some(&1), &2).unwrap(), Err(None));
    // A CAS loop from two processes: every increment lands once.
    let children: Vec<_> = (0..2)
        .map(|_| {
            let d = d.clone();
            daemon(move || {
                for _ in 0..500 {
                    loop {
                        let cur = d.get("k").unwrap();
                        let next = cur.unwrap_or(0) + 1;
                        if d.compare_and_swap("k", cur.as_ref(), &next)
                            .unwrap()
                            .is_ok()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for c in children {
        join_ok(c);
    }
    assert_eq!(d.get("k").unwrap(), Some(1002));
}

/// The bytes form: two processes append to one value 300 times each through
/// `Dict::update_with`; every append lands.
#[test]
fn byte_updates_from_two_processes_lose_nothing() {
    let m = Manager::new().unwrap();
    let d = m.dict("log").unwrap();
    let children: Vec<_> = [b'a', b'b']
        .into_iter()
        .map(|c| {
            let d = d.clone();
            daemon(move || {
                for _ in 0..300 {
                    d.update_with("line", |old| [old.unwrap_or(b""), &[c]].concat())
                        .unwrap();
                }
            })
        })
        .collect();
    for c in children {
        join_ok(c);
    }
    let line = d.get("line").unwrap().unwrap();
    assert_eq!(line.len(), 600);
    assert_eq!(line.iter().filter(|&&b| b == b'a').count(), 300);
    assert_eq!(
        d.compare_and_swap("line", Some(&line[..]), b"reset")
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        d.compare_and_swap("line", None, b"x").unwrap(),
        Err(Some(b"reset".to_vec()))
    );
}

/// A process stopped inside a write holds the writer lock; writes through a
/// handle with a write timeout return `Timeout` by it (with 100 ms of
/// tolerance) instead of waiting for ever, reads go on, and once the holder
/// is gone writes work again.
#[test]
fn write_timeout_is_honoured_while_a_writer_is_stuck() {
    let name = unique_name("write-timeout");
    let m = Manager::builder()
        .named(&name)
        .write_timeout(Duration::from_millis(50))
        .create()
        .unwrap();
    let d = m.dict("d").unwrap();
    d.insert("k", b"v").unwrap();
    let inside = std::sync::Arc::new(slots::<1>());
    let holder = daemon({
        let name = name.clone();
        let inside = inside.clone();
        move || {
            let m = Manager::builder().named(&name).open().unwrap();
            let d = m.dict("d").unwrap();
            d.update_with("k", |_| {
                inside[0].store(1, Ordering::SeqCst);
                // Stopped here, holding the writer lock (as under SIGSTOP).
                std::thread::sleep(Duration::from_secs(60));
                b"never".to_vec()
            })
            .unwrap();
        }
    });
    assert!(eventually(Duration::from_secs(5), || inside[0]
        .load(Ordering::SeqCst)
        == 1));
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let err = d.insert("k", b"w").unwrap_err();
        let took = t.elapsed();
        assert!(err.is_timeout(), "{err}");
        assert!(
            took >= Duration::from_millis(50) && took < Duration::from_millis(150),
            "{took:?}"
        );
    }
    let other = m.value("v", 0u64);
    assert!(
        other.is_err_and(|e| e.is_timeout()),
        "creating an object is a write"
    );
    assert_eq!(
        d.get("k").unwrap().as_deref(),
        Some(&b"v"[..]),
        "reads go on"
    );
    holder.kill().unwrap();
    let _ = holder.join();
    d.insert("k", b"w").unwrap();
    assert_eq!(d.get("k").unwrap().as_deref(), Some(&b"w"[..]));
}

/// With the `tracing` feature (on for these tests), a writer killed while
/// holding the writer lock is reported as an event when the next writer
/// recovers.
#[test]
fn a_recovery_is_reported_through_tracing() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let name = unique_name("trace-recovery");
    let m = Manager::builder().named(&name).create().unwrap();
    let d = m.dict("d").unwrap();
    let inside = Arc::new(slots::<1>());
    let writer = daemon({
        let (name, inside) = (name.clone(), inside.clone());
        move || {
            let m = Manager::builder().named(&name).open().unwrap();
            m.dict("d")
                .unwrap()
                .update_with("k", |_| {
                    inside[0].store(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_secs(60));
                    Vec::new()
                })
                .unwrap();
        }
    });
    assert!(eventually(Duration::from_secs(5), || inside[0]
        .load(Ordering::SeqCst)
        == 1));
    writer.kill().unwrap();
    let _ = writer.join();
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let c = captured.clone();
            move || c.clone()
        })
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || d.insert("k", b"v").unwrap());
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("WARN") && text.contains("recovering"),
        "{text:?}"
    );
}

/// Serde values (feature `serde`, on for these tests) written by one
/// process and read by another; a plain typed read of one is refused.
#[test]
fn serde_values_cross_processes() {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Session {
        user: String,
        roles: Vec<String>,
        expires: Option<u64>,
    }
    let session = |i: u64| Session {
        user: format!("user-{i}"),
        roles: (0..i % 3).map(|r| format!("role-{r}")).collect(),
        expires: i.is_multiple_of(2).then_some(1_800_000_000 + i),
    };
    let name = unique_name("serde-dict");
    let m = Manager::builder().named(&name).create().unwrap();
    let d = m.dict("sessions").unwrap();
    let child = daemon({
        let name = name.clone();
        move || {
            let m = Manager::builder().named(&name).open().unwrap();
            let d = m.dict("sessions").unwrap();
            for i in 0..200u64 {
                d.insert_serde(&i.to_le_bytes(), &session(i)).unwrap();
            }
        }
    });
    join_ok(child);
    for i in 0..200u64 {
        assert_eq!(
            d.get_serde::<_, Session>(&i.to_le_bytes()).unwrap(),
            Some(session(i))
        );
    }
    assert_eq!(
        d.get_serde::<_, Session>(&999u64.to_le_bytes()).unwrap(),
        None
    );
    assert!(matches!(
        d.get_as::<_, u64>(&1u64.to_le_bytes()),
        Err(ipc_manager::Error::WrongType { .. })
    ));
    d.insert("plain", b"bytes").unwrap();
    assert!(matches!(
        d.get_serde::<_, Session>("plain"),
        Err(ipc_manager::Error::WrongType { .. })
    ));
}

/// rkyv archives (feature `rkyv`, on for these tests) written by one
/// process and read in place by another; other values are refused.
#[test]
fn rkyv_values_read_in_place_across_processes() {
    #[derive(rkyv::Archive, rkyv::Serialize)]
    struct Route {
        from: String,
        hops: Vec<u32>,
    }
    let name = unique_name("rkyv-dict");
    let m = Manager::builder().named(&name).create().unwrap();
    let d = m.dict("routes").unwrap();
    let child = daemon({
        let name = name.clone();
        move || {
            let m = Manager::builder().named(&name).open().unwrap();
            let d = m.dict("routes").unwrap();
            for i in 0..100u64 {
                let route = Route {
                    from: format!("node-{i}"),
                    hops: (0..(i % 6) as u32).collect(),
                };
                d.insert_rkyv(&i.to_le_bytes(), &route).unwrap();
            }
        }
    });
    join_ok(child);
    for i in 0..100u64 {
        let (from_ok, hops) = d
            .get_rkyv_with::<_, Route, _>(&i.to_le_bytes(), |r| {
                (r.from.as_str() == format!("node-{i}"), r.hops.len())
            })
            .unwrap()
            .unwrap();
        assert!(from_ok);
        assert_eq!(hops as u64, i % 6);
    }
    assert!(
        d.get_rkyv_with::<_, Route, _>(&500u64.to_le_bytes(), |_| ())
            .unwrap()
            .is_none()
    );
    d.insert("plain", b"not an archive").unwrap();
    assert!(matches!(
        d.get_rkyv_with::<_, Route, _>("plain", |_| ()),
        Err(ipc_manager::Error::WrongType { .. })
    ));
}
