//! Ping-pong limits: the cost of passing a turn between two processes.

use std::rc::Rc;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::harness::{SampleError, warmup_for};
use crate::rows::kit::pingpong::{Baton, Side, one_way_ns};
use crate::rows::kit::shm::{CacheLine, ShmBox, ShmZeroed};
use crate::rows::kit::wait::{Stalled, futex_wait_while, futex_wake_one, spin_until};

/// `limit_spin_pingpong`: one-way latency with both sides busy-spinning.
pub fn spin(round_trips: u64) -> Result<f64, SampleError> {
    let baton = Rc::new(ShmBox::<SpinTurn>::new()?);
    one_way_ns(baton, warmup_for(round_trips), round_trips)
}

/// `limit_futex_pingpong`: one-way latency when the receiver sleeps.
pub fn futex(round_trips: u64) -> Result<f64, SampleError> {
    let baton = Rc::new(ShmBox::<FutexTurn>::new()?);
    one_way_ns(baton, warmup_for(round_trips), round_trips)
}

/// A turn counter alone on its cache line: even = parent's turn, odd =
/// child's. Both the spinning reads and the handing-over write hit this one
/// line, so a handoff is exactly one cache-line transfer each way.
#[repr(C)]
struct SpinTurn {
    turn: CacheLine<AtomicU64>,
}

// SAFETY: zero is a valid AtomicU64 (turn 0: the parent's), no pointers.
unsafe impl ShmZeroed for SpinTurn {}

impl Baton for SpinTurn {
    #[inline]
    fn take_and_pass(&self, side: Side) -> Result<(), Stalled> {
        let mut turn = 0;
        spin_until(|| {
            turn = self.turn.load(Acquire);
            turn % 2 == side.parity()
        })?;
        // Only the side whose turn it is writes, so a plain store suffices
        // (no read-modify-write); Release publishes everything before it.
        self.turn.store(turn + 1, Release);
        Ok(())
    }
}

/// The same counter as a 32-bit futex word. The receiver goes straight to
/// FUTEX_WAIT (no spinning first), so each one-way trip includes a wake-up of
/// a sleeping process: the floor for any blocking handoff.
#[repr(C)]
struct FutexTurn {
    turn: CacheLine<AtomicU32>,
}

// SAFETY: zero is a valid AtomicU32 (turn 0: the parent's), no pointers.
unsafe impl ShmZeroed for FutexTurn {}

impl Baton for FutexTurn {
    fn take_and_pass(&self, side: Side) -> Result<(), Stalled> {
        let parity = side.parity() as u32;
        loop {
            let turn = self.turn.load(Acquire);
            if turn % 2 == parity {
                // Wrapping: 2^32 is even, so parity survives the wrap.
                self.turn.store(turn.wrapping_add(1), Release);
                // Always wake: the peer is (about to be) asleep by design.
                futex_wake_one(&self.turn);
                return Ok(());
            }
            futex_wait_while(&self.turn, turn)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A baton whose parent side always fails, while the peer spins waiting
    /// for a turn that never comes.
    struct ParentFails(SpinTurn);

    // SAFETY: a SpinTurn, which is ShmZeroed.
    unsafe impl ShmZeroed for ParentFails {}

    impl Baton for ParentFails {
        fn take_and_pass(&self, side: Side) -> Result<(), Stalled> {
            match side {
                Side::Parent => Err(Stalled),
                Side::Child => self.0.take_and_pass(Side::Child),
            }
        }
    }

    #[test]
    fn parent_error_kills_the_spinning_peer_at_once() {
        let start = Instant::now();
        let baton = Rc::new(ShmBox::<ParentFails>::new().unwrap());
        assert!(one_way_ns(baton, 10, 10).is_err());
        // Well below the peer's own stall limit: it was killed, not waited for.
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn spin_and_futex_produce_a_latency() {
        for sample in [spin, futex] {
            let ns = sample(200).map_err(|e| e.to_string()).unwrap();
            assert!(ns.is_finite() && ns > 0.0);
        }
    }
}
