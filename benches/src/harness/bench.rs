//! The types a benchmark row is declared with: [`Bench`], [`Group`],
//! [`Kind`], [`Metric`], [`Workload`], [`Iters`], [`SampleError`] and
//! [`warmup_for`].

use std::error::Error;
use std::fmt;

/// What a benchmark measures; fixes the RESULT key and the table unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Metric {
    /// One-way latency of a two-process handoff, nanoseconds (lower is better).
    OneWayNs,
    /// Messages per second through a two-process channel (higher is better).
    MsgsPerS,
    /// Payload bytes per second, in 10^9 bytes (higher is better).
    GbPerS,
    /// Operations per second, e.g. dictionary reads (higher is better).
    OpsPerS,
    /// Wall-clock seconds for the whole job (lower is better).
    Secs,
    /// Bytes of memory per stored entry (lower is better).
    BytesPerEntry,
}

impl Metric {
    /// The key on the RESULT line.
    pub fn key(self) -> &'static str {
        match self {
            Metric::OneWayNs => "one_way_ns",
            Metric::MsgsPerS => "msgs_per_s",
            Metric::GbPerS => "gb_per_s",
            Metric::OpsPerS => "ops_per_s",
            Metric::Secs => "secs",
            Metric::BytesPerEntry => "bytes_per_entry",
        }
    }

    /// Whether a smaller value is the better one (latency, elapsed time).
    pub fn lower_is_better(self) -> bool {
        matches!(
            self,
            Metric::OneWayNs | Metric::Secs | Metric::BytesPerEntry
        )
    }

    /// How many times faster a value `this` is than `reference`: above 1
    /// means `this` is better, whichever direction the metric runs. Every
    /// ratio in the table, the report and the chart is one of these.
    pub fn speedup(self, this: f64, reference: f64) -> f64 {
        if self.lower_is_better() {
            reference / this
        } else {
            this / reference
        }
    }

    /// What a value of this metric is, for table headings.
    pub fn describe(self) -> &'static str {
        match self {
            Metric::OneWayNs => "one-way latency, lower is better",
            Metric::MsgsPerS => "messages per second, higher is better",
            Metric::GbPerS => "payload GB/s, higher is better",
            Metric::OpsPerS => "operations per second, higher is better",
            Metric::Secs => "seconds, lower is better",
            Metric::BytesPerEntry => "bytes per entry, lower is better",
        }
    }

    /// The unit shown in the table, and the factor from the RESULT value to it.
    pub fn display_unit(self) -> (&'static str, f64) {
        match self {
            Metric::OneWayNs => ("ns", 1.0),
            Metric::MsgsPerS => ("M msg/s", 1e-6),
            Metric::GbPerS => ("GB/s", 1.0),
            Metric::OpsPerS => ("k op/s", 1e-3),
            Metric::Secs => ("s", 1.0),
            Metric::BytesPerEntry => ("B/entry", 1.0),
        }
    }
}

/// Iterations per sample: `full` is sized for ~50-200 ms per sample on this
/// machine, `quick` for a few ms (CI smoke run).
#[derive(Clone, Copy, Debug)]
pub struct Iters {
    pub full: u64,
    pub quick: u64,
}

/// Untimed iterations a sample runs before timing: a tenth of the timed ones,
/// enough to absorb the fork, page faults, and to wake the peer and the CPU.
pub fn warmup_for(iters: u64) -> u64 {
    (iters / 10).max(100)
}

/// The workload a row runs: the table, the report and the chart are grouped
/// by it, and within one the toolkit's rows are compared to the peers' rows
/// (the systems a user would pick instead) and to the machine's limit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Workload {
    /// An 8-byte turn passed back and forth, both sides busy-polling.
    PingpongSpin,
    /// An 8-byte message passed back and forth, the receiver blocked (asleep).
    PingpongBlocking,
    /// A stream of 8-byte messages from one process to another.
    Tput8B,
    /// A stream of 4 KiB messages from one process to another.
    Tput4KiB,
    /// A stream of 100-byte byte frames from one process to another, through
    /// objects whose frame limit is 64 KiB (memory follows the data, or not).
    TputVar100B,
    /// Messages of 64 B to 4 MiB passed back and forth (the size sweep):
    /// one-way latency by size.
    SweepPingpong,
    /// Streams of messages of 64 B to 4 MiB (the size sweep): throughput by
    /// size.
    SweepTput,
    /// A stream of serde records (two integers, a ~100-byte string, four
    /// small integers) from one process to another.
    TputRecord,
    /// A serde record passed back and forth, the receiver blocked.
    PingpongRecord,
    /// An 8-byte message passed back and forth between two async tasks
    /// (tokio), each awaiting the other's message.
    PingpongAsync,
    /// 1 MiB `bytes` objects through a queue, from Python.
    PyBytes1MiB,
    /// Reads of one key from a dictionary shared between processes.
    DictGet,
    /// The memory a dictionary takes per entry.
    DictMemory,
    /// A function mapped over a range by a pool of worker processes.
    PoolMap,
    /// Starting and joining a child process.
    ProcessStart,
    /// A stream of 1 KiB messages between two processes through a NATS
    /// JetStream server on loopback, each put acknowledged by the server
    /// and each message acknowledged by its consumer.
    RemoteTput1KiB,
    /// Reads of one 8-byte value from a NATS key-value bucket on loopback.
    RemoteDictGet,
    /// A pool's map of 10 000 tasks of 1 ms each over 2 worker processes,
    /// across a NATS server or in shared memory.
    RemotePoolMap,
}

