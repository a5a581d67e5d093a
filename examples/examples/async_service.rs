//! An async service: a tokio program answers requests that two worker
//! processes send over pipes (serde structs), one task per pipe, without a
//! thread per pipe or any polling. The workers are started first: a
//! process with threads (a tokio runtime) must not fork.
//!
//! ```text
//! worker 0: 10 answers, sum of squares 385
//! worker 1: 10 answers, sum of squares 2485
//! service: answered 20 requests
//! ```

use ipc_core::process::Process;
use ipc_queue::{Pipe, PipeEnd};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: u32,
    op: String,
    x: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Response {
    id: u32,
    value: u64,
}

/// A worker: ten requests, one at a time, each answered before the next.
fn worker(end: PipeEnd<u8>, n: u64) {
    let mut sum = 0;
    for (id, x) in (10 * n + 1..=10 * n + 10).enumerate() {
        let request = Request {
            id: id as u32,
            op: "square".into(),
            x,
        };
        end.send_serde(&request).expect("the service is there");
        let response: Response = end.recv_serde().expect("an answer");
        assert_eq!(response.id, id as u32);
        sum += response.value;
    }
    println!("worker {n}: 10 answers, sum of squares {sum}");
}

/// The service's task for one pipe: answers until the worker is gone.
async fn serve(mut end: PipeEnd<u8>) -> u32 {
    let mut answered = 0;
    while let Ok(request) = end.recv_serde_async::<Request>().await {
        let value = match request.op.as_str() {
            "square" => request.x * request.x,
            _ => 0,
        };
        let response = Response {
            id: request.id,
            value,
        };
        end.send_serde_async(&response)
            .await
            .expect("the worker waits");
        answered += 1;
    }
    answered
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut service_ends = Vec::new();
    let mut workers = Vec::new();
    for n in 0..2 {
        let (mine, theirs) = Pipe::<u8>::new()?;
        workers.push(Process::spawn(move || worker(theirs, n))?);
        service_ends.push(mine);
    }
    // Only now, with the workers forked, does the program start threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    let answered: u32 = runtime.block_on(async {
        let tasks: Vec<_> = service_ends
            .into_iter()
            .map(|end| tokio::spawn(serve(end)))
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("a serving task");
        }
        total
    });
    for w in workers {
        w.join_ok()?;
    }
    println!("service: answered {answered} requests");
    Ok(())
}
