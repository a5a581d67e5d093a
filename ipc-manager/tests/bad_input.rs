//! Bad input: oversize keys and values, wrong types, a full manager, and
//! damaged segments give typed errors, change nothing, and never panic.

use ipc_manager::offsets::{BOOKKEEPING, HEAP_START, ROOT, SEG_COUNT, WRITER_MUTEX};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use ipc_core::process::{ExitStatus, Process};
use ipc_core::segment::SegmentOptions;
use ipc_manager::{Error, MAX_KEY_LEN, MAX_VALUE_LEN, Manager, ManagerConfig};
use ipc_test_support::{Rng, TempDir, unique_name};

fn anon() -> Manager {
    Manager::new().unwrap()
}

#[test]
fn oversize_keys_and_values_are_refused_and_change_nothing() {
    let m = anon();
    let d = m.dict("d").unwrap();
    d.insert("k", b"v").unwrap();
    let long_key = vec![1u8; MAX_KEY_LEN + 1];
    assert_eq!(
        d.insert(&long_key[..], b"x").unwrap_err(),
        Error::KeyTooLarge {
            len: MAX_KEY_LEN + 1,
            max: MAX_KEY_LEN
        }
    );
    assert_eq!(d.get(&long_key[..]).unwrap(), None);
    assert!(!d.remove(&long_key[..]).unwrap());
    let big = vec![0u8; MAX_VALUE_LEN + 1];
    assert!(matches!(
        d.insert("k", &big).unwrap_err(),
        Error::ValueTooLarge { .. }
    ));
    assert!(matches!(
        d.update([("a", &b"1"[..]), ("b", &big[..])]).unwrap_err(),
        Error::ValueTooLarge { .. }
    ));
    // The largest legal key and value work.
    let max_key = vec![2u8; MAX_KEY_LEN];
    d.insert(&max_key[..], b"ok").unwrap();
    assert_eq!(d.get(&max_key[..]).unwrap().as_deref(), Some(&b"ok"[..]));
    let max_value = vec![3u8; MAX_VALUE_LEN];
    d.insert("huge", &max_value).unwrap();
    assert_eq!(d.get_ref("huge").unwrap().unwrap().len(), MAX_VALUE_LEN);
    assert_eq!(d.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(d.len().unwrap(), 3);
    assert_eq!(m.check().unwrap().leaked_blocks, 0);
}

#[test]
fn wrong_types_and_kinds_are_refused() {
    let m = anon();
    m.value::<u32>("v", 1).unwrap();
    let e = m.value::<u64>("v", 1).unwrap_err();
    assert!(matches!(e, Error::WrongType { .. }), "{e}");
    assert!(
        e.to_string().contains("u32") && e.to_string().contains("u64"),
        "{e}"
    );
    m.list::<[u8; 3]>("l").unwrap();
    assert!(matches!(
        m.list::<[u8; 4]>("l").unwrap_err(),
        Error::WrongType { .. }
    ));
    let e = m.dict("l").unwrap_err();
    assert!(matches!(e, Error::WrongKind { .. }), "{e}");
    assert!(e.to_string().contains("list"), "{e}");
    assert!(matches!(m.lock("v").unwrap_err(), Error::WrongKind { .. }));
    m.barrier("b", 3).unwrap();
    assert!(matches!(
        m.barrier("b", 4).unwrap_err(),
        Error::WrongKind { .. }
    ));
    // A semaphore keeps its count whatever the second caller's initial value.
    m.semaphore("s", 2).unwrap();
    assert_eq!(m.semaphore("s", 9).unwrap().value(), 2);

    let d = m.dict("d").unwrap();
    d.insert_as("x", &1.5f64).unwrap();
    let e = d.get_as::<_, u64>("x").unwrap_err();
    assert!(e.to_string().contains("f64"), "{e}");
    let g = d.get_ref("x").unwrap().unwrap();
    assert!(g.typed::<u64>().is_err());
    assert_eq!(*g.typed::<f64>().unwrap(), 1.5);
    // Untyped reads see any value's bytes.
    assert_eq!(d.get("x").unwrap(), Some(1.5f64.to_ne_bytes().to_vec()));
}

#[test]
fn invalid_names_are_refused() {
    let m = anon();
    assert!(matches!(m.dict("").unwrap_err(), Error::InvalidName { .. }));
    let long = "n".repeat(ipc_manager::MAX_NAME_LEN + 1);
    assert!(matches!(
        m.dict(&long).unwrap_err(),
        Error::InvalidName { .. }
    ));
    assert!(m.dict(&long[1..]).is_ok());
    assert!(matches!(
        Manager::builder().named("no/such").open().unwrap_err(),
        Error::Core(ipc_core::Error::InvalidName { .. })
    ));
    assert!(matches!(
        Manager::builder()
            .options(SegmentOptions::named(&unique_name("missing")))
            .open()
            .unwrap_err(),
        Error::Core(ipc_core::Error::NotFound { .. })
    ));
}

/// A name too long for the heap segments growth adds (`NAME.63`) is refused
/// at create, not at the first growth in the middle of a write; the longest
/// name that fits creates, grows into new segments and is removed whole.
#[test]
fn names_too_long_for_heap_segments_are_refused_at_create() {
    let padded = |len: usize| {
        let base = unique_name("long");
        format!("{base}{}", "x".repeat(len - base.len()))
    };
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        ..ManagerConfig::default()
    };
    for len in [253, 254, 255] {
        let name = padded(len);
        for result in [
            Manager::builder()
                .named(&name)
                .config(config.clone())
                .create(),
            Manager::builder()
                .named(&name)
                .config(config.clone())
                .open_or_create(),
        ] {
            let err = result.expect_err("a name without room for NAME.63");
            assert!(
                matches!(err, Error::Core(ipc_core::Error::InvalidName { .. })),
                "{err}"
            );
        }
        assert!(!std::path::Path::new("/dev/shm").join(&name).exists());
    }
    let name = padded(252);
    let m = Manager::builder()
        .named(&name)
        .config(config)
        .create()
        .unwrap();
    let d = m.dict("d").unwrap();
    let value = vec![3u8; 32 * 1024];
    for k in 0..64u64 {
        d.insert(&k, &value).unwrap();
    }
    assert!(m.stats().unwrap().segments > 1, "the test must grow");
    assert_eq!(d.len().unwrap(), 64);
    let shm = std::path::Path::new("/dev/shm");
    assert!(shm.join(format!("{name}.1")).exists());
    drop((d, m)); // the creator's last handle removes every segment
    assert!(!shm.join(&name).exists());
    assert!(!shm.join(format!("{name}.1")).exists());
}

