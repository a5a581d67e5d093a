//! Helpers for the toolkit's integration tests, defined once: names, shared
//! scratch memory, child processes, waiting, CPU time, and the privileged
//! environments a few tests need (another uid, a tiny filesystem).
//!
//! Not published; every crate of the workspace takes it as a
//! dev-dependency. Like the library's own `ipc_core::os`, this is where the
//! tests' system calls live (the tests themselves call no libc).
//!
//! A test that needs an environment this machine does not offer (root, a
//! mount namespace) is skipped with a message, except under `CI=true`, where
//! it fails: CI must run everything.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod nats;

use ipc_core::process::Process;
use ipc_core::segment::{SegmentOptions, Shared};

/// Far above any expected wait on a shared, noisy two-core machine: reaching
/// it means a hang.
pub const PROMPT: Duration = Duration::from_secs(10);

/// `SIGKILL`, as [`ipc_core::process::ExitStatus::Signaled`] reports it.
pub const SIGKILL: i32 = libc::SIGKILL;
/// `SIGTERM`.
pub const SIGTERM: i32 = libc::SIGTERM;
/// `SIGSEGV`.
pub const SIGSEGV: i32 = libc::SIGSEGV;

/// A name no other test, thread or earlier run uses:
/// `ipct-{tag}-{pid}-{n}-{nanos}`.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "ipct-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates the directory.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(unique_name(tag));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Anonymous shared counters a forked child can report through.
pub fn slots<const N: usize>() -> Shared<[AtomicU64; N]> {
    Shared::create(
        &SegmentOptions::anonymous(),
        std::array::from_fn(|_| AtomicU64::new(0)),
    )
    .unwrap()
}

/// One anonymous shared counter.
pub fn counter() -> Shared<AtomicU64> {
    Shared::create(&SegmentOptions::anonymous(), AtomicU64::new(0)).unwrap()
}

/// Polls `cond` every 2 ms until it holds or `timeout` passes (sleeping,
/// never spinning); returns its last value.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A forked child that is killed if the test fails before joining it.
///
/// (Not `die_with_parent`: that signal comes when the forking *thread*
/// exits, and some tests fork from helper threads.)
pub fn daemon(f: impl FnOnce() + 'static) -> Process {
    Process::builder().daemon(true).spawn(f).unwrap()
}

/// A child that starts as a fresh run of this test binary (the *spawn*
/// start method) and runs the entry point `entry`; `args` reach it as
/// environment variables, read there with [`entry_arg`]. Killed if the test
/// fails before joining it.
///
/// The binary dispatches entries in a test named `entry_child`:
///
/// ```ignore
/// #[test]
/// fn entry_child() {
///     ipc_core::process::run_entry_point(&[("worker", worker)]);
/// }
/// ```
///
/// (`run_entry_point` returns at once in a normal run, which has no entry.)
///
/// Tests of a crate with process-wide one-time state (async-nats's lazily
/// built regexes, a tokio runtime) start their children this way rather
/// than with [`daemon`]: libtest runs tests on threads, and a fork while
/// another test's thread is inside a one-time initialization leaves it
/// unfinished forever in the child, which then waits for it (seen in CI: a
/// child of the remote dict's test hung on async-nats's key regex).
pub fn spawn_entry(entry: &str, args: &[(&str, &str)]) -> Process {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", "entry_child", "--nocapture", "--quiet"])
        .env(ipc_core::process::ENTRY_ENV, entry);
    for (key, value) in args {
        cmd.env(format!("IPCT_ARG_{key}"), value);
    }
    Process::builder().daemon(true).command(cmd).unwrap()
}

/// In a child started by [`spawn_entry`], the argument `key`; panics (the
/// child then exits 101) if the parent did not pass it.
pub fn entry_arg(key: &str) -> String {
    std::env::var(format!("IPCT_ARG_{key}"))
        .unwrap_or_else(|_| panic!("entry argument {key} was not passed"))
}

