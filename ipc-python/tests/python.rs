//! The Python package, tested from Python and against Rust.
//!
//! `cargo test --workspace` runs these, so the README's one test command
//! covers the Python side too:
//!
//! - the extension module is built (once per test process) with the cargo
//!   that runs the tests, into a target directory of its own
//!   (`<target>/python-ext`: the running `cargo test` holds the lock of
//!   its own), and assembled with the package's Python sources into an
//!   importable `ipc_toolkit` folder;
//! - each `unittest` module of `tests/py/` runs under a real Python (one
//!   test here per module, so a failure names it), the Python examples
//!   among them;
//! - a Rust process and a Python process share objects by name: byte
//!   messages through a queue both ways, a manager dict written by Rust
//!   and read and updated by Python.
//!
//! The interpreter is `IPC_TOOLKIT_PYTHON` or `python3`. Without one the
//! tests say so and pass, except under `CI=true`, where a missing Python
//! fails them (CI must not hide a gap).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use ipc_core::segment::SegmentOptions;
use ipc_manager::Manager;
use ipc_queue::Queue;

/// The interpreter to test with.
fn python() -> String {
    std::env::var("IPC_TOOLKIT_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether a Python interpreter runs; under `CI=true` its absence fails.
fn have_python() -> bool {
    let ok = Command::new(python())
        .arg("-c")
        .arg("import sys; assert sys.version_info >= (3, 9)")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no Python 3.9+ ({}) to test the Python package with",
            python()
        );
        eprintln!(
            "no Python 3.9+ ({}): the Python package is not tested",
            python()
        );
    }
    ok
}

/// The workspace's target directory (this test binary lives in
/// `<target>/<profile>/deps`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds the extension and assembles the package; returns the folder to
/// put on `PYTHONPATH` (it holds `ipc_toolkit/`).
fn package_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = target_dir().join("python-ext");
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--offline",
                "--quiet",
                "--lib",
                "-p",
                "ipc-toolkit-python",
            ])
            .arg("--target-dir")
            .arg(&target)
            // What maturin sets: the extension does not link libpython.
            .env("PYO3_BUILD_EXTENSION_MODULE", "1")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build for the extension");
        assert!(
            out.status.success(),
            "building the extension failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pkg_root = target.join("pkg");
        let pkg = pkg_root.join("ipc_toolkit");
        let _ = std::fs::remove_dir_all(&pkg);
        std::fs::create_dir_all(&pkg).expect("create the package folder");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/ipc_toolkit");
        for entry in std::fs::read_dir(&src).expect("the package's Python sources") {
            let path = entry.expect("a source file").path();
            if path.is_file() {
                std::fs::copy(&path, pkg.join(path.file_name().expect("a file name")))
                    .expect("copy a source file");
            }
        }
        std::fs::copy(
            target.join("debug/libipc_toolkit_native.so"),
            pkg.join("_native.abi3.so"),
        )
        .expect("copy the extension");
        pkg_root
    })
}

/// One Python suite or peer at a time: they start processes of their own,
/// and the timing tests among them should not share two cores with
/// another suite.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A Python command with the package on its path.
fn python_cmd() -> Command {
    let mut cmd = Command::new(python());
    cmd.env("PYTHONPATH", package_dir())
        .env("IPC_TOOLKIT_PYTHON", python())
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py"))
        .stdin(Stdio::null());
    cmd
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `python -m unittest -v <module>` and fails with its output if a
/// test failed.
fn unittest(module: &str) {
    if !have_python() {
        return;
    }
    let _one = serial();
    let out = python_cmd()
        .args(["-m", "unittest", "-v", module])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{module} failed:\n{}", show(&out));
    // unittest reports on stderr; keep its summary in the test's output.
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "{}",
        err.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn python_queues() {
    unittest("test_queue");
}

#[test]
fn python_pipes() {
    unittest("test_pipe");
}

#[test]
fn python_manager() {
    unittest("test_manager");
}

#[test]
fn python_zero_copy() {
    unittest("test_zero_copy");
}

#[test]
fn python_crashes() {
    unittest("test_crash");
}

#[test]
fn python_examples() {
    unittest("test_examples");
}

/// A Rust producer and a Python consumer of byte messages share a queue by
/// name; then the other way round.
#[test]
fn rust_and_python_exchange_bytes_through_a_queue() {
    if !have_python() {
        return;
    }
    let _one = serial();
    let name = ipc_test_support::unique_name("py-interop-q");
    let q = Queue::<u8>::builder()
        .options(SegmentOptions::named(&name))
        .capacity(64)
        .ring_bytes(1 << 20)
        .create()
        .unwrap();
    let count = 500usize;
    let consumer = python_cmd()
        .arg("-c")
        .arg(format!(
            "import ipc_toolkit, hashlib\n\
             q = ipc_toolkit.Queue(name={name:?}, open=True)\n\
             h = hashlib.sha256()\n\
             for i in range({count}):\n\
             \x20   m = q.get_bytes(timeout=20)\n\
             \x20   assert len(m) == i % 3000, (i, len(m))\n\
             \x20   h.update(m)\n\
             for i in range(3):\n\
             \x20   q.put_bytes(b'from python %d' % i)\n\
             print(h.hexdigest())\n"
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..count {
        let msg: Vec<u8> = (0..i % 3000).map(|j| (i * 31 + j) as u8).collect();
        sent.extend_from_slice(&msg);
        q.put_bytes_timeout(&msg, Duration::from_secs(20)).unwrap();
    }
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    for i in 0..3 {
        assert_eq!(
            q.get_bytes_timeout(Duration::from_secs(10)).unwrap(),
            format!("from python {i}").into_bytes()
        );
    }
    let expected = sha256_hex(&sent);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
}

/// A manager dict written from Rust (bytes and integer values) is read
/// from Python, which adds to the Rust counter atomically and writes values
/// Rust reads back.
#[test]
fn python_reads_and_updates_a_dict_rust_wrote() {
    if !have_python() {
        return;
    }
    let _one = serial();
    let name = ipc_test_support::unique_name("py-interop-m");
    let m = Manager::builder().named(&name).create().unwrap();
    let d = m.dict("scores").unwrap();
    d.insert("blob", b"\x00\x01raw").unwrap();
    d.typed::<str, i64>().unwrap().insert("hits", &41).unwrap();
    d.insert_as("small", &7u32).unwrap();
    let out = python_cmd()
        .arg("-c")
        .arg(format!(
            "import ipc_toolkit\n\
             m = ipc_toolkit.Manager.open({name:?})\n\
             d = m.dict(name='scores')\n\
             assert d['blob'] == b'\\x00\\x01raw', d['blob']\n\
             assert d['hits'] == 41 and d['small'] == 7, d.copy()\n\
             assert d.increment('hits') == 42\n\
             d['from_python'] = 5\n\
             d['bytes_from_python'] = b'py'\n\
             print(sorted(d.keys()))\n"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "['blob', 'bytes_from_python', 'from_python', 'hits', 'small']"
    );
    let typed = d.typed::<str, i64>().unwrap();
    assert_eq!(typed.get("hits").unwrap(), Some(42));
    assert_eq!(typed.get("from_python").unwrap(), Some(5));
    assert_eq!(d.get("bytes_from_python").unwrap(), Some(b"py".to_vec()));
}

/// SHA-256 of `data` in hex, computed by the Python under test's `hashlib`.
fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(python())
        .args([
            "-c",
            "import sys, hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
