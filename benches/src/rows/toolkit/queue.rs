//! Rows measuring `ipc_queue::Queue`, each compared to the limit it is built on.
//!
//! Every throughput row forks a producer that sends `warmup + msgs` messages
//! carrying their sequence number; the parent consumes them, checks the order,
//! and times the last `msgs`. The queue holds 256 slots (the 4 KiB rows 32,
//! like the raw 4 KiB ring), so the producer runs at most that far ahead.

use std::hint::black_box;
use std::ops::Deref;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ipc_queue::Queue;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::harness::{allocs, footprint};
use crate::rows::kit::peer;
use crate::rows::kit::pingpong::{Baton, Side, one_way_ns, round_trips_ns};
use crate::rows::kit::record::{EPOCH_MS, Record};
use crate::rows::kit::shm::PAGE_BYTES;
use crate::rows::kit::sizes::{read_stamp, stamp, stream_slots, sweep_warmup};
use crate::rows::kit::wait::Stalled;

pub const GROUP: Group = Group {
    name: "queue",
    kind: Kind::Toolkit,
};

/// A 4 KiB message whose first word is its sequence number.
type Page4K = [u64; PAGE_BYTES / 8];

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "queue_serde_tput_record",
            group: &GROUP,
            workload: Workload::TputRecord,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 500_000,
                quick: 10_000,
            },
            compare_to: &["ipc_channel_serde_tput_record"],
            about: "Queue<u8>: put_serde / get_serde of a record (postcard into the slot, decoded in place)",
            sample: serde_tput_record,
        },
        Bench {
            id: "queue_rkyv_read_record",
            group: &GROUP,
            workload: Workload::TputRecord,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 500_000,
                quick: 10_000,
            },
            compare_to: &["ipc_channel_serde_tput_record"],
            about: "Queue<u8>: put_rkyv archives a record into the slot; get_rkyv_with validates and reads it in place",
            sample: rkyv_read_record,
        },
        Bench {
            id: "queue_fixed_tput_100B",
            group: &GROUP,
            workload: Workload::TputVar100B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &[],
            about: "Queue<u8> of 1024 fixed 64 KiB slots (64 MiB): put_bytes / get_bytes_into of 100 B frames",
            sample: |msgs| var_tput_100b(msgs, 0),
        },
        Bench {
            id: "queue_var_tput_100B",
            group: &GROUP,
            workload: Workload::TputVar100B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &["queue_fixed_tput_100B"],
            about: "Queue<u8>, 1024 slots, 64 KiB frame limit, frames in a 256 KiB byte ring: put_bytes / get_bytes_into of 100 B",
            sample: |msgs| var_tput_100b(msgs, crate::rows::kit::sizes::RING_100B),
        },
        Bench {
            id: "queue_tput_8B",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "Queue<u64>, one producer and one consumer process, single put/get",
            sample: tput_8b,
        },
        Bench {
            id: "queue_mpmc_tput_8B_2x2",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 400_000,
                quick: 10_000,
            },
            compare_to: &["queue_tput_8B"],
            about: "Queue<u64>, 2 producer and 2 consumer processes, blocking put/get (2 cores: they take turns)",
            sample: |msgs| mpmc_tput(msgs, 2, 2),
        },
        Bench {
            id: "queue_mpmc_tput_8B_4x4",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 400_000,
                quick: 10_000,
            },
            compare_to: &["queue_tput_8B"],
            about: "Queue<u64>, 4 producer and 4 consumer processes, blocking put/get (8 processes on 2 cores)",
            sample: |msgs| mpmc_tput(msgs, 4, 4),
        },
        Bench {
            id: "queue_tput_8B_batch",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 4_000_000,
                quick: 100_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "Queue<u64>, put_batch/get_batch of up to 64 under one lock hold",
            sample: tput_8b_batch,
        },
        Bench {
            id: "queue_tput_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "Queue<[u64; 512]>: 4 KiB copied in by put and out by get",
            sample: tput_4kib,
        },
        Bench {
            id: "queue_loan_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "4 KiB written in place through a loan, read in place through get_with",
            sample: loan_4kib,
        },
        Bench {
            id: "queue_blocking_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 2_500,
                quick: 100,
            },
            compare_to: &["limit_futex_pingpong"],
            about: "two Queue<u64> with spin(0), each receiver asleep in get until woken",
            sample: blocking_pingpong,
        },
    ]
    .into_iter()
    .chain(crate::rows::kit::sizes::sweep_rows!(
        &GROUP,
        "queue_loan",
        sweep_loan_pingpong,
        sweep_loan_tput,
        "two Queue<u8> of 2 slots: loan_bytes writes the stamps in place, recv_guard reads them in place (no copy), each way",
        "Queue<u8> of about 1 MiB of slots: loan_bytes / recv_guard, stamps written and read in place (no copy)",
        false,
        false
    ))
    .collect()
}

