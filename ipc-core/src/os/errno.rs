//! `errno` values the layers above interpret, and the calling thread's.

pub(crate) use libc::{
    EACCES, EAGAIN, ECHILD, EEXIST, EFBIG, EINVAL, EISDIR, ENAMETOOLONG, ENOENT, ENOMEM, ENOSPC,
    ENOSYS, EOPNOTSUPP, EPERM, EROFS, ESRCH, ETIMEDOUT,
};

/// The calling thread's current `errno` (0 if none is set).
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
