//! glibc's robust, process-shared `pthread_mutex_t`, as bytes the caller
//! lays out in shared memory, and the lock calls on it.
//!
//! The bytes are the 64-bit glibc layout (40 bytes, `__kind` at offset 16).
//! `pthread_mutex_init` zeroes the object and stores the kind, nothing else,
//! so a constant with the same bytes is the same mutex, just as
//! `PTHREAD_MUTEX_INITIALIZER` is for default mutexes; a test checks the
//! constant against glibc.

use std::time::Instant;

use super::clock::monotonic_timespec;

#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "the robust mutex's static initialiser assumes the 64-bit glibc pthread_mutex_t layout"
);

/// `PTHREAD_MUTEX_ROBUST_NORMAL_NP | PTHREAD_MUTEX_PSHARED_BIT`: what
/// `pthread_mutex_init` stores in `__kind` for a robust, process-shared
/// mutex with default type and protocol.
const ROBUST_PSHARED_KIND: i32 = 16 | 128;
/// Byte offset of `__kind` in the 64-bit glibc `pthread_mutex_t`.
const KIND_OFFSET: usize = 16;
/// Size of the 64-bit glibc `pthread_mutex_t`.
pub(crate) const MUTEX_LEN: usize = 40;

/// The bytes of a glibc `pthread_mutex_t`, aligned as glibc aligns it.
#[repr(C, align(8))]
pub(crate) struct MutexBytes(pub(crate) [u8; MUTEX_LEN]);

const _: () = assert!(size_of::<libc::pthread_mutex_t>() == MUTEX_LEN);
const _: () = assert!(align_of::<libc::pthread_mutex_t>() <= align_of::<MutexBytes>());

/// The bytes `pthread_mutex_init` leaves for a robust, process-shared mutex.
pub(crate) const fn robust_pshared_initializer() -> MutexBytes {
    let mut b = [0u8; MUTEX_LEN];
    let kind = ROBUST_PSHARED_KIND.to_ne_bytes();
    b[KIND_OFFSET] = kind[0];
    b[KIND_OFFSET + 1] = kind[1];
    b[KIND_OFFSET + 2] = kind[2];
    b[KIND_OFFSET + 3] = kind[3];
    MutexBytes(b)
}

unsafe extern "C" {
    /// glibc >= 2.30: `pthread_mutex_timedlock` on a chosen clock.
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// What a lock call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Acquired.
    Yes,
    /// Acquired from an owner that died holding it (`EOWNERDEAD`): the
    /// caller owns it and must make it consistent.
    FromDeadOwner,
    /// Not acquired: held by someone else, or the deadline passed.
    No,
    /// The bytes are not a usable mutex (`EINVAL`, `ENOTRECOVERABLE`).
    Unusable(i32),
    /// Another error.
    Failed(i32),
}

fn locked(rc: libc::c_int) -> Locked {
    match rc {
        0 => Locked::Yes,
        libc::EOWNERDEAD => Locked::FromDeadOwner,
        libc::EBUSY | libc::ETIMEDOUT => Locked::No,
        libc::EINVAL | libc::ENOTRECOVERABLE => Locked::Unusable(rc),
        rc => Locked::Failed(rc),
    }
}

/// `pthread_mutex_trylock`.
///
/// # Safety
///
/// `m` points to a robust, process-shared mutex (initialised with
/// [`robust_pshared_initializer`] or by glibc) that stays mapped for the call.
pub(crate) unsafe fn try_lock(m: *mut MutexBytes) -> Locked {
    // SAFETY: the caller's contract.
    locked(unsafe { libc::pthread_mutex_trylock(m.cast()) })
}

/// `pthread_mutex_lock` (`None`) or `pthread_mutex_clocklock` on
/// `CLOCK_MONOTONIC` until `deadline`.
///
/// # Safety
///
/// As for [`try_lock`].
pub(crate) unsafe fn lock(m: *mut MutexBytes, deadline: Option<Instant>) -> Locked {
    let rc = match deadline {
        // SAFETY: the caller's contract.
        None => unsafe { libc::pthread_mutex_lock(m.cast()) },
        Some(d) => {
            let ts = monotonic_timespec(d);
            // SAFETY: the caller's contract; `ts` outlives the call.
            unsafe { pthread_mutex_clocklock(m.cast(), libc::CLOCK_MONOTONIC, &ts) }
        }
    };
    locked(rc)
}

/// `pthread_mutex_consistent`: the state of a mutex taken from a dead owner
/// is repaired, so it never becomes `ENOTRECOVERABLE`.
///
/// # Safety
///
/// As for [`try_lock`], and the calling thread holds the mutex.
pub(crate) unsafe fn make_consistent(m: *mut MutexBytes) -> Result<(), i32> {
    // SAFETY: the caller's contract.
    match unsafe { libc::pthread_mutex_consistent(m.cast()) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

/// `pthread_mutex_unlock`.
///
/// # Safety
///
/// As for [`try_lock`], and the calling thread holds the mutex.
pub(crate) unsafe fn unlock(m: *mut MutexBytes) {
    // SAFETY: the caller's contract.
    unsafe { libc::pthread_mutex_unlock(m.cast()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant initialiser must equal what glibc's pthread_mutex_init
    /// produces for a robust, process-shared mutex.
    #[test]
    fn initializer_matches_glibc() {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        let mut m = MutexBytes([0xAA; MUTEX_LEN]);
        // SAFETY: standard attr/init sequence on local, properly aligned storage.
        unsafe {
            assert_eq!(libc::pthread_mutexattr_init(attr.as_mut_ptr()), 0);
            assert_eq!(
                libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED),
                0
            );
            assert_eq!(
                libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST),
                0
            );
            assert_eq!(
                libc::pthread_mutex_init((&raw mut m).cast(), attr.as_ptr()),
                0
            );
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
        }
        assert_eq!(m.0, robust_pshared_initializer().0);
    }
}
