//! Files and shared-memory names: `shm_open`, `shm_unlink`, `memfd_create`
//! and reserving a file's blocks.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub(crate) use libc::{O_CLOEXEC, O_TMPFILE};

use super::errno::errno;

/// How `shm_open` opens a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShmAccess {
    /// Create it; fail if it exists (`O_CREAT | O_EXCL | O_RDWR`).
    CreateNew,
    /// Open it for reading and writing.
    ReadWrite,
    /// Open it for reading only.
    ReadOnly,
}

/// `shm_open(name, access | O_CLOEXEC, mode)`: the new descriptor or `errno`.
pub(crate) fn shm_open(name: &CStr, access: ShmAccess, mode: u32) -> Result<OwnedFd, i32> {
    let flags = match access {
        ShmAccess::CreateNew => libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
        ShmAccess::ReadWrite => libc::O_RDWR,
        ShmAccess::ReadOnly => libc::O_RDONLY,
    };
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::shm_open(name.as_ptr(), flags | O_CLOEXEC, mode as libc::mode_t) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just returned by shm_open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(name)`.
pub(crate) fn shm_unlink(name: &CStr) -> Result<(), i32> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    if unsafe { libc::shm_unlink(name.as_ptr()) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// `memfd_create(name, MFD_CLOEXEC)`: an anonymous file.
pub(crate) fn memfd_create(name: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Gives the unnamed file behind `fd` (opened with `O_TMPFILE`) the name
/// `path`: `linkat` through `/proc/self/fd/N` with `AT_SYMLINK_FOLLOW`, which
/// needs no privilege (unlike `AT_EMPTY_PATH`). Fails with `EEXIST` if the
/// name is taken, so publishing is exclusive, like `O_CREAT | O_EXCL`.
pub(crate) fn link_unnamed(fd: BorrowedFd<'_>, path: &CStr) -> Result<(), i32> {
    let proc_path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    let Ok(from) = CStr::from_bytes_with_nul(proc_path.as_bytes()) else {
        return Err(libc::EINVAL);
    };
    // SAFETY: both paths are NUL-terminated strings that outlive the call;
    // `fd` is held open by the caller, so the /proc link names our file.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc < 0 {
        return Err(errno());
    }
    Ok(())
}

/// Reserves the blocks of `[offset, offset + len)` of the file behind `fd`
/// (`posix_fallocate`), so that touching them later cannot fail with
/// `SIGBUS`. Returns the `errno` (`EOPNOTSUPP` or `EINVAL` where the
/// filesystem cannot reserve).
pub(crate) fn reserve(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), i32> {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(libc::EFBIG);
    };
    loop {
        // SAFETY: a plain system call on a descriptor the caller holds open;
        // no memory is passed.
        match unsafe { libc::posix_fallocate(fd.as_raw_fd(), offset, len) } {
            0 => return Ok(()),
            libc::EINTR => {}
            e => return Err(e),
        }
    }
}