/// Joins a child within three [`PROMPT`]s and asserts it succeeded.
pub fn join_ok(p: Process) {
    let status = p.join_timeout(PROMPT * 3).unwrap();
    assert!(status.success(), "child failed: {status:?}");
}

/// Sleeps "forever" (bounded: a lost child still goes away after a minute).
pub fn park() -> ! {
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::process::exit(99)
}

/// Sends `SIGKILL` to `pid` (a sibling, say, whose handle another process
/// holds); panics if the signal could not be sent.
pub fn sigkill(pid: u32) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill takes two integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill({pid}, SIGKILL) failed");
}

/// Sends `SIGSTOP` to `pid`: it stops where it is, holding whatever it
/// holds, until continued or killed; panics if the signal could not be sent.
pub fn sigstop(pid: u32) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill takes two integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
    assert_eq!(rc, 0, "kill({pid}, SIGSTOP) failed");
}

/// Whether a process with this pid runs (exists and is not a zombie).
pub fn is_running(pid: u32) -> bool {
    ipc_core::liveness::ProcessIdentity {
        pid,
        _pad: 0,
        start_time: 0,
    }
    .is_alive()
}

/// Ends the calling process with `SIGKILL`, at once (no unwinding, no
/// destructors, no buffered output).
pub fn die_by_sigkill() -> ! {
    // SAFETY: raise takes an integer; SIGKILL cannot be caught, so it does
    // not return.
    unsafe { libc::raise(libc::SIGKILL) };
    unreachable!("SIGKILL returned")
}

/// User plus system CPU time this process has used.
pub fn cpu_time() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the buffer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    // SAFETY: initialised by getrusage (and zeroed before).
    let ru = unsafe { ru.assume_init() };
    let d = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    d(ru.ru_utime) + d(ru.ru_stime)
}

/// Whether `pid` is still an unreaped child of this process (running or a
/// zombie); `false` once it was reaped. Panics if a zombie was left behind
/// and this call had to reap it.
pub fn is_unreaped_child(pid: u32) -> bool {
    let mut status = 0;
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: `status` is a live, writable int for the whole call.
    let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if ret == -1 {
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ECHILD)
        );
        false
    } else {
        assert_eq!(ret, 0, "a zombie was left behind");
        true
    }
}

/// A leaked `u32` in a `MAP_SHARED` anonymous page that forked children see,
/// made without the toolkit (for the tests of `Process` itself).
pub fn raw_shared_u32() -> &'static std::sync::atomic::AtomicU32 {
    // SAFETY: a fresh anonymous mapping: no address hint, no file descriptor,
    // nothing of ours is overwritten.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED, "mmap failed");
    // SAFETY: the page is mapped read-write, zero-filled, page-aligned and
    // never unmapped, so the reference may live for `'static`.
    unsafe { &*page.cast::<std::sync::atomic::AtomicU32>() }
}

/// A duplicate of `fd` without `FD_CLOEXEC`, which survives an `exec` (to
/// hand a segment to a child program by number).
pub fn inheritable(fd: std::os::fd::BorrowedFd<'_>) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: dup of a descriptor the caller holds open.
    let new = unsafe { libc::dup(fd.as_raw_fd()) };
    assert!(new >= 0, "dup failed");
    // SAFETY: `new` was just returned by dup and is owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(new) }
}

/// Whether CI runs the tests: then a missing environment is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports that a test cannot run here: a message, or under `CI=true` a
/// panic.
pub fn skip(why: &str) {
    assert!(!in_ci(), "cannot run under CI: {why}");
    eprintln!("skipped: {why}");
}

/// Exit code of a child that could not set up its environment.
const NO_ENVIRONMENT: i32 = 77;

/// Runs `f` in a child switched to the unprivileged uid and gid 65534;
/// returns its exit code, or `None` (after [`skip`]) if this process may
/// not switch users.
pub fn as_nobody(f: impl FnOnce() -> i32 + 'static) -> Option<i32> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("needs root to switch uid in the child");
        return None;
    }
    let child = daemon(move || {
        // SAFETY: plain syscalls in a single-threaded child; gid first, then uid.
        let ok = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
        std::process::exit(if ok { f() } else { NO_ENVIRONMENT })
    });
    let code = child.join().unwrap().code().unwrap_or(-1);
    if code == NO_ENVIRONMENT {
        skip("setuid refused");
        return None;
    }
    Some(code)
}

