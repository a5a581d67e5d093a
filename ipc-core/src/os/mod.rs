//! The operating-system boundary: thin wrappers over the system calls the
//! toolkit makes, in the style of `rustix`'s backend files.
//!
//! Each wrapper takes and returns plain Rust values (borrowed atomics,
//! `Instant`s, `Result`s carrying a raw `errno`) and keeps its `unsafe` block
//! next to the argument that makes it sound. The layers above call these
//! functions instead of `libc`.

pub(crate) mod clock;
pub(crate) mod futex;
