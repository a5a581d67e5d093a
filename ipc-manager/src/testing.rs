//! Fault injection for the crate's own tests (feature `testing`; not part
//! of the API).

use std::time::Duration;

use crate::storage::fault::{self, Point};

/// Makes every growth step of the arena in this process pause for `d`, so
/// that a test can kill a writer in the middle of one. `Duration::ZERO`
/// turns it off.
pub fn set_growth_pause(d: Duration) {
    fault::set(Point::Growth, d);
}

/// Makes a dictionary `clear` in this process pause for `d` after it
/// unlinked the table and before it zeroed the length.
pub fn set_clear_pause(d: Duration) {
    fault::set(Point::Clear, d);
}
