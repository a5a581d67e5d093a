//! Child processes, modelled on Python's `multiprocessing.Process`.
//!
//! A [`Process`] is a handle to one child, started in one of three ways:
//!
//! - [`Process::spawn`]: `fork`, then run a closure in the child (Python's
//!   *fork* start method). The child shares nothing with the parent afterwards
//!   except what was mapped `MAP_SHARED` (see [`segment`](crate::segment)) and
//!   inherited file descriptors.
//! - [`Process::entry`]: run the current executable again, with a named entry
//!   point that [`run_entry_point`] dispatches at the top of `main` (Python's
//!   *spawn* start method: a fresh process, no inherited state).
//! - [`Process::command`]: any program, from a [`std::process::Command`].
//!
//! All three are then managed the same way, by pid: [`join`](Process::join),
//! [`join_timeout`](Process::join_timeout), [`is_alive`](Process::is_alive),
//! [`terminate`](Process::terminate), [`kill`](Process::kill).
//!
//! ```
//! use ipc_core::process::{ExitStatus, Process};
//!
//! let child = Process::spawn(|| std::process::exit(3)).unwrap();
//! assert_eq!(child.join().unwrap(), ExitStatus::Exited(3));
//! ```
//!
//! # Reaping and pid reuse
//!
//! Only the handle reaps its child (`waitpid` on that one pid, never
//! `wait(-1)`), and it records the status, so every later call sees it. A pid
//! is never signalled after it has been reaped, since it may belong to another
//! process by then; where the kernel offers pidfds (Linux 5.3+), signals go
//! through the pidfd, which cannot hit a recycled pid at all. If something else
//! reaps the child behind the handle's back (a `wait(-1)` elsewhere, or
//! `SIGCHLD` set to `SIG_IGN`), [`join`](Process::join) reports
//! `Error::Os { errno: ECHILD, .. }`.
//!
//! # Dropping a handle
//!
//! As in Python, where non-daemonic children are joined at exit and daemonic
//! ones are terminated: dropping the handle of a child that has not been
//! joined **waits** for it if it is a normal child, and **kills** it
//! (`SIGKILL`) and reaps it if it is a daemon ([`ProcessBuilder::daemon`]).
//! Either way, no zombie is left behind. A long-running non-daemon child
//! therefore makes the drop block until it exits.
//!
//! A handle that ended up in another process (a forked child that captured
//! it) is inert there: it does not join, signal or reap, since the child it
//! names is not that process's child.

mod catch;
mod entry;
mod hooks;
mod status;

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use std::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::os::errno::{EACCES, ECHILD, ENOENT, ENOSYS, EPERM, ESRCH};
use crate::os::process::{self as sys, SIGKILL, SIGTERM, pid_t};

use crate::{Error, Result};

pub use catch::PANIC_EXIT_CODE;
use catch::run_catching;
pub use entry::{ENTRY_ENV, current_entry, run_entry_point};
pub use hooks::{SpawnEvent, on_spawn};
pub use status::ExitStatus;

/// The longest sleep between two checks when waiting without a pidfd.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Numbers the default names `Process-1`, `Process-2`, ... as Python does.
static NEXT_NUMBER: AtomicU64 = AtomicU64::new(1);

/// A handle to one child process.
///
/// See the [module documentation](self) for how children are started, reaped
/// and what happens when the handle is dropped. The handle is `Send + Sync`:
/// several threads may join, poll or signal the same child.
pub struct Process {
    pid: pid_t,
    /// The process that started the child: the only one allowed to wait for
    /// or signal it.
    parent: u32,
    name: String,
    daemon: bool,
    /// The recorded exit status; reaping happens only while holding this lock.
    status: Mutex<Option<ExitStatus>>,
    pidfd: Option<OwnedFd>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
}

