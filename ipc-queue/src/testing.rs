//! Fault injection for the crate's own tests (feature `testing`; not part
//! of the API). Without the feature every pause is an empty inline function.

#[cfg(feature = "testing")]
use std::time::Duration;

#[cfg(feature = "testing")]
static ROLE_CHECK_PAUSE_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes a queue's get in this process pause for `d` after it found the
/// queue empty and before it looks whether the producers are gone (the
/// window in which a producer may put its last messages and leave).
/// `Duration::ZERO` turns it off.
#[cfg(feature = "testing")]
pub fn set_role_check_pause(d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    ROLE_CHECK_PAUSE_US.store(us, std::sync::atomic::Ordering::Relaxed);
}

/// The pause point itself (see [`set_role_check_pause`]).
#[cfg(feature = "testing")]
pub(crate) fn pause_before_role_check() {
    let us = ROLE_CHECK_PAUSE_US.load(std::sync::atomic::Ordering::Relaxed);
    if us != 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

/// Without the `testing` feature, nothing pauses.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(crate) fn pause_before_role_check() {}

#[cfg(feature = "testing")]
static REGISTER_PAUSE_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes a handle's first put or get in this process pause for `d` in its
/// registration, after it looked over the role tables of an empty queue
/// and before it takes its own place (the window in which the other side
/// must still count it). `Duration::ZERO` turns it off.
#[cfg(feature = "testing")]
pub fn set_register_pause(d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    REGISTER_PAUSE_US.store(us, std::sync::atomic::Ordering::Relaxed);
}

/// The pause point itself (see [`set_register_pause`]).
#[cfg(feature = "testing")]
pub(crate) fn pause_in_register() {
    let us = REGISTER_PAUSE_US.load(std::sync::atomic::Ordering::Relaxed);
    if us != 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

/// Without the `testing` feature, nothing pauses.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(crate) fn pause_in_register() {}

#[cfg(feature = "testing")]
static CLAIM_PAUSE_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes a get in this process pause for `d` while it holds the consumer
/// lock and has just seen the head slot claimed by another process
/// (WRITING or COPYING): the window in which a consumer finishing its copy
/// moves `head` on. `Duration::ZERO` turns it off.
#[cfg(feature = "testing")]
pub fn set_claim_pause(d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    CLAIM_PAUSE_US.store(us, std::sync::atomic::Ordering::Relaxed);
}

/// The pause point itself (see [`set_claim_pause`]).
#[cfg(feature = "testing")]
pub(crate) fn pause_in_claim() {
    let us = CLAIM_PAUSE_US.load(std::sync::atomic::Ordering::Relaxed);
    if us != 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

/// Without the `testing` feature, nothing pauses.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(crate) fn pause_in_claim() {}
