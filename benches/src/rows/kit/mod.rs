//! The shared pieces the rows are built from: `shm` (shared mappings),
//! `peer` (the second process), `wait` (bounded spin/futex waits),
//! `pingpong` (the latency-row driver), `pingpong_async` (its async twin),
//! `record` (the serde rows' message), `sizes` (the size sweep's sizes
//! and rows), `python` (the Python script rows run), `nats` (the server
//! and the stream the remote rows share).

pub mod keys;
pub mod nats;
pub mod peer;
pub mod pingpong;
pub mod pingpong_async;
pub mod python;
pub mod record;
pub mod shm;
pub mod sizes;
pub mod wait;
