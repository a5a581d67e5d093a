//! eclipse iceoryx2 (crates.io), zero-copy shared-memory publish-subscribe,
//! with lossless settings: `enable_safe_overflow(false)` and publishers that
//! `RetryUntilDelivered` when a subscriber's buffer is full (nothing is
//! dropped or overwritten; the run checks every sequence number).
//! Subscribers have no blocking receive without an extra event service, so
//! every receive here busy-polls `Subscriber::receive`.
//!
//! Each process makes its own `Node` (the child after the fork; nothing
//! iceoryx2 is shared across it). Service names carry this process's pid and
//! a counter, so runs never collide; ports, services and nodes are dropped at
//! the end of each sample, which removes their files (`/tmp/iceoryx2`,
//! `/dev/shm/iox2_*`). Nodes of peers that were killed are cleaned up at the
//! start of the next sample.

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::peer;
use crate::rows::kit::pingpong::round_trips_ns;
use crate::rows::kit::shm::{CacheLine, PAGE_BYTES, ShmBox, ShmZeroed};
use crate::rows::kit::sizes::{read_stamp, stamp, stream_slots, sweep_warmup};
use crate::rows::kit::wait::spin_until;

pub const GROUP: Group = Group {
    name: "iceoryx2",
    kind: Kind::Peer,
};

/// A 4 KiB payload whose first word is its sequence number.
type Page4K = [u64; PAGE_BYTES / 8];

/// The bytes every 4 KiB message is built from (the producer's buffer).
static PAGE: Page4K = [0x0101_0101_0101_0101; PAGE_BYTES / 8];

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "iceoryx2_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongSpin,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 100_000,
                quick: 2_500,
            },
            compare_to: &["limit_spin_pingpong"],
            about: "two u64 publish-subscribe services, send_copy, busy-polled receive",
            sample: pingpong,
        },
        Bench {
            id: "iceoryx2_tput_8B",
            group: &GROUP,
            workload: Workload::Tput8B,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 1_000_000,
                quick: 20_000,
            },
            compare_to: &["limit_spsc_ring_8B"],
            about: "u64 publish-subscribe, subscriber buffer 256, send_copy, busy-polled receive",
            sample: tput_8b,
        },
        Bench {
            id: "iceoryx2_tput_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: Iters {
                full: 200_000,
                quick: 5_000,
            },
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "[u64; 512] publish-subscribe, buffer 32: 4 KiB written into a loan, read in place",
            sample: tput_4kib,
        },
    ]
    .into_iter()
    .chain(crate::rows::kit::sizes::sweep_rows!(
        &GROUP,
        "iceoryx2",
        sweep_pingpong,
        sweep_tput,
        "two [u8] publish-subscribe services: loan_slice (the safe API zero-fills the loan), stamps written and read in place, busy-polled",
        "[u8] publish-subscribe, about 1 MiB of samples buffered: loan_slice (zero-filled), stamps written and read in place",
        true,
        false
    ))
    .collect()
}

type Ipc = ipc::Service;

/// Quiets iceoryx2's console logger (warnings about, e.g., its default
/// config file not being found) once per process.
fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| set_log_level(LogLevel::Error));
}

fn new_node() -> Result<Node<Ipc>, SampleError> {
    quiet();
    let node = NodeBuilder::new()
        // Leave SIGINT/SIGTERM alone: the suite is not an iceoryx2 application.
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()?;
    Ok(node)
}

/// A service name no other sample, run or user shares.
fn unique_name(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ipc-bench/{}/{n}/{what}", std::process::id())
}

/// The lossless publish-subscribe service both sides open: one publisher,
/// one subscriber, no history, no overflow.
fn service<T: std::fmt::Debug + ZeroCopySend + 'static>(
    node: &Node<Ipc>,
    name: &str,
    buffer: usize,
) -> Result<PortFactory<Ipc, T, ()>, SampleError> {
    let name: ServiceName = name
        .try_into()
        .map_err(|e| SampleError::failed(format!("iceoryx2 service name {name:?}: {e:?}")))?;
    Ok(node
        .service_builder(&name)
        .publish_subscribe::<T>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(buffer)
        .enable_safe_overflow(false)
        .open_or_create()?)
}

