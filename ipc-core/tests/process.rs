//! `ipc_core::process` with real child processes.
//!
//! Every test must pass both under `cargo nextest run` (one process per test)
//! and under `cargo test` (tests as threads of one process): children are
//! waited for by pid only, and children that sleep long are daemons, so a
//! failing assertion kills them on drop instead of hanging the test.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ipc_core::Error;
use ipc_core::process::{ExitStatus, PANIC_EXIT_CODE, Process, current_entry, run_entry_point};
use ipc_test_support::{SIGKILL, SIGTERM, is_unreaped_child, raw_shared_u32};

/// Slack for a noisy, shared 2-core machine; "never early" is checked exactly.
const SLACK: Duration = Duration::from_secs(3);

/// Sleeps in small steps until `flag` is non-zero (or 10 s pass, so that a
/// child never outlives a failed test for long).
fn wait_for_flag(flag: &AtomicU32) {
    let start = Instant::now();
    while flag.load(Ordering::Acquire) == 0 && start.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(2));
    }
}

fn sleeper(secs: u64) -> Process {
    Process::builder()
        .daemon(true)
        .spawn(move || thread::sleep(Duration::from_secs(secs)))
        .unwrap()
}

#[test]
fn spawn_join_exit_zero() {
    let child = Process::spawn(|| {}).unwrap();
    let status = child.join().unwrap();
    assert_eq!(status, ExitStatus::Exited(0));
    assert!(status.success());
    assert_eq!(status.code(), Some(0));
    assert_eq!(status.signal(), None);
}

#[test]
fn child_exit_code_is_reported() {
    let child = Process::spawn(|| std::process::exit(3)).unwrap();
    let status = child.join().unwrap();
    assert_eq!(status, ExitStatus::Exited(3));
    assert!(!status.success());
    assert_eq!(status.python_exitcode(), 3);
}

/// `join_ok()?` is the safe `join()?`: only a clean exit is `Ok`; a
/// panicked, failed or killed child is `ChildFailed` naming it.
#[test]
fn join_ok_fails_for_anything_but_a_clean_exit() {
    Process::spawn(|| {}).unwrap().join_ok().unwrap();
    let cases: [(Box<dyn FnOnce() + Send>, i32); 3] = [
        (
            Box::new(|| panic!("deliberate panic in a forked child")),
            101,
        ),
        (Box::new(|| std::process::exit(3)), 3),
        (Box::new(|| ipc_test_support::die_by_sigkill()), -9),
    ];
    for (body, exitcode) in cases {
        let child = Process::spawn(body).unwrap();
        let pid = child.pid();
        let err = child.join_ok().unwrap_err();
        assert_eq!(err, Error::ChildFailed { pid, exitcode }, "{err}");
        assert!(err.to_string().contains(&pid.to_string()));
        // The status stays recorded: join still reports it.
        assert_eq!(child.join().unwrap().python_exitcode(), exitcode);
    }
}

#[test]
fn child_panic_exits_101() {
    let child = Process::spawn(|| panic!("deliberate panic in a forked child")).unwrap();
    let status = child.join().unwrap();
    assert_eq!(status, ExitStatus::Exited(PANIC_EXIT_CODE));
    assert_eq!(PANIC_EXIT_CODE, 101);
}

#[test]
fn join_timeout_never_early_then_kill() {
    let child = sleeper(20);
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    assert_eq!(child.join_timeout(timeout), Err(Error::Timeout));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout,
        "join_timeout returned early: {elapsed:?}"
    );
    assert!(
        elapsed < timeout + SLACK,
        "join_timeout far too late: {elapsed:?}"
    );
    assert!(child.is_alive());

    child.kill().unwrap();
    let status = child.join_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status, ExitStatus::Signaled(SIGKILL));
    assert_eq!(status.signal(), Some(9));
    assert_eq!(status.python_exitcode(), -9);
    assert_eq!(child.exitcode(), Some(-9));
}

#[test]
fn join_timeout_zero_does_not_block() {
    let child = sleeper(20);
    let start = Instant::now();
    assert_eq!(child.join_timeout(Duration::ZERO), Err(Error::Timeout));
    assert!(start.elapsed() < SLACK);
}

#[test]
fn join_timeout_wakes_when_child_exits() {
    let child = Process::spawn(|| thread::sleep(Duration::from_millis(100))).unwrap();
    let start = Instant::now();
    assert_eq!(
        child.join_timeout(Duration::from_secs(20)),
        Ok(ExitStatus::Exited(0))
    );
    assert!(
        start.elapsed() < SLACK,
        "did not wake on exit: {:?}",
        start.elapsed()
    );
}

