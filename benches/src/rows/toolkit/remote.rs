//! Rows measuring `ipc_remote` (the toolkit's objects on NATS JetStream),
//! through its public blocking API, beside the bare async-nats client
//! doing the same (group `nats`): the layer's overhead over the client it
//! is built on.

use std::hint::black_box;

use ipc_remote::{Remote, RemoteDict, RemoteOptions, RemoteQueue};

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
    ]
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