/// Runs `produce` in a forked peer and `consume(seq)` for every expected
/// sequence number in the parent; returns the time of the last `msgs`.
fn transfer<Q: 'static>(
    queue: Q,
    theirs: Q,
    warmup: u64,
    msgs: u64,
    produce: fn(&Q, u64),
    mut consume: impl FnMut(&Q, u64) -> Result<u64, SampleError>,
) -> Result<Duration, SampleError> {
    let total = warmup + msgs;
    let producer = peer::spawn("queue-producer", move || produce(&theirs, total))?;
    let mut seq = 0;
    while seq < warmup {
        seq += consume(&queue, seq)?;
    }
    let allocs = allocs::count();
    let start = Instant::now();
    while seq < total {
        seq += consume(&queue, seq)?;
    }
    let elapsed = start.elapsed();
    allocs::record((allocs::count() - allocs) as f64 / msgs as f64);
    peer::join(producer)?;
    Ok(elapsed)
}

fn out_of_order(got: u64, expected: u64) -> SampleError {
    SampleError::failed(format!("queue: got message {got}, expected {expected}"))
}

fn pair<T: ipc_queue::Message>(capacity: usize) -> Result<(Queue<T>, Queue<T>), SampleError> {
    let q = Queue::<T>::new(capacity)?;
    footprint::record(q.shm_bytes());
    let theirs = q.try_clone()?;
    Ok((q, theirs))
}