#[test]
fn terminate_sends_sigterm() {
    let child = sleeper(20);
    child.terminate().unwrap();
    let status = child.join().unwrap();
    assert_eq!(status, ExitStatus::Signaled(SIGTERM));
    assert_eq!(status.python_exitcode(), -15);
    assert_eq!(status.to_string(), "killed by signal 15 (SIGTERM)");
}

#[test]
fn is_alive_and_exit_status_through_the_lifecycle() {
    let go = raw_shared_u32();
    let child = Process::builder()
        .daemon(true)
        .spawn(move || {
            wait_for_flag(go);
            std::process::exit(4);
        })
        .unwrap();
    // While running: alive, no status, several times over.
    for _ in 0..3 {
        assert!(child.is_alive());
        assert_eq!(child.exit_status(), None);
        assert_eq!(child.exitcode(), None);
    }
    go.store(1, Ordering::Release);

    // After it exits: is_alive turns false by itself (it reaps).
    let start = Instant::now();
    while child.is_alive() {
        assert!(start.elapsed() < SLACK, "child did not exit");
        thread::sleep(Duration::from_millis(5));
    }
    assert!(!is_unreaped_child(child.pid()), "is_alive did not reap");
    assert_eq!(child.exit_status(), Some(ExitStatus::Exited(4)));
    assert_eq!(child.join(), Ok(ExitStatus::Exited(4)));
    assert!(!child.is_alive());
}

#[test]
fn join_is_idempotent_and_signals_after_reap_are_noops() {
    let child = Process::spawn(|| std::process::exit(5)).unwrap();
    assert_eq!(child.join(), Ok(ExitStatus::Exited(5)));
    assert_eq!(child.join(), Ok(ExitStatus::Exited(5)));
    assert_eq!(
        child.join_timeout(Duration::ZERO),
        Ok(ExitStatus::Exited(5))
    );
    assert_eq!(child.exit_status(), Some(ExitStatus::Exited(5)));
    // The pid may already belong to someone else: nothing may be sent.
    assert_eq!(child.terminate(), Ok(()));
    assert_eq!(child.kill(), Ok(()));
    assert_eq!(child.join(), Ok(ExitStatus::Exited(5)));
}

#[test]
fn concurrent_joins_agree() {
    let child = Arc::new(Process::spawn(|| thread::sleep(Duration::from_millis(100))).unwrap());
    let joiners: Vec<_> = (0..3)
        .map(|i| {
            let child = Arc::clone(&child);
            thread::spawn(move || {
                if i == 0 {
                    child.join_timeout(Duration::from_secs(20))
                } else {
                    child.join()
                }
            })
        })
        .collect();
    for joiner in joiners {
        assert_eq!(joiner.join().unwrap(), Ok(ExitStatus::Exited(0)));
    }
}

#[test]
fn pid_matches_what_the_child_sees() {
    let seen = raw_shared_u32();
    let child = Process::spawn(move || seen.store(std::process::id(), Ordering::Release)).unwrap();
    assert!(child.join().unwrap().success());
    assert_eq!(seen.load(Ordering::Acquire), child.pid());
    assert_ne!(child.pid(), std::process::id());
}

#[test]
fn dropping_a_daemon_kills_and_reaps_it() {
    let child = sleeper(30);
    let pid = child.pid();
    assert!(is_unreaped_child(pid));
    let start = Instant::now();
    drop(child);
    assert!(start.elapsed() < SLACK, "drop waited instead of killing");
    assert!(!is_unreaped_child(pid), "daemon not reaped on drop");
}

#[test]
fn dropping_a_normal_child_joins_it() {
    let done = raw_shared_u32();
    let child = Process::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        done.store(1, Ordering::Release);
    })
    .unwrap();
    let pid = child.pid();
    drop(child);
    assert_eq!(
        done.load(Ordering::Acquire),
        1,
        "drop did not wait for the child"
    );
    assert!(!is_unreaped_child(pid), "child not reaped on drop");
}

#[test]
fn handle_inherited_by_a_forked_child_is_inert() {
    let target = Arc::new(sleeper(20));
    let in_child = Arc::clone(&target);
    let other = Process::spawn(move || {
        // Not this process's child: refuses to signal or join, and dropping
        // the last reference here must not kill the parent's child.
        let refused = matches!(in_child.kill(), Err(Error::InvalidArgument { .. }))
            && matches!(in_child.join(), Err(Error::InvalidArgument { .. }))
            && !in_child.is_alive();
        drop(in_child);
        std::process::exit(if refused { 0 } else { 1 });
    })
    .unwrap();
    assert_eq!(other.join(), Ok(ExitStatus::Exited(0)));
    assert!(
        target.is_alive(),
        "the forked child's handle touched our child"
    );
}

