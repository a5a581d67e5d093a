//! The shared memory an object row maps: a row's sample reports the bytes
//! of the objects it made (`record`), the runner keeps the largest over the
//! rounds, and the RESULT line carries it as `shm_bytes=` (the table as
//! `[shm ..]`).

use std::cell::Cell;

thread_local! {
    static LAST: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Reports that the sample's objects map `bytes` of shared memory.
pub fn record(bytes: usize) {
    LAST.with(|l| l.set(Some(bytes as u64)));
}

/// What the last sample reported, if anything.
pub fn take() -> Option<u64> {
    LAST.with(Cell::take)
}

/// `bytes` as KiB or MiB, for the table.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 10 << 20 => format!("{} MiB", b >> 20),
        b if b >= 10 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}
