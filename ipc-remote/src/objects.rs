//! One API over local and remote objects: [`ByteQueue`] and [`ByteDict`]
//! are implemented by the shared-memory [`Queue`](ipc_queue::Queue) and
//! [`Dict`](ipc_manager::Dict) and by [`RemoteQueue`] and [`RemoteDict`],
//! so code written against them moves between one host and several by
//! changing how it opens its objects, not its calls.
//!
//! Errors are this crate's [`Error`] for both: the local flow-control
//! outcomes arrive under the same names (`Full`, `Empty`, `Timeout`,
//! `Disconnected`, `TooLarge`), anything else as
//! [`Local`](Error::Local) or [`Manager`](Error::Manager).
//!
//! ```no_run
//! use ipc_remote::{ByteQueue, Error, Remote, RemoteOptions, RemoteQueue};
//!
//! fn drain(q: &impl ByteQueue) -> Result<usize, Error> {
//!     let mut n = 0;
//!     loop {
//!         match q.try_get_bytes() {
//!             Ok(_) => n += 1,
//!             Err(Error::Empty | Error::Disconnected) => return Ok(n),
//!             Err(e) => return Err(e),
//!         }
//!     }
//! }
//!
//! let local = ipc_queue::Queue::<u8>::builder().ring_bytes(1 << 20).create()?;
//! drain(&local)?;
//! let remote = Remote::connect(&RemoteOptions::new("nats://127.0.0.1:4222"))?;
//! drain(&RemoteQueue::builder(&remote, "jobs").open_or_create()?)?;
//! # Ok::<(), Error>(())
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{decode, encode};
use crate::dict::RemoteDict;
use crate::error::{Error, Result};
use crate::queue::RemoteQueue;

/// A queue of byte messages (and postcard-encoded values), local or
/// remote.
pub trait ByteQueue {
    /// Appends `bytes`, waiting for room.
    fn put_bytes(&self, bytes: &[u8]) -> Result<()>;
    /// Appends `bytes` if there is room now (`Full`).
    fn try_put_bytes(&self, bytes: &[u8]) -> Result<()>;
    /// Appends `bytes`, waiting at most `timeout` for room (`Timeout`).
    fn put_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()>;
    /// Removes the next message, waiting for one (`Disconnected` once the
    /// queue is closed, or its producers gone, and drained).
    fn get_bytes(&self) -> Result<Vec<u8>>;
    /// Removes the next message if there is one now (`Empty`).
    fn try_get_bytes(&self) -> Result<Vec<u8>>;
    /// Removes the next message, waiting at most `timeout` (`Timeout`).
    fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>>;
    /// Closes the queue: puts fail, gets drain it, then are `Disconnected`.
    fn close(&self) -> Result<()>;

    /// Appends `value` encoded with postcard (what the local queue's
    /// `put_serde` writes), waiting for room.
    fn put_serde<V: Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        self.put_bytes(&encode(value)?)
    }

    /// Removes the next message decoded as `V`.
    fn get_serde<V: DeserializeOwned>(&self) -> Result<V> {
        decode(&self.get_bytes()?)
    }
}

/// A dictionary of byte keys and values, local or remote.
pub trait ByteDict {
    /// Sets `key` to `value`.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// A copy of the value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Whether `key` is present.
    fn contains(&self, key: &[u8]) -> Result<bool>;
    /// Removes `key`; whether it was present.
    fn remove(&self, key: &[u8]) -> Result<bool>;
    /// Replaces the value of `key` with `f(old)` atomically; the value
    /// stored. `f` may run more than once (a remote retry).
    fn update_with(
        &self,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>>;
    /// All keys.
    fn keys(&self) -> Result<Vec<Vec<u8>>>;
    /// The number of keys.
    fn len(&self) -> Result<u64>;
    /// Whether there are no keys.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

impl ByteQueue for RemoteQueue {
    fn put_bytes(&self, bytes: &[u8]) -> Result<()> {
        RemoteQueue::put_bytes(self, bytes)
    }
    fn try_put_bytes(&self, bytes: &[u8]) -> Result<()> {
        RemoteQueue::try_put_bytes(self, bytes)
    }
    fn put_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        RemoteQueue::put_bytes_timeout(self, bytes, timeout)
    }
    fn get_bytes(&self) -> Result<Vec<u8>> {
        RemoteQueue::get_bytes(self)
    }
    fn try_get_bytes(&self) -> Result<Vec<u8>> {
        RemoteQueue::try_get_bytes(self)
    }
    fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        RemoteQueue::get_bytes_timeout(self, timeout)
    }
    fn close(&self) -> Result<()> {
        RemoteQueue::close(self)
    }
}

impl<T: ipc_queue::Message> ByteQueue for ipc_queue::Queue<T> {
    fn put_bytes(&self, bytes: &[u8]) -> Result<()> {
        ipc_queue::Queue::put_bytes(self, bytes).map_err(Error::from_local)
    }
    fn try_put_bytes(&self, bytes: &[u8]) -> Result<()> {
        ipc_queue::Queue::try_put_bytes(self, bytes).map_err(Error::from_local)
    }
    fn put_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        ipc_queue::Queue::put_bytes_timeout(self, bytes, timeout).map_err(Error::from_local)
    }
    fn get_bytes(&self) -> Result<Vec<u8>> {
        ipc_queue::Queue::get_bytes(self).map_err(Error::from_local)
    }
    fn try_get_bytes(&self) -> Result<Vec<u8>> {
        ipc_queue::Queue::try_get_bytes(self).map_err(Error::from_local)
    }
    fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        ipc_queue::Queue::get_bytes_timeout(self, timeout).map_err(Error::from_local)
    }
    fn close(&self) -> Result<()> {
        ipc_queue::Queue::close(self).map_err(Error::from_local)
    }
}

impl ByteDict for RemoteDict {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        RemoteDict::insert(self, key, value)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        RemoteDict::get(self, key)
    }
    fn contains(&self, key: &[u8]) -> Result<bool> {
        RemoteDict::contains(self, key)
    }
    fn remove(&self, key: &[u8]) -> Result<bool> {
        RemoteDict::remove(self, key)
    }
    fn update_with(
        &self,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        RemoteDict::update_with(self, key, f)
    }
    fn keys(&self) -> Result<Vec<Vec<u8>>> {
        RemoteDict::keys(self)
    }
    fn len(&self) -> Result<u64> {
        RemoteDict::len(self)
    }
}

impl ByteDict for ipc_manager::Dict {
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        ipc_manager::Dict::insert(self, key, value).map_err(Error::from_manager)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        ipc_manager::Dict::get(self, key).map_err(Error::from_manager)
    }
    fn contains(&self, key: &[u8]) -> Result<bool> {
        ipc_manager::Dict::contains(self, key).map_err(Error::from_manager)
    }
    fn remove(&self, key: &[u8]) -> Result<bool> {
        ipc_manager::Dict::remove(self, key).map_err(Error::from_manager)
    }
    fn update_with(
        &self,
        key: &[u8],
        f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        ipc_manager::Dict::update_with(self, key, f).map_err(Error::from_manager)
    }
    fn keys(&self) -> Result<Vec<Vec<u8>>> {
        ipc_manager::Dict::keys(self).map_err(Error::from_manager)
    }
    fn len(&self) -> Result<u64> {
        ipc_manager::Dict::len(self).map_err(Error::from_manager)
    }
}