/// Runs `f(dir)` in a child with a private tmpfs of `size` (such as "64k")
/// mounted on `dir`, in a mount namespace of its own; returns its exit code,
/// or `None` (after [`skip`]) if mounting is not allowed here.
pub fn in_tiny_tmpfs(size: &str, f: impl FnOnce(&Path) -> i32 + 'static) -> Option<i32> {
    let dir = TempDir::new("tinyfs");
    let mount_on = dir.0.clone();
    let opts = std::ffi::CString::new(format!("size={size}")).unwrap();
    let child = daemon(move || {
        let c = std::ffi::CString::new(mount_on.to_str().unwrap()).unwrap();
        let (none, tmpfs) = (c"none", c"tmpfs");
        // SAFETY: unshare/mount with valid NUL-terminated strings, in a child
        // whose mount namespace nobody else shares.
        let mounted = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    none.as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    none.as_ptr(),
                    c.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    opts.as_ptr().cast(),
                ) == 0
        };
        std::process::exit(if mounted {
            f(&mount_on)
        } else {
            NO_ENVIRONMENT
        })
    });
    let code = child.join().unwrap().code().unwrap_or(-1);
    if code == NO_ENVIRONMENT {
        skip("cannot mount a tmpfs here");
        return None;
    }
    Some(code)
}

/// A small deterministic PRNG (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)] // an endless generator, not an iterator
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Reads an integer from the environment (test scale knobs), or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A 64-byte message that detects a torn copy: every word derives from
/// `(source, seq)`, so a message half-written by a killed sender (or read
/// while being overwritten) fails [`intact`](Self::intact).
#[derive(
    ipc_core::zerocopy::FromBytes,
    ipc_core::zerocopy::IntoBytes,
    ipc_core::zerocopy::Immutable,
    ipc_core::zerocopy::KnownLayout,
    Clone,
    Copy,
    Debug,
    PartialEq,
)]
#[zerocopy(crate = "ipc_core::zerocopy")]
#[repr(C)]
pub struct Stamped {
    /// Who sent it (a producer's number).
    pub source: u64,
    /// Its sequence number for that source.
    pub seq: u64,
    /// Words derived from `source` and `seq`.
    pub body: [u64; 5],
    /// A fold of all of the above.
    pub check: u64,
}

impl Stamped {
    /// Message `seq` of `source`.
    pub fn new(source: u64, seq: u64) -> Self {
        let body = std::array::from_fn(|i| {
            (source << 40)
                ^ seq
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(i as u32 * 7)
        });
        let check = body.iter().fold(source ^ seq, |a, b| a.rotate_left(5) ^ b);
        Stamped {
            source,
            seq,
            body,
            check,
        }
    }

    /// Whether every word matches `source` and `seq`.
    pub fn intact(&self) -> bool {
        *self == Stamped::new(self.source, self.seq)
    }
}

/// A variable-size byte frame for `m`: its bytes, then a tail whose length
/// (0 to 1.5 KiB) and contents follow from it, for byte-ring kill loops.
pub fn stamped_frame(m: &Stamped) -> Vec<u8> {
    use ipc_core::zerocopy::IntoBytes;
    let mut v = m.as_bytes().to_vec();
    let tail = (m.seq.wrapping_mul(2654435761) ^ m.source) % 1500;
    v.extend((0..tail).map(|i| (m.check ^ i) as u8));
    v
}

/// The message of a frame made by [`stamped_frame`], if it is intact.
pub fn parse_stamped_frame(b: &[u8]) -> Option<Stamped> {
    use ipc_core::zerocopy::FromBytes;
    let m = Stamped::read_from_prefix(b).ok()?.0;
    (m.intact() && b == stamped_frame(&m)).then_some(m)
}
