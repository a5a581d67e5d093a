//! How a child process ended.

use std::fmt;

/// How a child process ended: a normal exit with a code, or death by a signal.
///
/// ```
/// use ipc_core::process::ExitStatus;
///
/// let killed = ExitStatus::Signaled(9);
/// assert!(!killed.success());
/// assert_eq!(killed.signal(), Some(9));
/// assert_eq!(killed.python_exitcode(), -9);
/// assert_eq!(killed.to_string(), "killed by signal 9 (SIGKILL)");
/// assert_eq!(ExitStatus::Exited(3).to_string(), "exit code 3");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "a panicked (exit code 101) or killed child is not an error of `join`: \
              check `.success()`, or call `join_ok()`"]
pub enum ExitStatus {
    /// The process exited by itself (returned, `exit`, `_exit`) with this code
    /// (0 to 255).
    Exited(i32),
    /// The process was ended by this signal number.
    Signaled(i32),
}

impl ExitStatus {
    /// Decodes a raw status from `waitpid`, which reports only terminated
    /// children here (no `WUNTRACED`/`WCONTINUED`).
    pub(super) fn from_wait_status(raw: i32) -> Self {
        match crate::os::process::decode_wait_status(raw) {
            Ok(code) => ExitStatus::Exited(code),
            Err(signal) => ExitStatus::Signaled(signal),
        }
    }

    /// `true` for a normal exit with code 0.
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }

    /// The exit code, if the process exited normally.
    pub fn code(&self) -> Option<i32> {
        match *self {
            ExitStatus::Exited(code) => Some(code),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The signal number, if a signal ended the process.
    pub fn signal(&self) -> Option<i32> {
        match *self {
            ExitStatus::Exited(_) => None,
            ExitStatus::Signaled(sig) => Some(sig),
        }
    }

    /// The status as Python's `Process.exitcode` reports it: the exit code, or
    /// the negated signal number (`-9` after `SIGKILL`).
    pub fn python_exitcode(&self) -> i32 {
        match *self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(sig) => -sig,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::Exited(code) => write!(f, "exit code {code}"),
            ExitStatus::Signaled(sig) => match crate::os::process::signal_name(sig) {
                Some(name) => write!(f, "killed by signal {sig} ({name})"),
                None => write!(f, "killed by signal {sig}"),
            },
        }
    }
}