/// Configures a [`Process`] before starting it: [`Process::builder`], then the
/// settings, then [`spawn`](Self::spawn), [`command`](Self::command) or
/// [`entry`](Self::entry).
///
/// ```
/// use ipc_core::process::Process;
///
/// let child = Process::builder()
///     .name("sleeper")
///     .daemon(true)
///     .spawn(|| std::thread::sleep(std::time::Duration::from_secs(30)))
///     .unwrap();
/// assert_eq!(child.name(), "sleeper");
/// drop(child); // a daemon: killed and reaped right away
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until spawn, command or entry is called"]
pub struct ProcessBuilder {
    name: Option<String>,
    daemon: bool,
    die_with_parent: bool,
}

impl ProcessBuilder {
    /// A builder with the defaults: not a daemon, named `Process-N`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the child a daemon: killed (`SIGKILL`) and reaped when its handle
    /// is dropped, instead of waited for. Default `false`.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Makes a forked child die (`SIGKILL`) when its parent does, so that a
    /// killed program (a test run cut short, a crashed service) leaves no
    /// orphans behind (`PR_SET_PDEATHSIG`; strictly, when the *thread* that
    /// forked exits). A child whose parent died before it could ask exits
    /// at once. Default `false`; [`spawn`](Self::spawn) only.
    pub fn die_with_parent(mut self, die: bool) -> Self {
        self.die_with_parent = die;
        self
    }

    /// A name for `Debug` and `Display` (default `Process-N`, numbered in
    /// start order); it is not passed to the child.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Forks, and runs `f` in the child; see [`Process::spawn`].
    #[allow(unsafe_code)] // the fork itself, argued at the call
    pub fn spawn<F: FnOnce() + 'static>(self, f: F) -> Result<Process> {
        // Take the stdio locks across the fork, as a pthread_atfork handler
        // would: another thread caught holding one would leave it locked
        // forever in the child. Flushing first keeps buffered output from
        // being written twice.
        let parent = crate::liveness::current_pid();
        let hooks = hooks::registered();
        for hook in &hooks {
            hook(SpawnEvent::Forking);
        }
        let forked = {
            let mut out = io::stdout().lock();
            let _ = out.flush();
            let err = io::stderr().lock();
            // SAFETY: fork(2) has no memory-safety preconditions. The child
            // gets a copy of the address space with only this thread in it:
            // memory owned by other threads is still valid, merely never
            // touched again, and locks they held stay locked, which can
            // deadlock but not corrupt (glibc's fork keeps malloc usable in
            // the child). The child branch below runs only `f` and then
            // `_exit`s, never returning into the caller.
            let pid = unsafe { sys::fork() };
            // Released in both processes: this thread owns them in each.
            drop(err);
            drop(out);
            pid
        };
        match forked {
            -1 => {
                for hook in &hooks {
                    hook(SpawnEvent::Failed);
                }
                Err(Error::last_os("fork"))
            }
            0 => {
                for hook in &hooks {
                    hook(SpawnEvent::InChild);
                }
                if self.die_with_parent {
                    // The parent may have died between the fork and the
                    // request: then this child was re-parented and no
                    // signal will come, so it ends now.
                    if sys::kill_me_with_parent().is_err() || sys::getppid() != parent {
                        sys::exit_now(PANIC_EXIT_CODE);
                    }
                }
                child_main(f)
            }
            pid => {
                // The handle first, so that the child is still joined should
                // the destructor of the parent's copy of `f` panic.
                let process = self.started(pid, None);
                drop(f);
                if !hooks.is_empty() {
                    // After the drop: a hook can tell which objects the
                    // closure held (their handles just went away here). The
                    // child exists (not yet reaped: only its handle reaps
                    // it), so its start time can be read.
                    let child = u32::try_from(pid).unwrap_or(0);
                    let start = crate::liveness::ProcessIdentity::of(child)
                        .map_or(0, |id| id.start_time & 0xffff_ffff);
                    for hook in &hooks {
                        hook(SpawnEvent::Forked {
                            child: (u64::from(child) << 32) | start,
                        });
                    }
                }
                Ok(process)
            }
        }
    }

    /// Starts a program; see [`Process::command`].
    pub fn command(self, mut cmd: Command) -> Result<Process> {
        // A program started from an entry child must not inherit the entry
        // name (re-running this executable would start the same entry again),
        // unless the caller set it explicitly.
        if !cmd.get_envs().any(|(key, _)| key == OsStr::new(ENTRY_ENV)) {
            cmd.env_remove(ENTRY_ENV);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| spawn_error(&e, cmd.get_program()))?;
        let pid = pid_t::try_from(child.id()).map_err(|_| Error::InvalidArgument {
            reason: "child pid out of range",
        })?;
        let stdio = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        // `child` is dropped without waiting (std's `Child` does nothing on
        // drop): from here on the pid is managed only through waitpid.
        drop(child);
        Ok(self.started(pid, Some(stdio)))
    }

    /// Runs this executable again with entry point `name`; see
    /// [`Process::entry`].
    pub fn entry(self, name: &str, args: &[&str]) -> Result<Process> {
        if name.is_empty() {
            return Err(Error::InvalidArgument {
                reason: "entry-point name is empty",
            });
        }
        if name.contains('\0') {
            return Err(Error::InvalidArgument {
                reason: "entry-point name contains a NUL byte",
            });
        }
        if args.iter().any(|arg| arg.contains('\0')) {
            return Err(Error::InvalidArgument {
                reason: "entry-point argument contains a NUL byte",
            });
        }
        let exe = std::env::current_exe()
            .map_err(|e| Error::from_errno("current_exe", e.raw_os_error().unwrap_or(0)))?;
        let mut cmd = Command::new(exe);
        cmd.args(args).env(ENTRY_ENV, name);
        self.command(cmd)
    }

    fn started(
        self,
        pid: pid_t,
        stdio: Option<(Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>)>,
    ) -> Process {
        let (stdin, stdout, stderr) = stdio.unwrap_or((None, None, None));
        let name = self
            .name
            .unwrap_or_else(|| format!("Process-{}", NEXT_NUMBER.fetch_add(1, Ordering::Relaxed)));
        Process {
            pid,
            parent: std::process::id(),
            name,
            daemon: self.daemon,
            status: Mutex::new(None),
            // Opened before anyone can reap the child, so it names this child.
            pidfd: sys::pidfd_open(pid),
            stdin,
            stdout,
            stderr,
        }
    }
}

