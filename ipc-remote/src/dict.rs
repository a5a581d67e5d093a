//! [`RemoteDict`]: the manager's dict on a JetStream key-value bucket.
//!
//! # Protocol
//!
//! - A dict named `N` is the bucket `IPCD_N` (one revision kept per key).
//! - Keys are bytes, as the local dict's. A key made only of the
//!   characters a bucket key may hold (`A-Z a-z 0-9 - _ /`), not starting
//!   with `=`, is stored as it is, so NATS tools show it; any other key is
//!   stored as `=` followed by its base64url form (no padding), which
//!   [`keys`](RemoteDict::keys) decodes back.
//! - The atomic update ([`update_with`](RemoteDict::update_with)) reads the
//!   key's value and revision, computes the new value, and writes it only
//!   if the revision is still the same (JetStream's expected-revision
//!   check); another writer in between makes it read and try again. No
//!   update is lost, whichever process or host makes it.
//! - A watch ([`watch`](RemoteDict::watch), [`watch_all`](RemoteDict::watch_all))
//!   is the bucket's watcher: each change after it started, in revision
//!   order.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use async_nats::jetstream::stream::StorageType;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::remote::{Remote, check_name, describe, retrying, server_error, transient};
use ipc_core::Deadline;

use crate::runtime::{self, DeadlineExt};

/// Key bytes stored as they are; all others are encoded.
fn plain_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'/'
}

/// The bucket key for `key`.
fn encode_key(key: &[u8]) -> Result<String> {
    if key.is_empty() {
        return Err(Error::InvalidKey {
            reason: "it is empty",
        });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey {
            reason: "it is longer than 1024 bytes",
        });
    }
    if key[0] != b'=' && key.iter().all(|&b| plain_key_byte(b)) {
        // All ASCII: valid UTF-8.
        return Ok(String::from_utf8_lossy(key).into_owned());
    }
    Ok(format!("={}", base64url(key)))
}

/// The key bytes a bucket key stands for (`None`: not one of ours).
fn decode_key(stored: &str) -> Option<Vec<u8>> {
    match stored.strip_prefix('=') {
        Some(b64) => unbase64url(b64),
        None => Some(stored.as_bytes().to_vec()),
    }
}

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 1024;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn unbase64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|&x| x == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// How a [`RemoteDict`] is made:
/// `RemoteDict::builder(&remote, "state").open_or_create()`.
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteDictBuilder {
    remote: Remote,
    name: String,
    memory: bool,
    replicas: usize,
    max_value: Option<usize>,
}

impl RemoteDictBuilder {
    /// Keeps the values in the server's memory (lost when it restarts).
    pub fn in_memory(mut self, memory: bool) -> Self {
        self.memory = memory;
        self
    }

    /// Copies of each value kept by a cluster (1, 3 or 5).
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// The largest value (default: the server's `max_payload`).
    pub fn max_value(mut self, bytes: usize) -> Self {
        self.max_value = Some(bytes);
        self
    }

    /// Creates the dict; [`AlreadyExists`](Error::AlreadyExists) if it is
    /// there.
    pub fn create(&self) -> Result<RemoteDict> {
        runtime::block_on(self.create_async())
    }

    /// Opens an existing dict; [`NotFound`](Error::NotFound) if there is
    /// none.
    pub fn open(&self) -> Result<RemoteDict> {
        runtime::block_on(self.open_async())
    }

    /// Opens the dict, creating it if it is not there.
    pub fn open_or_create(&self) -> Result<RemoteDict> {
        runtime::block_on(self.open_or_create_async())
    }

    /// [`create`](Self::create) as a future.
    pub async fn create_async(&self) -> Result<RemoteDict> {
        match self.open_async().await {
            Ok(_) => Err(Error::AlreadyExists {
                name: self.name.clone(),
            }),
            Err(Error::NotFound { .. }) => self.make().await,
            Err(e) => Err(e),
        }
    }

    /// [`open`](Self::open) as a future.
    pub async fn open_async(&self) -> Result<RemoteDict> {
        check_name(&self.name)?;
        self.check_server()?;
        let js = &self.remote.js;
        let bucket = bucket_name(&self.name);
        let deadline = Deadline::after(self.remote.opts.connect_timeout);
        let store = retrying(deadline, transient, || async {
            js.get_key_value(bucket.as_str()).await.map_err(|e| {
                let text = describe(&e);
                if text.contains("not found") {
                    Error::NotFound {
                        name: self.name.clone(),
                    }
                } else {
                    server_error("open the dict's bucket", &e)
                }
            })
        })
        .await?;
        Ok(self.wrap(store))
    }

    /// [`open_or_create`](Self::open_or_create) as a future.
    pub async fn open_or_create_async(&self) -> Result<RemoteDict> {
        match self.open_async().await {
            Err(Error::NotFound { .. }) => self.make().await,
            other => other,
        }
    }