fn publisher<T: std::fmt::Debug + ZeroCopySend + 'static>(
    service: &PortFactory<Ipc, T, ()>,
) -> Result<Publisher<Ipc, T, ()>, SampleError> {
    Ok(service
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()?)
}

fn fail(what: &str, e: impl std::fmt::Debug) -> SampleError {
    SampleError::failed(format!("iceoryx2 {what}: {e:?}"))
}

/// Busy-polls `sub` for the next sample and passes it to `f`.
fn receive<T: std::fmt::Debug + ZeroCopySend + 'static, R>(
    sub: &Subscriber<Ipc, T, ()>,
    f: impl FnOnce(&T) -> R,
) -> Result<R, SampleError> {
    let mut got = None;
    let mut error = None;
    spin_until(|| match sub.receive() {
        Ok(Some(sample)) => {
            got = Some(sample);
            true
        }
        Ok(None) => false,
        Err(e) => {
            error = Some(e);
            true
        }
    })?;
    if let Some(e) = error {
        return Err(fail("receive", e));
    }
    let sample = got.expect("spin ended with a sample or an error");
    Ok(f(sample.payload()))
}

/// The child's first message: in the ping-pong, sent once its subscriber
/// exists (a ping sent before could reach no one, with no history); in the
/// streams, see [`transfer`].
const READY: u64 = u64::MAX;

