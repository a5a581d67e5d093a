//! The shared pieces the rows are built from: `shm` (shared mappings),
//! `peer` (the second process), `wait` (bounded spin/futex waits),
//! `pingpong` (the latency-row driver).

pub mod peer;
pub mod pingpong;
pub mod record;
pub mod shm;
pub mod wait;
