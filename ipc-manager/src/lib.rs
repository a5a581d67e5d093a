//! Python's `multiprocessing.Manager()`, without the server process.
//!
//! Python's manager runs a server process and pickles every access to its
//! objects (about 20 000 operations per second). Here every process maps the
//! same shared memory and reads and writes the objects in place: a lookup
//! in a shared dictionary is a hash, a probe and a copy, tens of
//! nanoseconds, with no system call and no lock.
//!
//! A [`Manager`] is a named store (or an anonymous one, for a parent and its
//! children), backed by shared memory or by files that survive every process
//! exiting and a reboot. Its objects are found by name, as a program written
//! against Python's manager expects:
//!
//! | Python                      | here                                   |
//! |-----------------------------|----------------------------------------|
//! | `manager.dict()`            | [`Manager::dict`] → [`Dict`] ([`TypedDict`] view) |
//! | `manager.list()`            | [`Manager::list`] → [`List<T>`]        |
//! | `manager.Value(t, v)`       | [`Manager::value`] → [`Value<T>`]      |
//! | `manager.Lock()`            | [`Manager::lock`] → [`Lock`]           |
//! | `manager.Event()`           | [`Manager::event`]                     |
//! | `manager.Semaphore(n)`      | [`Manager::semaphore`]                 |
//! | `manager.Barrier(n)`        | [`Manager::barrier`]                   |
//!
//! ```
//! use ipc_core::process::Process;
//! use ipc_core::segment::SegmentOptions;
//! use ipc_manager::Manager;
//!
//! let name = format!("doc-manager-{}", std::process::id());
//! let m = Manager::builder().named(&name).create()?;
//! let scores = m.dict("scores")?.typed::<str, u64>()?;
//! scores.insert("alice", &10)?;
//!
//! // Another process opens the same manager by name and reads in place.
//! let child = Process::spawn({
//!     let name = name.clone();
//!     move || {
//!         let m = Manager::builder().named(&name).open().unwrap();
//!         let scores = m.dict("scores").unwrap().typed::<str, u64>().unwrap();
//!         assert_eq!(scores.get("alice").unwrap(), Some(10));
//!         scores.insert("bob", &7).unwrap();
//!     }
//! })?;
//! assert!(child.join()?.success());
//! assert_eq!(scores.get("bob")?, Some(7));
//! # Ok::<(), ipc_manager::Error>(())
//! ```
//!
//! # How it works
//!
//! - **Layout** (the `layout` module in the source): a root segment and
//!   heap segments; nothing in shared memory is a pointer, only refs
//!   (segment index and offset), each bounds-checked before use.
//! - **Readers** never lock and never block each other: they *pin* an epoch
//!   in a per-thread reader slot, follow published refs, and copy (or look
//!   in place, with a guard) — see the `epoch` module.
//! - **Writers** serialise on one robust mutex in the root. Every change is
//!   written into fresh memory first and published by a single atomic store;
//!   replaced and removed data goes to *limbo* and is reused once no reader
//!   can still see it (see the `dict::table` module).
//! - **Crashes**: a writer killed at any instant (inside an insert, a remove,
//!   a growth step) leaves the objects consistent — its operation happened
//!   entirely or not at all. The next writer is told by the robust mutex,
//!   walks the heap, and puts back whatever the dead writer had in hand (see
//!   the `recovery` module). A reader killed while pinned is detected by its
//!   process identity and its slot freed.
//! - **Growth**: the heap grows by adding segments (`<name>.1`, `<name>.2`,
//!   ...) that other processes map when they first meet a ref into them, so
//!   growth needs no restart and no coordination.
//!
//! # Limits
//!
//! - Keys up to [`MAX_KEY_LEN`] bytes, values up to [`MAX_VALUE_LEN`],
//!   object names up to [`MAX_NAME_LEN`]; beyond, typed errors.
//! - A reader slot is claimed per thread and manager and kept until the
//!   thread exits or the manager's last handle in that process is dropped:
//!   at most [`MAX_READERS`] such threads over all processes (slots of dead
//!   processes are taken back).
//! - A manager spans at most [`MAX_SEGMENTS`] segments; each new one at least
//!   doubles the total, so this is no practical limit. An anonymous manager
//!   cannot add segments (children forked earlier could not see them): it
//!   grows inside the capacity fixed at creation.
//! - Objects live as long as the manager: none can be deleted (clear it
//!   instead).
//! - A zero-copy guard, or a `for_each` in progress, holds back the reuse of
//!   memory writers free meanwhile; keep them short.
//! - Read-only mappings are not supported: readers register in the manager.
//! - Crash consistency covers processes dying at any instant, including a
//!   reboot of a machine that had flushed its page cache. A file-backed
//!   manager caught by a power loss may lose recent writes in whatever order
//!   the kernel had not yet written them back; [`Manager::check`] then
//!   reports damage as an error rather than reading through it.
#![deny(unsafe_code)]

// The layers, bottom up (a file imports only from below it):
// - `error`: the crate's error type.
// - `storage`: the byte-level store in shared memory (layout, mapping,
//   allocation, epochs, the writer, the hash table, recovery); it knows no
//   object handle.
// - `objects`: the typed handles (dict, list, value, sync objects) and the
//   directory of names; they know storage, never the manager.
// - `manager`: the `Manager` that opens a store and hands out objects.
mod error;
mod manager;
mod objects;
mod storage;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use error::{Error, Result};
pub use ipc_core::Message;
/// The `zerocopy` crate, for its derives (see [`Message`]).
pub use ipc_core::zerocopy;
pub use manager::{Manager, ManagerBuilder, ManagerConfig, Stats};
pub use objects::dict::{Dict, TypedDict, TypedRef, ValueRef};
pub use objects::list::List;
pub use objects::sync::{Handle, Lock};
pub use objects::types::Encoding;
pub use objects::value::{AtomicInt, Value};
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use storage::layout::offsets;
pub use storage::layout::{MAX_KEY_LEN, MAX_NAME_LEN, MAX_READERS, MAX_SEGMENTS, MAX_VALUE_LEN};
pub use storage::recovery::HeapReport;

/// The object-kind code in a manager's root segment header (for tools that
/// tell segments apart: see [`ipc_core::segment::peek`]).
pub const ROOT_KIND_CODE: u32 = storage::layout::ROOT_KIND.code;
/// The object-kind code of a manager's additional heap segments
/// (`NAME.1`, `NAME.2`, ...).
pub const SEGMENT_KIND_CODE: u32 = storage::layout::ARENA_KIND.code;

// Handles are shared freely between threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Manager>();
    send_sync::<Dict>();
    send_sync::<TypedDict<[u8; 16], u64>>();
    send_sync::<List<u64>>();
    send_sync::<Value<u64>>();
    send_sync::<Lock>();
};
