//! [`Deadline`]: how long a call may wait.

use std::time::{Duration, Instant};

/// How long a call may wait: not at all, until an instant, or as long as it
/// takes.
///
/// Deadlines are absolute: a wait cut into slices, interrupted by a signal or
/// woken spuriously never waits longer in total.
///
/// ```
/// use ipc_core::wait::Deadline;
/// use std::time::Duration;
///
/// assert!(Deadline::Now.has_passed());
/// assert!(!Deadline::Forever.has_passed());
/// assert!(!Deadline::after(Duration::from_secs(60)).has_passed());
/// assert_eq!(Deadline::from_timeout(None), Deadline::Forever);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Do not wait: a `try_` call.
    Now,
    /// Wait until this instant at most.
    At(Instant),
    /// Wait as long as it takes.
    Forever,
}

impl Deadline {
    /// A deadline `timeout` from now (`Forever` if that instant cannot be
    /// represented).
    pub fn after(timeout: Duration) -> Self {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Forever, Deadline::At)
    }

    /// [`after`](Self::after) for `Some(timeout)`, [`Forever`](Self::Forever)
    /// for `None`.
    pub fn from_timeout(timeout: Option<Duration>) -> Self {
        timeout.map_or(Deadline::Forever, Self::after)
    }

    /// Whether the deadline has passed (always for [`Now`](Self::Now)).
    pub fn has_passed(self) -> bool {
        match self {
            Deadline::Now => true,
            Deadline::At(d) => Instant::now() >= d,
            Deadline::Forever => false,
        }
    }

    /// The instant, if there is one: `None` for [`Forever`](Self::Forever),
    /// the present for [`Now`](Self::Now).
    pub fn instant(self) -> Option<Instant> {
        match self {
            Deadline::Now => Some(Instant::now()),
            Deadline::At(d) => Some(d),
            Deadline::Forever => None,
        }
    }

    /// The time left (`None`: unlimited; zero once passed).
    pub fn remaining(self) -> Option<Duration> {
        self.instant()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The end of a sleep of at most `slice` that respects this deadline, or
    /// `None` once the deadline has passed.
    pub fn slice_end(self, slice: Duration) -> Option<Instant> {
        let now = Instant::now();
        let end = now.checked_add(slice);
        match self {
            Deadline::Now => None,
            Deadline::At(d) if d <= now => None,
            Deadline::At(d) => Some(end.map_or(d, |e| e.min(d))),
            Deadline::Forever => Some(end.unwrap_or(now)),
        }
    }
}

impl From<Instant> for Deadline {
    fn from(at: Instant) -> Self {
        Deadline::At(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_respect_the_deadline() {
        let d = Instant::now() + Duration::from_millis(5);
        let end = Deadline::At(d).slice_end(Duration::from_secs(1)).unwrap();
        assert_eq!(end, d);
        assert!(Deadline::Now.slice_end(Duration::from_secs(1)).is_none());
        let past = Deadline::At(Instant::now() - Duration::from_millis(1));
        assert!(past.slice_end(Duration::from_secs(1)).is_none());
        assert!(past.has_passed());
        let f = Deadline::Forever
            .slice_end(Duration::from_millis(1))
            .unwrap();
        assert!(f <= Instant::now() + Duration::from_millis(1));
    }

    #[test]
    fn huge_timeouts_mean_forever() {
        assert_eq!(Deadline::after(Duration::MAX), Deadline::Forever);
        assert_eq!(Deadline::Forever.remaining(), None);
        assert_eq!(Deadline::Now.remaining(), Some(Duration::ZERO));
    }
}