/// The forked child: run `f`, flush, `_exit`. Never returns, so the child can
/// never continue into the parent's code or run its destructors twice.
fn child_main<F: FnOnce()>(f: F) -> ! {
    let code = run_catching(f);
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    sys::exit_now(code)
}

/// Maps a failed `Command::spawn` to the crate's error.
fn spawn_error(e: &io::Error, program: &OsStr) -> Error {
    let name = program.to_string_lossy().into_owned();
    match e.raw_os_error() {
        Some(ENOENT) => Error::NotFound { name },
        Some(EACCES | EPERM) => Error::PermissionDenied { name },
        Some(errno) => Error::from_errno("spawn", errno),
        None if e.kind() == io::ErrorKind::InvalidInput => Error::InvalidArgument {
            reason: "the program, an argument or an environment variable contains a NUL byte",
        },
        None => Error::InvalidArgument {
            reason: "the command could not be started",
        },
    }
}

impl Process {
    /// Forks, and runs `f` in the child, which then exits with code 0, or 101
    /// ([`PANIC_EXIT_CODE`]) if `f` panicked (the panic hook still prints the
    /// message). `f` may also end the child itself, e.g. with
    /// [`std::process::exit`] (which runs the `atexit` handlers inherited from
    /// the parent).
    ///
    /// The child flushes Rust's stdout and stderr and leaves with `_exit`: it
    /// never returns into the caller's code and never runs the parent's
    /// destructors or `atexit` handlers a second time.
    ///
    /// **Meant for single-threaded parents**, like Python's fork start method.
    /// In a multi-threaded parent only the calling thread exists in the child,
    /// and any lock another thread held at the moment of the fork stays held
    /// there forever, so `f` can deadlock on it (glibc's `malloc` and Rust's
    /// stdout/stderr are taken care of; other locks are not). Use
    /// [`Process::entry`] when the parent runs threads. With `panic = "abort"`
    /// a panicking child dies of `SIGABRT` instead of exiting with 101.
    ///
    /// ```
    /// use ipc_core::process::Process;
    ///
    /// let child = Process::spawn(|| println!("hello from the child")).unwrap();
    /// assert!(child.join().unwrap().success());
    ///
    /// let child = Process::spawn(|| panic!("boom")).unwrap();
    /// assert_eq!(child.join().unwrap().code(), Some(101));
    /// ```
    pub fn spawn<F: FnOnce() + 'static>(f: F) -> Result<Process> {
        ProcessBuilder::new().spawn(f)
    }

    /// Starts a program. The child's stdio is whatever `cmd` asked for; piped
    /// ends can be taken with [`take_stdin`](Self::take_stdin) and friends.
    ///
    /// Unless `cmd` sets [`ENTRY_ENV`] itself, it is removed from the child's
    /// environment. A program that cannot be started is an error
    /// ([`Error::NotFound`] for a missing one), not a child that exits 127.
    ///
    /// ```
    /// use ipc_core::process::{ExitStatus, Process};
    /// use std::process::Command;
    ///
    /// let mut cmd = Command::new("/bin/sh");
    /// cmd.args(["-c", "exit 7"]);
    /// let child = Process::command(cmd).unwrap();
    /// assert_eq!(child.join().unwrap(), ExitStatus::Exited(7));
    /// ```
    pub fn command(cmd: Command) -> Result<Process> {
        ProcessBuilder::new().command(cmd)
    }

    /// Runs the current executable again ([`std::env::current_exe`]) with
    /// `args` and with [`ENTRY_ENV`] set to `name`, for [`run_entry_point`]
    /// to dispatch at the top of `main` (see there for an example).
    ///
    /// Unlike [`spawn`](Self::spawn), the child starts from scratch, which is
    /// safe from any parent, threaded or not. A `name` that is empty or holds
    /// a NUL byte is an [`Error::InvalidArgument`].
    pub fn entry(name: &str, args: &[&str]) -> Result<Process> {
        ProcessBuilder::new().entry(name, args)
    }

    /// A [`ProcessBuilder`], to set a name or make the child a daemon.
    pub fn builder() -> ProcessBuilder {
        ProcessBuilder::new()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid.cast_unsigned()
    }

    /// The name given to the builder, or `Process-N`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the child is a daemon (killed, not waited for, on drop).
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The child's pidfd (readable once the child has terminated), for
    /// waiting on several children at once with `poll`, like Python's
    /// `Process.sentinel`. `None` where the kernel offers no pidfds.
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// Whether the child is still running. Reaps it, recording its status, if
    /// it has terminated. `false` also when the child cannot be waited for
    /// (not the calling process's child, or reaped by someone else).
    ///
    /// ```
    /// use ipc_core::process::Process;
    ///
    /// let child = Process::spawn(|| {}).unwrap();
    /// child.join_ok().unwrap();
    /// assert!(!child.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        matches!(self.reap(), Ok(None))
    }

    /// The exit status if the child has terminated (reaping it), `None` while
    /// it is running. Never blocks.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.reap().ok().flatten()
    }

    /// Python's `Process.exitcode`: `None` while running, else the exit code or
    /// the negated signal number. Never blocks.
    pub fn exitcode(&self) -> Option<i32> {
        self.exit_status().map(|status| status.python_exitcode())
    }

    /// Waits for the child to terminate, reaps it, and returns its status.
    /// Calling it again (from any thread) returns the recorded status.
    ///
    /// Errors: [`Error::InvalidArgument`] when called from a process other
    /// than the one that started the child; `Error::Os { errno: ECHILD, .. }`
    /// if the child was reaped by someone else.
    pub fn join(&self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.reap()? {
                return Ok(status);
            }
            // Waits without reaping, so no lock is held while blocked: other
            // threads can still poll, signal or join.
            match sys::wait_terminated(self.pid) {
                // Reaped on the next turn, or (ECHILD) another thread of ours
                // reaped it and recorded the status, which the next turn reads.
                Ok(()) | Err(ECHILD) => {}
                Err(errno) => return Err(Error::from_errno("waitid", errno)),
            }
        }
    }

    /// Waits for the child like [`join`](Self::join) and succeeds only if it
    /// exited with code 0: a child whose closure panicked (exit code 101),
    /// that exited with another code or was killed gives
    /// [`Error::ChildFailed`]. This is the `join()?` of std's
    /// `JoinHandle`, where a panicked thread is an `Err`.
    ///
    /// `join` itself returns the [`ExitStatus`] of any child that ended,
    /// since a killed child is an expected outcome for many callers; the
    /// status is `#[must_use]`, so `child.join()?;` alone is a warning.
    ///
    /// ```
    /// use ipc_core::{Error, process::Process};
    ///
    /// Process::spawn(|| {}).unwrap().join_ok().unwrap();
    /// let child = Process::spawn(|| panic!("no")).unwrap();
    /// assert!(matches!(child.join_ok(), Err(Error::ChildFailed { exitcode: 101, .. })));
    /// ```
    pub fn join_ok(&self) -> Result<()> {
        let status = self.join()?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::ChildFailed {
                pid: self.pid(),
                exitcode: status.python_exitcode(),
            })
        }
    }

    /// Like [`join`](Self::join), but gives up after `timeout` with
    /// [`Error::Timeout`], leaving the child running. It never gives up early:
    /// the time left is recomputed from a monotonic deadline after every
    /// wake-up. A zero timeout checks once without blocking.
    ///
    /// The wait sleeps on the child's pidfd with `poll(2)`, waking as soon as
    /// the child terminates; without pidfds it falls back to checking with
    /// `waitpid(WNOHANG)` at intervals growing from 1 ms to 50 ms.
    ///
    /// ```
    /// use ipc_core::{Error, process::{ExitStatus, Process}};
    /// use std::time::Duration;
    ///
    /// let child = Process::spawn(|| std::thread::sleep(Duration::from_secs(30))).unwrap();
    /// assert_eq!(child.join_timeout(Duration::from_millis(10)), Err(Error::Timeout));
    /// child.kill().unwrap();
    /// assert_eq!(child.join().unwrap(), ExitStatus::Signaled(9));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<ExitStatus> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.join_deadline(deadline, self.pidfd()),
            None => self.join(),
        }
    }

    /// Waits until `deadline`, on `pidfd` if given, else by polling.
    fn join_deadline(
        &self,
        deadline: Instant,
        mut pidfd: Option<BorrowedFd<'_>>,
    ) -> Result<ExitStatus> {
        let mut backoff = Duration::from_millis(1);
        loop {
            if let Some(status) = self.reap()? {
                return Ok(status);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Error::Timeout);
            }
            if let Some(fd) = pidfd {
                match sys::poll_readable(fd, remaining) {
                    // Timed out or interrupted: the loop rechecks the clock.
                    Ok(false) => continue,
                    Ok(true) => {
                        if let Some(status) = self.reap()? {
                            return Ok(status);
                        }
                        // Readable but nothing to reap: sleep below rather
                        // than spin on a descriptor that stays readable.
                    }
                    Err(_) => {
                        pidfd = None;
                        continue;
                    }
                }
            }
            thread::sleep(backoff.min(remaining));
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Sends `SIGTERM` (Python's `terminate`). `Ok` without sending anything if
    /// the child has already been reaped, or has just terminated.
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(SIGTERM, "terminate")
    }

    /// Sends `SIGKILL` (Python's `kill`). `Ok` without sending anything if the
    /// child has already been reaped, or has just terminated.
    pub fn kill(&self) -> Result<()> {
        self.send_signal(SIGKILL, "kill")
    }

    /// Takes the parent's end of the child's stdin, if the command piped it.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Takes the parent's end of the child's stdout, if the command piped it.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Takes the parent's end of the child's stderr, if the command piped it.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    fn lock_status(&self) -> MutexGuard<'_, Option<ExitStatus>> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_parent(&self) -> Result<()> {
        if std::process::id() == self.parent {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                reason: "only the process that started a child can wait for or signal it",
            })
        }
    }

    /// The recorded status, or a non-blocking `waitpid` that records it.
    fn reap(&self) -> Result<Option<ExitStatus>> {
        self.check_parent()?;
        let mut recorded = self.lock_status();
        if recorded.is_some() {
            return Ok(*recorded);
        }
        match sys::try_reap(self.pid) {
            Ok(Some(raw)) => {
                let status = ExitStatus::from_wait_status(raw);
                *recorded = Some(status);
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(errno) => Err(Error::from_errno("waitpid", errno)),
        }
    }

    fn send_signal(&self, sig: i32, op: &'static str) -> Result<()> {
        self.check_parent()?;
        // Held while signalling: nothing of ours can reap (and so free the
        // pid) between the check and the signal.
        let recorded = self.lock_status();
        if recorded.is_some() {
            return Ok(());
        }
        let sent = match &self.pidfd {
            Some(fd) => match sys::pidfd_send_signal(fd.as_fd(), sig) {
                Err(ENOSYS) => sys::kill(self.pid, sig),
                other => other,
            },
            None => sys::kill(self.pid, sig),
        };
        drop(recorded);
        match sent {
            // ESRCH: already gone (reaped by someone else).
            Ok(()) | Err(ESRCH) => Ok(()),
            Err(errno) => Err(Error::from_errno(op, errno)),
        }
    }
}

