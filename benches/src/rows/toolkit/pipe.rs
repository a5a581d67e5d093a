//! Rows measuring `ipc_queue::Pipe` and its one-way `channel`, each compared
//! to the limit it is built on.
//!
//! The ping-pongs pass a counter back and forth over one duplex pipe with
//! `send` and `recv`. In `pipe_pingpong_8B` both sides busy-poll: `recv`
//! spins (one PAUSE per check) for 20 µs before it would sleep, and a reply
//! comes within a fraction of a microsecond, so neither side ever sleeps.
//! (A bare `try_recv` loop without a PAUSE between polls is slower: polling
//! the slot's line back-to-back keeps stealing it from the sender while it
//! writes.) `pipe_blocking_pingpong_8B` builds the
//! pipe with `spin(0)`, so each receiver is asleep in the kernel when the
//! message comes.
//!
//! `pipe_duplex_tput_8B` streams both ways at once over one duplex pipe
//! (each end alternating `try_send` and `try_recv`) and counts the messages
//! of both directions. The one-way throughput rows fork a sender that sends `warmup + msgs` messages
//! carrying their sequence number through a channel of as many slots as the
//! raw ring they are compared to (1024 of 8 bytes, 32 of 4 KiB); the parent
//! receives with the blocking `recv`, checks the order, and times the last
//! `msgs`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ipc_queue::pipe::PipeBuilder;
use ipc_queue::{Pipe, PipeEnd, Receiver, Sender};

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::harness::{allocs, footprint};
use crate::rows::kit::peer;
use crate::rows::kit::pingpong::round_trips_ns;
use crate::rows::kit::pingpong_async::{async_round_trips_ns, runtime};
use crate::rows::kit::record::Record;
use crate::rows::kit::shm::PAGE_BYTES;
use crate::rows::kit::sizes::{read_stamp, stamp, stream_slots, sweep_warmup};

pub const GROUP: Group = Group {
    name: "pipe",
    kind: Kind::Toolkit,
};

/// A 4 KiB message whose first word is its sequence number.
type Page4K = [u64; PAGE_BYTES / 8];

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "pipe_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongSpin,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 500_000,
                quick: 20_000,
            },
            compare_to: &["limit_spin_pingpong"],
            about: "duplex Pipe<u64>, send / recv, both ends busy-polling inside recv",
            sample: pingpong_8b,
        },
        Bench {
            id: "pipe_serde_pingpong_record",
            group: &GROUP,
            workload: Workload::PingpongRecord,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 2_500,
                quick: 100,
            },
            compare_to: &["ipc_channel_serde_pingpong_record"],
            about: "duplex Pipe<u8>, default spin: send_serde / recv_serde of a record each way",
            sample: serde_pingpong_record,
        },
        Bench {
            id: "pipe_async_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongAsync,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 20_000,
                quick: 500,
            },
            compare_to: &["tokio_uds_pingpong_8B", "pipe_blocking_pingpong_8B"],
            about: "duplex Pipe<u64>, both ends async (send_async / recv_async), each a current-thread tokio runtime",
            sample: async_pingpong_8b,
        },
        Bench {
            id: "pipe_blocking_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 2_500,
                quick: 100,
            },
            compare_to: &["limit_futex_pingpong"],
            about: "duplex Pipe<u64> with spin(0): each receiver asleep in recv until woken",
            sample: blocking_pingpong_8b,
        },
        Bench {
            id: "channel_var_tput_100B",
            group: &GROUP,
            workload: Workload::TputVar100B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &["queue_fixed_tput_100B"],
            about: "channel<u8>, 1024 slots, 64 KiB frame limit, frames in a 256 KiB byte ring: send_bytes / recv_bytes_into of 100 B",
            sample: channel_var_tput_100b,
        },
        Bench {
            id: "channel_serde_tput_record",
            group: &GROUP,
            workload: Workload::TputRecord,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 2_000_000,
                quick: 40_000,
            },
            compare_to: &["ipc_channel_serde_tput_record"],
            about: "channel<u8> of 1024 slots: send_serde / recv_serde of a record (the one-way path for streams)",
            sample: channel_serde_tput_record,
        },
        Bench {
            id: "pipe_tput_8B",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 8_000_000,
                quick: 200_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "channel<u64> of 1024 slots, single send / recv",
            sample: tput_8b,
        },
        Bench {
            id: "pipe_duplex_tput_8B",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 2_000_000,
                quick: 50_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "duplex Pipe<u64>, both ends sending and receiving at once; both directions counted",
            sample: duplex_tput_8b,
        },
        Bench {
            id: "pipe_duplex_tput_8B_separate",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 2_000_000,
                quick: 50_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "the same with interleave(false): one slot array per direction",
            sample: duplex_tput_8b_separate,
        },
        Bench {
            id: "pipe_tput_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "channel<[u64; 512]> of 32 slots: 4 KiB copied in by send, out by recv",
            sample: tput_4kib,
        },
    ]
    .into_iter()
    .chain(crate::rows::kit::sizes::sweep_rows!(
        &GROUP,
        "pipe",
        sweep_pingpong,
        sweep_tput,
        "duplex Pipe<u8>, 2 slots a side: the whole message copied in by send_bytes, read in place by recv_bytes_with, each way",
        "channel<u8> of about 1 MiB of slots: the whole message copied in by send_bytes, read in place by recv_bytes_with",
        true,
        true
    ))
    .collect()
}

