//! A child sends the squares of 0..5 through a `Pipe`; the parent receives
//! and prints them.
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
use ipc_queue::{Pipe, PipeEnd};

fn square(li: Range<u64>, con2: &PipeEnd<u64>) {
    for x in li {
        let square = x * x;
        con2.send(&square).expect("the parent holds its end open");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let li = 0..5;
    let (con1, con2) = Pipe::<u64>::new()?;
    let process = Process::spawn(move || square(li, &con2))?;
    for _ in 0..5 {
        println!("{}", con1.recv()?);
    }
    process.join_ok()?;
    Ok(())
}
