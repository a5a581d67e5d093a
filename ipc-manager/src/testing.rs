//! Fault injection for the crate's own tests (not part of the API).

/// Makes every growth step of the arena in this process pause for `d`, so
/// that a test can kill a writer in the middle of one. `Duration::ZERO`
/// turns it off.
pub fn set_growth_pause(d: std::time::Duration) {
    crate::storage::heap::set_growth_pause(d);
}
