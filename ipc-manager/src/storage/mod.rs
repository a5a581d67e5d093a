//! The store: bytes in shared memory, and the machinery that keeps them
//! consistent while processes come, go and die. It knows no object handle.
//!
//! Bottom up (a file imports only from files above it in this list):
//!
//! - `fault`: test-only pauses inside writes (feature `testing`).
//! - `layout`: every `#[repr(C)]` structure in shared memory, with its
//!   compile-time checked offsets, and the limits.
//! - `hash`: the keyed hash of dictionary keys.
//! - `arena`: the mapped segments, and every raw access to them (refs are
//!   bounds-checked here, nowhere else).
//! - `format`: writing the initial root, arena headers and heaps.
//! - `inner`: the handle set shared by one process's handles (`Inner`), with
//!   its reader-slot registry.
//! - `epoch`: readers' pins (epoch-based reclamation, reader side).
//! - `heap`: the block allocator over the arena (`Heap`).
//! - `writer`: the context of one locked write (`Writer`): allocation
//!   policy, retiring and reclaiming blocks (the writer side of epochs).
//! - `table`: the open-addressing hash table behind dictionaries and the
//!   directory of names.
//! - `recovery`: the heap walk that mends what a dead writer left.
//! - `txn`: taking the writer lock, recovering first when needed, running a
//!   write; the only place that ties the writer to recovery.

pub(crate) mod arena;
pub(crate) mod epoch;
pub(crate) mod fault;
pub(crate) mod format;
pub(crate) mod hash;
pub(crate) mod heap;
pub(crate) mod inner;
pub(crate) mod layout;
pub(crate) mod recovery;
pub(crate) mod table;
pub(crate) mod txn;
pub(crate) mod writer;
