//! `is_alive` before a process is started, while it runs, and after it was
//! joined. The child's first line and the parent's second may come in
//! either order.
//!
//! ```text
//! The process is alive:false
//! start test process
//! The process is alive:true
//! end test process
//! The process is alive:false
//! ```

use std::thread;
use std::time::Duration;

use ipc_core::process::Process;

fn test() {
    println!("start test process");
    thread::sleep(Duration::from_secs(1));
    println!("end test process");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A process that is not started yet: in Rust, no `Process` exists
    // until it is started (`Process::spawn` forks at once).
    let not_started: Option<Process> = None;
    let alive = not_started.as_ref().is_some_and(Process::is_alive);
    println!("The process is alive:{alive}");
    let process = Process::spawn(test)?;
    println!("The process is alive:{}", process.is_alive());
    process.join_ok()?;
    println!("The process is alive:{}", process.is_alive());
    Ok(())
}
