//! Python's `multiprocessing`, the conveniences this toolkit reimplements
//! (run through `kit::python`), and the bound of any queue that pickles.

use crate::harness::{Bench, Group, Iters, Kind, Metric, Workload};
use crate::rows::kit::python::run;
use crate::rows::limits;

pub const GROUP: Group = Group {
    name: "python",
    kind: Kind::Peer,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "py_pipe_pingpong",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 20_000,
                quick: 500,
            },
            compare_to: &["limit_futex_pingpong"],
            about: "multiprocessing.Pipe(): send(int) / recv() each way",
            sample: |n| run("pipe_pingpong", n, None),
        },
        Bench {
            id: "py_queue_tput_int",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "multiprocessing.Queue(maxsize=256): a child put()s ints, the parent get()s",
            sample: |n| run("queue_tput_int", n, None),
        },
        Bench {
            id: "py_manager_dict_get",
            group: &GROUP,
            workload: Workload::DictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 20_000,
                quick: 500,
            },
            compare_to: &[],
            about: "multiprocessing.Manager().dict() of 1000 ints, d[key] through the proxy",
            sample: |n| run("manager_dict_get", n, None),
        },
        Bench {
            id: "py_pool_map_1M",
            group: &GROUP,
            workload: Workload::PoolMap,
            metric: Metric::Secs,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "multiprocessing.Pool(2).map(square, range(n)): n = 1M (20k in --quick)",
            sample: |n| run("pool_map", n, None),
        },
        Bench {
            id: "py_queue_tput_1MiB",
            group: &GROUP,
            workload: Workload::PyBytes1MiB,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 2_000,
                quick: 50,
            },
            compare_to: &[],
            about: "multiprocessing.Queue(maxsize=16): a child put()s a 1 MiB bytes object, the parent get()s",
            sample: |n| run("queue_tput_1MiB", n, None),
        },
        Bench {
            id: "limit_py_pickle_int",
            group: &limits::GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "pickle.loads(pickle.dumps(i)) in one Python process: what any queue that pickles each int can at best do",
            sample: |n| run("pickle_int", n, None),
        },
    ]
}
