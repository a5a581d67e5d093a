//! The squares of `square_serial`, each in its own process: the five
//! one-second sleeps overlap, so it takes about 1 second. The order of the
//! processes' lines varies from run to run.
//!
//! ```text
//! start process:0
//! square 0:0
//! start process:1
//! start process:2
//! square 1:1
//! ...
//! end process:4
//! Time taken 1.004773862 seconds
//! ```

use std::thread;
use std::time::{Duration, Instant};

use ipc_core::process::Process;

fn square(x: u64) {
    println!("start process:{x}");
    let square = x * x;
    println!("square {x}:{square}");
    thread::sleep(Duration::from_secs(1));
    println!("end process:{x}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let starttime = Instant::now();
    let mut processlist = Vec::new();
    for i in 0..5 {
        let process = Process::spawn(move || square(i))?;
        processlist.push(process);
    }
    for process in &processlist {
        process.join_ok()?;
    }
    let elapsed = starttime.elapsed().as_secs_f64();
    println!("Time taken {elapsed} seconds");
    Ok(())
}