/// A named manager whose creator was SIGKILLed is removed whole by
/// `remove_if_stale`, its heap segments included; while the creator lives it
/// is left alone.
#[test]
fn remove_if_stale_removes_a_dead_creators_heap_segments() {
    let name = unique_name("stale");
    let ready = ipc_core::segment::Shared::create(
        &SegmentOptions::anonymous(),
        ipc_core::sync::Event::new(),
    )
    .unwrap();
    let creator = ipc_test_support::daemon({
        let (name, ready) = (name.clone(), ready.try_clone().unwrap());
        move || {
            let m = Manager::builder()
                .named(&name)
                .initial_size(64 * 1024)
                .create()
                .unwrap();
            let d = m.dict("d").unwrap();
            for k in 0..64u64 {
                d.insert(&k, &[7u8; 32 * 1024][..]).unwrap();
            }
            assert!(m.stats().unwrap().segments > 2);
            ready.set();
            ipc_test_support::park();
        }
    });
    ready.wait_for(ipc_test_support::PROMPT).unwrap();
    let shm = std::path::Path::new("/dev/shm");
    assert!(!Manager::remove_if_stale(&name).unwrap(), "creator alive");
    assert!(shm.join(&name).exists() && shm.join(format!("{name}.2")).exists());
    creator.kill().unwrap();
    let _ = creator.join().unwrap();
    assert!(Manager::remove_if_stale(&name).unwrap());
    for n in 0..ipc_manager::MAX_SEGMENTS {
        let seg = if n == 0 {
            name.clone()
        } else {
            format!("{name}.{n}")
        };
        assert!(!shm.join(&seg).exists(), "{seg} left behind");
    }
    assert!(!Manager::remove_if_stale(&name).unwrap(), "nothing left");
}

