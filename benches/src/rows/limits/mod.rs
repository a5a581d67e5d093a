//! The machine's own limits: what any shared-memory IPC on this host could
//! at best achieve. Built on plain `mmap` and atomics only, never on the
//! toolkit, so toolkit and peer rows can be expressed as ratios to them.

mod memcpy;
mod pingpong;
mod ring;

use crate::harness::{Bench, Group, Iters, Kind, Metric, Workload};

pub const GROUP: Group = Group {
    name: "limits",
    kind: Kind::Limit,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "limit_spin_pingpong",
            group: &GROUP,
            workload: Workload::PingpongSpin,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 500_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "two processes, both busy-spinning, pass a turn on one cache line",
            sample: pingpong::spin,
        },
        Bench {
            id: "limit_futex_pingpong",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 2_500,
                quick: 100,
            },
            compare_to: &["limit_spin_pingpong"],
            about: "same, but the receiver sleeps in FUTEX_WAIT and is woken by FUTEX_WAKE",
            sample: pingpong::futex,
        },
        Bench {
            id: "limit_spsc_ring_8B",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 8_000_000,
                quick: 200_000,
            },
            compare_to: &[],
            about: "minimal lock-free SPSC ring of 8-byte slots between two processes",
            sample: ring::msgs_8b,
        },
        Bench {
            id: "limit_memcpy_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 5_000_000,
                quick: 100_000,
            },
            compare_to: &[],
            about: "one process copying 4 KiB between page-aligned, cache-hot buffers",
            sample: memcpy::gb_4kib,
        },
        Bench {
            id: "limit_spsc_ring_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 200_000,
                quick: 4_000,
            },
            compare_to: &["limit_memcpy_4KiB"],
            about: "the same ring moving 4 KiB messages (copy in, copy out)",
            sample: ring::gb_4kib,
        },
    ]
    .into_iter()
    .chain(copy_rows())
    .collect()
}

/// `limit_copy_<size>` of the size sweep: one `memcpy` of a message of that
/// size, in ns (what a copying hand-off cannot go below, per copy).
fn copy_rows() -> Vec<Bench> {
    macro_rules! copy_row {
        ($label:literal, $n:expr) => {
            Bench {
                id: concat!("limit_copy_", $label),
                group: &GROUP,
                workload: Workload::SweepPingpong,
                metric: Metric::OneWayNs,
                iters: crate::rows::kit::sizes::pingpong_iters($n),
                compare_to: &[],
                about: "one memcpy of a message of this size, between two buffers of one process",
                sample: memcpy::ns_per_copy::<{ $n }>,
            }
        };
    }
    vec![
        copy_row!("64B", 64),
        copy_row!("4KiB", 4 << 10),
        copy_row!("64KiB", 64 << 10),
        copy_row!("1MiB", 1 << 20),
        copy_row!("4MiB", 4 << 20),
    ]
}
