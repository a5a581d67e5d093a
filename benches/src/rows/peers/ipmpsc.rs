//! ipmpsc (crates.io): an inter-process multi-producer, single-consumer
//! channel over a shared-memory ring in a mapped file, values encoded with
//! bincode; the closest Rust peer of the Queue's single-consumer shape.
//! Blocking `send` and `recv` (a process-shared mutex and condition
//! variable inside the ring file).
//!
//! The ring file is a temporary file (`create_temp`, removed when the
//! parent's handle drops); the forked producer opens it by path.

use ipmpsc::{Receiver, Sender, SharedRingBuffer};

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::peer;

pub const GROUP: Group = Group {
    name: "ipmpsc",
    kind: Kind::Peer,
};

pub fn benches() -> Vec<Bench> {
    vec![Bench {
        id: "ipmpsc_tput_8B",
        group: &GROUP,
        workload: Workload::Tput8B,
        metric: Metric::MsgsPerS,
        iters: Iters {
            full: 1_000_000,
            quick: 20_000,
        },
        compare_to: &["limit_spsc_ring_8B"],
        about: "u64 through an ipmpsc ring of 4 KiB (about 256 messages, as the Queue's 256 slots), blocking send / recv",
        sample: tput_8b,
    }]
}

/// Bytes of the ring: a bincode u64 takes 8 bytes plus ipmpsc's 8-byte
/// length prefix, so 4 KiB holds 256 of them, like the Queue's 256 slots.
const RING_BYTES: u32 = 4096;

fn ipmpsc_error(e: ipmpsc::Error) -> SampleError {
    SampleError::failed(format!("ipmpsc: {e}"))
}

/// The producer sends `warmup + msgs` sequence numbers; the parent receives
/// them in order and times the last `msgs`.
fn tput_8b(msgs: u64) -> Result<f64, SampleError> {
    let (path, ring) = SharedRingBuffer::create_temp(RING_BYTES).map_err(ipmpsc_error)?;
    crate::harness::footprint::record(RING_BYTES as usize);
    let rx = Receiver::new(ring);
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let producer = peer::spawn("ipmpsc-producer", move || {
        let ring = SharedRingBuffer::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        let tx = Sender::new(ring);
        for seq in 0..total {
            tx.send(&seq).unwrap_or_else(|e| panic!("send: {e}"));
        }
    })?;
    let receive = |expected: u64| -> Result<(), SampleError> {
        let got: u64 = rx.recv().map_err(ipmpsc_error)?;
        if got != expected {
            return Err(SampleError::failed(format!(
                "ipmpsc: got {got}, expected {expected}"
            )));
        }
        Ok(())
    };
    let secs = peer::receive_timed(producer, warmup, total, receive)?.as_secs_f64();
    Ok(msgs as f64 / secs)
}
