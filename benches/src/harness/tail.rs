//! Tail latency: the ping-pong drivers time every round trip of an extra,
//! untimed-for-the-median pass into an HDR histogram (`hdrhistogram`), and
//! the runner merges each row's histograms over its rounds into p50, p99
//! and p99.9. A separate pass, so that reading the clock twice per round
//! trip (about 20 ns here) does not inflate the row's median, which comes
//! from one clock reading around the whole timed loop.
//!
//! The values are one-way equivalents (half of each round trip), in the
//! unit of the rows' median.

use std::cell::RefCell;

use hdrhistogram::Histogram;

/// Round trips timed one by one per sample, at most.
pub const TAIL_ROUND_TRIPS: u64 = 20_000;

thread_local! {
    static LAST: RefCell<Option<Histogram<u64>>> = const { RefCell::new(None) };
}

/// A histogram for one-way nanoseconds (1 ns to 10 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

/// Hands the sample's histogram to the runner.
pub fn record(h: Histogram<u64>) {
    LAST.with(|l| *l.borrow_mut() = Some(h));
}

/// The histogram the last sample recorded, if it recorded one.
pub fn take() -> Option<Histogram<u64>> {
    LAST.with(|l| l.borrow_mut().take())
}

/// p50, p99 and p99.9 of a row's merged histogram.
#[derive(Clone, Copy, Debug)]
pub struct Tail {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

impl Tail {
    pub fn of(h: &Histogram<u64>) -> Option<Tail> {
        (!h.is_empty()).then(|| Tail {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
        })
    }
}
