//! The kernel's own channels, as a program uses them: an anonymous pipe and
//! a Unix domain stream socket between a parent and a forked child, with
//! blocking `read`/`write` (the receiver sleeps in the kernel until data
//! arrives). No toolkit code is involved.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::peer;
use crate::rows::kit::pingpong::round_trips_ns;
use crate::rows::kit::shm::{PAGE_BYTES, Page};
use crate::rows::kit::sizes::{read_stamp, stamp, sweep_warmup};

pub const GROUP: Group = Group {
    name: "os",
    kind: Kind::Peer,
};

pub fn benches() -> Vec<Bench> {
    let pingpong = Iters {
        full: 2_500,
        quick: 100,
    };
    let stream = Iters {
        full: 100_000,
        quick: 4_000,
    };
    vec![
        Bench {
            id: "os_pipe_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: pingpong,
            compare_to: &["limit_futex_pingpong"],
            about: "two pipes, 8-byte write / blocking read each way",
            sample: pipe_pingpong,
        },
        Bench {
            id: "uds_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongBlocking,
            metric: Metric::OneWayNs,
            iters: pingpong,
            compare_to: &["limit_futex_pingpong"],
            about: "Unix stream socket pair, 8-byte write / blocking read each way",
            sample: uds_pingpong,
        },
        Bench {
            id: "os_pipe_tput_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: stream,
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "pipe, 4 KiB writes, reader read_exact()s 4 KiB into a page",
            sample: pipe_tput,
        },
        Bench {
            id: "uds_tput_4KiB",
            group: &GROUP,
            workload: Workload::Tput4KiB,
            metric: Metric::GbPerS,
            iters: stream,
            compare_to: &["limit_spsc_ring_4KiB"],
            about: "Unix stream socket pair, 4 KiB writes, read_exact() of 4 KiB",
            sample: uds_tput,
        },
    ]
    .into_iter()
    .chain(crate::rows::kit::sizes::sweep_rows!(
        &GROUP,
        "os_pipe",
        pipe_sweep_pingpong,
        pipe_sweep_tput,
        "two pipes: write_all of the whole message, read_exact of the whole reply",
        "pipe: write_all / read_exact of whole messages",
        true,
        false
    ))
    .chain(crate::rows::kit::sizes::sweep_rows!(
        &GROUP,
        "uds",
        uds_sweep_pingpong,
        uds_sweep_tput,
        "Unix stream socket pair: write_all of the whole message, read_exact of the whole reply",
        "Unix stream socket pair: write_all / read_exact of whole messages",
        true,
        false
    ))
    .collect()
}

/// A pipe's (read end, write end).
type Pipe = (File, File);

/// Two pipes as `File`s: (parent reads, child writes) and (child reads,
/// parent writes).
fn pipes() -> Result<(Pipe, Pipe), SampleError> {
    let (up_r, up_w) = std::io::pipe()?;
    let (down_r, down_w) = std::io::pipe()?;
    let file = |fd: std::os::fd::OwnedFd| File::from(fd);
    Ok((
        (file(up_r.into()), file(up_w.into())),
        (file(down_r.into()), file(down_w.into())),
    ))
}

/// 8 bytes each way: the parent writes its turn number, the child reads it
/// and writes back the next one. `read_exact`: a short read is legal even
/// for 8 bytes (it does not happen on a pipe or a stream pair in practice).
fn pingpong(
    round_trips: u64,
    (mut rx, mut tx): (impl Read + Write + 'static, impl Read + Write + 'static),
    (mut their_rx, mut their_tx): (impl Read + Write + 'static, impl Read + Write + 'static),
) -> Result<f64, SampleError> {
    let mut turn = 0u64;
    round_trips_ns(
        warmup_for(round_trips).min(200),
        round_trips,
        move |total| {
            let mut buf = [0u8; 8];
            for _ in 0..total {
                their_rx
                    .read_exact(&mut buf)
                    .unwrap_or_else(|e| panic!("pingpong peer: read: {e}"));
                let next = u64::from_le_bytes(buf) + 1;
                their_tx
                    .write_all(&next.to_le_bytes())
                    .unwrap_or_else(|e| panic!("pingpong peer: write: {e}"));
            }
        },
        move || {
            tx.write_all(&turn.to_le_bytes())?;
            let mut buf = [0u8; 8];
            rx.read_exact(&mut buf)?;
            let got = u64::from_le_bytes(buf);
            if got != turn + 1 {
                return Err(SampleError::failed(format!(
                    "pingpong: got {got}, expected {}",
                    turn + 1
                )));
            }
            turn += 2;
            Ok(())
        },
    )
}

fn pipe_pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let ((up_r, up_w), (down_r, down_w)) = pipes()?;
    // Parent: reads up, writes down. Child: reads down, writes up.
    pingpong(round_trips, (up_r, down_w), (down_r, up_w))
}

fn uds_pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let (mine, theirs) = UnixStream::pair()?;
    let (mine2, theirs2) = (mine.try_clone()?, theirs.try_clone()?);
    pingpong(round_trips, (mine, mine2), (theirs, theirs2))
}

