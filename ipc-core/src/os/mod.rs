//! The operating-system boundary: the only code in the workspace that calls
//! libc, as thin wrappers in the style of `rustix`'s backend files.
//!
//! Each wrapper takes and returns plain Rust values (borrowed atomics and
//! descriptors, `Instant`s, `Result`s carrying a raw `errno`) and keeps its
//! `unsafe` block next to the argument that makes it sound. The few wrappers
//! that take raw pointers to memory the caller laid out (the pthread mutex)
//! are `unsafe fn`s whose contract the caller states. The layers above call
//! these functions, never libc.
//!
//! | file | what |
//! |---|---|
//! | `clock.rs` | monotonic clocks, absolute deadlines for the kernel |
//! | `errno.rs` | the `errno` values the layers above interpret |
//! | `fork.rs` | the one `pthread_atfork` registration: cached pid, fork counts |
//! | `fs.rs` | `shm_open`, `shm_unlink`, `memfd_create`, reserving blocks |
//! | `futex.rs` | sleeping on and waking 32-bit words in shared memory |
//! | `process.rs` | `fork`, pidfds, signals, reaping, `poll`, `_exit` |
//! | `pthread.rs` | glibc's robust process-shared mutex |
#![allow(unsafe_code)]

pub(crate) mod clock;
pub(crate) mod errno;
pub(crate) mod fork;
pub(crate) mod fs;
pub(crate) mod futex;
pub(crate) mod process;
pub(crate) mod pthread;