/// A heap segment truncated to zero from outside is reported as damage at
/// once by a process that meets it, not after waiting out an init timeout
/// on every call.
#[test]
fn truncated_heap_segment_is_reported_at_once() {
    let name = unique_name("trunc");
    let m = Manager::builder()
        .named(&name)
        .initial_size(64 * 1024)
        .create()
        .unwrap();
    let d = m.dict("d").unwrap();
    for k in 0..64u64 {
        d.insert(&k, &[9u8; 32 * 1024][..]).unwrap();
    }
    assert!(m.stats().unwrap().segments > 2);
    std::fs::OpenOptions::new()
        .write(true)
        .open(std::path::Path::new("/dev/shm").join(format!("{name}.1")))
        .unwrap()
        .set_len(0)
        .unwrap();
    let child = Process::spawn({
        let name = name.clone();
        move || {
            let m = Manager::builder().named(&name).open().unwrap();
            let d = m.dict("d").unwrap();
            let t = std::time::Instant::now();
            let mut damaged = 0;
            for k in 0..64u64 {
                match d.get(&k) {
                    Ok(v) => assert_eq!(v.unwrap().len(), 32 * 1024),
                    Err(e) => {
                        assert!(e.is_corruption(), "{e}");
                        damaged += 1;
                    }
                }
            }
            assert!(damaged >= 16, "only {damaged} values lived in segment 1");
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        }
    })
    .unwrap();
    child.join_ok().unwrap();
}

/// A manager that cannot grow any further refuses the write and keeps
/// everything it had; freeing space makes writes possible again.
#[test]
fn full_manager_refuses_writes_and_loses_nothing() {
    for opts in [
        SegmentOptions::anonymous(),
        SegmentOptions::named(&unique_name("full")),
    ] {
        let config = ManagerConfig {
            initial_size: 64 * 1024,
            anonymous_capacity: 1 << 20,
            max_size: 1 << 20,
        };
        let m = Manager::builder()
            .options(opts.clone())
            .config(config.clone())
            .create()
            .unwrap();
        let d = m.dict("d").unwrap();
        let value = vec![5u8; 16 * 1024];
        let mut stored = 0u64;
        let err = loop {
            match d.insert(&stored, &value) {
                Ok(()) => stored += 1,
                Err(e) => break e,
            }
            assert!(stored < 1000, "never filled up");
        };
        assert!(err.is_out_of_space(), "{err}");
        assert!(matches!(err, Error::CapacityExhausted { .. }), "{err}");
        assert!(stored > 20);
        assert_eq!(d.len().unwrap(), stored);
        assert!(!d.contains(&stored).unwrap());
        for k in 0..stored {
            assert_eq!(d.get_ref(&k).unwrap().unwrap().len(), value.len());
        }
        assert_eq!(m.check().unwrap().leaked_blocks, 0);
        for k in 0..stored / 2 {
            d.remove(&k).unwrap();
        }
        m.reclaim().unwrap();
        d.insert(&stored, &value).unwrap();
        assert!(d.contains(&stored).unwrap());
    }
}

// -- damaged segments ---------------------------------------------------------

fn poke(path: &std::path::Path, off: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    f.write_all(bytes).unwrap();
}

