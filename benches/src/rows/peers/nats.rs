//! NATS JetStream through the bare `async-nats` client: what the `remote`
//! rows would cost without the toolkit's layer. Same server (a
//! `nats-server -js` on loopback, file storage), same stream and consumer
//! settings (work-queue retention, one durable pull consumer, explicit
//! acknowledgement), same sizes, and the same acknowledgements: each
//! publish awaits the server's, each message is acknowledged by its
//! consumer. Skipped where no server can be found.

use async_nats::jetstream::{self, consumer::pull, kv, stream};
use futures_util::StreamExt;

use crate::harness::{Bench, Group, Iters, Kind, Metric, SampleError, Workload, warmup_for};
use crate::rows::kit::nats;

pub const GROUP: Group = Group {
    name: "nats",
    kind: Kind::Peer,
};

pub fn benches() -> Vec<Bench> {
    vec![
        Bench {
            id: "nats_jetstream_tput_1KiB",
            group: &GROUP,
            workload: Workload::RemoteTput1KiB,
            metric: Metric::MsgsPerS,
            iters: Iters {
                full: 20_000,
                quick: 1_000,
            },
            compare_to: &[],
            about: "async-nats JetStream: publish 1 KiB awaiting each ack, a consumer process acking each from a durable pull consumer's message stream",
            sample: jetstream_tput,
        },
        Bench {
            id: "nats_kv_get_8B",
            group: &GROUP,
            workload: Workload::RemoteDictGet,
            metric: Metric::OpsPerS,
            iters: Iters {
                full: 20_000,
                quick: 1_000,
            },
            compare_to: &[],
            about: "async-nats key-value: get of an 8-byte value, awaited one at a time",
            sample: kv_get,
        },
    ]
}

fn runtime() -> Result<tokio::runtime::Runtime, SampleError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn failed(what: &str, e: impl std::fmt::Display) -> SampleError {
    SampleError::failed(format!("async-nats {what}: {e}"))
}

async fn context(url: &str) -> Result<jetstream::Context, SampleError> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| failed("connect", e))?;
    Ok(jetstream::new(client))
}

fn stream_config(name: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("bench.{name}")],
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

fn consumer_config() -> pull::Config {
    pull::Config {
        durable_name: Some("bench".into()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    }
}

fn jetstream_tput(msgs: u64) -> Result<f64, SampleError> {
    let server = nats::server()?;
    let url = server.url();
    let name = nats::unique("bench-js");
    let rt = runtime()?;
    let js = rt.block_on(async {
        let js = context(&url).await?;
        js.create_stream(stream_config(&name))
            .await
            .map_err(|e| failed("create stream", e))?;
        Ok::<_, SampleError>(js)
    })?;
    let subject = format!("bench.{name}");
    let consume = {
        let name = name.clone();
        move |total: u64| {
            let rt = runtime().unwrap_or_else(|_| panic!("runtime"));
            rt.block_on(async {
                let js = context(&url).await.unwrap_or_else(|_| panic!("connect"));
                let stream = js.get_stream(&name).await.expect("stream");
                let consumer: pull::Stream = stream
                    .get_or_create_consumer("bench", consumer_config())
                    .await
                    .expect("consumer")
                    .messages()
                    .await
                    .expect("messages");
                let mut messages = consumer;
                for want in 0..total {
                    let m = messages.next().await.expect("end").expect("message");
                    let got = nats::seq_of(&m.payload).unwrap_or(u64::MAX);
                    assert_eq!(got, want, "out of order");
                    m.ack().await.expect("ack");
                }
            });
        }
    };
    let produce = |range: std::ops::Range<u64>| {
        rt.block_on(async {
            for seq in range {
                js.publish(subject.clone(), nats::message(seq).into())
                    .await
                    .map_err(|e| failed("publish", e))?
                    .await
                    .map_err(|e| failed("publish ack", e))?;
            }
            Ok(())
        })
    };
    let drained = || {
        rt.block_on(async {
            let mut s = js
                .get_stream(&name)
                .await
                .map_err(|e| failed("stream", e))?;
            let info = s.info().await.map_err(|e| failed("stream info", e))?;
            Ok(info.state.messages == 0)
        })
    };
    nats::stream(msgs, warmup_for(msgs), consume, produce, drained)
}

fn kv_get(n: u64) -> Result<f64, SampleError> {
    let server = nats::server()?;
    let rt = runtime()?;
    rt.block_on(async {
        let js = context(&server.url()).await?;
        let store = js
            .create_key_value(kv::Config {
                bucket: nats::unique("bench-kv"),
                history: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| failed("create bucket", e))?;
        store
            .put("key", 7u64.to_le_bytes().to_vec().into())
            .await
            .map_err(|e| failed("put", e))?;
        for _ in 0..warmup_for(n) {
            store.get("key").await.map_err(|e| failed("get", e))?;
        }
        let start = std::time::Instant::now();
        for _ in 0..n {
            let v = store.get("key").await.map_err(|e| failed("get", e))?;
            if v.as_deref() != Some(&7u64.to_le_bytes()[..]) {
                return Err(SampleError::failed("the bucket returned another value"));
            }
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })
}
