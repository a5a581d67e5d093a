//! Named entry points: the "spawn" start method, where the child is a fresh
//! run of the current executable instead of a fork.

use super::catch::run_catching;

/// The environment variable that carries the entry-point name to a child
/// started by [`Process::entry`](super::Process::entry).
pub const ENTRY_ENV: &str = "IPC_CORE_ENTRY";

/// The entry-point name this process was started with (the value of
/// [`ENTRY_ENV`]), if any.
///
/// `None` when the variable is unset, empty or not UTF-8.
///
/// ```
/// // A process started normally has no entry point.
/// # if std::env::var_os(ipc_core::process::ENTRY_ENV).is_none() {
/// assert_eq!(ipc_core::process::current_entry(), None);
/// # }
/// ```
pub fn current_entry() -> Option<String> {
    std::env::var(ENTRY_ENV)
        .ok()
        .filter(|name| !name.is_empty())
}

/// Runs the entry point this process was started for, if any: call it first
/// thing in `main`.
///
/// If [`ENTRY_ENV`] names one of `entries`, that function runs and the process
/// then exits with code 0, or with 101 ([`PANIC_EXIT_CODE`](super::PANIC_EXIT_CODE))
/// if it panicked (the panic message is printed by the panic hook as usual).
/// Otherwise (no entry point, or a name not in `entries`) this returns and
/// `main` carries on. Make sure every name given to
/// [`Process::entry`](super::Process::entry) is listed here: a child started
/// with an unknown name runs the parent's `main` again.
///
/// The exit goes through [`std::process::exit`], so stdout is flushed and
/// `atexit` handlers run, but destructors of live values in `main` do not.
///
/// ```standalone_crate
/// use ipc_core::process::{Process, run_entry_point};
///
/// fn worker() {
///     println!("hello from the worker, pid {}", std::process::id());
/// }
///
/// fn main() {
///     run_entry_point(&[("worker", worker)]);
///
///     // Only the parent gets here.
///     let child = Process::entry("worker", &[]).unwrap();
///     assert!(child.join().unwrap().success());
/// }
/// ```
pub fn run_entry_point(entries: &[(&str, fn())]) {
    let Some(name) = current_entry() else {
        return;
    };
    let Some(&(_, entry)) = entries.iter().find(|(candidate, _)| *candidate == name) else {
        return;
    };
    std::process::exit(run_catching(entry))
}