fn pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let node = new_node()?;
    node.try_cleanup_dead_nodes();
    let (ping_name, pong_name) = (unique_name("ping"), unique_name("pong"));
    let ping = service::<u64>(&node, &ping_name, 1)?;
    let pong = service::<u64>(&node, &pong_name, 1)?;
    let pong_rx = pong.subscriber_builder().buffer_size(1).create()?;
    let ping_tx = publisher(&ping)?;
    let mut ready = false;
    let mut turn = 0u64;
    round_trips_ns(
        warmup_for(round_trips),
        round_trips,
        move |total| {
            let run = || -> Result<(), SampleError> {
                let node = new_node()?;
                let ping = service::<u64>(&node, &ping_name, 1)?;
                let pong = service::<u64>(&node, &pong_name, 1)?;
                let ping_rx = ping.subscriber_builder().buffer_size(1).create()?;
                let pong_tx = publisher(&pong)?;
                pong_tx.send_copy(READY).map_err(|e| fail("send", e))?;
                for _ in 0..total {
                    let v = receive(&ping_rx, |v| *v)?;
                    pong_tx.send_copy(v + 1).map_err(|e| fail("send", e))?;
                }
                Ok(())
            };
            run().unwrap_or_else(|e| panic!("iceoryx2 peer: {e}"));
        },
        move || {
            if !ready {
                let got = receive(&pong_rx, |v| *v)?;
                if got != READY {
                    return Err(SampleError::failed(format!(
                        "iceoryx2: got {got} before ready"
                    )));
                }
                ping_tx
                    .update_connections()
                    .map_err(|e| fail("update_connections", e))?;
                ready = true;
            }
            ping_tx.send_copy(turn).map_err(|e| fail("send", e))?;
            let got = receive(&pong_rx, |v| *v)?;
            if got != turn + 1 {
                return Err(SampleError::failed(format!(
                    "iceoryx2: got {got}, expected {}",
                    turn + 1
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

/// Sends message `seq` through the publisher.
type Produce<T> = fn(&Publisher<Ipc, T, ()>, u64) -> Result<(), SampleError>;

/// Forks a producer sending messages `0..warmup + msgs` with `produce`; the
/// parent's subscriber receives them, checks each with `seq_of` (the
/// sequence number it carries) and times the last `msgs`.
///
/// Handshake first: a publisher's sends are only lossless once the
/// subscriber has attached to its connection (`RetryUntilDelivered` waits
/// for a *connected* receiver; before that, a full buffer drops samples).
/// The subscriber attaches when it next polls, so the producer sends one
/// `READY` sample and waits until the parent has received it.
fn transfer<T: std::fmt::Debug + ZeroCopySend + 'static>(
    msgs: u64,
    buffer: usize,
    produce: Produce<T>,
    seq_of: fn(&T) -> u64,
) -> Result<f64, SampleError> {
    let node = new_node()?;
    node.try_cleanup_dead_nodes();
    let name = unique_name("stream");
    let stream = service::<T>(&node, &name, buffer)?;
    let rx = stream.subscriber_builder().buffer_size(buffer).create()?;
    let attached = Rc::new(ShmBox::<Flag>::new()?);
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let theirs = Rc::clone(&attached);
    let producer = peer::spawn("iceoryx2-producer", move || {
        let run = || -> Result<(), SampleError> {
            let node = new_node()?;
            let stream = service::<T>(&node, &name, buffer)?;
            let tx = publisher(&stream)?;
            produce(&tx, READY)?;
            spin_until(|| theirs.0.load(Ordering::Acquire) == 1)?;
            for seq in 0..total {
                produce(&tx, seq)?;
            }
            Ok(())
        };
        run().unwrap_or_else(|e| panic!("iceoryx2 producer: {e}"));
    })?;
    let next = |expected: u64| -> Result<(), SampleError> {
        let got = receive(&rx, seq_of)?;
        if got != expected {
            return Err(SampleError::failed(format!(
                "iceoryx2: got message {got}, expected {expected}"
            )));
        }
        Ok(())
    };
    next(READY)?;
    attached.0.store(1, Ordering::Release);
    let secs = peer::receive_timed(producer, warmup, total, next)?.as_secs_f64();
    Ok(msgs as f64 / secs)
}

/// The handshake flag of [`transfer`], in memory both processes map.
struct Flag(CacheLine<AtomicU64>);

// SAFETY: zero is a valid AtomicU64 (not yet attached), no pointers.
unsafe impl ShmZeroed for Flag {}

fn tput_8b(msgs: u64) -> Result<f64, SampleError> {
    transfer::<u64>(
        msgs,
        256,
        |tx, seq| {
            tx.send_copy(seq).map_err(|e| fail("send", e))?;
            Ok(())
        },
        |v| *v,
    )
}

fn tput_4kib(msgs: u64) -> Result<f64, SampleError> {
    let per_s = transfer::<Page4K>(
        msgs,
        32,
        |tx, seq| {
            // Build the message in shared memory, all 4 KiB of it, as
            // queue_loan_4KiB does: the page's bytes, then the number.
            let loan = tx.loan_uninit().map_err(|e| fail("loan", e))?;
            let mut sample = loan.write_payload(PAGE);
            sample.payload_mut()[0] = seq;
            sample.send().map_err(|e| fail("send", e))?;
            Ok(())
        },
        // Read in place, where the sample lies.
        |page| black_box(page)[0],
    )?;
    Ok(per_s * PAGE_BYTES as f64 / 1e9)
}

// ----- the size sweep (see `kit::sizes`): loans of byte slices -----

/// The lossless `[u8]` service of the sweep: slices of up to `len` bytes.
fn slice_service(
    node: &Node<Ipc>,
    name: &str,
    buffer: usize,
) -> Result<PortFactory<Ipc, [u8], ()>, SampleError> {
    let name: ServiceName = name
        .try_into()
        .map_err(|e| SampleError::failed(format!("iceoryx2 service name {name:?}: {e:?}")))?;
    Ok(node
        .service_builder(&name)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(buffer)
        .enable_safe_overflow(false)
        .open_or_create()?)
}

fn slice_publisher(
    service: &PortFactory<Ipc, [u8], ()>,
    len: usize,
) -> Result<Publisher<Ipc, [u8], ()>, SampleError> {
    Ok(service
        .publisher_builder()
        .initial_max_slice_len(len)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()?)
}

/// Loans an `N`-byte slice, stamps it and sends it. iceoryx2's safe API
/// hands out only initialised loans (`loan_slice` fills the slice with the
/// default, zero; an uninitialised loan must be written whole before
/// `assume_init`), so each loan costs a fill of `N` bytes here that the
/// Queue's loans, whose bytes are whatever the slot held, do not pay.
fn send_slice<const N: usize>(tx: &Publisher<Ipc, [u8], ()>, seq: u64) -> Result<(), SampleError> {
    let mut sample = tx.loan_slice(N).map_err(|e| fail("loan", e))?;
    stamp(sample.payload_mut(), seq);
    sample.send().map_err(|e| fail("send", e))?;
    Ok(())
}

/// Busy-polls `sub` for the next slice and returns its stamp.
fn receive_slice(sub: &Subscriber<Ipc, [u8], ()>) -> Result<u64, SampleError> {
    let mut got = None;
    let mut error = None;
    spin_until(|| match sub.receive() {
        Ok(Some(sample)) => {
            got = Some(read_stamp(sample.payload()));
            true
        }
        Ok(None) => false,
        Err(e) => {
            error = Some(e);
            true
        }
    })?;
    if let Some(e) = error {
        return Err(fail("receive", e));
    }
    got.flatten()
        .ok_or_else(|| SampleError::failed("iceoryx2: torn slice"))
}

fn sweep_pingpong<const N: usize>(round_trips: u64) -> Result<f64, SampleError> {
    let node = new_node()?;
    node.try_cleanup_dead_nodes();
    let (ping_name, pong_name) = (unique_name("sweep-ping"), unique_name("sweep-pong"));
    let ping = slice_service(&node, &ping_name, 1)?;
    let pong = slice_service(&node, &pong_name, 1)?;
    let pong_rx = pong.subscriber_builder().buffer_size(1).create()?;
    let ping_tx = slice_publisher(&ping, N)?;
    let mut ready = false;
    let mut turn = 0u64;
    round_trips_ns(
        sweep_warmup(round_trips),
        round_trips,
        move |total| {
            let run = || -> Result<(), SampleError> {
                let node = new_node()?;
                let ping = slice_service(&node, &ping_name, 1)?;
                let pong = slice_service(&node, &pong_name, 1)?;
                let ping_rx = ping.subscriber_builder().buffer_size(1).create()?;
                let pong_tx = slice_publisher(&pong, N)?;
                send_slice::<N>(&pong_tx, READY)?;
                for _ in 0..total {
                    let v = receive_slice(&ping_rx)?;
                    send_slice::<N>(&pong_tx, v + 1)?;
                }
                Ok(())
            };
            run().unwrap_or_else(|e| panic!("iceoryx2 sweep peer: {e}"));
        },
        move || {
            if !ready {
                if receive_slice(&pong_rx)? != READY {
                    return Err(SampleError::failed("iceoryx2 sweep: no ready"));
                }
                ping_tx
                    .update_connections()
                    .map_err(|e| fail("update_connections", e))?;
                ready = true;
            }
            send_slice::<N>(&ping_tx, turn)?;
            if receive_slice(&pong_rx)? != turn + 1 {
                return Err(SampleError::failed(format!(
                    "iceoryx2 sweep: bad reply to {turn}"
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

fn sweep_tput<const N: usize>(msgs: u64) -> Result<f64, SampleError> {
    let node = new_node()?;
    node.try_cleanup_dead_nodes();
    let name = unique_name("sweep-stream");
    let buffer = stream_slots(N);
    let stream = slice_service(&node, &name, buffer)?;
    let rx = stream.subscriber_builder().buffer_size(buffer).create()?;
    let attached = Rc::new(ShmBox::<Flag>::new()?);
    let warmup = sweep_warmup(msgs);
    let total = warmup + msgs;
    let theirs = Rc::clone(&attached);
    let producer = peer::spawn("iceoryx2-sweep-producer", move || {
        let run = || -> Result<(), SampleError> {
            let node = new_node()?;
            let stream = slice_service(&node, &name, buffer)?;
            let tx = slice_publisher(&stream, N)?;
            send_slice::<N>(&tx, READY)?;
            spin_until(|| theirs.0.load(Ordering::Acquire) == 1)?;
            for seq in 0..total {
                send_slice::<N>(&tx, seq)?;
            }
            Ok(())
        };
        run().unwrap_or_else(|e| panic!("iceoryx2 sweep producer: {e}"));
    })?;
    let next = |expected: u64| -> Result<(), SampleError> {
        let got = receive_slice(&rx)?;
        if got != expected {
            return Err(SampleError::failed(format!(
                "iceoryx2 sweep: got {got}, expected {expected}"
            )));
        }
        Ok(())
    };
    next(READY)?;
    attached.0.store(1, Ordering::Release);
    let secs = peer::receive_timed(producer, warmup, total, next)?.as_secs_f64();
    Ok(msgs as f64 * N as f64 / secs / 1e9)
}
