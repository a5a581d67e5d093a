//! [`Waitable`]: what a process can wait on; the registration the waiting
//! core (and, later, an asynchronous reactor) needs from an object.

use std::sync::atomic::AtomicU32;

/// Something a process can wait on: a queue, a pipe end, a flag.
pub trait Waitable {
    /// The futex word that changes whenever [`is_ready`](Self::is_ready) may
    /// have become true.
    fn ready_word(&self) -> &AtomicU32;
    /// The count of sleepers; wakers wake [`ready_word`](Self::ready_word)
    /// only when it is non-zero.
    fn sleepers(&self) -> &AtomicU32;
    /// Whether the awaited operation would not block right now (for a
    /// receiver: a message, or a closed or disconnected state). Cheap: no
    /// system calls, no locks.
    fn is_ready(&self) -> bool;
    /// The slow check, run once per [`PEER_CHECK_PERIOD`](super::PEER_CHECK_PERIOD) of sleep: whether a
    /// process this object waits for has died, which makes it ready (the
    /// operation then reports it). The default has no peer to check.
    fn check_peer(&self) -> bool {
        false
    }
}

impl<W: Waitable + ?Sized> Waitable for &W {
    fn ready_word(&self) -> &AtomicU32 {
        (**self).ready_word()
    }
    fn sleepers(&self) -> &AtomicU32 {
        (**self).sleepers()
    }
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn check_peer(&self) -> bool {
        (**self).check_peer()
    }
}
