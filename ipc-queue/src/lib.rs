//! Shared-memory message passing between processes: a many-producer,
//! many-consumer [`Queue`] and a duplex [`Pipe`], in Python's names.
//!
//! Messages are [`Message`] types (zerocopy's plain-bytes types) copied
//! straight into a slot of a ring in shared memory, or byte frames up to a
//! size chosen at creation; no serialization. Loans let a producer build a
//! message in place and a consumer read it in place.
//!
//! Both survive processes killed at any instant: a message is delivered only
//! once its sender committed it (never torn), and a receiver whose peer died
//! is told ([`Error::Disconnected`]) instead of waiting forever.
//!
//! - [`queue`]: the lock-protected MPMC ring ([`Queue`], `JoinableQueue`
//!   semantics built in).
//! - [`pipe`]: two lock-free SPSC rings, one per direction ([`Pipe`],
//!   [`PipeEnd`]), and the one-way [`channel`].
//! - [`wait`]: block on several of them at once.
#![deny(unsafe_code)]

#[cfg(feature = "rkyv")]
pub mod archive;
#[cfg(feature = "serde")]
mod codec;
mod error;
mod message;
pub mod pipe;
pub mod queue;
mod select;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;
#[cfg(not(feature = "testing"))]
mod testing;

pub use error::{Error, Result};
/// The `zerocopy` crate, for its derives (see [`Message`]).
pub use ipc_core::zerocopy;
pub use message::{DEFAULT_BYTE_FRAME, Message};
pub use pipe::{Pipe, PipeEnd, Receiver, Sender, channel};
pub use queue::Queue;
pub use select::{PEER_CHECK_PERIOD, Waitable, wait, wait_timeout};
