//! [`RecvReadiness`]: an end's receiving direction seen from a thread that
//! waits on the end's behalf without using it.
//!
//! Why it exists: a program that multiplexes file descriptors (`select`,
//! `epoll`, Python's `selectors` and `asyncio`) needs a descriptor that is
//! readable while a pipe end has something to receive. The toolkit's pipes
//! have none (a futex word is not a descriptor), so a notifier thread waits
//! on this view of the end and signals a descriptor of its own. The view
//! must not disturb the end: it takes nothing, claims nothing and closes
//! nothing (the end's owner stays the process that receives), it only reads
//! the ring's counters and the peer's state, and it keeps the mapping alive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ipc_core::liveness::packed_is_alive;
use ipc_core::wait::Waitable;

use super::layout::Region;
use super::ring::SpscRing;

/// Whether a receive on one pipe end would not block (a frame, or a peer
/// that closed or died), as an owned [`Waitable`] that any thread may wait
/// on; made by [`PipeEnd::readiness`](super::PipeEnd::readiness) and
/// [`Receiver::readiness`](super::Receiver::readiness).
///
/// It is not a user of the end: waiting on it, or dropping it, neither
/// claims, takes nor closes anything.
///
/// ```
/// use std::time::Duration;
/// use ipc_queue::{Pipe, wait_timeout};
///
/// let (a, b) = Pipe::<u64>::new()?;
/// let ready = b.readiness();
/// let watcher = std::thread::spawn(move || wait_timeout(&[&ready], Duration::from_secs(10)));
/// a.send(&7)?;
/// assert_eq!(watcher.join().unwrap(), vec![0]);
/// assert_eq!(b.recv()?, 7); // the frame is still there for the end's user
/// # Ok::<(), ipc_queue::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RecvReadiness {
    region: Arc<Region>,
    /// The end's side (0 = A, 1 = B); the peer is `side ^ 1`.
    side: usize,
    /// The ring the end consumes from.
    rx: usize,
}

impl RecvReadiness {
    pub(super) fn new(region: Arc<Region>, side: usize, rx: usize) -> Self {
        Self { region, side, rx }
    }

    fn ring(&self) -> SpscRing<'_> {
        SpscRing::new(&self.region, self.rx)
    }
}

impl Waitable for RecvReadiness {
    fn ready_word(&self) -> &AtomicU32 {
        self.ring().data_word().0
    }
    fn sleepers(&self) -> &AtomicU32 {
        self.ring().data_word().1
    }
    fn is_ready(&self) -> bool {
        self.ring().data_ready() || peer_closed(&self.region, self.side)
    }
    fn check_peer(&self) -> bool {
        owner_is_dead(self.region.end(self.side ^ 1).owner.load(Ordering::Acquire))
    }
}

/// Whether the process recorded in an owner word has exited (slow: reads
/// `/proc`). An unclaimed end (0) counts as alive: nobody has used it yet.
pub(super) fn owner_is_dead(word: u64) -> bool {
    word != 0 && !packed_is_alive(word)
}

/// Whether the peer of end `side` has closed its end (cheap: one load).
#[inline]
pub(super) fn peer_closed(region: &Region, side: usize) -> bool {
    region.end(side ^ 1).closed.load(Ordering::Acquire) != 0
}