impl Drop for Process {
    /// Joins a normal child, kills and reaps a daemon; see the
    /// [module documentation](self#dropping-a-handle).
    fn drop(&mut self) {
        // Closed first, so a child reading its stdin to the end can finish.
        drop(self.stdin.take());
        if std::process::id() != self.parent {
            return;
        }
        if self.daemon {
            let _ = self.kill();
        }
        let _ = self.join();
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.try_lock().ok().and_then(|s| *s);
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("daemon", &self.daemon)
            .field("status", &status)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Process {
    /// `name (pid N[, daemon], started)`, or with the recorded status once
    /// joined. Does not check on the child.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (pid {}", self.name, self.pid)?;
        if self.daemon {
            write!(f, ", daemon")?;
        }
        match self.status.try_lock().ok().and_then(|s| *s) {
            Some(status) => write!(f, ", {status})"),
            None => write!(f, ", started)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fallback without a pidfd: times out no earlier than the deadline,
    /// then returns the status once the child is gone.
    #[test]
    fn polling_fallback_never_early() {
        let child = Process::builder()
            .daemon(true)
            .spawn(|| thread::sleep(Duration::from_secs(20)))
            .unwrap();
        let timeout = Duration::from_millis(120);
        let start = Instant::now();
        assert_eq!(
            child.join_deadline(start + timeout, None),
            Err(Error::Timeout)
        );
        let elapsed = start.elapsed();
        assert!(elapsed >= timeout, "returned early: {elapsed:?}");
        assert!(
            elapsed < timeout + Duration::from_secs(3),
            "far too late: {elapsed:?}"
        );

        child.kill().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            child.join_deadline(deadline, None),
            Ok(ExitStatus::Signaled(SIGKILL))
        );
    }

    #[test]
    fn polling_fallback_sees_exit() {
        let child = Process::spawn(|| thread::sleep(Duration::from_millis(50))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            child.join_deadline(deadline, None),
            Ok(ExitStatus::Exited(0))
        );
        assert!(Instant::now() < deadline);
    }

    #[test]
    fn status_decoding() {
        // Raw wait statuses as the kernel encodes them.
        assert_eq!(ExitStatus::from_wait_status(3 << 8), ExitStatus::Exited(3));
        assert_eq!(
            ExitStatus::from_wait_status(SIGKILL),
            ExitStatus::Signaled(9)
        );
        assert_eq!(
            ExitStatus::from_wait_status(crate::os::process::SIGSEGV | 0x80),
            ExitStatus::Signaled(11)
        );
    }
}
