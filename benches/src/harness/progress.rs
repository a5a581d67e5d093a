//! The progress line on stderr while the runner samples.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use super::bench::Workload;

/// One progress line on stderr. On a terminal it is rewritten in place; in a
/// log (CI) each step is its own line, so a hang shows where it happened.
pub struct Progress {
    total: usize,
    done: usize,
    tty: bool,
    start: Instant,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }

    /// Announces the sample about to be taken.
    pub fn step(&mut self, workload: Workload, round: u32, runs: u32, id: &str) {
        self.done += 1;
        let line = format!(
            "[{}/{}] {:>5.1}s  {} round {round}/{runs}: {id}",
            self.done,
            self.total,
            self.start.elapsed().as_secs_f64(),
            workload.slug()
        );
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }

    /// Counts a sample that is not taken (its row failed or was skipped).
    pub fn skip(&mut self) {
        self.done += 1;
    }

    /// Prints a message on its own line without losing the progress line.
    pub fn note(&mut self, msg: &str) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
        eprintln!("{msg}");
    }

    /// Clears the progress line.
    pub fn finish(&mut self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}
