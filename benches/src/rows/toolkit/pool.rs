//! Rows measuring `ipc_pool::Pool` and process start-up.

use crate::harness::{Bench, Group, Iters, Kind, Metric, Workload};

pub const GROUP: Group = Group {
    name: "pool",
    kind: Kind::Toolkit,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "pool_map_1M",
            group: &GROUP,
            workload: Workload::PoolMap,
            metric: Metric::Secs,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "Pool with 2 workers maps x*x over 0..n (n = 1M; 20k in --quick), results checked",
            sample: |n| Ok(ipc_pool::bench::pool_map_secs(n, 2)?),
        },
        Bench {
            id: "process_spawn_join",
            group: &GROUP,
            workload: Workload::ProcessStart,
            metric: Metric::Secs,
            iters: Iters {
                full: 200,
                quick: 20,
            },
            compare_to: &[],
            about: "fork and join a child that does nothing; seconds per process",
            sample: |n| Ok(ipc_pool::bench::process_spawn_join_secs(n)?),
        },
    ]
}
