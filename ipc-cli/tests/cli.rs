//! The `ipc` binary against objects made by real processes: live ones, a
//! stale one whose creator was SIGKILLed, a half-built one, a stale manager
//! with heap segments; `list`, `show`, `clean`, `watch`, `--json`, exit codes.

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipc_core::segment::{Segment, SegmentOptions};
use ipc_manager::{Manager, ManagerConfig};
use ipc_queue::{Pipe, Queue};
use ipc_test_support::{TempDir, daemon, eventually, park, slots, unique_name};
use serde_json::Value;

fn ipc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(args)
        .output()
        .expect("the ipc binary runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "ipc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed in {list:#}"))
}

/// A child that creates a named queue holding 3 messages and a pipe with
/// one frame in flight, then lives on; returns its pid.
fn live_objects(queue: &str, pipe: &str) -> ipc_core::process::Process {
    let ready = Arc::new(slots::<1>());
    let child = daemon({
        let (queue, pipe, ready) = (queue.to_owned(), pipe.to_owned(), ready.clone());
        move || {
            let q = Queue::<u64>::builder()
                .named(&queue)
                .capacity(16)
                .create()
                .unwrap();
            for i in 0..3 {
                q.put(&i).unwrap();
            }
            let (a, _b) = Pipe::<u32>::builder().named(&pipe).create().unwrap();
            a.send(&7).unwrap();
            ready[0].store(1, Ordering::SeqCst);
            park();
        }
    });
    assert!(eventually(Duration::from_secs(10), || ready[0]
        .load(Ordering::SeqCst)
        == 1));
    child
}

/// A child that creates a named queue and is SIGKILLed: the name stays.
fn stale_queue(name: &str) {
    let ready = Arc::new(slots::<1>());
    let child = daemon({
        let (name, ready) = (name.to_owned(), ready.clone());
        move || {
            let q = Queue::<u64>::builder().named(&name).create().unwrap();
            q.put(&1).unwrap();
            ready[0].store(1, Ordering::SeqCst);
            park();
        }
    });
    assert!(eventually(Duration::from_secs(10), || ready[0]
        .load(Ordering::SeqCst)
        == 1));
    child.kill().unwrap();
    let _ = child.join();
}

#[test]
fn list_show_and_clean_real_objects() {
    let prefix = unique_name("cli");
    let (queue, pipe, stale, half) = (
        format!("{prefix}-queue"),
        format!("{prefix}-pipe"),
        format!("{prefix}-stale"),
        format!("{prefix}-half"),
    );
    let owner = live_objects(&queue, &pipe);
    stale_queue(&stale);
    // What a creator killed inside `create` leaves without O_TMPFILE: a
    // sized file whose header is still zeros.
    std::fs::write(format!("/dev/shm/{half}"), vec![0u8; 4096]).unwrap();
    // A manager this test process itself holds open.
    let manager = format!("{prefix}-manager");
    let m = Manager::builder().named(&manager).create().unwrap();
    m.dict("settings").unwrap().insert("mode", b"fast").unwrap();

    let list = json_of(&ipc(&["list", "--prefix", &prefix, "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 5, "{list:#}");
    let q = find(&list, &queue);
    assert_eq!(q["kind"], "queue");
    assert_eq!(q["status"], "live");
    assert_eq!(q["fill"], "3/16");
    assert_eq!(q["message_type"], "u64");
    assert_eq!(q["creator"], owner.pid());
    assert!(q["users"].as_array().unwrap().contains(&owner.pid().into()));
    let p = find(&list, &pipe);
    assert_eq!((&p["kind"], &p["status"]), (&"pipe".into(), &"live".into()));
    let s = find(&list, &stale);
    assert_eq!(
        (&s["status"], &s["creator_alive"]),
        (&"stale".into(), &false.into())
    );
    let h = find(&list, &half);
    assert_eq!(
        (&h["kind"], &h["status"]),
        (&"half-built".into(), &"stale".into())
    );
    let mm = find(&list, &manager);
    assert_eq!(
        (&mm["kind"], &mm["status"]),
        (&"manager".into(), &"live".into())
    );
    assert_eq!(mm["fill"], "1 objects");

    // Details.
    let shown = json_of(&ipc(&["show", &queue, "--json"]));
    let d = &shown["detail"];
    assert_eq!(
        (d["len"].as_u64(), d["capacity"].as_u64()),
        (Some(3), Some(16))
    );
    assert_eq!(d["producers"][0]["pid"], owner.pid());
    assert_eq!(d["producers"][0]["alive"], true);
    let shown = json_of(&ipc(&["show", &pipe, "--json"]));
    assert_eq!(shown["detail"]["ends"][0]["owner"]["pid"], owner.pid());
    // End B was never used: unclaimed.
    assert_eq!(shown["detail"]["ends"][1]["owner"], Value::Null);
    assert_eq!(shown["detail"]["directions"][0]["in_flight"], 1);
    let shown = json_of(&ipc(&["show", &manager, "--json"]));
    assert_eq!(shown["detail"]["objects"][0]["name"], "settings");
    assert_eq!(shown["detail"]["objects"][0]["len"], 1);
    assert_eq!(shown["detail"]["check"]["ok"], true);
    let text = ipc(&["show", &stale]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("stale"));

    // A dry run removes nothing; a clean removes exactly the two leftovers.
    let dry = ipc(&["clean", "--prefix", &prefix, "--dry-run"]);
    let dry_text = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success());
    assert!(
        dry_text.contains(&stale) && dry_text.contains(&half),
        "{dry_text}"
    );
    assert!(
        !dry_text.contains(&queue) && !dry_text.contains(&manager),
        "{dry_text}"
    );
    assert!(Segment::exists(&stale).unwrap() && Segment::exists(&half).unwrap());
    let clean = ipc(&["clean", "--prefix", &prefix]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(!Segment::exists(&stale).unwrap() && !Segment::exists(&half).unwrap());
    for live in [&queue, &pipe, &manager] {
        assert!(Segment::exists(live).unwrap(), "{live} was removed");
    }
    let list = json_of(&ipc(&["list", "--prefix", &prefix, "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 3);

    // Once its creator is gone, the queue is stale too, and goes.
    owner.kill().unwrap();
    let _ = owner.join();
    let clean = ipc(&["clean", "--prefix", &prefix]);
    assert!(clean.status.success());
    assert!(!Segment::exists(&queue).unwrap() && !Segment::exists(&pipe).unwrap());
    assert!(
        Segment::exists(&manager).unwrap(),
        "the manager is in use here"
    );
    drop(m);
}

#[test]
fn a_stale_manager_goes_with_its_heap_segments() {
    let name = unique_name("cli-mgr");
    let ready = Arc::new(slots::<1>());
    let child = daemon({
        let (name, ready) = (name.clone(), ready.clone());
        move || {
            let config = ManagerConfig {
                initial_size: 64 * 1024,
                ..ManagerConfig::default()
            };
            let m = Manager::builder()
                .named(&name)
                .config(config)
                .create()
                .unwrap();
            let d = m.dict("big").unwrap();
            for k in 0..64u64 {
                d.insert(&k.to_le_bytes(), vec![1u8; 4000]).unwrap();
            }
            ready[0].store(m.stats().unwrap().segments as u64, Ordering::SeqCst);
            park();
        }
    });
    assert!(eventually(Duration::from_secs(10), || ready[0]
        .load(Ordering::SeqCst)
        > 0));
    let segments = ready[0].load(Ordering::SeqCst);
    assert!(segments >= 2, "the manager did not grow");
    child.kill().unwrap();
    let _ = child.join();
    let list = json_of(&ipc(&["list", "--prefix", &name, "--json"]));
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "heap segments folded in: {list:#}"
    );
    let m = find(&list, &name);
    assert_eq!(
        (&m["kind"], &m["status"]),
        (&"manager".into(), &"stale".into())
    );
    assert!(m["bytes"].as_u64().unwrap() > 64 * 1024 * 2);
    let clean = ipc(&["clean", "--prefix", &name]);
    assert!(clean.status.success());
    assert!(!Segment::exists(&name).unwrap());
    for n in 1..=segments {
        assert!(!Segment::exists(&format!("{name}.{n}")).unwrap());
    }
}

#[test]
fn watch_reports_rates() {
    let name = unique_name("cli-watch");
    let q = Queue::<u64>::builder().named(&name).create().unwrap();
    let producer = daemon({
        let name = name.clone();
        move || {
            let q = Queue::<u64>::builder().named(&name).open().unwrap();
            for i in 0.. {
                q.put(&i).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let consumer = std::thread::spawn({
        let q = q.clone();
        move || while q.get_timeout(Duration::from_secs(3)).is_ok() {}
    });
    let out = ipc(&["watch", &name, "--interval-ms", "300", "--count", "2"]);
    producer.kill().unwrap();
    let _ = producer.join();
    consumer.join().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in &lines[1..] {
        let rate_in: f64 = line.split_whitespace().next().unwrap().parse().unwrap();
        assert!(
            rate_in > 50.0,
            "in/s {rate_in} for a producer putting ~1000/s: {text}"
        );
    }
}

#[test]
fn exit_codes_and_file_backed_objects() {
    // Not found: 1.
    let missing = ipc(&["show", &unique_name("cli-none")]);
    assert_eq!(missing.status.code(), Some(1));
    let dir = TempDir::new("cli-dir");
    let empty = ipc(&["list", "--dir", dir.0.to_str().unwrap()]);
    assert_eq!(empty.status.code(), Some(1));
    // Not a toolkit object: 2, with a message.
    let foreign = dir.path("foreign");
    std::fs::write(&foreign, b"not a segment at all, just some text").unwrap();
    let out = ipc(&["show", foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an ipc-toolkit object"));
    // A file-backed queue in the directory is found with --dir; the foreign
    // file is neither listed nor cleaned.
    let path = dir.path("jobs");
    let q = Queue::<u32>::builder()
        .options(SegmentOptions::file(&path))
        .create()
        .unwrap();
    q.put(&1).unwrap();
    let list = json_of(&ipc(&["list", "--dir", dir.0.to_str().unwrap(), "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["fill"], "1/1024");
    let clean = ipc(&["clean", "--dir", dir.0.to_str().unwrap()]);
    assert!(clean.status.success());
    assert!(path.exists() && foreign.exists());
}

/// Another user's object that this user may not read is listed with a
/// clear message naming its owner, not an error for the whole listing.
#[test]
fn objects_of_other_users_say_whose_they_are() {
    let name = unique_name("cli-private");
    let _q = Queue::<u64>::builder()
        .options(SegmentOptions::named(&name).mode(0o600))
        .create()
        .unwrap();
    // The binary where user 65534 may run it: a hard link in a directory
    // of its own (a copy is written through a descriptor that a process
    // forked meanwhile by another test would keep open, and executing a file
    // open for writing fails with ETXTBSY); a copy only across filesystems.
    let dir = std::env::temp_dir().join(unique_name("cli-bin"));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("ipc");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_ipc"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_ipc"), &bin).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let code = ipc_test_support::as_nobody({
        let (bin, name) = (bin.clone(), name.clone());
        move || {
            // A copied binary may still be busy (see above) for a while.
            let mut tries = 0;
            let out = loop {
                match Command::new(&bin)
                    .args(["list", "--prefix", &name, "--json"])
                    .output()
                {
                    Ok(out) => break out,
                    Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 200 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => return 6,
                }
            };
            let list: Value = match serde_json::from_slice(&out.stdout) {
                Ok(v) => v,
                Err(_) => return 3,
            };
            let o = &list[0];
            let message = o["error"].as_str().unwrap_or("");
            match (o["status"].as_str(), message.contains("owned by uid 0")) {
                (Some("no-access"), true) => 0,
                (Some("no-access"), false) => 4,
                _ => 5,
            }
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(code) = code {
        assert_eq!(
            code, 0,
            "3: no JSON; 4: no owner in the message; 5: wrong status; 6: could not run it"
        );
    }
}
