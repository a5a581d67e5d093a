//! The NATS server the remote rows run against: a `nats-server -js` of the
//! row's own on a free loopback port with a temporary file store (the
//! helper the remote crate's tests use), and the shape of the two-process
//! stream both remote throughput rows share, so that they differ only in
//! the client code under test.

use std::time::{Duration, Instant};

use ipc_test_support::nats::{INSTALL_HINT, NatsServer, server_binary};

use crate::harness::SampleError;
use crate::rows::kit::peer;

/// The payload of the 1 KiB rows.
pub const PAYLOAD: usize = 1024;

/// A fresh server, or the row skipped (and says how to install one).
pub fn server() -> Result<NatsServer, SampleError> {
    if server_binary().is_none() {
        return Err(SampleError::skipped(format!(
            "nats-server not found: {INSTALL_HINT}"
        )));
    }
    NatsServer::start().ok_or_else(|| SampleError::skipped("nats-server could not start"))
}

/// A stream (queue) name unique to this sample.
pub fn unique(tag: &str) -> String {
    ipc_test_support::unique_name(tag).replace(['/', '.'], "_")
}

/// A 1 KiB message whose first 8 bytes are `seq`.
pub fn message(seq: u64) -> Vec<u8> {
    let mut m = vec![0x5a; PAYLOAD];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

/// The sequence number of a message, checked for its size.
pub fn seq_of(m: &[u8]) -> Result<u64, SampleError> {
    if m.len() != PAYLOAD {
        return Err(SampleError::failed(format!("a {}-byte message", m.len())));
    }
    Ok(u64::from_le_bytes(m[..8].try_into().unwrap_or_default()))
}

/// Messages per second of a two-process stream: a consumer process
/// (`consume(warmup + msgs)`, which checks the order) and this process
/// producing through `produce(range)`; the clock starts once the warm-up
/// messages were consumed (`drained` says so) and stops when the consumer
/// exits.
pub fn stream(
    msgs: u64,
    warmup: u64,
    consume: impl FnOnce(u64) + 'static,
    mut produce: impl FnMut(std::ops::Range<u64>) -> Result<(), SampleError>,
    drained: impl Fn() -> Result<bool, SampleError>,
) -> Result<f64, SampleError> {
    let consumer = peer::spawn("nats-consumer", move || consume(warmup + msgs))?;
    produce(0..warmup)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !drained()? {
        if Instant::now() > deadline {
            return Err(SampleError::failed(
                "the consumer did not drain the warm-up",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    produce(warmup..warmup + msgs)?;
    peer::join(consumer)?;
    Ok(msgs as f64 / start.elapsed().as_secs_f64())
}
