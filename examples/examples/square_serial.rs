//! Squares of 0..5 computed one after the other, each followed by a
//! one-second sleep: about 5 seconds in all. `square_processes` does the same
//! with five processes.
//!
//! ```text
//! start process:0
//! square 0:0
//! end process:0
//! ...
//! start process:4
//! square 4:16
//! end process:4
//! Time taken 5.004402513 seconds
//! ```

use std::thread;
use std::time::{Duration, Instant};

fn square(x: u64) {
    println!("start process:{x}");
    let square = x * x;
    println!("square {x}:{square}");
    thread::sleep(Duration::from_secs(1));
    println!("end process:{x}");
}

fn main() {
    let starttime = Instant::now();
    for i in 0..5 {
        square(i);
    }
    let elapsed = starttime.elapsed().as_secs_f64();
    println!("Time taken {elapsed} seconds");
}
