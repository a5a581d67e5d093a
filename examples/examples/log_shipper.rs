//! A log shipper: three producer processes send structured log records
//! (serde: strings, a vector, an option) through one queue to a consumer,
//! which counts them per producer and level, and prints a summary.
//!
//! ```text
//! producer 0: 100 records (info 67, warn 33), 2 with a trace id
//! producer 1: 100 records (info 67, warn 33), 2 with a trace id
//! producer 2: 100 records (info 67, warn 33), 2 with a trace id
//! total: 300 records, 0 out of order, longest message 31 bytes
//! ```

use ipc_core::process::Process;
use ipc_queue::Queue;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct LogRecord {
    producer: u32,
    seq: u32,
    level: Level,
    msg: String,
    labels: Vec<String>,
    trace_id: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Level {
    Info,
    Warn,
}

const PRODUCERS: u32 = 3;
const RECORDS: u32 = 100;

fn produce(q: &Queue<u8>, producer: u32) {
    for seq in 0..RECORDS {
        let level = if seq % 3 == 2 {
            Level::Warn
        } else {
            Level::Info
        };
        let record = LogRecord {
            producer,
            seq,
            level,
            msg: format!("GET /items/{seq} answered in {} ms", (seq * 7) % 90),
            labels: vec![format!("shard-{}", seq % 4), "http".to_owned()],
            trace_id: (seq % 50 == 0).then_some(u64::from(producer) << 32 | u64::from(seq)),
        };
        q.put_serde(&record).expect("the consumer is there");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A byte queue whose records take their own encoded length in a 64 KiB
    // byte ring (any record up to 64 KiB fits; a 60-byte one takes 64).
    let q = Queue::<u8>::builder()
        .capacity(256)
        .ring_bytes(64 << 10)
        .create()?;
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            Process::spawn(move || produce(&q, p))
        })
        .collect::<Result<_, _>>()?;
    // Per producer: records, warnings, trace ids, next expected seq.
    let mut stats = vec![(0u32, 0u32, 0u32, 0u32); PRODUCERS as usize];
    let (mut out_of_order, mut longest) = (0, 0);
    for _ in 0..PRODUCERS * RECORDS {
        let r: LogRecord = q.get_serde()?;
        let s = &mut stats[r.producer as usize];
        s.0 += 1;
        s.1 += u32::from(r.level == Level::Warn);
        s.2 += u32::from(r.trace_id.is_some());
        if r.seq != s.3 {
            out_of_order += 1;
        }
        s.3 = r.seq + 1;
        longest = longest.max(r.msg.len());
        assert_eq!(r.labels.len(), 2);
    }
    for p in producers {
        p.join_ok()?;
    }
    for (p, (n, warn, traced, _)) in stats.iter().enumerate() {
        println!(
            "producer {p}: {n} records (info {}, warn {warn}), {traced} with a trace id",
            n - warn
        );
    }
    println!(
        "total: {} records, {out_of_order} out of order, longest message {longest} bytes",
        stats.iter().map(|s| s.0).sum::<u32>()
    );
    Ok(())
}
