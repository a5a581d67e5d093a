//! The blocking half: every blocking method runs its async twin on one
//! process-wide tokio runtime, bounded by the caller's deadline.
//!
//! Why one runtime with one worker thread: the client's connection task
//! (pings, acknowledgements, reconnects) must keep running between the
//! caller's blocking calls, which a runtime driven only inside `block_on`
//! would not do; one worker is enough for a client's I/O and costs one
//! thread per process.
//!
//! A forked child does not inherit the runtime's thread: the runtime is
//! made again in each process (the parent's copy is leaked in the child,
//! never dropped, as dropping it would join a thread that is not there).
//! A client connected in the parent is likewise not usable in a forked
//! child: children connect on their own.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The runtime of this process, made on first use (again after a fork).
pub(crate) fn handle() -> tokio::runtime::Handle {
    static RUNTIME: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match *slot {
        Some((owner, rt)) if owner == pid => rt.handle().clone(),
        _ => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("ipc-remote")
                .enable_all()
                .build()
                .expect("a tokio runtime (threads and an epoll instance)");
            // Leaked on purpose: see the module docs.
            let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(rt));
            *slot = Some((pid, rt));
            rt.handle().clone()
        }
    }
}

/// Runs `fut` to completion on the runtime, from blocking code.
///
/// Calling it from inside an async task would block that task's thread;
/// tokio refuses it (a panic) when the caller runs on a runtime, so the
/// blocking methods say in their docs to use the `_async` ones there.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    handle().block_on(fut)
}

/// An absolute deadline, or none. Blocking and async calls take their
/// timeouts as this, so retries inside one call never wait longer in total.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// Do not wait: one attempt.
    Now,
    /// Wait until then.
    At(Instant),
    /// Wait as long as it takes.
    Never,
}

impl Deadline {
    /// `timeout` from now; a duration too long to add to the clock is
    /// no limit.
    pub(crate) fn after(timeout: Duration) -> Self {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }

    /// The time left (`None`: unbounded), zero once it passed.
    pub(crate) fn left(self) -> Option<Duration> {
        match self {
            Deadline::Now => Some(Duration::ZERO),
            Deadline::At(t) => Some(t.saturating_duration_since(Instant::now())),
            Deadline::Never => None,
        }
    }

    /// Whether it has passed (`Now` always has).
    pub(crate) fn passed(self) -> bool {
        self.left().is_some_and(|l| l.is_zero())
    }

    /// At most `slice`, and no longer than what is left.
    pub(crate) fn slice(self, slice: Duration) -> Duration {
        self.left().map_or(slice, |l| l.min(slice))
    }

    /// The error for a wait that is over: `busy` for a call that was not
    /// to wait, `Timeout` otherwise.
    pub(crate) fn expired(self, busy: Error) -> Error {
        match self {
            Deadline::Now => busy,
            _ => Error::Timeout,
        }
    }

    /// Runs `fut` until the deadline; `Timeout` if it passes first. `Now`
    /// does not bound it: a call that is not to wait still makes its one
    /// attempt, each request of which has its own timeout.
    pub(crate) async fn run<T>(self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        match self {
            Deadline::Now | Deadline::Never => fut.await,
            Deadline::At(_) => {
                let left = self.left().unwrap_or_default();
                tokio::time::timeout(left, fut)
                    .await
                    .unwrap_or(Err(Error::Timeout))
            }
        }
    }
}
