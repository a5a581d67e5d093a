//! Events for what the toolkit repairs or notices on its own: a lock whose
//! holder died, a manager writer's recovery, a reader slot of a dead
//! process freed, a replaced pool worker, a stale object removed, a peer
//! found gone. Each library crate has a `tracing` feature; with it on, these
//! are [`tracing`](https://docs.rs/tracing) events (target: the module),
//! and without it they compile to nothing. None is on a hot path: each
//! marks a rare, slow event (a death, a repair, a removal).

#[cfg(feature = "tracing")]
#[doc(hidden)]
pub use tracing as __tracing;

/// `trace_event!(warn, field = value, "message")`: a `tracing` event at
/// that level when the *calling* crate's `tracing` feature is on (which
/// turns on ipc-core's); nothing otherwise.
#[doc(hidden)]
#[macro_export]
macro_rules! trace_event {
    ($level:ident, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        {
            $crate::trace::__tracing::$level!($($arg)+);
        }
    };
}

/// The macro under this module's path, for ipc-core's own modules (an
/// exported macro lives at the crate root).
#[allow(unused_imports)]
pub(crate) use trace_event;
