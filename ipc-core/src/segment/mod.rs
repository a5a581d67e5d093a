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
//!
//! # Attaching from Python
//!
//! CPython's `SharedMemory(name=NAME)` registers every segment it attaches
//! to with its resource tracker, which **unlinks the name when that Python
//! process exits**, even though Python did not create it: the toolkit's
//! object disappears from `/dev/shm` for every later opener (CPython issue
//! 82300; 3.13 added `track=False`, the default still tracks). Attach
//! without tracking:
//!
//! ```python
//! from multiprocessing import shared_memory, resource_tracker
//!
//! s = shared_memory.SharedMemory(name="my-segment")          # Python < 3.13
//! resource_tracker.unregister(s._name, "shared_memory")
//! # Python >= 3.13: shared_memory.SharedMemory(name="my-segment", track=False)
//! ...
//! s.close()   # never s.unlink(): the creator removes the name
//! ```
//!
//! The test `python_attaches_to_a_named_segment` runs this against a real
//! Python and checks that the name survives.

mod header;
mod inspect;
mod name;
mod object;
mod options;
mod raw;
mod shared;

pub use crate::shm_safe::ShmSafe;
pub use header::{FORMAT_VERSION, HEADER_LEN, Header, MAX_ALIGN, ObjectKind, TypeDesc};
pub use inspect::{HeaderState, SegmentInfo, peek, users};
pub use name::NAME_MAX;
pub use object::ObjectSegment;
pub use options::{Backing, SegmentOptions};
pub use raw::{MAX_SEGMENT_LEN, Segment};
pub use shared::Shared;
