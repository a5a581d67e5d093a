//! Processes: the system calls behind [`Process`](crate::process::Process)
//! and behind the liveness checks, with the signal and wait-status constants
//! they need.
//!
//! Each wrapper hands back plain values or a raw `errno`. `fork` itself is an
//! `unsafe fn` here: the argument that makes a fork sound belongs to the code
//! that decides what the child runs (`process/mod.rs`).

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::time::Duration;

use libc::{c_int, c_uint};

#[cfg(test)]
pub(crate) use libc::SIGSEGV;
pub(crate) use libc::{SIGKILL, SIGTERM, pid_t};

use super::errno::errno;

/// `fork(2)`: `-1` on failure (see `errno`), `0` in the child, the child's
/// pid in the parent.
///
/// # Safety
///
/// The child gets a copy of the address space with only the calling thread
/// in it; the caller must argue that what the child then runs is sound in
/// that state (no lock another thread may hold, no return into code that
/// would run destructors twice).
pub(crate) unsafe fn fork() -> pid_t {
    // SAFETY: fork has no memory-safety preconditions of its own; the
    // caller's contract covers the child's state.
    unsafe { libc::fork() }
}

/// The calling process's pid (`getpid(2)`: never fails).
pub(crate) fn getpid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }.cast_unsigned()
}

/// The parent process's pid (`getppid(2)`: never fails).
pub(crate) fn getppid() -> u32 {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }.cast_unsigned()
}

/// Asks the kernel to send `SIGKILL` to this process when the thread that
/// forked it exits (`prctl(PR_SET_PDEATHSIG)`).
pub(crate) fn kill_me_with_parent() -> Result<(), c_int> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers and only sets a flag of
    // this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    if rc == 0 { Ok(()) } else { Err(errno()) }
}

/// Whether a process with this pid exists (`kill(pid, 0)`, which sends
/// nothing; a process we may not signal exists all the same).
pub(crate) fn exists(pid: u32) -> bool {
    let Ok(pid) = pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it takes two integers.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || errno() == libc::EPERM
}

/// A raw `waitpid` status, decoded: `Ok(code)` for a normal exit,
/// `Err(signal)` for death by a signal.
pub(crate) fn decode_wait_status(raw: c_int) -> Result<i32, i32> {
    if libc::WIFEXITED(raw) {
        Ok(libc::WEXITSTATUS(raw))
    } else {
        Err(libc::WTERMSIG(raw))
    }
}

/// The conventional name of the common signals.
pub(crate) fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// Opens a pidfd for `pid` (close-on-exec, as the kernel always sets it), or
/// `None` when the kernel (before 5.3) or a seccomp filter refuses.
pub(crate) fn pidfd_open(pid: pid_t) -> Option<OwnedFd> {
    let flags: c_uint = 0;
    // SAFETY: pidfd_open takes a pid and a flags word by value and touches no
    // memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    let fd = c_int::try_from(ret).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just returned `fd` as a new open descriptor; nothing
    // else in this process owns it, so the `OwnedFd` becomes its only owner.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `sig` through a pidfd, which can never hit a recycled pid.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: c_int) -> Result<(), c_int> {
    let info: *const libc::siginfo_t = ptr::null();
    let flags: c_uint = 0;
    // SAFETY: a null `info` asks the kernel to fill in the `SI_USER` default;
    // the descriptor is borrowed (so open for the call) and the rest are plain
    // integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            info,
            flags,
        )
    };
    if ret == 0 { Ok(()) } else { Err(errno()) }
}

/// Sends `sig` to `pid` with `kill(2)`.
pub(crate) fn kill(pid: pid_t, sig: c_int) -> Result<(), c_int> {
    // SAFETY: kill takes two integers by value and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    if ret == 0 { Ok(()) } else { Err(errno()) }
}

/// Reaps `pid` if it has terminated: `Ok(Some(raw wait status))`, or
/// `Ok(None)` while it is still running. Never blocks.
pub(crate) fn try_reap(pid: pid_t) -> Result<Option<c_int>, c_int> {
    loop {
        let mut status: c_int = 0;
        // SAFETY: `status` is a live, writable `c_int` for the whole call.
        let ret = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if ret == pid {
            return Ok(Some(status));
        }
        if ret == 0 {
            return Ok(None);
        }
        match errno() {
            libc::EINTR => {}
            e => return Err(e),
        }
    }
}

/// Blocks until `pid` has terminated, without reaping it (`WNOWAIT`), so that
/// reaping stays with [`try_reap`] under the handle's lock.
pub(crate) fn wait_terminated(pid: pid_t) -> Result<(), c_int> {
    loop {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `info` is writable storage for one `siginfo_t` for the whole
        // call; the kernel writes nothing else.
        let ret = unsafe {
            libc::waitid(
                libc::P_PID,
                pid.cast_unsigned(),
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if ret == 0 {
            return Ok(());
        }
        match errno() {
            libc::EINTR => {}
            e => return Err(e),
        }
    }
}

/// Waits at most `timeout` (rounded up to whole milliseconds, so never less)
/// for `fd` to report an event. `Ok(true)`: an event; `Ok(false)`: the time
/// ran out or a signal interrupted the wait (the caller rechecks its clock).
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, c_int> {
    let ms = c_int::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(c_int::MAX);
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one live, writable `pollfd` and the count passed is 1.
    let ret = unsafe { libc::poll(&raw mut pfd, 1, ms) };
    match ret {
        0 => Ok(false),
        n if n > 0 => Ok(pfd.revents != 0),
        _ => match errno() {
            libc::EINTR => Ok(false),
            e => Err(e),
        },
    }
}

/// Ends the calling process at once with `code`: no `atexit` handlers, no
/// destructors, no unwinding. Buffers must have been flushed by the caller.
pub(crate) fn exit_now(code: c_int) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns, so no Rust state
    // is observed afterwards.
    unsafe { libc::_exit(code) }
}