fn peek_u64(path: &std::path::Path, off: u64) -> u64 {
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut b = [0u8; 8];
    f.read_exact(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn populated(path: &std::path::Path) {
    let config = ManagerConfig {
        initial_size: 64 * 1024,
        ..ManagerConfig::default()
    };
    let m = Manager::builder()
        .options(SegmentOptions::file(path))
        .config(config.clone())
        .create()
        .unwrap();
    let d = m.dict("d").unwrap();
    for k in 0..150u64 {
        let len = if k % 5 == 0 { 3000 } else { 8 + k as usize };
        d.insert(&k, vec![k as u8; len]).unwrap();
    }
    for k in 0..150u64 {
        if k % 3 == 0 {
            d.remove(&k).unwrap();
        }
    }
    m.list::<[u64; 2]>("l")
        .unwrap()
        .extend((0..100).map(|i| [i, i]))
        .unwrap();
    m.value::<u64>("v", 7).unwrap();
}

#[test]
fn damaged_header_or_root_is_refused() {
    let dir = TempDir::new("damaged");
    let path = dir.path("m");
    populated(&path);
    let opts = SegmentOptions::file(&path);
    // The ipc-core header: its checksum catches any change.
    poke(&path, 100, b"garbage"); // inside the checksummed header
    let e = Manager::builder().options(opts.clone()).open().unwrap_err();
    assert!(e.is_corruption(), "{e}");
    assert!(
        matches!(e, Error::Core(ipc_core::Error::CorruptHeader { .. })),
        "{e}"
    );

    std::fs::remove_file(&path).unwrap();
    populated(&path);
    // The root's magic.
    poke(&path, ROOT, &[0xFF; 8]);
    let e = Manager::builder().options(opts.clone()).open().unwrap_err();
    assert!(matches!(e, Error::Corrupted { .. }), "{e}");

    Manager::remove_files(&path).unwrap();
    populated(&path);
    // An impossible segment count (root offset 192 + 0).
    poke(&path, SEG_COUNT, &1000u64.to_le_bytes());
    let e = Manager::builder().options(opts.clone()).open().unwrap_err();
    assert!(matches!(e, Error::Corrupted { .. }), "{e}");

    Manager::remove_files(&path).unwrap();
    populated(&path);
    // A growth segment that vanished: refs into it are refused, typed.
    assert!(
        Manager::builder()
            .options(opts.clone())
            .open()
            .unwrap()
            .stats()
            .unwrap()
            .segments
            > 1
    );
    std::fs::remove_file(format!("{}.1", path.display())).unwrap();
    let m = Manager::builder().options(opts.clone()).open().unwrap();
    let d = m.dict("d").unwrap();
    let results: Vec<_> = (0..150u64).map(|k| d.get(&k)).collect();
    assert!(
        results.iter().any(|r| matches!(r, Err(e) if e.is_corruption() || matches!(e, Error::Core(ipc_core::Error::NotFound { .. })))),
        "no error for keys in a missing segment"
    );
    assert!(m.check().is_err());
    drop((d, m));
    let _ = Manager::remove_files(&path);
}

/// Random damage anywhere in the heap (and in the root's bookkeeping):
/// every operation returns a value or an error; nothing panics or crashes.
/// Each damaged manager is exercised in a child, so that a crash would show
/// as a signal.
#[test]
fn random_damage_gives_errors_not_crashes() {
    let dir = TempDir::new("fuzz");
    let mut outcomes = [0u32; 2];
    let seeds: u64 = std::env::var("FUZZ_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let only: Option<u64> = std::env::var("FUZZ_ONLY").ok().and_then(|s| s.parse().ok());
    for seed in 0..seeds {
        if only.is_some_and(|o| o != seed) {
            continue;
        }
        let path = dir.path(&format!("m{seed}"));
        populated(&path);
        let len = std::fs::metadata(&path).unwrap().len();
        let mut rng = Rng(seed);
        for _ in 0..(4 + rng.below(60)) {
            let off = if rng.below(4) == 0 {
                // Root bookkeeping: epoch, state, segment lengths, bags,
                // free lists, directory (not the mutex).
                let o = BOOKKEEPING.start + rng.below(BOOKKEEPING.end - BOOKKEEPING.start) / 8 * 8;
                if WRITER_MUTEX.contains(&o) {
                    continue;
                }
                o
            } else {
                HEAP_START + rng.below(len - HEAP_START) / 8 * 8
            };
            let word = peek_u64(&path, off);
            let damaged = match rng.below(4) {
                0 => rng.next(),
                1 => word ^ (1 << rng.below(64)),
                2 => word.wrapping_add(16 * (rng.below(64) + 1)),
                _ => 0,
            };
            poke(&path, off, &damaged.to_le_bytes());
        }
        if only.is_some() {
            exercise(&path);
            continue;
        }
        let child = Process::spawn({
            let path = path.clone();
            move || exercise(&path)
        })
        .unwrap();
        match child.join_timeout(Duration::from_secs(20)) {
            Ok(ExitStatus::Exited(0)) => outcomes[0] += 1,
            Ok(ExitStatus::Exited(3)) => outcomes[1] += 1,
            other => {
                let _ = child.kill();
                panic!("seed {seed}: damaged manager crashed or hung: {other:?}");
            }
        }
        let _ = Manager::remove_files(&path);
    }
    eprintln!(
        "{} damaged managers worked on, {} refused to open",
        outcomes[0], outcomes[1]
    );
}

/// Uses a (possibly damaged) manager every way there is, ignoring results.
fn exercise(path: &std::path::Path) {
    let Ok(m) = Manager::builder()
        .options(SegmentOptions::file(path))
        .open()
    else {
        std::process::exit(3);
    };
    let mut errors = 0;
    let mut count = |r: bool| {
        if !r {
            errors += 1;
        }
    };
    if let Ok(d) = m.dict("d") {
        for k in 0..160u64 {
            count(d.get(&k).is_ok());
            count(d.get_ref(&k).map(|g| g.map(|g| g.len())).is_ok());
            count(d.contains(&k).is_ok());
        }
        count(d.items().is_ok());
        count(d.len().is_ok());
        for k in 0..40u64 {
            count(d.insert(&k, vec![9u8; (k * 37 % 3000) as usize]).is_ok());
            count(d.remove(&(k + 50)).is_ok());
            count(d.pop(&(k + 100)).is_ok());
        }
        count(d.clear().is_ok());
    }
    if let Ok(l) = m.list::<[u64; 2]>("l") {
        count(l.to_vec().is_ok());
        count(l.push([1, 2]).is_ok());
        count(l.pop().is_ok());
        count(l.set(3, [4, 4]).is_ok());
    }
    if let Ok(v) = m.value::<u64>("v", 0) {
        count(v.fetch_add(1).is_ok());
    }
    count(m.objects().is_ok());
    count(m.check().is_ok());
    count(m.reclaim().is_ok());
    let _ = errors;
}

/// A full filesystem: the growth that does not fit fails with
/// `Core(NoSpace)` and the dictionary keeps everything it had. Runs in a
/// child with a private 2 MiB tmpfs (see `ipc_test_support::in_tiny_tmpfs`).
#[test]
fn full_filesystem_is_no_space_and_loses_nothing() {
    let code = ipc_test_support::in_tiny_tmpfs("2m", |dir| {
        let path = dir.join(unique_name("full"));
        let config = ManagerConfig {
            initial_size: 64 * 1024,
            ..ManagerConfig::default()
        };
        let m = Manager::builder()
            .options(SegmentOptions::file(&path))
            .config(config.clone())
            .create()
            .unwrap();
        let d = m.dict("d").unwrap();
        let value = vec![5u8; 8 * 1024];
        let mut stored = 0u64;
        let err = loop {
            match d.insert(&stored, &value) {
                Ok(()) => stored += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(err, Error::Core(ipc_core::Error::NoSpace { .. })),
            "{err:?}"
        );
        assert!(stored > 0, "nothing fitted");
        assert_eq!(d.len().unwrap(), stored);
        for k in 0..stored {
            assert_eq!(d.get(&k).unwrap().as_deref(), Some(&value[..]));
        }
        assert_eq!(m.check().unwrap().leaked_blocks, 0);
        drop((d, m));
        Manager::remove_files(&path).unwrap();
        0
    });
    if let Some(code) = code {
        assert_eq!(code, 0, "the child's assertions failed (see its output)");
    }
}
