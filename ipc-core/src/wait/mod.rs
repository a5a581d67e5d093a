//! The waiting core: every blocking call of the toolkit, in every crate,
//! waits through this module.
//!
//! # The protocol
//!
//! A waiter and a waker share two 32-bit words (a [`WaitWord`], or any pair a
//! [`Waitable`] names): the *word* that changes when the waited-for
//! condition may have become true (a sequence number, or the state itself),
//! and a *sleepers* count.
//!
//! - **Waker**: make the change that satisfies the condition (commit a
//!   message, set a flag), with `SeqCst`; then load `sleepers`, and only if
//!   it is non-zero change the word and `FUTEX_WAKE` it. The hot path of an
//!   exchange where nobody sleeps makes no system call.
//! - **Waiter** ([`Waiter::block`]): try the operation; snapshot the word;
//!   spin for a while ([`Backoff`]) watching the word and the cheap
//!   readiness check ([`Waitable::is_ready`]); then *announce* itself
//!   (`sleepers += 1`, `SeqCst`), re-check readiness, and sleep on the word
//!   while it still holds the snapshot; un-announce; try again.
//!
//! No wake-up is lost: in the single total order of `SeqCst` operations,
//! either the waker's load of `sleepers` comes after the waiter's increment
//! (so the waker changes the word, and the kernel refuses to sleep on the
//! changed value, or wakes the sleeper), or it comes before, and then the
//! waker's commit precedes the waiter's re-check, which sees it. This is why
//! `is_ready` must see every change that lets the operation succeed (a
//! message, a close), and why a word whose change *is* the event (a
//! condition variable) is bumped even when nobody sleeps
//! ([`WaitWord::bump`]).
//!
//! # Processes that die or stop
//!
//! A process that is SIGKILLed changes no word and wakes nobody. Sleeps are
//! therefore cut into slices ([`Waiter::check_peers_every`], by default
//! [`PEER_CHECK_PERIOD`]) after which the operation is tried again in its
//! slow form ([`Check::Slow`]), which looks at whether the processes it waits
//! for still live. A deadline is an absolute instant ([`Deadline`]), never
//! stretched by slices, interruptions or spurious wake-ups.
//!
//! # Several objects, and async
//!
//! [`wait_any`] sleeps on the words of several [`Waitable`]s at once
//! (`futex_waitv`). The same trait is what the asynchronous side needs: a
//! [`Ready`] future announces itself in the sleepers count and hands the
//! word to the process's one reactor thread, which sleeps on the words of
//! every pending future at once and wakes their tasks (`reactor.rs`).

mod backoff;
mod block;
mod deadline;
mod future;
mod reactor;
mod waitable;
mod word;

pub use backoff::{Backoff, SPIN_FOR};
pub use block::{Check, PEER_CHECK_PERIOD, Waiter, wait_any, wake};
pub use deadline::Deadline;
pub use future::{ASYNC_SPIN_FOR, Ready, WaitState};
pub use waitable::Waitable;
pub use word::{Until, WaitWord};

/// The time since boot on `CLOCK_MONOTONIC_COARSE`: a few nanoseconds to
/// read (a fifth of `Instant::now`), at the kernel tick's resolution (1 to
/// 10 ms). For rate-limiting slow checks on paths that run once per message.
pub fn coarse_now() -> std::time::Duration {
    crate::os::clock::coarse_now()
}
