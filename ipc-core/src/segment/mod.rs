//! Shared-memory segments: the mapping layer ([`Segment`]), the checked header
//! for toolkit objects ([`ObjectSegment`]), and typed values ([`Shared`]).
//!
//! All three kinds of backing go through [`SegmentOptions`]:
//!
//! - [`SegmentOptions::named`]: a POSIX shared-memory name (`/dev/shm/NAME`),
//!   reachable from any process, including Python's
//!   `multiprocessing.shared_memory.SharedMemory(name=NAME)`. The creator
//!   removes the name when it drops the segment, unless told to keep it.
//! - [`SegmentOptions::anonymous`]: no name (a `memfd`); shared with children
//!   started by `fork`, or passed by file descriptor.
//! - [`SegmentOptions::file`]: a file at any path; its contents persist after
//!   every process has exited.

mod header;
mod name;
mod object;
mod options;
mod raw;
mod shared;

pub use crate::shm_safe::ShmSafe;
pub use header::{FORMAT_VERSION, HEADER_LEN, Header, MAX_ALIGN, ObjectKind, TypeDesc};
pub use name::NAME_MAX;
pub use object::ObjectSegment;
pub use options::{Backing, SegmentOptions};
pub use raw::{MAX_SEGMENT_LEN, Segment};
pub use shared::Shared;
