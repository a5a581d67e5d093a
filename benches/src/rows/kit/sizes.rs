//! The size sweep (issue 15): how latency and throughput grow with the
//! message size, from 64 B to 4 MiB, for the systems that move bytes
//! (copies) and those that lend memory (loans). Each system's module
//! declares its rows with `sweep_rows!` (sizes:
//! [`SWEEP_SIZES`](crate::harness::SWEEP_SIZES)), which names
//! them `<system>_pingpong_<size>` and `<system>_tput_<size>`.
//!
//! What is measured at each size: the sender fills a message of that many
//! bytes (a copy system copies all of them in and the receiver all of them
//! out; a loan is written in place: its first and last words, the sequence
//! number, as an application that builds its message where it lies), and
//! the receiver checks the first and last words. So copies pay for every
//! byte and loans for none, which is the difference a chooser asks about.

use crate::harness::Iters;

/// Round trips of a ping-pong of `size`-byte messages: fewer as they grow,
/// so that a copy system's sample stays near 0.1-0.3 s here.
pub const fn pingpong_iters(size: usize) -> Iters {
    let full = if size <= 4096 {
        5_000
    } else if size <= 65536 {
        1_000
    } else if size <= 1 << 20 {
        100
    } else {
        40
    };
    Iters {
        full,
        quick: if full / 20 > 4 { full / 20 } else { 4 },
    }
}

/// Messages of a throughput sample of `size`-byte messages: 64 MiB in all
/// (at most a million messages, at least 64).
pub const fn tput_iters(size: usize) -> Iters {
    let full = (64usize << 20) / size;
    let full = if full > 1_000_000 {
        1_000_000
    } else if full < 64 {
        64
    } else {
        full
    };
    Iters {
        full: full as u64,
        quick: if full / 20 > 8 { (full / 20) as u64 } else { 8 },
    }
}

/// Untimed warm-up of a sweep sample: a tenth, at least 4 (a 4 MiB
/// ping-pong must not spend seconds warming up).
pub fn sweep_warmup(iters: u64) -> u64 {
    (iters / 10).max(4)
}

/// Slots (or buffered messages) for a stream of `size`-byte messages:
/// about 1 MiB of them, between 2 and 256.
pub fn stream_slots(size: usize) -> usize {
    ((1usize << 20) / size).clamp(2, 256)
}

/// The sequence number a sweep message carries in its first and last 8
/// bytes (`size` >= 16), and the check of both.
pub fn stamp(buf: &mut [u8], seq: u64) {
    let n = buf.len();
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[n - 8..].copy_from_slice(&seq.to_le_bytes());
}

/// The sequence number of a stamped message, if both copies agree.
pub fn read_stamp(buf: &[u8]) -> Option<u64> {
    let n = buf.len();
    if n < 16 {
        return None;
    }
    let first = u64::from_le_bytes(buf[..8].try_into().ok()?);
    let last = u64::from_le_bytes(buf[n - 8..].try_into().ok()?);
    (first == last).then_some(first)
}

/// Declares the ten sweep rows of one system: `$pingpong::<SIZE>` and
/// `$tput::<SIZE>` are its sample functions, `$system` the id prefix.
/// `$has_tput_4kib`: the system already has a `<system>_tput_4KiB` row (of
/// the 4 KiB workload), which stands for that point of the sweep.
/// `$vs_copy`: its ping-pongs compare to `limit_copy_<size>` (one memcpy).
macro_rules! sweep_rows {
    ($group:expr, $system:literal, $pingpong:ident, $tput:ident, $about_pp:literal, $about_tp:literal, $has_tput_4kib:expr, $vs_copy:expr) => {{
        macro_rules! one {
            ($label:literal, $n:expr) => {
                [
                    crate::harness::Bench {
                        id: concat!($system, "_pingpong_", $label),
                        group: $group,
                        workload: crate::harness::Workload::SweepPingpong,
                        metric: crate::harness::Metric::OneWayNs,
                        iters: crate::rows::kit::sizes::pingpong_iters($n),
                        compare_to: if $vs_copy {
                            &[concat!("limit_copy_", $label)]
                        } else {
                            &[]
                        },
                        about: $about_pp,
                        sample: |n| $pingpong::<{ $n }>(n),
                    },
                    crate::harness::Bench {
                        id: concat!($system, "_tput_", $label),
                        group: $group,
                        workload: crate::harness::Workload::SweepTput,
                        metric: crate::harness::Metric::GbPerS,
                        iters: crate::rows::kit::sizes::tput_iters($n),
                        compare_to: &[],
                        about: $about_tp,
                        sample: |n| $tput::<{ $n }>(n),
                    },
                ]
            };
        }
        let mut rows = Vec::new();
        rows.extend(one!("64B", 64));
        rows.extend(one!("4KiB", 4 << 10));
        rows.extend(one!("64KiB", 64 << 10));
        rows.extend(one!("1MiB", 1 << 20));
        rows.extend(one!("4MiB", 4 << 20));
        if $has_tput_4kib {
            rows.retain(|b: &crate::harness::Bench| b.id != concat!($system, "_tput_4KiB"));
        }
        rows
    }};
}
pub(crate) use sweep_rows;

/// The byte ring of the 100 B rows (`queue_var_tput_100B`,
/// `channel_var_tput_100B`): 256 KiB, room for 2 000 such frames (the 1024
/// slots bound them first) or four of the 64 KiB limit.
pub const RING_100B: usize = 256 << 10;
