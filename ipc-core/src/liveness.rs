//! Telling whether a process recorded in shared memory is still alive.
//!
//! A pid alone is not enough: pids are reused, so a creator that died long ago
//! could seem alive again. A [`ProcessIdentity`] pairs the pid with the process
//! start time from `/proc/<pid>/stat` (clock ticks since boot), which no later
//! process with the same pid can share. A zombie (dead but not yet reaped by
//! its parent) counts as dead: it will never release anything again.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A process, identified so that pid reuse cannot be mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// Explicit padding, always zero.
    pub _pad: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat`, field 22); 0 if unknown.
    pub start_time: u64,
}

const _: () = assert!(size_of::<ProcessIdentity>() == 16);

/// The calling process's pid, without a system call on the hot path.
///
/// glibc no longer caches `getpid()`, and queue operations stamp slots with
/// their owner's pid, so the toolkit's one `pthread_atfork` handler keeps it
/// cached, refreshed in every forked child.
#[inline]
pub fn current_pid() -> u32 {
    crate::os::fork::pid()
}

/// How many times this process has forked so far (counted in the parent, by
/// the toolkit's `pthread_atfork` handler, from the first use of the
/// toolkit on). A forked child starts from its parent's count at the fork,
/// which the parent then increments: a count recorded before the fork still
/// matches in the child, and no longer in the parent. A pipe end uses it so
/// that the parent's copy of a handle moved into a child closes nothing.
#[inline]
pub fn forks_made() -> u64 {
    crate::os::fork::forks_made()
}

/// A number that grows in each forked child (the parent's stays): a record
/// made before a fork (a reader slot of a manager, say) belongs to the
/// parent when the child's generation differs.
#[inline]
pub fn fork_generation() -> u64 {
    crate::os::fork::generation()
}

/// What `/proc/<pid>/stat` says about a process.
struct Stat {
    state: u8,
    start_time: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; everything
    // after the last ')' is space-separated, starting with field 3 (state).
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    // Field 22 is the 20th after the state field (field 3).
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

impl ProcessIdentity {
    /// The identity of the calling process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self::of(pid).unwrap_or(Self {
            pid,
            _pad: 0,
            start_time: 0,
        })
    }

    /// The identity of a running process, or `None` if it does not exist.
    pub fn of(pid: u32) -> Option<Self> {
        read_stat(pid).map(|s| Self {
            pid,
            _pad: 0,
            start_time: s.start_time,
        })
    }

    /// Whether this exact process still runs (a zombie does not count).
    ///
    /// With `/proc` unavailable it falls back to `kill(pid, 0)`, which cannot
    /// tell a reused pid apart.
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 || self.pid > i32::MAX as u32 {
            return false;
        }
        match read_stat(self.pid) {
            Some(s) => {
                !matches!(s.state, b'Z' | b'X' | b'x')
                    && (self.start_time == 0 || s.start_time == self.start_time)
            }
            None if std::path::Path::new("/proc/self/stat").exists() => false,
            None => crate::os::process::exists(self.pid),
        }
    }
}

/// A process identity packed into one 64-bit word, `pid << 32 | (start
/// time & 0xffff_ffff)`, for records in shared memory that must be read and
/// written in one atomic access (a pid and a start time stored apart could be
/// read torn: a new pid with the old start time). 0 means "nobody".
///
/// ```
/// use ipc_core::liveness::{packed_is_alive, packed_current};
///
/// assert!(packed_is_alive(packed_current()));
/// assert!(!packed_is_alive(0));
/// ```
pub fn packed_current() -> u64 {
    static CACHE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let pid = current_pid();
    let cached = CACHE.load(std::sync::atomic::Ordering::Relaxed);
    if (cached >> 32) as u32 == pid {
        return cached;
    }
    let start = ProcessIdentity::of(pid).map_or(0, |id| id.start_time);
    let word = (u64::from(pid) << 32) | (start & 0xffff_ffff);
    CACHE.store(word, std::sync::atomic::Ordering::Relaxed);
    word
}

/// A process recorded in shared memory as using an object (a queue's
/// producer, a pipe end's owner, a manager's reader), as inspection tools
/// report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Whether that process still runs (the pid was not reused since).
    pub alive: bool,
}

impl Holder {
    /// The holder a [`packed_current`] word names (reads `/proc`).
    pub fn from_packed(word: u64) -> Self {
        Self {
            pid: (word >> 32) as u32,
            alive: packed_is_alive(word),
        }
    }
}

/// Whether the process a [`packed_current`] word names still runs: its pid
/// exists, is not a zombie, and (if the word recorded one) has the same start
/// time, so a reused pid counts as dead. Slow (reads `/proc`); 0 is not alive.
pub fn packed_is_alive(word: u64) -> bool {
    let pid = (word >> 32) as u32;
    if pid == 0 {
        return false;
    }
    let start_lo = word & 0xffff_ffff;
    match read_stat(pid) {
        Some(s) if start_lo != 0 && s.start_time != 0 => {
            s.start_time & 0xffff_ffff == start_lo && !matches!(s.state, b'Z' | b'X' | b'x')
        }
        // No start time to compare (or no `/proc`): by the pid alone.
        _ => ProcessIdentity {
            pid,
            _pad: 0,
            start_time: 0,
        }
        .is_alive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_identity_tells_a_reused_pid_apart() {
        let me = packed_current();
        assert_eq!((me >> 32) as u32, std::process::id());
        assert!(packed_is_alive(me));
        // Same pid, another start time: a different process.
        let other = (me & !0xffff_ffff) | ((me + 1) & 0xffff_ffff);
        assert!(!packed_is_alive(other));
        // Unknown start time: judged by the pid alone.
        assert!(packed_is_alive(me & !0xffff_ffff));
    }

    #[test]
    fn current_process_is_alive() {
        let me = ProcessIdentity::current();
        assert_ne!(me.start_time, 0);
        assert!(me.is_alive());
    }

    #[test]
    fn reused_pid_is_not_mistaken() {
        let mut me = ProcessIdentity::current();
        me.start_time += 1;
        assert!(!me.is_alive());
    }

    #[test]
    fn absurd_pids_are_dead() {
        for pid in [0, u32::MAX, i32::MAX as u32] {
            assert!(
                !ProcessIdentity {
                    pid,
                    _pad: 0,
                    start_time: 0
                }
                .is_alive()
            );
        }
    }
}
