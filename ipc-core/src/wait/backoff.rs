//! [`Backoff`]: the "spin briefly before sleeping" policy.

use std::time::{Duration, Instant};

/// How long a blocking call spins before it sleeps, by default.
///
/// Measured on the 2-vCPU VMs this project runs on: a process woken from a
/// futex sleep whose vCPU had gone idle takes 1 to 25 µs to run again, while
/// a hand-off between two spinning processes takes 0.1 to 0.5 µs. A spin of
/// 20 µs catches a peer's reply in a request/response exchange without ever
/// letting either vCPU idle; an idle waiter gives up the CPU after 20 µs,
/// which is nothing next to any real idle period.
pub const SPIN_FOR: Duration = Duration::from_micros(20);

/// Spin, checking the condition between `pause` instructions, until a time
/// limit has passed.
///
/// The clock is read every 32 rounds, not every round; one `pause` per round
/// keeps the check frequent, and avoids long `pause` bursts, which a
/// hypervisor may take for a lock-holder-preemption spin and deschedule.
///
/// ```
/// use ipc_core::wait::Backoff;
/// use std::time::Duration;
///
/// let mut backoff = Backoff::spinning_for(Duration::from_micros(5));
/// let mut rounds = 0;
/// while backoff.spin() {
///     rounds += 1; // check the condition here
/// }
/// assert!(rounds > 0);
/// assert!(!Backoff::spinning_for(Duration::ZERO).spin());
/// ```
#[derive(Debug)]
pub struct Backoff {
    rounds: u32,
    start: Option<Instant>,
    limit: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// A fresh backoff that spins for [`SPIN_FOR`].
    pub fn new() -> Self {
        Self::spinning_for(SPIN_FOR)
    }

    /// A fresh backoff that spins for `limit` instead (zero: not at all, for
    /// waiters that must not use CPU while they wait).
    pub fn spinning_for(limit: Duration) -> Self {
        Self {
            rounds: 0,
            start: None,
            limit,
        }
    }

    /// Spins once more; returns `false` once the caller should stop spinning
    /// and sleep instead.
    #[inline]
    pub fn spin(&mut self) -> bool {
        if self.rounds.is_multiple_of(32) {
            if self.limit.is_zero() {
                return false;
            }
            let start = *self.start.get_or_insert_with(Instant::now);
            if self.rounds > 0 && start.elapsed() >= self.limit {
                return false;
            }
        }
        std::hint::spin_loop();
        self.rounds = self.rounds.wrapping_add(1);
        true
    }

    /// Forgets the spin so far (after progress was made).
    pub fn reset(&mut self) {
        *self = Self::spinning_for(self.limit);
    }
}
