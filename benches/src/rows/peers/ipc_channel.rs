//! servo's `ipc-channel` (crates.io), the usual "Rust channels between
//! processes" crate: typed messages serialized with serde over Unix
//! `SOCK_SEQPACKET` sockets. Channels made before the fork are inherited by
//! the child, as `ipc_channel::ipc::channel()` documents for child processes
//! of the same binary. Receives block in the kernel.

use std::hint::black_box;

use ipc_channel::ipc;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::peer;
use crate::rows::kit::pingpong::round_trips_ns;
use crate::rows::kit::record::Record;
use crate::rows::kit::shm::PAGE_BYTES;

pub const GROUP: Group = Group {
    name: "ipc-channel",
    kind: Kind::Peer,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "ipc_channel_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 2_500,
                quick: 100,
            },
            compare_to: &["limit_futex_pingpong"],
            about: "two IpcSender<u64>/IpcReceiver<u64> channels, blocking recv",
            sample: pingpong,
        },
        Bench {
            id: "ipc_channel_serde_tput_record",
            group: &GROUP,
            workload: Workload::TputRecord,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 100_000,
                quick: 4_000,
            },
            compare_to: &[],
            about: "IpcSender<Record>::send / IpcReceiver<Record>::recv (serde with bincode over a socket)",
            sample: serde_tput_record,
        },
        Bench {
            id: "ipc_channel_serde_pingpong_record",
            group: &GROUP,
            workload: Workload::PingpongRecord,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 2_500,
                quick: 100,
            },
            compare_to: &[],
            about: "two IpcSender<Record>/IpcReceiver<Record> channels, blocking recv",
            sample: serde_pingpong_record,
        },
        Bench {
            id: "ipc_channel_bytes_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 100_000,
                quick: 4_000,
            },
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "IpcBytesSender::send(&[u8; 4096]) / IpcBytesReceiver::recv() -> Vec<u8>",
            sample: bytes_4kib,
        },
    ]
}

fn pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let (ping_tx, ping_rx) = ipc::channel::<u64>()?;
    let (pong_tx, pong_rx) = ipc::channel::<u64>()?;
    let mut turn = 0u64;
    round_trips_ns(
        warmup_for(round_trips).min(200),
        round_trips,
        // Owns the child's ends: closed in the parent after the fork, so a
        // dead peer is a disconnection, not a hang.
        move |total| {
            for _ in 0..total {
                let v = ping_rx
                    .recv()
                    .unwrap_or_else(|e| panic!("ipc-channel peer: recv: {e:?}"));
                pong_tx
                    .send(v + 1)
                    .unwrap_or_else(|e| panic!("ipc-channel peer: send: {e:?}"));
            }
        },
        move || {
            ping_tx.send(turn).map_err(|e| failed("send", e))?;
            let got = pong_rx.recv().map_err(|e| failed("recv", e))?;
            if got != turn + 1 {
                return Err(SampleError::failed(format!(
                    "ipc-channel: got {got}, expected {}",
                    turn + 1
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

fn failed(what: &str, e: impl std::fmt::Debug) -> SampleError {
    SampleError::failed(format!("ipc-channel {what}: {e:?}"))
}

/// The child sends `warmup + msgs` 4 KiB byte messages (sequence number in
/// the first 8 bytes); the parent receives each as a `Vec<u8>`, checks the
/// order and times the last `msgs`.
fn bytes_4kib(msgs: u64) -> Result<f64, SampleError> {
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let (tx, rx) = ipc::bytes_channel()?;
    let producer = peer::spawn("ipc-channel-producer", move || {
        let mut page = vec![0u8; PAGE_BYTES];
        for seq in 0..total {
            page[..8].copy_from_slice(&seq.to_le_bytes());
            tx.send(&page)
                .unwrap_or_else(|e| panic!("ipc-channel producer: send: {e}"));
        }
    })?;
    let receive = |expected: u64| -> Result<(), SampleError> {
        let msg = black_box(rx.recv().map_err(|e| failed("recv", e))?);
        let got = msg
            .get(..8)
            .filter(|_| msg.len() == PAGE_BYTES)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        if got != Some(expected) {
            return Err(SampleError::failed(format!(
                "ipc-channel: got {} bytes, seq {got:?}, expected {expected}",
                msg.len()
            )));
        }
        Ok(())
    };
    let secs = peer::receive_timed(producer, warmup, total, receive)?.as_secs_f64();
    Ok(msgs as f64 * PAGE_BYTES as f64 / secs / 1e9)
}

/// The child sends `warmup + msgs` records; the parent receives each as a
/// fresh `Record`, checks it and times the last `msgs`.
fn serde_tput_record(msgs: u64) -> Result<f64, SampleError> {
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let (tx, rx) = ipc::channel::<Record>()?;
    let producer = peer::spawn("ipc-channel-producer", move || {
        let mut rec = Record::new(0);
        for seq in 0..total {
            rec.set(seq);
            tx.send(rec.clone())
                .unwrap_or_else(|e| panic!("ipc-channel producer: send: {e}"));
        }
    })?;
    let receive = |expected: u64| -> Result<(), SampleError> {
        let rec = black_box(rx.recv().map_err(|e| failed("recv", e))?);
        if !rec.is(expected) {
            return Err(SampleError::failed(format!(
                "ipc-channel: got record {}, expected {expected}",
                rec.id
            )));
        }
        Ok(())
    };
    let secs = peer::receive_timed(producer, warmup, total, receive)?.as_secs_f64();
    Ok(msgs as f64 / secs)
}

/// A record each way per round trip over two typed channels.
fn serde_pingpong_record(round_trips: u64) -> Result<f64, SampleError> {
    let (ping_tx, ping_rx) = ipc::channel::<Record>()?;
    let (pong_tx, pong_rx) = ipc::channel::<Record>()?;
    let mut turn = 0u64;
    let mut rec = Record::new(0);
    round_trips_ns(
        warmup_for(round_trips).min(200),
        round_trips,
        move |total| {
            for _ in 0..total {
                let mut r = ping_rx
                    .recv()
                    .unwrap_or_else(|e| panic!("ipc-channel peer: recv: {e:?}"));
                let id = r.id;
                r.set(id + 1);
                pong_tx
                    .send(r)
                    .unwrap_or_else(|e| panic!("ipc-channel peer: send: {e:?}"));
            }
        },
        move || {
            rec.set(turn);
            ping_tx.send(rec.clone()).map_err(|e| failed("send", e))?;
            let back = pong_rx.recv().map_err(|e| failed("recv", e))?;
            if !back.is(turn + 1) {
                return Err(SampleError::failed(format!(
                    "ipc-channel: sent record {turn}, got {} back",
                    back.id
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}
