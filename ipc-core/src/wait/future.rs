//! Waiting without blocking a thread: [`Ready`], the future behind every
//! `async` call of the toolkit, runtime-agnostic (tokio, smol, async-std, a
//! hand-written executor: anything that polls a future and honours its
//! `Waker`).
//!
//! A `Ready` runs an operation's non-blocking attempt; when it would have
//! to wait, it spins for a moment (a reply from a busy peer usually comes
//! within microseconds, and catching it awake saves two thread hand-offs),
//! then announces itself in the object's sleepers count, re-checks, and
//! registers its waker with the process's reactor (`reactor.rs`), which
//! sleeps on the object's futex word. Every [`PEER_CHECK_PERIOD`] of waiting
//! the attempt runs in its [`Check::Slow`] form, so a peer that died is
//! noticed as by a blocking call.
//!
//! Cancellation: the attempt runs only inside `poll`, and a message or slot
//! is taken only by an attempt that succeeds, which completes the future at
//! once. So dropping a pending future loses nothing and holds nothing; its
//! drop withdraws the registration and the announcement.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::block::{Check, PEER_CHECK_PERIOD};
use super::reactor::{self, Registration};
use super::waitable::Waitable;

/// How long a future spins before it registers with the reactor: as long as
/// a blocking call ([`SPIN_FOR`](super::SPIN_FOR)), at most once per wait,
/// holding the executor's thread meanwhile. Shorter (10 us was tried) loses
/// ping-pongs between two async processes to a slow mode: once one side has
/// gone through its reactor, the next reply takes longer than the other
/// side's spin, and every exchange after pays two thread wake-ups (7 us
/// instead of 0.35 us on this host, in some runs of
/// `pipe_async_pingpong_8B`).
pub const ASYNC_SPIN_FOR: Duration = Duration::from_micros(20);

/// The future of one asynchronous operation on `on`: completes with the
/// first `Ok(Some(value))` or `Err` of `attempt` (see the module docs).
///
/// ```
/// use ipc_core::wait::{Ready, WaitWord};
/// use std::sync::Arc;
///
/// let flag = Arc::new(WaitWord::new(0));
/// let setter = {
///     let flag = flag.clone();
///     std::thread::spawn(move || {
///         std::thread::sleep(std::time::Duration::from_millis(20));
///         flag.bump_and_wake_all();
///     })
/// };
/// let until = flag.until(|v| v != 0);
/// let got = block_on(Ready::new(&until, |_| Ok::<_, ()>((flag.load() != 0).then_some(7))));
/// assert_eq!(got, Ok(7));
/// setter.join().unwrap();
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct W(std::thread::Thread);
/// #     impl std::task::Wake for W { fn wake(self: Arc<Self>) { self.0.unpark() } }
/// #     let waker = std::task::Waker::from(Arc::new(W(std::thread::current())));
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::park();
/// #     }
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Ready<'a, W: Waitable + ?Sized, F> {
    on: &'a W,
    attempt: F,
    state: WaitState,
}

impl<W: Waitable + ?Sized, F> std::fmt::Debug for Ready<'_, W, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<'a, W, F, T, E> Ready<'a, W, F>
where
    W: Waitable + ?Sized,
    F: FnMut(Check) -> Result<Option<T>, E> + Unpin,
{
    /// A future that runs `attempt` until it gives a value or an error,
    /// waiting on `on` in between.
    pub fn new(on: &'a W, attempt: F) -> Self {
        Self {
            on,
            attempt,
            state: WaitState::new(),
        }
    }

    /// Spins at most `spin` before registering (zero: never spins).
    pub fn spin(mut self, spin: Duration) -> Self {
        self.state.spin = spin;
        self
    }
}

impl<W, F, T, E> Future for Ready<'_, W, F>
where
    W: Waitable + ?Sized,
    F: FnMut(Check) -> Result<Option<T>, E> + Unpin,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let this = self.get_mut();
        this.state.poll(this.on, cx, &mut this.attempt)
    }
}

impl<W: Waitable + ?Sized, F> Drop for Ready<'_, W, F> {
    fn drop(&mut self) {
        self.state.cancel(self.on);
    }
}

/// The state of one asynchronous wait, for futures that cannot hold a
/// shared reference to their object across polls (a pipe end is used by
/// one thread at a time, so its futures hold it by `&mut` and lend it to
/// [`poll`](Self::poll) for the call). [`Ready`] is built on it. The owner
/// calls [`cancel`](Self::cancel) from its `Drop`.
#[derive(Debug)]
pub struct WaitState {
    registration: Option<Registration>,
    /// Counted in the object's sleepers.
    announced: bool,
    /// When waiting began (for the periodic slow check).
    since: Option<Instant>,
    spin: Duration,
}

impl Default for WaitState {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitState {
    /// A wait that has not begun.
    pub const fn new() -> Self {
        Self {
            registration: None,
            announced: false,
            since: None,
            spin: ASYNC_SPIN_FOR,
        }
    }

    /// Spins at most `spin` before registering (zero: never spins).
    pub const fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// One poll: runs `attempt`; if it would wait, spins once (the first
    /// time), announces the wait on `on`, re-checks, and registers `cx`'s
    /// waker. `Ready` with the first value or error.
    pub fn poll<W, T, E>(
        &mut self,
        on: &W,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(Check) -> Result<Option<T>, E>,
    ) -> Poll<Result<T, E>>
    where
        W: Waitable + ?Sized,
    {
        let now = Instant::now();
        let mut check = match self.since {
            Some(t) if now.duration_since(t) >= PEER_CHECK_PERIOD => {
                self.since = Some(now);
                Check::Slow
            }
            _ => Check::Fast,
        };
        loop {
            match attempt(check) {
                Ok(Some(value)) => {
                    self.cancel(on);
                    return Poll::Ready(Ok(value));
                }
                Err(e) => {
                    self.cancel(on);
                    return Poll::Ready(Err(e));
                }
                Ok(None) => {}
            }
            check = Check::Fast;
            let seen = on.ready_word().load(Ordering::SeqCst);
            if self.since.is_none() {
                // First time it would wait: a short spin, as a blocking
                // call does, for a peer that is about to answer.
                self.since = Some(now);
                let mut backoff = Backoff::spinning_for(self.spin);
                let mut ready = false;
                while backoff.spin() {
                    if on.is_ready() {
                        ready = true;
                        break;
                    }
                }
                if ready {
                    continue;
                }
            }
            if !self.announced {
                on.sleepers().fetch_add(1, Ordering::SeqCst);
                self.announced = true;
            }
            // After announcing: a waker that changed the state before
            // seeing the count did not wake; the re-check sees its change.
            if on.is_ready() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            reactor::arm(&mut self.registration, on.ready_word(), seen, cx.waker());
            return Poll::Pending;
        }
    }

    /// Withdraws the registration and the announcement on `on` (the wait is
    /// over, or its future is dropped). The wait may begin again.
    pub fn cancel<W: Waitable + ?Sized>(&mut self, on: &W) {
        reactor::disarm(&mut self.registration);
        if self.announced {
            on.sleepers().fetch_sub(1, Ordering::SeqCst);
            self.announced = false;
        }
        self.since = None;
    }
}

impl Drop for WaitState {
    fn drop(&mut self) {
        // Owners call `cancel` first; this only catches a registration left
        // behind (the announcement cannot be withdrawn without the object).
        reactor::disarm(&mut self.registration);
    }
}
