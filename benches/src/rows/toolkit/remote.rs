//! Rows measuring `ipc_remote` (the toolkit's objects on NATS JetStream),
//! through its public blocking API, beside the bare async-nats client
//! doing the same (group `nats`): the layer's overhead over the client it
//! is built on.

use std::hint::black_box;

use ipc_remote::{Remote, RemoteDict, RemoteOptions, RemotePool, RemoteQueue, Worker};

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::nats;

pub const GROUP: Group = Group {
    name: "remote",
    kind: Kind::Toolkit,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "remote_queue_tput_1KiB",
            group: &GROUP,
            workload: Workload::RemoteTput1KiB,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 20_000,
                quick: 1_000,
            },
            compare_to: &[],
            about: "RemoteQueue (file storage): put_bytes of 1 KiB, each acknowledged by the server, to a consumer process whose get_bytes acknowledges each",
            sample: queue_tput,
        },
        Bench {
            id: "remote_dict_get_8B",
            group: &GROUP,
            workload: Workload::RemoteDictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 20_000,
                quick: 1_000,
            },
            compare_to: &[],
            about: "RemoteDict::get of an 8-byte value, blocking, one round trip each",
            sample: dict_get,
        },
        Bench {
            id: "remote_pool_map_10k",
            group: &GROUP,
            workload: Workload::RemotePoolMap,
            metric: Metric::Secs,
            iters: Iters {
                full: 10_000,
                quick: 500,
            },
            compare_to: &[],
            about: "RemotePool::map of n tasks of 1 ms (a sleep) over 2 Worker processes (n = 10k; 500 in --quick)",
            sample: remote_pool_map,
        },
        Bench {
            id: "pool_map_10k_1ms",
            group: &crate::rows::toolkit::pool::GROUP,
            workload: Workload::RemotePoolMap,
            metric: Metric::Secs,
            iters: Iters {
                full: 10_000,
                quick: 500,
            },
            compare_to: &[],
            about: "the local Pool (2 workers) mapping the same n tasks of 1 ms (a sleep)",
            sample: local_pool_map,
        },
    ]
}

/// The task both pool rows run: 1 ms of (simulated) work.
fn work(x: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(1));
    x.wrapping_mul(x)
}

fn check(out: &[u64], n: u64) -> Result<(), SampleError> {
    if out.len() as u64 != n
        || out
            .iter()
            .zip(0u64..)
            .any(|(&got, x)| got != x.wrapping_mul(x))
    {
        return Err(SampleError::failed("the pool returned wrong results"));
    }
    Ok(())
}

fn remote_pool_map(n: u64) -> Result<f64, SampleError> {
    let server = nats::server()?;
    let url = server.url();
    let name = nats::unique("bench-pool");
    let r = Remote::connect(&RemoteOptions::new(&url))?;
    let pool = RemotePool::open(&r, &name)?;
    let workers = (0..2)
        .map(|_| {
            let (url, name) = (url.clone(), name.clone());
            crate::rows::kit::peer::spawn("remote-worker", move || {
                let r = Remote::connect(&RemoteOptions::new(url)).expect("connect");
                Worker::new(&r, &name)
                    .expect("worker")
                    .task("work", work)
                    .run()
                    .expect("run");
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Warm-up: both workers connected and running.
    check(&pool.map("work", 0..20u64)?, 20)?;
    let start = std::time::Instant::now();
    let out: Vec<u64> = pool.map("work", 0..n)?;
    let secs = start.elapsed().as_secs_f64();
    check(&out, n)?;
    pool.close()?;
    for w in workers {
        crate::rows::kit::peer::join(w)?;
    }
    Ok(secs)
}

fn local_pool_map(n: u64) -> Result<f64, SampleError> {
    let pool = ipc_pool::Pool::new(2)?;
    pool.map(work, 0..20)?;
    let start = std::time::Instant::now();
    let out = pool.map(work, 0..n)?;
    let secs = start.elapsed().as_secs_f64();
    check(&out, n)?;
    Ok(secs)
}

fn queue_tput(msgs: u64) -> Result<f64, SampleError> {
    let server = nats::server()?;
    let url = server.url();
    let name = nats::unique("bench-q");
    let r = Remote::connect(&RemoteOptions::new(&url))?;
    let q = RemoteQueue::builder(&r, &name).create()?;
    let consume = {
        let name = name.clone();
        move |total: u64| {
            let r = Remote::connect(&RemoteOptions::new(url)).expect("connect");
            let q = RemoteQueue::builder(&r, &name).open().expect("open");
            for want in 0..total {
                let m = q.get_bytes().expect("get");
                let got = nats::seq_of(&m).unwrap_or(u64::MAX);
                assert_eq!(got, want, "out of order");
            }
        }
    };
    let produce = |range: std::ops::Range<u64>| {
        for seq in range {
            q.put_bytes(&nats::message(seq))?;
        }
        Ok(())
    };
    nats::stream(msgs, warmup_for(msgs), consume, produce, || {
        Ok(q.is_empty()?)
    })
}

fn dict_get(n: u64) -> Result<f64, SampleError> {
    let server = nats::server()?;
    let r = Remote::connect(&RemoteOptions::new(server.url()))?;
    let d = RemoteDict::builder(&r, &nats::unique("bench-d")).create()?;
    d.insert("key", 7u64.to_le_bytes())?;
    for _ in 0..warmup_for(n) {
        black_box(d.get("key")?);
    }
    let start = std::time::Instant::now();
    for _ in 0..n {
        let v = d.get("key")?;
        if v.as_deref() != Some(&7u64.to_le_bytes()[..]) {
            return Err(SampleError::failed("the dict returned another value"));
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