    /// Refuses a server older than 2.10, whose key-value answers the client
    /// cannot read.
    fn check_server(&self) -> Result<()> {
        let version = self.remote.server_version();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < (2, 10) {
            return Err(Error::Server {
                op: "open a dict",
                reason: format!(
                    "the server is NATS {version}; the remote dict needs 2.10 or later"
                ),
            });
        }
        Ok(())
    }

    async fn make(&self) -> Result<RemoteDict> {
        let limit = self.remote.max_payload().saturating_sub(256);
        let max_value = self.max_value.unwrap_or(limit);
        if max_value > limit {
            return Err(Error::TooLarge {
                len: max_value,
                max: limit,
            });
        }
        let config = kv::Config {
            bucket: bucket_name(&self.name),
            history: 1,
            max_value_size: i32::try_from(max_value).unwrap_or(i32::MAX),
            storage: if self.memory {
                StorageType::Memory
            } else {
                StorageType::File
            },
            num_replicas: self.replicas,
            description: "ipc-toolkit remote dict".into(),
            ..Default::default()
        };
        let js = &self.remote.js;
        let deadline = Deadline::after(self.remote.opts.connect_timeout);
        let store = retrying(deadline, transient, || async {
            js.create_key_value(config.clone())
                .await
                .map_err(|e| server_error("create the dict's bucket", &e))
        })
        .await?;
        Ok(self.wrap(store))
    }

    fn wrap(&self, store: Store) -> RemoteDict {
        // An opened bucket's own limit is not known here; the server
        // checks it on every write.
        let limit = self.remote.max_payload().saturating_sub(256);
        let max_value = self.max_value.unwrap_or(limit).min(limit);
        RemoteDict {
            remote: self.remote.clone(),
            name: self.name.clone(),
            store,
            max_value,
        }
    }
}

/// A dict on a NATS JetStream server, with the local
/// [`Dict`](ipc_manager::Dict)'s byte methods and atomic update (see the
/// module docs for how it maps onto a key-value bucket).
///
/// ```no_run
/// use ipc_remote::{Remote, RemoteDict, RemoteOptions};
///
/// let remote = Remote::connect(&RemoteOptions::new("nats://127.0.0.1:4222"))?;
/// let hits = RemoteDict::builder(&remote, "hits").open_or_create()?;
/// hits.update_with("/", |n| {
///     let n = n.map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
///     (n + 1).to_le_bytes().to_vec()
/// })?;
/// # Ok::<(), ipc_remote::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RemoteDict {
    remote: Remote,
    name: String,
    store: Store,
    max_value: usize,
}

/// One change a [`Watch`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The key.
    pub key: Vec<u8>,
    /// The new value; `None` if the key was removed.
    pub value: Option<Vec<u8>>,
    /// The bucket's revision of this change (increasing).
    pub revision: u64,
}

/// The changes to a key or to the whole dict, in order, from when the
/// watch started.
pub struct Watch {
    // Taken on drop (see `Drop`).
    inner: Option<kv::Watch>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The watcher's subscription unsubscribes on a task it spawns:
        // drop it inside the runtime, which the caller may not be in.
        let _inside = runtime::handle().enter();
        self.inner.take();
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

impl Watch {
    /// The next change, waiting for it.
    pub fn recv(&mut self) -> Result<Change> {
        runtime::block_on(self.next_at(Deadline::Forever))
    }

    /// The next change, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Change> {
        runtime::block_on(self.next_at(Deadline::after(timeout)))
    }

    /// [`recv`](Self::recv) as a future.
    pub async fn recv_async(&mut self) -> Result<Change> {
        self.next_at(Deadline::Forever).await
    }

    async fn next_at(&mut self, deadline: Deadline) -> Result<Change> {
        loop {
            let entry = deadline
                .run(async {
                    let Some(inner) = self.inner.as_mut() else {
                        return Err(Error::Disconnected);
                    };
                    match inner.next().await {
                        Some(Ok(e)) => Ok(e),
                        Some(Err(e)) => Err(server_error("watch the dict", &e)),
                        None => Err(Error::Disconnected),
                    }
                })
                .await?;
            let Some(key) = decode_key(&entry.key) else {
                continue;
            };
            return Ok(Change {
                key,
                value: match entry.operation {
                    Operation::Put => Some(entry.value.to_vec()),
                    Operation::Delete | Operation::Purge => None,
                },
                revision: entry.revision,
            });
        }
    }
}

/// The changes, each waited for (`recv`); ends when the watch fails.
impl Iterator for Watch {
    type Item = Result<Change>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.recv() {
            Err(Error::Disconnected) => None,
            other => Some(other),
        }
    }
}

/// A key's value and the revision it was read at (`None`: absent, and
/// the revision of its deletion, 0 if it never existed).
struct Read {
    value: Option<Bytes>,
    revision: u64,
}