fn tput_8b(msgs: u64) -> Result<f64, SampleError> {
    let (q, theirs) = pair::<u64>(256)?;
    let produce = |q: &Queue<u64>, total: u64| {
        for seq in 0..total {
            q.put(&seq).unwrap_or_else(|e| panic!("put: {e}"));
        }
    };
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, |q, seq| {
        let got = q.get()?;
        if got != seq {
            return Err(out_of_order(got, seq));
        }
        Ok(1)
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// 100-byte frames (the sequence number first) through a `Queue<u8>` of 1024
/// slots with a 64 KiB frame limit: fixed slots (`ring` 0) or a byte ring.
fn var_tput_100b(msgs: u64, ring: usize) -> Result<f64, SampleError> {
    let q = Queue::<u8>::builder()
        .capacity(1024)
        .max_frame(64 << 10)
        .ring_bytes(ring)
        .create()?;
    footprint::record(q.shm_bytes());
    let theirs = q.try_clone()?;
    let produce = |q: &Queue<u8>, total: u64| {
        let mut frame = [7u8; 100];
        for seq in 0..total {
            frame[..8].copy_from_slice(&seq.to_le_bytes());
            q.put_bytes(&frame)
                .unwrap_or_else(|e| panic!("put_bytes: {e}"));
        }
    };
    let mut buf = vec![0u8; 64 << 10];
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, move |q, seq| {
        let n = q.get_bytes_into(&mut buf)?;
        let got = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
        if n != 100 || got != seq {
            return Err(out_of_order(got, seq));
        }
        Ok(1)
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// A record per message: encoded into the slot by `put_serde`, decoded from
/// the slot by `get_serde` (a fresh `Record` each, as a receiver would).
fn serde_tput_record(msgs: u64) -> Result<f64, SampleError> {
    let q = Queue::<u8>::builder()
        .capacity(256)
        .max_frame(256)
        .create()?;
    footprint::record(q.shm_bytes());
    let theirs = q.try_clone()?;
    let produce = |q: &Queue<u8>, total: u64| {
        let mut rec = Record::new(0);
        for seq in 0..total {
            rec.set(seq);
            q.put_serde(&rec)
                .unwrap_or_else(|e| panic!("put_serde: {e}"));
        }
    };
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, |q, seq| {
        let rec: Record = black_box(q.get_serde()?);
        if !rec.is(seq) {
            return Err(out_of_order(rec.id, seq));
        }
        Ok(1)
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// A record per message, archived into the slot by `put_rkyv` and read in
/// place by `get_rkyv_with` (validated, never deserialized): the id, the
/// timestamp, the message's length and the tags are checked where they lie.
fn rkyv_read_record(msgs: u64) -> Result<f64, SampleError> {
    let q = Queue::<u8>::builder()
        .capacity(256)
        .max_frame(256)
        .create()?;
    footprint::record(q.shm_bytes());
    let theirs = q.try_clone()?;
    let produce = |q: &Queue<u8>, total: u64| {
        let mut rec = Record::new(0);
        for seq in 0..total {
            rec.set(seq);
            q.put_rkyv(&rec).unwrap_or_else(|e| panic!("put_rkyv: {e}"));
        }
    };
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, |q, seq| {
        let (id, ok) = q.get_rkyv_with::<Record, _>(|r| {
            let id = r.id.to_native();
            let ok = r.ts.to_native() == EPOCH_MS + id
                && r.msg.len() == 100
                && r.tags.len() == 4
                && r.tags[0].to_native() == id as u32;
            (id, ok)
        })?;
        if id != seq || !ok {
            return Err(out_of_order(id, seq));
        }
        Ok(1)
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

/// A producer's first message, put before the start so that every producer
/// is registered before any consumer could see them all gone.
const HELLO: u64 = u64::MAX;

/// `producers` processes put `msgs` messages in all (value: producer id in
/// the high bits, sequence + 1 in the low ones) into one queue that
/// `consumers` processes drain with blocking gets until Disconnected; all
/// start at one signal. Checked: every message arrived exactly once (count
/// and sum). Returns messages per second, from the signal to the last exit.
fn mpmc_tput(msgs: u64, producers: u64, consumers: u64) -> Result<f64, SampleError> {
    use std::sync::atomic::{AtomicU64, Ordering};

    use ipc_core::segment::{SegmentOptions, Shared};
    use ipc_core::sync::Event;

    let q = Queue::<u64>::new(256)?;
    footprint::record(q.shm_bytes());
    let go = Rc::new(Shared::create(&SegmentOptions::anonymous(), Event::new())?);
    // Messages received and their sum, over every consumer.
    let totals = Rc::new(Shared::create(
        &SegmentOptions::anonymous(),
        [AtomicU64::new(0), AtomicU64::new(0)],
    )?);
    let each = msgs / producers;
    let mut children = Vec::new();
    for p in 0..producers {
        let (q, go) = (q.try_clone()?, Rc::clone(&go));
        children.push(peer::spawn("mpmc-producer", move || {
            q.put(&HELLO).unwrap_or_else(|e| panic!("put: {e}"));
            go.wait().unwrap_or_else(|e| panic!("go: {e}"));
            for i in 0..each {
                q.put(&((p << 40) | (i + 1)))
                    .unwrap_or_else(|e| panic!("put: {e}"));
            }
        })?);
    }
    for _ in 0..consumers {
        let (q, go, totals) = (q.try_clone()?, Rc::clone(&go), Rc::clone(&totals));
        children.push(peer::spawn("mpmc-consumer", move || {
            go.wait().unwrap_or_else(|e| panic!("go: {e}"));
            let (mut n, mut sum) = (0u64, 0u64);
            loop {
                match q.get() {
                    Ok(HELLO) => {}
                    Ok(v) => {
                        n += 1;
                        sum = sum.wrapping_add(v);
                    }
                    Err(ipc_queue::Error::Disconnected) => break,
                    Err(e) => panic!("get: {e}"),
                }
            }
            totals[0].fetch_add(n, Ordering::SeqCst);
            totals[1].fetch_add(sum, Ordering::SeqCst);
        })?);
    }
    drop(q);
    let start = Instant::now();
    go.set();
    for child in children {
        peer::join(child)?;
    }
    let elapsed = start.elapsed();
    let expected_sum = (0..producers).fold(0u64, |s, p| {
        s.wrapping_add((p << 40).wrapping_mul(each))
            .wrapping_add(each * (each + 1) / 2)
    });
    let (n, sum) = (
        totals[0].load(Ordering::SeqCst),
        totals[1].load(Ordering::SeqCst),
    );
    if n != each * producers || sum != expected_sum {
        return Err(SampleError::failed(format!(
            "queue mpmc: {n} messages (sum {sum}) where {} (sum {expected_sum}) were sent",
            each * producers
        )));
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

const BATCH: usize = 64;

fn tput_8b_batch(msgs: u64) -> Result<f64, SampleError> {
    let (q, theirs) = pair::<u64>(256)?;
    let produce = |q: &Queue<u64>, total: u64| {
        let mut buf = [0u64; BATCH];
        let mut seq = 0;
        while seq < total {
            let n = (total - seq).min(BATCH as u64) as usize;
            for (i, slot) in buf[..n].iter_mut().enumerate() {
                *slot = seq + i as u64;
            }
            q.put_all(&buf[..n])
                .unwrap_or_else(|e| panic!("put_all: {e}"));
            seq += n as u64;
        }
    };
    let mut buf = [0u64; BATCH];
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, |q, seq| {
        let n = q.get_batch(&mut buf)?;
        for (i, &got) in buf[..n].iter().enumerate() {
            if got != seq + i as u64 {
                return Err(out_of_order(got, seq + i as u64));
            }
        }
        Ok(n as u64)
    })?;
    Ok(msgs as f64 / elapsed.as_secs_f64())
}

fn tput_4kib(msgs: u64) -> Result<f64, SampleError> {
    let (q, theirs) = pair::<Page4K>(32)?;
    let produce = |q: &Queue<Page4K>, total: u64| {
        let mut page: Box<Page4K> = Box::new([0; PAGE_BYTES / 8]);
        for seq in 0..total {
            page[0] = seq;
            q.put(&page).unwrap_or_else(|e| panic!("put: {e}"));
        }
    };
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, |q, seq| {
        let page = black_box(q.get()?);
        if page[0] != seq {
            return Err(out_of_order(page[0], seq));
        }
        Ok(1)
    })?;
    Ok(msgs as f64 * PAGE_BYTES as f64 / elapsed.as_secs_f64() / 1e9)
}

fn loan_4kib(msgs: u64) -> Result<f64, SampleError> {
    let (q, theirs) = pair::<Page4K>(32)?;
    let produce = |q: &Queue<Page4K>, total: u64| {
        let mut page: Box<Page4K> = Box::new([0; PAGE_BYTES / 8]);
        for seq in 0..total {
            page[0] = seq;
            let mut loan = q.loan().unwrap_or_else(|e| panic!("loan: {e}"));
            // Building the message in place: here, writing all 4 KiB of it.
            *loan.as_mut().unwrap_or_else(|e| panic!("loan: {e}")) = *page;
            loan.commit();
        }
    };
    let elapsed = transfer(q, theirs, warmup_for(msgs), msgs, produce, |q, seq| {
        // Read in place: the consumer looks at the message where it lies.
        let got = q.get_with(|page| black_box(page)[0])?;
        if got != seq {
            return Err(out_of_order(got, seq));
        }
        Ok(1)
    })?;
    Ok(msgs as f64 * PAGE_BYTES as f64 / elapsed.as_secs_f64() / 1e9)
}

/// Two queues, one per direction; each side sleeps in `get` for its turn.
struct QueuePair {
    to_child: Queue<u64>,
    to_parent: Queue<u64>,
}

impl Baton for QueuePair {
    fn take_and_pass(&self, side: Side) -> Result<(), Stalled> {
        let (inbox, outbox) = match side {
            Side::Parent => (&self.to_parent, &self.to_child),
            Side::Child => (&self.to_child, &self.to_parent),
        };
        let stall = Duration::from_secs(5);
        let turn = inbox.get_timeout(stall).map_err(|_| Stalled)?;
        outbox.put_timeout(&(turn + 1), stall).map_err(|_| Stalled)
    }
}

/// `Rc` needs a `Deref` handle; a clone of both queues for the peer.
struct PairHandle(QueuePair);

impl Deref for PairHandle {
    type Target = QueuePair;
    fn deref(&self) -> &QueuePair {
        &self.0
    }
}

fn blocking_pingpong(round_trips: u64) -> Result<f64, SampleError> {
    // No spinning before the sleep: the receiver really is asleep in `get`
    // when the message comes (with the default 20 µs spin it would catch the
    // reply awake, and this row would measure a busy hand-off instead).
    let sleeper = || {
        Queue::<u64>::builder()
            .capacity(4)
            .spin(Duration::ZERO)
            .create()
    };
    let pair = QueuePair {
        to_child: sleeper()?,
        to_parent: sleeper()?,
    };
    // The parent moves first: its first take finds this token.
    pair.to_parent.put(&0)?;
    one_way_ns(
        Rc::new(PairHandle(pair)),
        warmup_for(round_trips).min(200),
        round_trips,
    )
}

// ----- the size sweep (see `kit::sizes`): loans -----

/// `N`-byte messages back and forth through two `Queue<u8>`s, built in
/// place (`loan_bytes`: only the stamps are written) and read in place
/// (`recv_guard`: only the stamps are read): nothing is copied.
fn sweep_loan_pingpong<const N: usize>(round_trips: u64) -> Result<f64, SampleError> {
    let ping = Queue::<u8>::builder().capacity(2).max_frame(N).create()?;
    let pong = Queue::<u8>::builder().capacity(2).max_frame(N).create()?;
    footprint::record(ping.shm_bytes() + pong.shm_bytes());
    let (their_ping, their_pong) = (ping.clone(), pong.clone());
    let mut turn = 0u64;
    let send = |q: &Queue<u8>, seq: u64| -> Result<(), ipc_queue::Error> {
        let mut loan = q.loan_bytes(N)?;
        stamp(loan.bytes_mut(), seq);
        loan.commit_bytes(N);
        Ok(())
    };
    let take = |q: &Queue<u8>| -> Result<Option<u64>, ipc_queue::Error> {
        let guard = q.recv_guard()?;
        Ok(read_stamp(guard.bytes()))
    };
    round_trips_ns(
        sweep_warmup(round_trips),
        round_trips,
        move |total| {
            for _ in 0..total {
                let seq = take(&their_ping)
                    .unwrap_or_else(|e| panic!("queue sweep peer: {e}"))
                    .unwrap_or_else(|| panic!("queue sweep peer: torn"));
                send(&their_pong, seq + 1).unwrap_or_else(|e| panic!("queue sweep peer: {e}"));
            }
        },
        move || {
            send(&ping, turn)?;
            if take(&pong)? != Some(turn + 1) {
                return Err(SampleError::failed(format!(
                    "queue sweep: bad reply to {turn}"
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

/// A stream of `N`-byte messages through a `Queue<u8>` of about 1 MiB of
/// slots, built and read in place (loans and receive guards); GB/s.
fn sweep_loan_tput<const N: usize>(msgs: u64) -> Result<f64, SampleError> {
    let q = Queue::<u8>::builder()
        .capacity(stream_slots(N))
        .max_frame(N)
        .create()?;
    footprint::record(q.shm_bytes());
    let theirs = q.try_clone()?;
    let produce = |q: &Queue<u8>, total: u64| {
        for seq in 0..total {
            let mut loan = q.loan_bytes(N).unwrap_or_else(|e| panic!("loan: {e}"));
            stamp(loan.bytes_mut(), seq);
            loan.commit_bytes(N);
        }
    };
    let elapsed = transfer(q, theirs, sweep_warmup(msgs), msgs, produce, |q, seq| {
        let guard = q.recv_guard()?;
        match read_stamp(guard.bytes()) {
            Some(got) if got == seq && guard.bytes().len() == N => Ok(1),
            got => Err(out_of_order(got.unwrap_or(u64::MAX), seq)),
        }
    })?;
    Ok(msgs as f64 * N as f64 / elapsed.as_secs_f64() / 1e9)
}
