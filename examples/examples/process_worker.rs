//! A worker process that announces its start and its end (Python's
//! `multiprocessing.Process(target=worker)`, started and joined).
//!
//! ```text
//! Starting process
//! Exiting process
//! ```

use ipc_core::process::Process;

/// The worker function.
fn worker() {
    println!("Starting process");
    // Do some work
    println!("Exiting process");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p = Process::spawn(worker)?;
    p.join_ok()?;
    Ok(())
}
