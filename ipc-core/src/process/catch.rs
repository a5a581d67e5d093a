//! What a child does with a panic: its exit code.

use std::panic::{self, AssertUnwindSafe};

/// The exit code of a child whose closure or entry point panicked (the same
/// code a Rust program exits with when `main` panics).
pub const PANIC_EXIT_CODE: i32 = 101;

/// Runs `f`, turning a panic into [`PANIC_EXIT_CODE`] (the panic hook has
/// already printed the message).
pub(super) fn run_catching(f: impl FnOnce()) -> i32 {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(payload) => {
            // Not dropped: a payload whose destructor panics would unwind out
            // of here, and we are about to exit anyway.
            std::mem::forget(payload);
            PANIC_EXIT_CODE
        }
    }
}