#[test]
fn command_reports_exit_code() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "exit 7"]);
    let child = Process::command(cmd).unwrap();
    assert_eq!(child.join(), Ok(ExitStatus::Exited(7)));
}

#[test]
fn command_keeps_piped_stdio() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "echo hello; echo \"entry=[$IPC_CORE_ENTRY]\""])
        .stdout(Stdio::piped());
    let mut child = Process::builder().name("echo").command(cmd).unwrap();
    let mut out = String::new();
    child
        .take_stdout()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "hello\nentry=[]\n");
    assert!(child.join().unwrap().success());
    assert_eq!(
        child.to_string(),
        format!("echo (pid {}, exit code 0)", child.pid())
    );
}

#[test]
fn command_that_cannot_start_is_an_error() {
    let missing = Process::command(Command::new("/nonexistent/ipc-core-no-such-program"));
    assert!(
        matches!(missing, Err(Error::NotFound { ref name }) if name.contains("no-such-program")),
        "{missing:?}"
    );
    let not_executable = Process::command(Command::new("/dev/null"));
    assert!(not_executable.is_err());
    let nul = Process::command(Command::new("/bin/s\0h"));
    assert!(matches!(nul, Err(Error::InvalidArgument { .. })), "{nul:?}");
}

/// The child side of the `entry` tests: a no-op unless this process was
/// started by `Process::entry`, in which case it does the child's work and
/// exits the process (libtest never gets to report it).
#[test]
fn entry_child() {
    let Some(name) = current_entry() else {
        return;
    };
    if name == "exit-42" {
        std::process::exit(42);
    }
    // The "panics" entry panics on purpose; keep the test output quiet.
    std::panic::set_hook(Box::new(|_| {}));
    run_entry_point(&[
        ("ok", || {}),
        ("panics", || panic!("deliberate panic in an entry point")),
    ]);
    // run_entry_point returned: the name was not one of its entries.
    std::process::exit(5);
}

/// Starts `entry_child` again in a fresh run of this test binary.
fn start_entry(name: &str) -> Process {
    Process::entry(name, &["--exact", "entry_child", "--nocapture", "--quiet"]).unwrap()
}

#[test]
fn entry_runs_the_named_entry() {
    let child = start_entry("exit-42");
    assert_eq!(
        child.join_timeout(Duration::from_secs(20)),
        Ok(ExitStatus::Exited(42))
    );
}

#[test]
fn run_entry_point_exits_zero_or_101_or_returns() {
    let ok = start_entry("ok");
    let panics = start_entry("panics");
    let unknown = start_entry("not-registered");
    let limit = Duration::from_secs(20);
    assert_eq!(ok.join_timeout(limit), Ok(ExitStatus::Exited(0)));
    assert_eq!(panics.join_timeout(limit), Ok(ExitStatus::Exited(101)));
    assert_eq!(unknown.join_timeout(limit), Ok(ExitStatus::Exited(5)));
}

#[test]
fn entry_rejects_bad_input() {
    assert!(matches!(
        Process::entry("", &[]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Process::entry("a\0b", &[]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Process::entry("ok", &["x\0y"]),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn names_and_formatting() {
    let child = Process::builder().name("worker").spawn(|| {}).unwrap();
    assert_eq!(child.name(), "worker");
    assert!(!child.is_daemon());
    let status = child.join().unwrap();
    assert_eq!(
        child.to_string(),
        format!("worker (pid {}, {status})", child.pid())
    );
    assert!(format!("{child:?}").contains("\"worker\""));

    let unnamed = sleeper(20);
    assert!(unnamed.name().starts_with("Process-"), "{}", unnamed.name());
    assert!(unnamed.is_daemon());
    assert!(
        unnamed.to_string().ends_with(", daemon, started)"),
        "{unnamed}"
    );
    assert_eq!(ExitStatus::Exited(3).to_string(), "exit code 3");
    assert_eq!(
        ExitStatus::Signaled(9).to_string(),
        "killed by signal 9 (SIGKILL)"
    );
}

#[test]
fn process_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Process>();
}

/// The cached pid is refreshed in a forked child (the atfork handler).
#[test]
fn cached_pid_follows_fork() {
    use ipc_core::liveness::current_pid;
    assert_eq!(current_pid(), std::process::id());
    let child = Process::spawn(|| {
        std::process::exit(i32::from(current_pid() != std::process::id()));
    })
    .unwrap();
    assert!(child.join().unwrap().success());
}
