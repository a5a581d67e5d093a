//! Names in the POSIX shared-memory namespace.
//!
//! glibc's `shm_open("/x")` opens `/dev/shm/x`; Python's
//! `SharedMemory(name="x")` opens `/x` the same way. So a name is one path
//! component: no further slash, no NUL, not `.` or `..`, at most `NAME_MAX`
//! bytes. We accept it with or without the leading slash and always hand the
//! slashed form to the kernel.

use std::ffi::CString;

use crate::{Error, Result};

/// Longest segment name the kernel accepts, in bytes, without the leading
/// slash (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A validated shared-memory name, in the `/name` form `shm_open` expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShmName {
    slashed: String,
}

impl ShmName {
    /// Checks `name` and normalises it to `/name`.
    pub(crate) fn new(name: &str) -> Result<Self> {
        let bare = name.strip_prefix('/').unwrap_or(name);
        let reason = if bare.is_empty() {
            Some("empty name")
        } else if bare.len() > NAME_MAX {
            Some("longer than 255 bytes")
        } else if bare.contains('/') {
            Some("a shared-memory name may not contain '/' after its first character")
        } else if bare.contains('\0') {
            Some("contains a NUL byte")
        } else if bare == "." || bare == ".." {
            Some("'.' and '..' are not names")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidName {
                name: name.to_owned(),
                reason,
            }),
            None => Ok(Self {
                slashed: format!("/{bare}"),
            }),
        }
    }

    /// The `/name` form.
    pub(crate) fn as_str(&self) -> &str {
        &self.slashed
    }

    /// The `/name` form as a C string (validation ruled out interior NULs).
    pub(crate) fn to_cstring(&self) -> CString {
        CString::new(self.slashed.as_bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(ShmName::new("abc").unwrap().as_str(), "/abc");
        assert_eq!(ShmName::new("/abc").unwrap().as_str(), "/abc");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "/", "a/b", "/a/b", "a\0b", ".", "/..", &"x".repeat(256)] {
            assert!(
                matches!(ShmName::new(bad), Err(Error::InvalidName { .. })),
                "{bad:?} accepted"
            );
        }
    }
}