fn pingpong_8b(round_trips: u64) -> Result<f64, SampleError> {
    pingpong(Pipe::<u64>::new()?, round_trips)
}

/// No spinning before the sleep: each receiver really is asleep in `recv`
/// when the message comes.
fn blocking_pingpong_8b(round_trips: u64) -> Result<f64, SampleError> {
    let ends = Pipe::<u64>::builder().spin(Duration::ZERO).create()?;
    pingpong(ends, round_trips)
}

/// A record each way per round trip with the pipe's default settings (a
/// receiver spins 20 µs before it sleeps, so a prompt reply is caught
/// awake, as a user gets it): encoded into the slot by `send_serde`,
/// decoded by `recv_serde`.
fn serde_pingpong_record(round_trips: u64) -> Result<f64, SampleError> {
    let (mine, theirs) = Pipe::<u8>::builder().max_frame(256).create()?;
    footprint::record(mine.shm_bytes());
    let mut turn = 0u64;
    let mut rec = Record::new(0);
    round_trips_ns(
        warmup_for(round_trips),
        round_trips,
        move |total| {
            for _ in 0..total {
                let mut r: Record = theirs
                    .recv_serde()
                    .unwrap_or_else(|e| panic!("pipe peer: {e}"));
                let id = r.id;
                r.set(id + 1);
                theirs
                    .send_serde(&r)
                    .unwrap_or_else(|e| panic!("pipe peer: {e}"));
            }
        },
        move || {
            rec.set(turn);
            mine.send_serde(&rec)?;
            let back: Record = mine.recv_serde()?;
            if !back.is(turn + 1) {
                return Err(SampleError::failed(format!(
                    "pipe: sent record {turn}, got {} back",
                    back.id
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

/// Both ends async: the peer awaits each message and answers it, the
/// parent awaits each answer, each in a current-thread tokio runtime.
fn async_pingpong_8b(round_trips: u64) -> Result<f64, SampleError> {
    let (mine, mut theirs) = Pipe::<u64>::new()?;
    footprint::record(mine.shm_bytes());
    async_round_trips_ns(
        warmup_for(round_trips),
        round_trips,
        move |total| {
            let rt = runtime().unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(async move {
                for _ in 0..total {
                    let v = theirs
                        .recv_async()
                        .await
                        .unwrap_or_else(|e| panic!("pipe peer: {e}"));
                    theirs
                        .send_async(&(v + 1))
                        .await
                        .unwrap_or_else(|e| panic!("pipe peer: {e}"));
                }
            });
        },
        (mine, 0u64),
        async |(end, turn): &mut (PipeEnd<u64>, u64)| {
            let t = *turn;
            *turn += 2;
            end.send_async(&t).await?;
            let back = end.recv_async().await?;
            if back != t + 1 {
                return Err(SampleError::failed(format!(
                    "pipe: sent {t}, got {back} back"
                )));
            }
            Ok(())
        },
    )
}

fn pingpong(
    (mine, theirs): (PipeEnd<u64>, PipeEnd<u64>),
    round_trips: u64,
) -> Result<f64, SampleError> {
    footprint::record(mine.shm_bytes());
    let mut turn = 0u64;
    round_trips_ns(
        warmup_for(round_trips),
        round_trips,
        move |total| {
            for _ in 0..total {
                let v = theirs.recv().unwrap_or_else(|e| panic!("pipe peer: {e}"));
                theirs
                    .send(&(v + 1))
                    .unwrap_or_else(|e| panic!("pipe peer: {e}"));
            }
        },
        move || {
            mine.send(&turn)?;
            let back = mine.recv()?;
            if back != turn + 1 {
                return Err(SampleError::failed(format!(
                    "pipe: sent {turn}, got {back} back"
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

/// Forks `produce(total)` on the sending half and calls `consume(seq)` for
/// every expected sequence number; returns the time of the last `msgs`.
fn transfer<T: ipc_queue::Message>(
    builder: PipeBuilder<T>,
    msgs: u64,
    produce: fn(&Sender<T>, u64),
    mut consume: impl FnMut(&Receiver<T>, u64) -> Result<(), SampleError>,
) -> Result<Duration, SampleError> {
    let (tx, rx) = builder.channel()?;
    footprint::record(rx.shm_bytes());
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let producer = peer::spawn("pipe-sender", move || produce(&tx, total))?;
    for seq in 0..warmup {
        consume(&rx, seq)?;
    }
    let allocs = allocs::count();
    let start = Instant::now();
    for seq in warmup..total {
        consume(&rx, seq)?;
    }
    let elapsed = start.elapsed();
    allocs::record((allocs::count() - allocs) as f64 / msgs as f64);
    peer::join(producer)?;
    Ok(elapsed)
}

/// 100-byte frames (the sequence number first) through a byte-ring channel
/// with a 64 KiB frame limit, the shape of `queue_var_tput_100B`.
fn channel_var_tput_100b(msgs: u64) -> Result<f64, SampleError> {
    let builder = Pipe::<u8>::builder()
        .capacity(1024)
        .max_frame(64 << 10)
        .ring_bytes(crate::rows::kit::sizes::RING_100B);
    let produce = |tx: &Sender<u8>, total: u64| {
        let mut frame = [7u8; 100];
        for seq in 0..total {
            frame[..8].copy_from_slice(&seq.to_le_bytes());
            tx.send_bytes(&frame)
                .unwrap_or_else(|e| panic!("send_bytes: {e}"));
        }
    };
    let mut buf = vec![0u8; 64 << 10];
    let elapsed = transfer(builder, msgs, produce, move |rx, seq| {
        let n = rx.recv_bytes_into(&mut buf)?;
        let got = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
        if n != 100 || got != seq {
            return Err(SampleError::failed(format!(
                "channel: got frame {got} ({n} bytes), expected {seq}"
            )));
        }
        Ok(())
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// Records through a one-way channel: encoded into the slot by the sender,
/// copied out and decoded by the receiver.
fn channel_serde_tput_record(msgs: u64) -> Result<f64, SampleError> {
    let (tx, rx) = Pipe::<u8>::builder()
        .capacity(1024)
        .max_frame(256)
        .channel()?;
    footprint::record(rx.shm_bytes());
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let producer = peer::spawn("pipe-sender", move || {
        let mut rec = Record::new(0);
        for seq in 0..total {
            rec.set(seq);
            tx.send_serde(&rec)
                .unwrap_or_else(|e| panic!("send_serde: {e}"));
        }
    })?;
    let receive = |seq: u64| -> Result<(), SampleError> {
        let rec: Record = black_box(rx.recv_serde()?);
        if !rec.is(seq) {
            return Err(out_of_order(rec.id, seq));
        }
        Ok(())
    };
    let elapsed = peer::receive_timed(producer, warmup, total, receive)?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

fn out_of_order(got: u64, expected: u64) -> SampleError {
    SampleError::failed(format!("pipe: got message {got}, expected {expected}"))
}

fn tput_8b(msgs: u64) -> Result<f64, SampleError> {
    let produce = |tx: &Sender<u64>, total: u64| {
        for seq in 0..total {
            tx.send(&seq).unwrap_or_else(|e| panic!("send: {e}"));
        }
    };
    let elapsed = transfer(Pipe::builder().capacity(1024), msgs, produce, |rx, seq| {
        let got = rx.recv()?;
        if got != seq {
            return Err(out_of_order(got, seq));
        }
        Ok(())
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// Sends `total` sequence numbers and receives `total`, interleaving
/// `try_send` and `try_recv`; checks the order of what arrives.
fn stream_both_ways(end: &PipeEnd<u64>, total: u64) -> Result<(), SampleError> {
    let (mut sent, mut got) = (0, 0);
    while sent < total || got < total {
        let mut idle = true;
        if sent < total && end.try_send(&sent).is_ok() {
            sent += 1;
            idle = false;
        }
        if got < total {
            match end.try_recv() {
                Ok(v) if v == got => {
                    got += 1;
                    idle = false;
                }
                Ok(v) => return Err(out_of_order(v, got)),
                Err(ipc_queue::Error::Empty) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if idle {
            std::hint::spin_loop();
        }
    }
    Ok(())
}

fn duplex_tput_8b(msgs: u64) -> Result<f64, SampleError> {
    duplex_tput(Pipe::<u64>::new()?, msgs)
}

fn duplex_tput_8b_separate(msgs: u64) -> Result<f64, SampleError> {
    duplex_tput(Pipe::<u64>::builder().interleave(false).create()?, msgs)
}

/// `msgs` in each direction; the warm-up is untimed traffic before the
/// timed stream (it also starts the peer).
fn duplex_tput(
    (mine, theirs): (PipeEnd<u64>, PipeEnd<u64>),
    msgs: u64,
) -> Result<f64, SampleError> {
    let warmup = warmup_for(msgs);
    let peer = peer::spawn("pipe-duplex", move || {
        for total in [warmup, msgs] {
            stream_both_ways(&theirs, total).unwrap_or_else(|e| panic!("pipe peer: {e}"));
        }
    })?;
    stream_both_ways(&mine, warmup)?;
    let start = Instant::now();
    stream_both_ways(&mine, msgs)?;
    let elapsed = start.elapsed();
    peer::join(peer)?;
    Ok(2.0 * msgs as f64 / elapsed.as_secs_f64())
}

fn tput_4kib(msgs: u64) -> Result<f64, SampleError> {
    let produce = |tx: &Sender<Page4K>, total: u64| {
        let mut page: Box<Page4K> = Box::new([0; PAGE_BYTES / 8]);
        for seq in 0..total {
            page[0] = seq;
            tx.send(&page).unwrap_or_else(|e| panic!("send: {e}"));
        }
    };
    let elapsed = transfer(Pipe::builder().capacity(32), msgs, produce, |rx, seq| {
        let page = black_box(rx.recv()?);
        if page[0] != seq {
            return Err(out_of_order(page[0], seq));
        }
        Ok(())
    })?;
    Ok(msgs as f64 * PAGE_BYTES as f64 / elapsed.as_secs_f64() / 1e9)
}

// ----- the size sweep (see `kit::sizes`): copies -----

/// `N`-byte messages back and forth over a duplex `Pipe<u8>` of two slots
/// a side: each side copies its whole message in (`send_bytes`) and reads
/// the other's where it lies (`recv_bytes_with`), checking the stamps: one
/// copy per hop, as a large-message user would do it.
fn sweep_pingpong<const N: usize>(round_trips: u64) -> Result<f64, SampleError> {
    let (mine, theirs) = Pipe::<u8>::builder().capacity(2).max_frame(N).create()?;
    footprint::record(mine.shm_bytes());
    let mut out = vec![7u8; N];
    let mut turn = 0u64;
    round_trips_ns(
        sweep_warmup(round_trips),
        round_trips,
        move |total| {
            let mut buf = vec![7u8; N];
            for _ in 0..total {
                let seq = theirs
                    .recv_bytes_with(read_stamp)
                    .unwrap_or_else(|e| panic!("pipe sweep peer: {e}"))
                    .unwrap_or_else(|| panic!("pipe sweep peer: torn"));
                stamp(&mut buf, seq + 1);
                theirs
                    .send_bytes(&buf)
                    .unwrap_or_else(|e| panic!("pipe sweep peer: {e}"));
            }
        },
        move || {
            stamp(&mut out, turn);
            mine.send_bytes(&out)?;
            let (n, got) = mine.recv_bytes_with(|b| (b.len(), read_stamp(b)))?;
            if n != N || got != Some(turn + 1) {
                return Err(SampleError::failed(format!(
                    "pipe sweep: bad reply to {turn} ({n} bytes)"
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

/// A stream of `N`-byte messages through a channel of about 1 MiB of slots,
/// copied in by `send_bytes`, read in place by `recv_bytes_with`; GB/s.
fn sweep_tput<const N: usize>(msgs: u64) -> Result<f64, SampleError> {
    let (tx, rx) = Pipe::<u8>::builder()
        .capacity(stream_slots(N))
        .max_frame(N)
        .channel()?;
    footprint::record(rx.shm_bytes());
    let warmup = sweep_warmup(msgs);
    let total = warmup + msgs;
    let producer = peer::spawn("pipe-sweep-sender", move || {
        let mut buf = vec![7u8; N];
        for seq in 0..total {
            stamp(&mut buf, seq);
            tx.send_bytes(&buf)
                .unwrap_or_else(|e| panic!("pipe sweep sender: {e}"));
        }
    })?;
    let mut buf = vec![0u8; N];
    let receive = |seq: u64| -> Result<(), SampleError> {
        let n = rx.recv_bytes_into(&mut buf)?;
        if n != N || read_stamp(&buf) != Some(seq) {
            return Err(SampleError::failed(format!(
                "pipe sweep: bad message {seq}"
            )));
        }
        Ok(())
    };
    let secs = peer::receive_timed(producer, warmup, total, receive)?.as_secs_f64();
    Ok(msgs as f64 * N as f64 / secs / 1e9)
}
