//! The blocking half: every blocking method runs its async twin on one
//! process-wide tokio runtime, bounded by the caller's deadline.
//!
//! Why a current-thread runtime driven by the caller: a blocking call then
//! runs the client's I/O on the caller's own thread (the request goes out
//! and its answer is read there), with no hand-off to a runtime thread
//! and back, which on a busy host costs a third of a round trip's
//! throughput (measured: `remote_queue_tput_1KiB` at 0.61x the bare client
//! with a one-worker multi-thread runtime). Between calls a keeper thread
//! drives the runtime briefly every [`KEEPER_PERIOD`], so that the
//! connection still answers the server's pings, reconnects, and sends
//! acknowledgements queued by a drop, when the caller makes no call for a
//! long time.
//!
//! A forked child does not inherit the keeper thread: the runtime is made
//! again in each process (the parent's copy is leaked in the child, never
//! dropped, as dropping it would touch a thread that is not there). A
//! client connected in the parent is likewise not usable in a forked
//! child: children connect on their own.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use ipc_core::Deadline;

use crate::error::{Error, Result};

/// How often the keeper drives the runtime when no call does.
pub(crate) const KEEPER_PERIOD: Duration = Duration::from_millis(100);

/// The runtime of this process, made on first use (again after a fork).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match *slot {
        Some((owner, rt)) if owner == pid => rt,
        _ => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime (an epoll instance and a timer)");
            // Leaked on purpose: see the module docs.
            let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(rt));
            // The keeper: takes the runtime for a moment when it is free.
            let _ = std::thread::Builder::new()
                .name("ipc-remote-keeper".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(KEEPER_PERIOD);
                        rt.block_on(tokio::task::yield_now());
                    }
                });
            *slot = Some((pid, rt));
            rt
        }
    }
}

/// A handle for spawning onto the runtime (a task runs whenever a call or
/// the keeper drives it).
pub(crate) fn handle() -> tokio::runtime::Handle {
    runtime().handle().clone()
}

/// Runs `fut` to completion on the runtime, from blocking code.
///
/// Calling it from inside an async task would block that task's thread;
/// tokio refuses it (a panic) when the caller runs on a runtime, so the
/// blocking methods say in their docs to use the `_async` ones there.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}

/// What the remote calls add to the toolkit's [`Deadline`]: waiting in
/// slices, the error for a wait that is over, and bounding a future.
pub(crate) trait DeadlineExt: Copy {
    /// At most `slice`, and no longer than what is left.
    fn slice(self, slice: Duration) -> Duration;
    /// The error for a wait that is over: `busy` for a call that was not
    /// to wait, `Timeout` otherwise.
    fn expired(self, busy: Error) -> Error;
    /// Runs `fut` until the deadline; `Timeout` if it passes first. `Now`
    /// does not bound it: a call that is not to wait still makes its one
    /// attempt, each request of which has its own timeout.
    async fn run<T>(self, fut: impl Future<Output = Result<T>>) -> Result<T>;
}

impl DeadlineExt for Deadline {
    fn slice(self, slice: Duration) -> Duration {
        self.remaining().map_or(slice, |l| l.min(slice))
    }

    fn expired(self, busy: Error) -> Error {
        match self {
            Deadline::Now => busy,
            _ => Error::Timeout,
        }
    }

    async fn run<T>(self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        match self {
            Deadline::Now | Deadline::Forever => fut.await,
            Deadline::At(_) => {
                let left = self.remaining().unwrap_or_default();
                tokio::time::timeout(left, fut)
                    .await
                    .unwrap_or(Err(Error::Timeout))
            }
        }
    }
}
