//! Segments and their headers, tested with real processes.

use std::io::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::Error;
use ipc_core::segment::{
    Backing, HEADER_LEN, ObjectKind, ObjectSegment, Segment, SegmentOptions, Shared, TypeDesc,
};
use ipc_core::sync::Event;
use ipc_test_support::{
    PROMPT, Rng, SIGSEGV, TempDir, as_nobody, daemon, eventually, in_tiny_tmpfs, inheritable, park,
    unique_name,
};

const TEST_KIND: ObjectKind = ObjectKind {
    code: 900,
    version: 1,
    name: "test object",
};

fn tmp_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(unique_name(tag))
}

#[test]
fn named_segment_is_shared_and_gone_after_creator_drops_it() {
    let name = unique_name("named");
    let opts = SegmentOptions::named(&name);
    let creator = Shared::create(&opts, AtomicU64::new(7)).unwrap();
    assert!(Segment::exists(&name).unwrap());
    // Another process opens it by name and writes.
    let child = daemon({
        let opts = opts.clone();
        move || {
            let v = Shared::<AtomicU64>::open(&opts).unwrap();
            v.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(child.join().unwrap().success());
    assert_eq!(creator.load(Ordering::SeqCst), 8);
    drop(creator);
    assert!(!Segment::exists(&name).unwrap());
    assert!(matches!(
        Shared::<AtomicU64>::open(&opts),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn kept_segment_outlives_its_creator_process() {
    let name = unique_name("keep");
    let opts = SegmentOptions::named(&name).keep(true);
    let child = daemon({
        let opts = opts.clone();
        move || {
            let v = Shared::create(&opts, AtomicU64::new(41)).unwrap();
            v.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(child.join().unwrap().success());
    let v = Shared::<AtomicU64>::open(&opts).unwrap();
    assert_eq!(v.load(Ordering::SeqCst), 42);
    Segment::unlink(&name).unwrap();
}

#[test]
fn anonymous_segment_is_shared_with_forked_child() {
    let v = Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0)).unwrap();
    let theirs = v.try_clone().unwrap();
    let child = daemon(move || {
        theirs.fetch_add(5, Ordering::SeqCst);
    });
    assert!(child.join().unwrap().success());
    assert_eq!(v.load(Ordering::SeqCst), 5);
    assert!(v.object().segment().name().is_none());
}

#[test]
fn file_backed_contents_persist_after_every_process_exits() {
    let path = tmp_path("persist");
    let opts = SegmentOptions::file(&path);
    let child = daemon({
        let opts = opts.clone();
        move || {
            let v = Shared::create(&opts, AtomicU64::new(0)).unwrap();
            v.store(0xfeed, Ordering::SeqCst);
        }
    });
    assert!(child.join().unwrap().success());
    assert!(path.exists(), "files are kept by default");
    let v = Shared::<AtomicU64>::open(&opts).unwrap();
    assert_eq!(v.load(Ordering::SeqCst), 0xfeed);
    drop(v);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn open_or_create_race_has_exactly_one_creator() {
    let name = unique_name("race");
    let opts = SegmentOptions::named(&name).keep(true);
    let go = Shared::create(&SegmentOptions::anonymous(), Event::new()).unwrap();
    let created = Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0)).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            let (opts, go, created) = (
                opts.clone(),
                go.try_clone().unwrap(),
                created.try_clone().unwrap(),
            );
            daemon(move || {
                go.wait().unwrap();
                let v = Shared::open_or_create(&opts, || AtomicU64::new(0)).unwrap();
                if v.object().was_created() {
                    created.fetch_add(1, Ordering::SeqCst);
                }
                v.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    go.set();
    for k in kids {
        assert!(k.join().unwrap().success());
    }
    assert_eq!(created.load(Ordering::SeqCst), 1);
    let v = Shared::<AtomicU64>::open(&opts).unwrap();
    assert_eq!(v.load(Ordering::SeqCst), 4);
    Segment::unlink(&name).unwrap();
}

#[test]
fn wrong_type_kind_and_version_are_refused_naming_both_sides() {
    let name = unique_name("types");
    let opts = SegmentOptions::named(&name);
    let _v = Shared::create(&opts, AtomicU64::new(1)).unwrap();
    match Shared::<AtomicU32>::open(&opts) {
        Err(Error::WrongType {
            expected, found, ..
        }) => {
            assert!(expected.contains("AtomicU32"), "{expected}");
            assert!(found.contains("AtomicU64"), "{found}");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let err = ObjectSegment::open(&opts, TEST_KIND, None).unwrap_err();
    assert!(matches!(err, Error::WrongKind { .. }), "{err:?}");
    assert!(err.to_string().contains("shared value"), "{err}");

    let name2 = unique_name("version");
    let v2 = ObjectKind {
        version: 2,
        ..TEST_KIND
    };
    let opts2 = SegmentOptions::named(&name2);
    let _o = ObjectSegment::create(&opts2, v2, &TypeDesc::of::<u64>(), 8, |_, _| Ok(())).unwrap();
    assert_eq!(
        ObjectSegment::open(&opts2, TEST_KIND, None).unwrap_err(),
        Error::WrongVersion {
            object: name2.clone(),
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn header_format_version_mismatch_is_refused() {
    let path = tmp_path("fmtver");
    let opts = SegmentOptions::file(&path);
    drop(Shared::create(&opts, 5u64).unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_ne_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        Shared::<u64>::open(&opts).unwrap_err(),
        Error::WrongVersion {
            object: path.display().to_string(),
            expected: 1,
            found: 99
        }
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn garbage_truncated_and_damaged_headers_are_refused() {
    let short = Duration::from_millis(50);
    // A foreign file.
    let path = tmp_path("garbage");
    std::fs::write(&path, b"#!/bin/sh\necho this is not a segment\n".repeat(20)).unwrap();
    let e = Shared::<u64>::open(&SegmentOptions::file(&path)).unwrap_err();
    assert!(matches!(e, Error::CorruptHeader { .. }), "{e:?}");

    // Shorter than a header.
    std::fs::write(&path, [0x55u8; 100]).unwrap();
    let e = Shared::<u64>::open(&SegmentOptions::file(&path)).unwrap_err();
    assert!(matches!(e, Error::CorruptHeader { .. }), "{e:?}");

    // All zeros: never initialised; refused after the (short) init timeout.
    std::fs::write(&path, [0u8; 4096]).unwrap();
    let t = Instant::now();
    let e = Shared::<u64>::open(&SegmentOptions::file(&path).init_timeout(short)).unwrap_err();
    assert!(matches!(e, Error::CorruptHeader { .. }), "{e:?}");
    assert!(t.elapsed() >= short);

    // Empty file.
    std::fs::write(&path, []).unwrap();
    let e = Shared::<u64>::open(&SegmentOptions::file(&path).init_timeout(short)).unwrap_err();
    assert!(matches!(e, Error::CorruptHeader { .. }), "{e:?}");
    std::fs::remove_file(&path).unwrap();

    // A real object, then truncated below what its header records.
    let path = tmp_path("trunc");
    let opts = SegmentOptions::file(&path);
    drop(
        ObjectSegment::create(&opts, TEST_KIND, &TypeDesc::of::<u8>(), 8192, |_, _| Ok(()))
            .unwrap(),
    );
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(HEADER_LEN as u64 + 100).unwrap();
    let e = ObjectSegment::open(&opts, TEST_KIND, None).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");

    // One flipped byte in the type name: the checksum catches it.
    let path2 = tmp_path("flip");
    let opts2 = SegmentOptions::file(&path2);
    drop(Shared::create(&opts2, 1u64).unwrap());
    let mut bytes = std::fs::read(&path2).unwrap();
    bytes[130] ^= 0x01;
    std::fs::write(&path2, &bytes).unwrap();
    let e = Shared::<u64>::open(&opts2).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    for p in [path, path2] {
        std::fs::remove_file(p).unwrap();
    }
}

/// An object is invisible under its name until its creator has built it: an
/// opener meanwhile finds nothing, and a creator killed in the middle leaves
/// nothing behind (no empty file, no half-written header), so
/// `open_or_create` simply creates it afresh. Named and file-backed.
#[test]
fn a_half_built_object_is_never_visible() {
    let dir = TempDir::new("hidden");
    for opts in [
        SegmentOptions::named(&unique_name("init")).keep(true),
        SegmentOptions::file(dir.path("obj")).keep(true),
    ] {
        let exists = || match opts.backing() {
            Backing::Named(n) => Segment::exists(n).unwrap(),
            Backing::File(p) => p.exists(),
            Backing::Anonymous => unreachable!(),
        };
        let started = Shared::create(&SegmentOptions::anonymous(), Event::new()).unwrap();
        let release = Shared::create(&SegmentOptions::anonymous(), Event::new()).unwrap();
        // A creator sitting inside its init: the name is not there yet.
        let slow = daemon({
            let (opts, started, release) = (
                opts.clone(),
                started.try_clone().unwrap(),
                release.try_clone().unwrap(),
            );
            move || {
                let _o =
                    ObjectSegment::create(&opts, TEST_KIND, &TypeDesc::of::<u64>(), 8, |_, _| {
                        started.set();
                        release.wait_for(PROMPT).unwrap();
                        Ok(())
                    })
                    .unwrap();
                park();
            }
        });
        started.wait_for(PROMPT).unwrap();
        assert!(!exists(), "visible before it was built");
        assert!(matches!(
            ObjectSegment::open(&opts, TEST_KIND, None).unwrap_err(),
            Error::NotFound { .. }
        ));
        release.set();
        assert!(eventually(PROMPT, exists));
        let o = ObjectSegment::open(&opts, TEST_KIND, None).unwrap();
        assert_eq!(o.payload_len(), 8);
        drop(o);
        slow.kill().unwrap();
        let _ = slow.join().unwrap();
        assert!(ObjectSegment::remove_if_stale(&opts).unwrap());

        // A creator killed mid-initialisation leaves nothing to clean up.
        started.clear();
        let doomed = daemon({
            let (opts, started) = (opts.clone(), started.try_clone().unwrap());
            move || {
                let _ =
                    ObjectSegment::create(&opts, TEST_KIND, &TypeDesc::of::<u64>(), 8, |_, _| {
                        started.set();
                        park();
                    });
            }
        });
        started.wait_for(PROMPT).unwrap();
        doomed.kill().unwrap();
        let _ = doomed.join().unwrap();
        assert!(!exists(), "a killed creator left its half-built object");
        let o =
            ObjectSegment::open_or_create(&opts, TEST_KIND, &TypeDesc::of::<u64>(), 8, |_, _| {
                Ok(())
            })
            .unwrap();
        assert!(o.was_created());
        drop(o);
        match opts.backing() {
            Backing::Named(n) => Segment::unlink(n).unwrap(),
            Backing::File(p) => std::fs::remove_file(p).unwrap(),
            Backing::Anonymous => unreachable!(),
        }
    }
}

/// Creators SIGKILLed at random instants inside `create` (while reserving a
/// large segment, the slowest step) never leave a name that openers stall
/// on or that `open_or_create` cannot recover.
#[test]
fn creators_killed_anywhere_in_create_leave_nothing_half_built() {
    let name = unique_name("killcreate");
    let opts = SegmentOptions::named(&name).keep(true);
    let mut rng = Rng(0x5eed_c0de);
    for _ in 0..40 {
        let creator = daemon({
            let opts = opts.clone();
            move || {
                let _ = ObjectSegment::create(
                    &opts,
                    TEST_KIND,
                    &TypeDesc::of::<u64>(),
                    64 << 20,
                    |_, _| Ok(()),
                );
                park();
            }
        });
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        creator.kill().unwrap();
        let _ = creator.join().unwrap();
        let t = Instant::now();
        match ObjectSegment::open(&opts.clone().init_timeout(PROMPT), TEST_KIND, None) {
            Ok(o) => assert_eq!(o.payload_len(), 64 << 20),
            Err(Error::NotFound { .. }) => {}
            Err(e) => panic!("a killed creator left a half-built segment: {e}"),
        }
        assert!(t.elapsed() < Duration::from_secs(1), "the opener stalled");
        let _ = ObjectSegment::remove_if_stale(&opts).unwrap_or(false);
        assert!(!Segment::exists(&name).unwrap());
    }
}

#[test]
fn stale_segment_of_killed_creator_is_detected_and_removed() {
    let name = unique_name("stale");
    let opts = SegmentOptions::named(&name);
    let ready = Shared::create(&SegmentOptions::anonymous(), Event::new()).unwrap();
    let creator = daemon({
        let (opts, ready) = (opts.clone(), ready.try_clone().unwrap());
        move || {
            let _v = Shared::create(&opts, AtomicU64::new(0)).unwrap();
            ready.set();
            park();
        }
    });
    ready.wait_for(PROMPT).unwrap();
    assert!(
        !ObjectSegment::is_stale(&opts).unwrap(),
        "creator alive: not stale"
    );
    assert!(!ObjectSegment::remove_if_stale(&opts).unwrap());
    creator.kill().unwrap();
    let _ = creator.join().unwrap();
    assert!(Segment::exists(&name).unwrap(), "SIGKILL left it behind");
    assert!(ObjectSegment::is_stale(&opts).unwrap());
    assert!(ObjectSegment::remove_if_stale(&opts).unwrap());
    assert!(!Segment::exists(&name).unwrap());
}

#[test]
fn mode_0600_refuses_other_uid_and_0644_allows_read_only() {
    let private = unique_name("private");
    let _p = Shared::create(&SegmentOptions::named(&private), 1u64).unwrap();
    let readable = unique_name("readable");
    let _r = Shared::create(&SegmentOptions::named(&readable).mode(0o644), 2u64).unwrap();
    let (p2, r2) = (private.clone(), readable.clone());
    let Some(code) = as_nobody(move || {
        let denied = matches!(
            Shared::<u64>::open_read_only(&SegmentOptions::named(&p2)),
            Err(Error::PermissionDenied { .. })
        );
        let rw_denied = matches!(
            Shared::<u64>::open(&SegmentOptions::named(&r2)),
            Err(Error::PermissionDenied { .. })
        );
        let ro_ok = Shared::<u64>::open_read_only(&SegmentOptions::named(&r2)).map(|v| *v) == Ok(2);
        match (denied, rw_denied, ro_ok) {
            (true, true, true) => 0,
            (false, _, _) => 1,
            (_, false, _) => 2,
            _ => 3,
        }
    }) else {
        return;
    };
    assert_eq!(
        code, 0,
        "1: 0600 opened by other uid; 2: 0644 opened rw; 3: 0644 ro failed"
    );
    // The exact mode was applied despite the umask.
    let meta = std::fs::metadata(format!("/dev/shm/{readable}")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o644
    );
}

#[test]
fn read_only_mapping_cannot_be_written() {
    let name = unique_name("ro");
    let _w = Segment::create(&SegmentOptions::named(&name), 4096).unwrap();
    let ro = Segment::open(&SegmentOptions::named(&name).read_only(true)).unwrap();
    assert!(ro.is_read_only());
    assert!(matches!(
        ro.as_mut_ptr(),
        Err(Error::PermissionDenied { .. })
    ));
    // Even a raw write through the pointer faults: the mapping itself is read-only.
    let child = daemon(move || {
        let p = ro.as_ptr().cast_mut();
        // SAFETY: deliberately writing to a read-only mapping to prove it faults;
        // the child dies of SIGSEGV before anything else can observe it.
        unsafe { p.write_volatile(1) };
        std::process::exit(0);
    });
    assert_eq!(child.join().unwrap().signal(), Some(SIGSEGV));
}

#[test]
fn bad_sizes_and_names_are_typed_errors() {
    let anon = SegmentOptions::anonymous();
    assert!(matches!(
        Segment::create(&anon, 0),
        Err(Error::InvalidSize { size: 0, .. })
    ));
    assert!(matches!(
        Segment::create(&anon, u64::MAX),
        Err(Error::InvalidSize { .. })
    ));
    assert!(matches!(
        Segment::create(&anon, (1 << 40) + 1),
        Err(Error::InvalidSize { .. })
    ));
    for bad in ["", "a/b", "x\0y", "..", &"n".repeat(300)] {
        let e = Segment::create(&SegmentOptions::named(bad), 64).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{bad:?}: {e:?}");
        assert!(matches!(
            Segment::open(&SegmentOptions::named(bad)),
            Err(Error::InvalidName { .. })
        ));
    }
    assert!(matches!(
        Segment::open(&SegmentOptions::named(&unique_name("missing"))),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Segment::open(&anon),
        Err(Error::InvalidArgument { .. })
    ));
    let name = unique_name("dup");
    let _a = Segment::create(&SegmentOptions::named(&name), 64).unwrap();
    assert!(matches!(
        Segment::create(&SegmentOptions::named(&name), 64),
        Err(Error::AlreadyExists { .. })
    ));
    let nodir = std::path::Path::new("/nonexistent-dir/x");
    assert!(matches!(
        Segment::create(&SegmentOptions::file(nodir), 64),
        Err(Error::NotFound { .. })
    ));
}

/// A full filesystem is reported as `NoSpace` at creation, and nothing is left
/// behind. Uses a 64 KiB tmpfs mounted in a private mount namespace of a child.
#[test]
fn full_filesystem_is_a_typed_error() {
    let code = in_tiny_tmpfs("64k", |dir| {
        let path = dir.join("seg");
        let r = Segment::create(&SegmentOptions::file(&path), 1 << 20);
        match r {
            Err(Error::NoSpace { requested }) if requested == 1 << 20 && !path.exists() => 0,
            Err(_) => 2,
            Ok(_) => 1,
        }
    });
    let Some(code) = code else { return };
    assert_eq!(
        code, 0,
        "1: created on a full fs; 2: wrong error or file left behind"
    );
}

/// Python's `multiprocessing.shared_memory` attaches to a raw named segment
/// created here, reads what we wrote and writes back; with the workaround
/// documented in `ipc_core::segment` (unregistering from Python's resource
/// tracker), the name survives the Python process's exit.
#[test]
fn python_attaches_to_a_named_segment() {
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        ipc_test_support::skip("python3 not found");
        return;
    }
    let name = unique_name("py");
    let seg = Segment::create(&SegmentOptions::named(&name), 4096).unwrap();
    let p = seg.as_mut_ptr().unwrap();
    // SAFETY: 5 bytes inside our own fresh 4096-byte mapping; no other process has it yet.
    unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), p, 5) };
    let script = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         s = shared_memory.SharedMemory(name={name:?})\n\
         resource_tracker.unregister(s._name, 'shared_memory')\n\
         assert bytes(s.buf[:5]) == b'hello', bytes(s.buf[:5])\n\
         s.buf[5] = 42\n\
         print(s.size)\n\
         s.close()\n"
    );
    let mut py = std::process::Command::new("python3")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success(), "python failed");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4096");
    // SAFETY: byte 5 of our mapping; python has exited.
    assert_eq!(unsafe { p.add(5).read_volatile() }, 42);
    assert!(
        Segment::exists(&name).unwrap(),
        "Python's resource tracker unlinked the name"
    );
    drop(seg);
    assert!(!Segment::exists(&name).unwrap());
}

/// The child side of `anonymous_segment_reaches_a_child_program_by_fd`: runs
/// only when this test binary is started again as entry point "fd-child".
#[test]
fn fd_child() {
    use std::os::fd::{FromRawFd, OwnedFd};
    if ipc_core::process::current_entry().as_deref() != Some("fd-child") {
        return;
    }
    let fd: i32 = std::env::var("IPC_TEST_FD").unwrap().parse().unwrap();
    // SAFETY: the parent passed this descriptor to us, open and owned by nobody else here.
    let seg = Segment::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }, false).unwrap();
    let p = seg.as_mut_ptr().unwrap();
    // SAFETY: the first two bytes of a 4096-byte mapping; the parent waits for us.
    let ok = unsafe { p.read_volatile() == 0x5A };
    // SAFETY: as above.
    unsafe { p.add(1).write_volatile(0xA5) };
    std::process::exit(if ok { 0 } else { 1 });
}

/// An anonymous (memfd) segment handed to a freshly executed child program by
/// file descriptor: both see the same memory.
#[test]
fn anonymous_segment_reaches_a_child_program_by_fd() {
    let seg = Segment::create(&SegmentOptions::anonymous(), 4096).unwrap();
    let p = seg.as_mut_ptr().unwrap();
    // SAFETY: our own fresh mapping; no other process has it yet.
    unsafe { p.write_volatile(0x5A) };
    // A duplicate without FD_CLOEXEC survives the exec.
    let dup = inheritable(seg.fd());
    let fd = std::os::fd::AsRawFd::as_raw_fd(&dup);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "fd_child", "--nocapture", "--quiet"])
        .env(ipc_core::process::ENTRY_ENV, "fd-child")
        .env("IPC_TEST_FD", fd.to_string());
    let child = ipc_core::process::Process::command(cmd).unwrap();
    let status = child.join().unwrap();
    drop(dup);
    assert!(status.success(), "child saw the parent's byte: {status}");
    // SAFETY: byte 1 of our mapping; the child has exited.
    assert_eq!(unsafe { p.add(1).read_volatile() }, 0xA5);
}
