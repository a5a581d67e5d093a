//! Thin wrappers over the system calls behind [`Process`](super::Process).
//!
//! Apart from `fork` itself (in the parent module, next to the reasoning that
//! makes it sound), every `unsafe` block of the process module lives here, and
//! each wrapper hands back plain values or a raw `errno`.

use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::time::Duration;

use libc::{c_int, c_uint, pid_t};

/// The calling thread's current `errno`.
pub(super) fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Opens a pidfd for `pid` (close-on-exec, as the kernel always sets it), or
/// `None` when the kernel (before 5.3) or a seccomp filter refuses.
pub(super) fn pidfd_open(pid: pid_t) -> Option<OwnedFd> {
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
pub(super) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: c_int) -> Result<(), c_int> {
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
pub(super) fn kill(pid: pid_t, sig: c_int) -> Result<(), c_int> {
    // SAFETY: kill takes two integers by value and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    if ret == 0 { Ok(()) } else { Err(errno()) }
}

/// Reaps `pid` if it has terminated: `Ok(Some(raw wait status))`, or
/// `Ok(None)` while it is still running. Never blocks.
pub(super) fn try_reap(pid: pid_t) -> Result<Option<c_int>, c_int> {
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
pub(super) fn wait_terminated(pid: pid_t) -> Result<(), c_int> {
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
pub(super) fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, c_int> {
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
pub(super) fn exit_now(code: c_int) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns, so no Rust state
    // is observed afterwards.
    unsafe { libc::_exit(code) }
}
