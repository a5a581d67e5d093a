//! Two processes print their process ids (Python's `Process(target=compute)`,
//! started twice, then joined).
//!
//! ```text
//! Running on process ID: 4242
//! Running on process ID: 4243
//! ```

use ipc_core::process::Process;

fn compute() {
    println!("Running on process ID: {}", std::process::id());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let p1 = Process::spawn(compute)?;
    let p2 = Process::spawn(compute)?;
    p1.join_ok()?;
    p2.join_ok()?;
    Ok(())
}
