//! Rows measuring the toolkit (`ipc-core`), each compared to the limit it
//! is built on: the `core` group. The other toolkit groups are its child
//! modules: `queue` (`ipc_queue::Queue`), `pipe` (`ipc_queue::Pipe`),
//! `manager` (`ipc_manager::Manager`), `pool` (`ipc_pool::Pool`), `python`
//! (the Python package, `ipc_toolkit`), `remote` (`ipc_remote`, on NATS).

pub mod manager;
mod manager_fixture;
pub mod pipe;
pub mod pool;
pub mod python;
pub mod queue;
pub mod remote;

use std::rc::Rc;

use ipc_core::segment::{SegmentOptions, Shared};
use ipc_core::sync::RobustMutex;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::pingpong::{Baton, Side, one_way_ns};
use crate::rows::kit::wait::{Stalled, spin_until};

pub const GROUP: Group = Group {
    name: "core",
    kind: Kind::Toolkit,
};

pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: "core_mutex_pingpong",
        group: &GROUP,
        workload: Workload::PingpongSpin,
        metric: Metric::OneWayNs,
        iters: Iters {
            full: 100_000,
            quick: 2_500,
        },
        compare_to: &["limit_spin_pingpong"],
        about: "RobustMutex<u64> handed back and forth: lock, check turn, flip, unlock",
        sample: mutex_pingpong,
    }]
}

/// `core_mutex_pingpong`: the robust mutex in an anonymous shared segment,
/// guarding the turn counter (even: parent's turn, odd: the peer's).
fn mutex_pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let mutex = Shared::create(&SegmentOptions::anonymous(), RobustMutex::new(0u64))?;
    one_way_ns(Rc::new(mutex), warmup_for(round_trips), round_trips)
}

/// The handoff: each side spins on `try_lock`, and when it holds the lock
/// and the turn is its own, flips the turn and unlocks. `try_lock` rather
/// than `lock`, so both sides stay awake and the row measures the mutex's
/// handoff cost against `limit_spin_pingpong`, not a futex sleep.
impl Baton for RobustMutex<u64> {
    fn take_and_pass(&self, side: Side) -> Result<(), Stalled> {
        spin_until(|| {
            let Some(mut turn) = self.try_lock() else {
                return false;
            };
            let mine = *turn % 2 == side.parity();
            if mine {
                *turn += 1;
            }
            mine
        })
    }
}
