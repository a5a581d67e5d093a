//! Every benchmark, in table order. A new group is a module with a
//! `benches()` function, added here.

use crate::harness::Bench;
use crate::{limits, queue, toolkit};

pub fn all() -> Vec<Bench> {
    let mut all = limits::benches();
    all.extend(toolkit::benches());
    all.extend(queue::benches());
    all
}