/// The child writes `warmup + msgs` 4 KiB messages (sequence number in the
/// first 8 bytes) with `write_all`; the parent `read_exact`s each into a
/// page-aligned buffer, checks the order and times the last `msgs`.
fn stream_4kib(
    msgs: u64,
    mut rx: impl Read,
    mut their_tx: impl Write + 'static,
) -> Result<f64, SampleError> {
    let warmup = warmup_for(msgs);
    let total = warmup + msgs;
    let producer = peer::spawn("stream-producer", move || {
        let mut page = Page::boxed();
        for seq in 0..total {
            page.0[..8].copy_from_slice(&seq.to_le_bytes());
            their_tx
                .write_all(&page.0)
                .unwrap_or_else(|e| panic!("stream producer: write: {e}"));
        }
    })?;
    let mut page = Page::boxed();
    let receive = |expected: u64| -> Result<(), SampleError> {
        rx.read_exact(&mut page.0)?;
        let got = u64::from_le_bytes(black_box(&page.0)[..8].try_into().expect("8 bytes"));
        if got != expected {
            return Err(SampleError::failed(format!(
                "stream: got message {got}, expected {expected}"
            )));
        }
        Ok(())
    };
    let secs = peer::receive_timed(producer, warmup, total, receive)?.as_secs_f64();
    Ok(msgs as f64 * PAGE_BYTES as f64 / secs / 1e9)
}

fn pipe_tput(msgs: u64) -> Result<f64, SampleError> {
    let (r, w) = std::io::pipe()?;
    stream_4kib(msgs, r, w)
}

fn uds_tput(msgs: u64) -> Result<f64, SampleError> {
    let (mine, theirs) = UnixStream::pair()?;
    stream_4kib(msgs, mine, theirs)
}

// ----- the size sweep (see `kit::sizes`) -----

/// `N`-byte messages back and forth: `write_all` of the whole message,
/// `read_exact` of the whole reply, stamps checked.
fn sweep_pingpong<const N: usize>(
    round_trips: u64,
    (mut rx, mut tx): (impl Read + Write + 'static, impl Read + Write + 'static),
    (mut their_rx, mut their_tx): (impl Read + Write + 'static, impl Read + Write + 'static),
) -> Result<f64, SampleError> {
    let mut out = vec![7u8; N];
    let mut back = vec![0u8; N];
    let mut turn = 0u64;
    round_trips_ns(
        sweep_warmup(round_trips),
        round_trips,
        move |total| {
            let mut buf = vec![0u8; N];
            for _ in 0..total {
                their_rx
                    .read_exact(&mut buf)
                    .unwrap_or_else(|e| panic!("sweep peer: read: {e}"));
                let seq = read_stamp(&buf).unwrap_or_else(|| panic!("sweep peer: torn"));
                stamp(&mut buf, seq + 1);
                their_tx
                    .write_all(&buf)
                    .unwrap_or_else(|e| panic!("sweep peer: write: {e}"));
            }
        },
        move || {
            stamp(&mut out, turn);
            tx.write_all(&out)?;
            rx.read_exact(&mut back)?;
            if read_stamp(&back) != Some(turn + 1) {
                return Err(SampleError::failed(format!("sweep: bad reply to {turn}")));
            }
            turn += 2;
            Ok(())
        },
    )
}

fn pipe_sweep_pingpong<const N: usize>(round_trips: u64) -> Result<f64, SampleError> {
    let ((up_r, up_w), (down_r, down_w)) = pipes()?;
    sweep_pingpong::<N>(round_trips, (up_r, down_w), (down_r, up_w))
}

fn uds_sweep_pingpong<const N: usize>(round_trips: u64) -> Result<f64, SampleError> {
    let (mine, theirs) = UnixStream::pair()?;
    let (mine2, theirs2) = (mine.try_clone()?, theirs.try_clone()?);
    sweep_pingpong::<N>(round_trips, (mine, mine2), (theirs, theirs2))
}

/// A stream of `N`-byte messages (`write_all` / `read_exact`); GB/s.
fn sweep_stream<const N: usize>(
    msgs: u64,
    mut rx: impl Read,
    mut their_tx: impl Write + 'static,
) -> Result<f64, SampleError> {
    let warmup = sweep_warmup(msgs);
    let total = warmup + msgs;
    let producer = peer::spawn("sweep-stream-producer", move || {
        let mut buf = vec![7u8; N];
        for seq in 0..total {
            stamp(&mut buf, seq);
            their_tx
                .write_all(&buf)
                .unwrap_or_else(|e| panic!("sweep producer: write: {e}"));
        }
    })?;
    let mut buf = vec![0u8; N];
    let receive = |seq: u64| -> Result<(), SampleError> {
        rx.read_exact(&mut buf)?;
        if read_stamp(black_box(&buf)) != Some(seq) {
            return Err(SampleError::failed(format!(
                "sweep stream: bad message {seq}"
            )));
        }
        Ok(())
    };
    let secs = peer::receive_timed(producer, warmup, total, receive)?.as_secs_f64();
    Ok(msgs as f64 * N as f64 / secs / 1e9)
}

fn pipe_sweep_tput<const N: usize>(msgs: u64) -> Result<f64, SampleError> {
    let (r, w) = std::io::pipe()?;
    sweep_stream::<N>(msgs, r, w)
}

fn uds_sweep_tput<const N: usize>(msgs: u64) -> Result<f64, SampleError> {
    let (mine, theirs) = UnixStream::pair()?;
    sweep_stream::<N>(msgs, mine, theirs)
}
