//! The benchmark registry types and the runner; it knows no concrete group
//! and no report.
//!
//! A benchmark is a function returning one sample (one number in its
//! metric's unit) for a given iteration count. The runner repeats every
//! selected benchmark `runs` times, round-robin, and reduces the samples to
//! median / min / max plus ratios to reference rows measured in the same run.
//!
//! Here: the types a row is declared with ([`Bench`], [`Group`], [`Kind`],
//! [`Metric`], [`Workload`], [`Iters`], [`SampleError`], [`warmup_for`]);
//! `plan` (which rows a selection runs, the registry check), `run` (the
//! interleaved runner and its statistics), `progress` (the progress line),
//! `tail` (the per-round-trip histograms of the ping-pong rows),
//! `footprint` (the shared memory an object row maps), `allocs` (the
//! counting allocator and the allocations per operation).

pub mod allocs;
mod bench;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod footprint;
mod plan;
mod progress;
mod run;
pub mod tail;

pub use bench::{
    Bench, Group, Iters, Kind, Metric, SWEEP_SIZES, SampleError, Workload, sweep_size_of,
    warmup_for,
};
pub use plan::{Selection, plan, validate};
pub use run::{Outcome, Row, RunConfig, run};
