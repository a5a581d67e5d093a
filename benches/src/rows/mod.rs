//! Everything that measures: each group of rows is a module declaring its
//! `GROUP` and a `benches()` function, built on the harness's types and on
//! `kit`. `registry` collects them.
//!
//! - `limits`: the machine's own limits (plain `mmap` and atomics);
//! - `toolkit`: this workspace's crates (`core`, `queue`, `pipe`, `manager`,
//!   `pool`);
//! - `peers`: the systems a user would pick instead;
//! - `kit`: the shared pieces the rows are built from.

pub mod kit;
pub mod limits;
pub mod peers;
pub mod toolkit;
