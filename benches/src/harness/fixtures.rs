//! Stand-in rows for the harness's and the report's own tests: a limit, a
//! toolkit group and peers, and a row builder.

use super::bench::{Bench, Group, Iters, Kind, Metric, SampleError, Workload};

/// A limit group.
pub(crate) const LIMITS: Group = Group {
    name: "limits",
    kind: Kind::Limit,
};
/// A toolkit group.
pub(crate) const QUEUE: Group = Group {
    name: "queue",
    kind: Kind::Toolkit,
};
/// A peer group.
pub(crate) const OS: Group = Group {
    name: "os",
    kind: Kind::Peer,
};
/// Another peer group.
pub(crate) const ICEORYX2: Group = Group {
    name: "iceoryx2",
    kind: Kind::Peer,
};
/// A third peer group.
pub(crate) const PYTHON: Group = Group {
    name: "python",
    kind: Kind::Peer,
};

/// A row with one iteration per sample and no description.
pub(crate) fn bench(
    id: &'static str,
    group: &'static Group,
    workload: Workload,
    metric: Metric,
    compare_to: &'static [&'static str],
    sample: fn(u64) -> Result<f64, SampleError>,
) -> Bench {
    Bench {
        id,
        group,
        workload,
        metric,
        iters: Iters { full: 1, quick: 1 },
        compare_to,
        about: "",
        sample,
    }
}
