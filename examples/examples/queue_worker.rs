//! A worker process takes a string from a `Queue` that the parent puts
//! after starting it.
//!
//! ```text
//! Worker got Hello
//! ```

use ipc_core::process::Process;
use ipc_queue::Queue;

fn worker(q: &Queue<u8>) {
    let item = q.get_string().expect("the parent puts one item");
    println!("Worker got {item}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Strings travel as byte frames of up to 64 bytes.
    let q = Queue::<u8>::builder().max_frame(64).create()?;
    let worker_q = q.try_clone()?;
    let p1 = Process::spawn(move || worker(&worker_q))?;
    q.put_str("Hello")?;
    p1.join_ok()?;
    Ok(())
}
