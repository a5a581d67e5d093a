//! Parent and child have different process ids: the parent prints its own
//! and the child's (`Process::pid`), the child prints its own
//! (`std::process::id`, Python's `os.getpid()`). The child's first line and
//! the parent's second may come in either order.
//!
//! ```text
//! Id of the parent process 4242
//! start test process
//! Id of the child process 4243
//! Id of the child process in the test function 4243
//! end test process
//! ```

use std::thread;
use std::time::Duration;

use ipc_core::process::Process;

fn test() {
    println!("start test process");
    thread::sleep(Duration::from_secs(1));
    println!(
        "Id of the child process in the test function {}",
        std::process::id()
    );
    println!("end test process");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("Id of the parent process {}", std::process::id());
    let process = Process::spawn(test)?;
    println!("Id of the child process {}", process.pid());
    process.join_ok()?;
    Ok(())
}
