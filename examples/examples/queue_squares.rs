//! A child puts the squares of 0..5 into a `Queue`; once it has finished,
//! the parent takes them out until the queue is empty.
//!
//! ```text
//! 0
//! 1
//! 4
//! 9
//! 16
//! ```

use std::ops::Range;

use ipc_core::process::Process;
use ipc_queue::Queue;

fn square(li: Range<u64>, q: &Queue<u64>) {
    for x in li {
        let square = x * x;
        q.put(&square).expect("the parent holds the queue open");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let li = 0..5;
    let q = Queue::<u64>::new(16)?;
    let child_q = q.try_clone()?;
    let process = Process::spawn(move || square(li, &child_q))?;
    process.join_ok()?;
    while !q.is_empty() {
        println!("{}", q.get()?);
    }
    Ok(())
}
