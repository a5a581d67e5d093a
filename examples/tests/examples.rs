//! Runs every example (`examples/*.rs`) and checks its output against the
//! Python program it reproduces: exact lines, up to process ids, timings and
//! the orders that the tutorials say may vary.
//!
//! The examples are built once per test process with the cargo that runs the
//! tests, into the same target directory and profile (a no-op when `cargo
//! test` already built them, as it does by default), offline.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The longest an example may run.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The profile directory of this test binary (`<target>/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // <target>/<profile>/deps/examples-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds the examples (once per process) and returns their directory.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile_dir = profile_dir();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None => "dev".to_owned(),
        };
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--offline", "--quiet", "--examples"])
            .args(["-p", "ipc-examples", "--profile", &profile])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // The directory above the profile is the target directory unless a
        // target triple sits in between; cargo marks the real one.
        if let Some(target) = profile_dir.parent()
            && target.join("CACHEDIR.TAG").exists()
        {
            cmd.arg("--target-dir").arg(target);
        }
        let out = cmd.output().expect("run cargo build --examples");
        assert!(
            out.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("examples")
    })
}

/// What an example printed, and its pid.
struct Run {
    pid: u32,
    lines: Vec<String>,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.lines.iter().map(String::as_str).collect()
    }
}

/// Runs example `name` to completion (within [`TIME_LIMIT`]) and returns its
/// stdout lines; panics if it fails.
fn run(name: &str) -> Run {
    let exe = examples_dir().join(name);
    let mut child = Command::new(&exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let err_reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not finish within {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    assert!(status.success(), "{name} failed ({status}):\n{out}\n{err}");
    Run {
        pid,
        lines: out.lines().map(str::to_owned).collect(),
    }
}

/// The number at the end of `line` after `prefix`.
fn number_after(line: &str, prefix: &str) -> Option<u64> {
    line.strip_prefix(prefix)?.parse().ok()
}

/// The seconds of a `Time taken X seconds` line.
fn time_taken(line: &str) -> f64 {
    line.strip_prefix("Time taken ")
        .and_then(|rest| rest.strip_suffix(" seconds"))
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("not a time line: {line:?}"))
}

/// Position of `line` in `lines`.
fn position(lines: &[&str], line: &str) -> usize {
    lines
        .iter()
        .position(|l| *l == line)
        .unwrap_or_else(|| panic!("{line:?} missing from {lines:?}"))
}

/// The three lines of `square(x)`, in order, among `lines`.
fn square_lines(x: u64) -> [String; 3] {
    [
        format!("start process:{x}"),
        format!("square {x}:{}", x * x),
        format!("end process:{x}"),
    ]
}

#[test]
fn compute() {
    let run = run("compute");
    let pids: Vec<u64> = run
        .lines()
        .iter()
        .map(|l| number_after(l, "Running on process ID: ").expect(l))
        .collect();
    assert_eq!(pids.len(), 2, "{:?}", run.lines);
    assert_ne!(pids[0], pids[1], "two different processes");
    assert!(
        !pids.contains(&u64::from(run.pid)),
        "children, not the parent"
    );
}

#[test]
fn process_worker() {
    assert_eq!(
        run("process_worker").lines(),
        ["Starting process", "Exiting process"]
    );
}

#[test]
fn square_serial() {
    let run = run("square_serial");
    let lines = run.lines();
    let expected: Vec<String> = (0..5).flat_map(square_lines).collect();
    assert_eq!(lines.len(), 16, "{lines:?}");
    assert_eq!(lines[..15], expected);
    let secs = time_taken(lines[15]);
    assert!(
        (5.0..8.0).contains(&secs),
        "five one-second sleeps took {secs} s"
    );
}

#[test]
fn square_processes() {
    let run = run("square_processes");
    let lines = run.lines();
    assert_eq!(lines.len(), 16, "{lines:?}");
    // Each process's lines in order; the processes interleave freely.
    let body: Vec<&str> = lines[..15].to_vec();
    for x in 0..5 {
        let [start, square, end] = square_lines(x);
        let (s, q, e) = (
            position(&body, &start),
            position(&body, &square),
            position(&body, &end),
        );
        assert!(s < q && q < e, "process {x} out of order: {lines:?}");
    }
    let unique: HashSet<&str> = body.iter().copied().collect();
    assert_eq!(unique.len(), 15, "{lines:?}");
    let secs = time_taken(lines[15]);
    assert!((1.0..3.0).contains(&secs), "parallel sleeps took {secs} s");
}

#[test]
fn process_ids() {
    let run = run("process_ids");
    let lines = run.lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(
        number_after(lines[0], "Id of the parent process "),
        Some(u64::from(run.pid))
    );
    // The child's first line and the parent's second may come either way.
    let second: HashSet<&str> = lines[1..3].iter().copied().collect();
    assert!(second.contains("start test process"), "{lines:?}");
    let child = lines[1..3]
        .iter()
        .find_map(|l| number_after(l, "Id of the child process "))
        .unwrap_or_else(|| panic!("no child pid in {lines:?}"));
    assert_ne!(child, u64::from(run.pid));
    assert_eq!(
        number_after(lines[3], "Id of the child process in the test function "),
        Some(child)
    );
    assert_eq!(lines[4], "end test process");
}

#[test]
fn is_alive() {
    let run = run("is_alive");
    let lines = run.lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0], "The process is alive:false");
    let middle: HashSet<&str> = lines[1..3].iter().copied().collect();
    assert_eq!(
        middle,
        HashSet::from(["start test process", "The process is alive:true"])
    );
    assert_eq!(
        lines[3..],
        ["end test process", "The process is alive:false"]
    );
}

#[test]
fn queue_squares() {
    assert_eq!(run("queue_squares").lines(), ["0", "1", "4", "9", "16"]);
}

#[test]
fn pipe_squares() {
    assert_eq!(run("pipe_squares").lines(), ["0", "1", "4", "9", "16"]);
}

#[test]
fn pipe_hello() {
    assert_eq!(run("pipe_hello").lines(), ["Hello, receiver!"]);
}

#[test]
fn manager_dict() {
    assert_eq!(run("manager_dict").lines(), ["{'x': 'hi'}"]);
}

#[test]
fn queue_worker() {
    assert_eq!(run("queue_worker").lines(), ["Worker got Hello"]);
}

#[test]
fn log_shipper() {
    let run = run("log_shipper");
    let mut expected: Vec<String> = (0..3)
        .map(|p| format!("producer {p}: 100 records (info 67, warn 33), 2 with a trace id"))
        .collect();
    expected.push("total: 300 records, 0 out of order, longest message 31 bytes".into());
    assert_eq!(run.lines(), expected);
}

#[test]
fn async_service() {
    let run = run("async_service");
    let mut lines = run.lines();
    // The workers print in the order they finish.
    lines[..2].sort_unstable();
    assert_eq!(
        lines,
        [
            "worker 0: 10 answers, sum of squares 385",
            "worker 1: 10 answers, sum of squares 2485",
            "service: answered 20 requests",
        ]
    );
}

#[test]
fn pool_map() {
    assert_eq!(
        run("pool_map").lines(),
        ["[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"]
    );
}
