//! Every benchmark. A new group is a module with a `benches()` function,
//! added here. The table orders rows by workload, then limit / toolkit /
//! peer, then by this order.

use crate::harness::Bench;
use crate::{limits, manager, pipe, pool, queue, toolkit};

pub fn all() -> Vec<Bench> {
    let mut all = limits::benches();
    all.extend(crate::peers::benches());
    all.extend(toolkit::benches());
    all.extend(queue::benches());
    all.extend(pipe::benches());
    all.extend(manager::benches());
    all.extend(pool::benches());
    all
}
