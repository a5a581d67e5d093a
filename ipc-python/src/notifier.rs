//! A file descriptor for a connection (`Connection.fileno()`): readable
//! while a `recv` would not block.
//!
//! Why: programs multiplex descriptors (`selectors`, `asyncio`'s
//! `add_reader`, the standard library's `multiprocessing.connection.wait`),
//! and a `multiprocessing` connection is a socket they can watch. Ours signal
//! through a futex word in shared memory, which no `select` sees. So the
//! first `fileno()` makes a notifier: a local socket pair, whose reading
//! end is the descriptor, and a watcher thread that waits on the pipe end's
//! [`RecvReadiness`] and writes one byte when something arrives.
//!
//! # The protocol
//!
//! `signalled` says whether the one byte is in the socket, so the
//! descriptor is readable exactly while `signalled` holds. It changes only
//! under the state mutex, and never without the byte following it:
//!
//! - **Watcher**: while not signalled, waits (in slices, checking `stop`)
//!   for the end to be ready; then, under the mutex, checks again that it
//!   is (the connection's own thread may have received the frame in
//!   between) and writes the byte. While signalled, it sleeps on the
//!   condition variable until the byte is taken back.
//! - **Connection** ([`Notifier::resync`], after every receive and poll):
//!   under the mutex, takes the byte back if the end is no longer ready
//!   (and wakes the watcher), or writes it if the end is ready and it was
//!   not (a frame that arrived while the watcher slept on a stale view).
//!
//! A gone peer counts as ready (a `recv` raises `EOFError` at once). A
//! closed peer end is seen by the cheap check; a killed peer process by the
//! watcher's slow check, once per peer check period, and then the byte
//! stays until the connection is closed.
//!
//! A forked child gets a copy of the notifier but not its thread: the copy
//! is left alone (not even its mutex is taken, which a thread of the parent
//! may have held at the fork), and the child's first `fileno()` makes its
//! own.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ipc_core::wait::Waitable;
use ipc_queue::pipe::RecvReadiness;

/// How long the watcher sleeps before it looks at `stop` again.
const WATCH_SLICE: Duration = Duration::from_millis(50);

/// What the watcher thread and the connection share.
struct Shared {
    /// Whether the byte is in the socket.
    signalled: Mutex<bool>,
    /// Wakes the watcher when the byte is taken back, or to stop.
    taken: Condvar,
    /// Set when the connection drops the notifier: the watcher exits.
    stop: AtomicBool,
    /// The socket's writing end (written only under `signalled`'s mutex).
    writer: UnixStream,
    /// What the watcher waits on, and the resync checks.
    readiness: RecvReadiness,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.signalled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the byte (the socket is non-blocking and holds at most one).
    fn signal(&self, signalled: &mut bool) {
        if (&self.writer).write(&[1]).is_ok() {
            *signalled = true;
        }
    }
}

/// One connection's descriptor and watcher; see the module docs.
pub(crate) struct Notifier {
    /// The process that made it (a forked child's copy is not used).
    pid: u32,
    /// The descriptor `fileno()` returns.
    reader: UnixStream,
    shared: Arc<Shared>,
}

impl Notifier {
    /// A notifier for the end behind `readiness`, with its watcher thread
    /// started.
    pub(crate) fn new(readiness: RecvReadiness) -> std::io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            signalled: Mutex::new(false),
            taken: Condvar::new(),
            stop: AtomicBool::new(false),
            writer,
            readiness,
        });
        let theirs = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("ipc-toolkit-notifier".into())
            .spawn(move || watch(&theirs))?;
        let notifier = Self {
            pid: std::process::id(),
            reader,
            shared,
        };
        notifier.resync();
        Ok(notifier)
    }

    /// Whether this process made it (and so runs its watcher).
    pub(crate) fn is_ours(&self) -> bool {
        self.pid == std::process::id()
    }

    /// The descriptor.
    pub(crate) fn fd(&self) -> i32 {
        self.reader.as_raw_fd()
    }

    /// Makes the descriptor's readiness match the end's after this
    /// process received (or looked); see the module docs.
    pub(crate) fn resync(&self) {
        let shared = &*self.shared;
        let mut signalled = shared.lock();
        let ready = shared.readiness.is_ready();
        if *signalled && !ready {
            let mut byte = [0u8; 1];
            // The byte, or none (someone else read the descriptor): either
            // way the socket is empty now.
            let emptied = match (&self.reader).read(&mut byte) {
                Ok(n) => n == 1,
                Err(e) => e.kind() == ErrorKind::WouldBlock,
            };
            if emptied {
                *signalled = false;
                shared.taken.notify_one();
            }
        } else if !*signalled && ready {
            shared.signal(&mut signalled);
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // Without the mutex (a forked child's copy may find it held by a
        // thread that is not in that process): the watcher sees `stop`
        // within a slice. In a child, there is no watcher to tell, and the
        // fields' drops only close this process's descriptors.
        self.shared.stop.store(true, Ordering::Release);
        self.shared.taken.notify_all();
    }
}

/// The watcher thread's loop; see the module docs.
fn watch(shared: &Shared) {
    loop {
        {
            let mut signalled = shared.lock();
            while *signalled {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                signalled = shared
                    .taken
                    .wait_timeout(signalled, WATCH_SLICE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let readiness = &shared.readiness;
        let woke = readiness.is_ready()
            || !ipc_queue::wait_timeout(&[readiness as &dyn Waitable], WATCH_SLICE).is_empty();
        if woke {
            let mut signalled = shared.lock();
            // Again under the mutex: the connection may have received the
            // frame since. A dead peer is seen only by the slow check.
            if !*signalled && (readiness.is_ready() || readiness.check_peer()) {
                shared.signal(&mut signalled);
            }
        }
    }
}