/// The message sizes of the size sweep (workloads `SweepPingpong` and
/// `SweepTput`), with the suffix their rows' ids carry
/// (`<system>_pingpong_<suffix>`, `<system>_tput_<suffix>`).
pub const SWEEP_SIZES: [(&str, usize); 5] = [
    ("64B", 64),
    ("4KiB", 4 << 10),
    ("64KiB", 64 << 10),
    ("1MiB", 1 << 20),
    ("4MiB", 4 << 20),
];

/// The sweep size a row id's suffix names (`..._64KiB`).
pub fn sweep_size_of(id: &str) -> Option<usize> {
    SWEEP_SIZES
        .iter()
        .find(|(label, _)| id.ends_with(&format!("_{label}")))
        .map(|&(_, n)| n)
}

impl Workload {
    /// Whether the workload is part of the size sweep (its rows span sizes,
    /// drawn in `sweep.svg` rather than as bars).
    pub fn is_sweep(self) -> bool {
        matches!(self, Workload::SweepPingpong | Workload::SweepTput)
    }

    /// Every workload, in table order.
    pub const ALL: [Workload; 18] = [
        Workload::PingpongSpin,
        Workload::PingpongBlocking,
        Workload::Tput8B,
        Workload::Tput4KiB,
        Workload::TputVar100B,
        Workload::SweepPingpong,
        Workload::SweepTput,
        Workload::TputRecord,
        Workload::PingpongRecord,
        Workload::PingpongAsync,
        Workload::PyBytes1MiB,
        Workload::DictGet,
        Workload::DictMemory,
        Workload::PoolMap,
        Workload::ProcessStart,
        Workload::RemoteTput1KiB,
        Workload::RemoteDictGet,
        Workload::RemotePoolMap,
    ];

    /// The name `--workload` takes.
    pub fn slug(self) -> &'static str {
        match self {
            Workload::PingpongSpin => "pingpong-spin",
            Workload::PingpongBlocking => "pingpong-blocking",
            Workload::Tput8B => "tput-8B",
            Workload::Tput4KiB => "tput-4KiB",
            Workload::TputVar100B => "tput-var-100B",
            Workload::SweepPingpong => "sweep-pingpong",
            Workload::SweepTput => "sweep-tput",
            Workload::TputRecord => "tput-record",
            Workload::PingpongRecord => "pingpong-record",
            Workload::PingpongAsync => "pingpong-async",
            Workload::PyBytes1MiB => "py-bytes-1MiB",
            Workload::DictGet => "dict-get",
            Workload::DictMemory => "dict-memory",
            Workload::PoolMap => "pool-map",
            Workload::ProcessStart => "process-start",
            Workload::RemoteTput1KiB => "remote-tput-1KiB",
            Workload::RemoteDictGet => "remote-dict-get",
            Workload::RemotePoolMap => "remote-pool-map",
        }
    }

    /// The heading in the table, the report and the chart.
    pub fn title(self) -> &'static str {
        match self {
            Workload::PingpongSpin => "ping-pong 8 B, busy-polling",
            Workload::PingpongBlocking => "ping-pong 8 B, blocking receive",
            Workload::Tput8B => "throughput, 8 B messages",
            Workload::Tput4KiB => "throughput, 4 KiB messages",
            Workload::TputVar100B => "throughput, 100 B frames, 64 KiB frame limit",
            Workload::SweepPingpong => {
                "size sweep: ping-pong of 64 B to 4 MiB messages (copies vs loans)"
            }
            Workload::SweepTput => {
                "size sweep: throughput of 64 B to 4 MiB messages (copies vs loans)"
            }
            Workload::TputRecord => "throughput, serde records (~130 B)",
            Workload::PingpongRecord => "ping-pong, a serde record, blocking receive",
            Workload::PingpongAsync => "ping-pong 8 B, async tasks (tokio)",
            Workload::PyBytes1MiB => "throughput from Python, 1 MiB bytes objects",
            Workload::DictGet => "shared dictionary, get",
            Workload::DictMemory => "shared dictionary, memory per entry",
            Workload::PoolMap => "process pool, map",
            Workload::ProcessStart => "process start and join",
            Workload::RemoteTput1KiB => "across hosts (NATS JetStream on loopback): 1 KiB messages",
            Workload::RemoteDictGet => "across hosts (NATS key-value on loopback): dict get",
            Workload::RemotePoolMap => "across hosts: pool map of 10 000 tasks of 1 ms, 2 workers",
        }
    }

    pub fn from_slug(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.slug().eq_ignore_ascii_case(s))
    }
}

