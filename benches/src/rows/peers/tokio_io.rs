//! tokio's own ways for async tasks to talk, as the references of
//! `pipe_async_pingpong_8B`: a Unix stream socket between two processes
//! (`tokio::net::UnixStream`, what a tokio program would use to reach
//! another process), and, in one process, `tokio::sync::mpsc` between two
//! tasks on a two-thread runtime (the floor an in-process channel sets).

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::pingpong_async::{async_round_trips_ns, runtime};

pub const GROUP: Group = Group {
    name: "tokio",
    kind: Kind::Peer,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "tokio_uds_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongAsync,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 5_000,
                quick: 200,
            },
            compare_to: &[],
            about: "tokio::net::UnixStream pair between two processes, each a current-thread runtime",
            sample: uds_pingpong,
        },
        Bench {
            id: "tokio_mpsc_pingpong_8B",
            group: &GROUP,
            workload: Workload::PingpongAsync,
            metric: Metric::OneWayNs,
            iters: Iters {
                full: 20_000,
                quick: 500,
            },
            compare_to: &[],
            about: "tokio::sync::mpsc between two tasks of one process, two-thread runtime (in-process reference)",
            sample: mpsc_pingpong,
        },
    ]
}

fn failed(what: &str, e: impl std::fmt::Display) -> SampleError {
    SampleError::failed(format!("tokio {what}: {e}"))
}

fn uds_pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let (mine, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(|e| failed("socketpair", e))?;
    async_round_trips_ns(
        warmup_for(round_trips),
        round_trips,
        move |total| {
            let rt = runtime().unwrap_or_else(|e| panic!("{e}"));
            rt.block_on(async move {
                theirs.set_nonblocking(true).expect("nonblocking");
                let mut s = tokio::net::UnixStream::from_std(theirs).expect("from_std");
                let mut buf = [0u8; 8];
                for _ in 0..total {
                    s.read_exact(&mut buf).await.expect("peer read");
                    let v = u64::from_le_bytes(buf) + 1;
                    s.write_all(&v.to_le_bytes()).await.expect("peer write");
                }
            });
        },
        (mine, None::<tokio::net::UnixStream>, 0u64),
        async |(std_sock, sock, turn): &mut (
            std::os::unix::net::UnixStream,
            Option<tokio::net::UnixStream>,
            u64,
        )| {
            if sock.is_none() {
                // Registered with the runtime inside it, on the first trip.
                let s = std_sock.try_clone().map_err(|e| failed("clone", e))?;
                s.set_nonblocking(true)
                    .map_err(|e| failed("nonblocking", e))?;
                *sock =
                    Some(tokio::net::UnixStream::from_std(s).map_err(|e| failed("from_std", e))?);
            }
            let s = sock.as_mut().expect("set above");
            s.write_all(&turn.to_le_bytes())
                .await
                .map_err(|e| failed("write", e))?;
            let mut buf = [0u8; 8];
            s.read_exact(&mut buf)
                .await
                .map_err(|e| failed("read", e))?;
            if u64::from_le_bytes(buf) != *turn + 1 {
                return Err(SampleError::failed("tokio uds: wrong reply"));
            }
            *turn += 2;
            Ok(())
        },
    )
}

/// Two tasks on a two-thread runtime, one message each way per round trip.
fn mpsc_pingpong(round_trips: u64) -> Result<f64, SampleError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .map_err(|e| failed("runtime", e))?;
    let warmup = warmup_for(round_trips).max(1);
    let total = warmup + round_trips;
    let elapsed = rt.block_on(async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let peer = tokio::spawn(async move {
            for _ in 0..total {
                let v = ping_rx.recv().await.expect("peer recv");
                pong_tx.send(v + 1).await.expect("peer send");
            }
        });
        let driver = tokio::spawn(async move {
            let mut start = Instant::now();
            for i in 0..total {
                if i == warmup {
                    start = Instant::now();
                }
                ping_tx.send(2 * i).await.map_err(|e| failed("send", e))?;
                let back = pong_rx
                    .recv()
                    .await
                    .ok_or_else(|| failed("recv", "closed"))?;
                if back != 2 * i + 1 {
                    return Err(SampleError::failed("tokio mpsc: wrong reply"));
                }
            }
            Ok::<_, SampleError>(start.elapsed())
        });
        let elapsed = driver.await.map_err(|e| failed("join", e))??;
        peer.await.map_err(|e| failed("join", e))?;
        Ok::<_, SampleError>(elapsed)
    })?;
    Ok(elapsed.as_nanos() as f64 / (2 * round_trips) as f64)
}