impl RemoteDict {
    /// How a dict named `name` on `remote`'s server is made or opened.
    pub fn builder(remote: &Remote, name: &str) -> RemoteDictBuilder {
        RemoteDictBuilder {
            remote: remote.clone(),
            name: name.to_owned(),
            memory: false,
            replicas: 1,
            max_value: None,
        }
    }

    /// The dict's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn deadline(&self) -> Deadline {
        // One call retries through a server restart for about as long as
        // a connect may take, then reports `Timeout`.
        Deadline::after(
            self.remote
                .opts
                .connect_timeout
                .max(Duration::from_secs(10)),
        )
    }

    fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value {
            return Err(Error::TooLarge {
                len: value.len(),
                max: self.max_value,
            });
        }
        Ok(())
    }

    async fn read(&self, key: &str) -> Result<Read> {
        retrying(self.deadline(), transient, || async {
            let entry = self
                .store
                .entry(key)
                .await
                .map_err(|e| server_error("read a key", &e))?;
            Ok(match entry {
                Some(e) if e.operation == Operation::Put => Read {
                    value: Some(e.value),
                    revision: e.revision,
                },
                Some(e) => Read {
                    value: None,
                    revision: e.revision,
                },
                None => Read {
                    value: None,
                    revision: 0,
                },
            })
        })
        .await
    }

    /// Writes `value` if the key is still at `read` (created if it was
    /// absent); `Ok(false)` if another writer came first.
    async fn write_if(&self, key: &str, read: &Read, value: Bytes) -> Result<bool> {
        let outcome = match (&read.value, read.revision) {
            (None, 0) => self
                .store
                .create(key, value)
                .await
                .map(|_| ())
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => None,
                    _ => Some(server_error("create a key", &e)),
                }),
            (_, revision) => self
                .store
                .update(key, value, revision)
                .await
                .map(|_| ())
                .map_err(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => None,
                    _ => Some(server_error("update a key", &e)),
                }),
        };
        match outcome {
            Ok(()) => Ok(true),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(e),
        }
    }

    /// Sets `key` to `value` (Python's `d[key] = value`).
    pub fn insert<K: AsRef<[u8]> + ?Sized>(&self, key: &K, value: impl AsRef<[u8]>) -> Result<()> {
        runtime::block_on(self.insert_async(key, value))
    }

    /// [`insert`](Self::insert) as a future.
    pub async fn insert_async<K: AsRef<[u8]> + ?Sized>(
        &self,
        key: &K,
        value: impl AsRef<[u8]>,
    ) -> Result<()> {
        let key = encode_key(key.as_ref())?;
        let value = Bytes::copy_from_slice(value.as_ref());
        self.check_value(&value)?;
        retrying(self.deadline(), transient, || async {
            self.store
                .put(key.as_str(), value.clone())
                .await
                .map(|_| ())
                .map_err(|e| server_error("write a key", &e))
        })
        .await
    }

    /// A copy of the value of `key`, or `None`.
    pub fn get<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<Option<Vec<u8>>> {
        runtime::block_on(self.get_async(key))
    }

    /// [`get`](Self::get) as a future.
    pub async fn get_async<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<Option<Vec<u8>>> {
        let key = encode_key(key.as_ref())?;
        Ok(self.read(&key).await?.value.map(|b| b.to_vec()))
    }

    /// Whether `key` is present.
    pub fn contains<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Removes `key`; whether it was present.
    pub fn remove<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<bool> {
        Ok(self.pop(key)?.is_some())
    }

    /// Removes `key` and returns its value (atomic: of two processes
    /// popping the same key, one gets the value).
    pub fn pop<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<Option<Vec<u8>>> {
        let key = encode_key(key.as_ref())?;
        runtime::block_on(async {
            loop {
                let read = self.read(&key).await?;
                let Some(value) = read.value else {
                    return Ok(None);
                };
                match self
                    .store
                    .delete_expect_revision(key.as_str(), Some(read.revision))
                    .await
                {
                    Ok(()) => return Ok(Some(value.to_vec())),
                    Err(e) if describe(&e).contains("wrong last sequence") => {}
                    Err(e) => return Err(server_error("remove a key", &e)),
                }
            }
        })
    }

    /// Replaces the value of `key` with `f(old)`, atomically across every
    /// process and host (compare-and-swap on the key's revision, retried);
    /// returns the value stored. `f` may run more than once.
    pub fn update_with<K: AsRef<[u8]> + ?Sized>(
        &self,
        key: &K,
        f: impl FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        runtime::block_on(self.update_with_async(key, f))
    }

    /// [`update_with`](Self::update_with) as a future.
    pub async fn update_with_async<K: AsRef<[u8]> + ?Sized>(
        &self,
        key: &K,
        mut f: impl FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        let key = encode_key(key.as_ref())?;
        loop {
            let read = self.read(&key).await?;
            let new = f(read.value.as_deref());
            self.check_value(&new)?;
            if self
                .write_if(&key, &read, Bytes::copy_from_slice(&new))
                .await?
            {
                return Ok(new);
            }
        }
    }

    /// Stores `new` if the value of `key` is `current` (`None`: absent);
    /// `Ok(Err(actual))` with what is stored otherwise.
    pub fn compare_and_swap<K: AsRef<[u8]> + ?Sized>(
        &self,
        key: &K,
        current: Option<&[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<std::result::Result<(), Option<Vec<u8>>>> {
        let key = encode_key(key.as_ref())?;
        let new = Bytes::copy_from_slice(new.as_ref());
        self.check_value(&new)?;
        runtime::block_on(async {
            loop {
                let read = self.read(&key).await?;
                if read.value.as_deref() != current {
                    return Ok(Err(read.value.map(|b| b.to_vec())));
                }
                if self.write_if(&key, &read, new.clone()).await? {
                    return Ok(Ok(()));
                }
            }
        })
    }

    /// The value of `key`; if absent, inserts `default` first (Python's
    /// `setdefault`; atomic).
    pub fn get_or_insert<K: AsRef<[u8]> + ?Sized>(
        &self,
        key: &K,
        default: impl AsRef<[u8]>,
    ) -> Result<Vec<u8>> {
        let default = default.as_ref();
        loop {
            match self.compare_and_swap(key, None, default)? {
                Ok(()) => return Ok(default.to_vec()),
                Err(Some(v)) => return Ok(v),
                Err(None) => {}
            }
        }
    }

    /// All keys (a snapshot).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        runtime::block_on(self.keys_async())
    }

    /// [`keys`](Self::keys) as a future.
    pub async fn keys_async(&self) -> Result<Vec<Vec<u8>>> {
        retrying(self.deadline(), transient, || async {
            let mut keys = self
                .store
                .keys()
                .await
                .map_err(|e| server_error("list the keys", &e))?;
            let mut out = Vec::new();
            while let Some(k) = keys.next().await {
                let k = k.map_err(|e| server_error("list the keys", &e))?;
                if let Some(k) = decode_key(&k) {
                    out.push(k);
                }
            }
            Ok(out)
        })
        .await
    }

    /// All `(key, value)` pairs (keys listed, then each read: a key
    /// removed in between is left out).
    pub fn items(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for k in self.keys()? {
            if let Some(v) = self.get(&k)? {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// The number of keys.
    pub fn len(&self) -> Result<u64> {
        Ok(self.keys()?.len() as u64)
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes every key.
    pub fn clear(&self) -> Result<()> {
        for k in self.keys()? {
            let key = encode_key(&k)?;
            runtime::block_on(async {
                self.store
                    .purge(key.as_str())
                    .await
                    .map_err(|e| server_error("remove a key", &e))
            })?;
        }
        Ok(())
    }

    /// The changes to `key` from now on.
    pub fn watch<K: AsRef<[u8]> + ?Sized>(&self, key: &K) -> Result<Watch> {
        let key = encode_key(key.as_ref())?;
        runtime::block_on(async {
            let inner = self
                .store
                .watch(key.as_str())
                .await
                .map_err(|e| server_error("watch a key", &e))?;
            Ok(Watch { inner: Some(inner) })
        })
    }

    /// The changes to every key from now on.
    pub fn watch_all(&self) -> Result<Watch> {
        runtime::block_on(async {
            let inner = self
                .store
                .watch_all()
                .await
                .map_err(|e| server_error("watch the dict", &e))?;
            Ok(Watch { inner: Some(inner) })
        })
    }

    /// Deletes the dict and its values from the server.
    pub fn destroy(self) -> Result<()> {
        runtime::block_on(async {
            self.remote
                .js
                .delete_key_value(bucket_name(&self.name))
                .await
                .map_err(|e| server_error("delete the dict", &e))?;
            Ok(())
        })
    }
}

fn bucket_name(name: &str) -> String {
    format!("IPCD_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_stored_form() {
        for key in [
            &b"plain-key_1/x"[..],
            b"with space",
            b"dot.ted",
            b"=starts",
            b"\x00\xff\x10",
            b"a",
            b"ab",
            b"abc",
            "ünïcode".as_bytes(),
        ] {
            let stored = encode_key(key).unwrap();
            assert!(
                stored.bytes().all(|b| plain_key_byte(b) || b == b'='),
                "{stored}"
            );
            assert_eq!(decode_key(&stored).as_deref(), Some(key), "{stored}");
        }
        assert_eq!(encode_key(b"hits").unwrap(), "hits");
        assert!(matches!(encode_key(b""), Err(Error::InvalidKey { .. })));
    }
}