/// Whose row it is; declared by its group (see [`Group::kind`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Kind {
    /// The machine's own limit (group `limits`).
    Limit,
    /// This toolkit.
    Toolkit,
    /// A system a user would pick instead (the groups of `rows/peers/`).
    Peer,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Limit => "limit",
            Kind::Toolkit => "toolkit",
            Kind::Peer => "peer",
        }
    }
}

/// A group of rows, declared once by the module that defines them
/// (`pub const GROUP: Group`): the name `--group` takes and the table shows,
/// and whose rows they are. The harness names no group.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Group {
    /// The name for `--group`, the table and `--list` (e.g. "limits", "core").
    pub name: &'static str,
    /// Limit, toolkit or peer: every row of the group is of this kind.
    pub kind: Kind,
}

/// One registered benchmark.
pub struct Bench {
    /// Unique id, the `bench=` value on the RESULT line.
    pub id: &'static str,
    /// Its group: the name for `--group` and the table (e.g. "limits",
    /// "core"), and whose row it is.
    pub group: &'static Group,
    /// The workload it measures: rows of one workload are run interleaved
    /// and compared with each other.
    pub workload: Workload,
    pub metric: Metric,
    pub iters: Iters,
    /// Rows this one is divided by (same metric): each gives a ratio in the
    /// table and a `ratio_to_<id>=` key. They are measured whenever this row
    /// is. For toolkit and peer rows: the limit of their workload.
    pub compare_to: &'static [&'static str],
    /// One-line description for `--list`.
    pub about: &'static str,
    /// Measures one sample with the given iteration count (including its own
    /// untimed warm-up) and returns it in `metric`'s RESULT unit.
    pub sample: fn(u64) -> Result<f64, SampleError>,
}

impl Bench {
    /// Limit, toolkit or peer: the kind its group declares.
    pub fn kind(&self) -> Kind {
        self.group.kind
    }
}

/// Why a sample has no value. Usually the measurement went wrong (a peer
/// stalled or crashed, a system call failed, a message arrived out of
/// order): the row is reported as FAILED and the suite exits non-zero. A
/// row that cannot run here at all (python3 missing) is *skipped* instead:
/// it says why, and the rest of the suite counts as a success.
pub struct SampleError {
    error: Box<dyn Error + Send + Sync>,
    skip: bool,
}

impl SampleError {
    pub fn failed(msg: impl Into<String>) -> Self {
        SampleError {
            error: msg.into().into(),
            skip: false,
        }
    }

    /// The row cannot run on this machine; `why` is shown in its place.
    pub fn skipped(why: impl Into<String>) -> Self {
        SampleError {
            error: why.into().into(),
            skip: true,
        }
    }

    pub fn is_skip(&self) -> bool {
        self.skip
    }
}

// Lets `?` turn io::Error, Stalled, ipc_core::Error, ... into a SampleError.
// (SampleError itself is not an Error, so this does not overlap `From<T> for T`.)
impl<E: Error + Send + Sync + 'static> From<E> for SampleError {
    fn from(e: E) -> Self {
        SampleError {
            error: Box::new(e),
            skip: false,
        }
    }
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speedup_points_the_same_way_for_every_metric() {
        // Half the latency and twice the rate are both 2x faster.
        assert_eq!(Metric::OneWayNs.speedup(50.0, 100.0), 2.0);
        assert_eq!(Metric::Secs.speedup(1.0, 2.0), 2.0);
        assert_eq!(Metric::MsgsPerS.speedup(2e6, 1e6), 2.0);
        assert_eq!(Metric::OpsPerS.speedup(1.0, 4.0), 0.25);
    }

    #[test]
    fn every_workload_has_a_slug_that_parses() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_slug(w.slug()), Some(w));
        }
        assert!(Workload::ALL.is_sorted());
    }
}
