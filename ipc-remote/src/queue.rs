//! [`RemoteQueue`]: the MPMC queue on a JetStream work-queue stream.
//!
//! # Protocol
//!
//! - A queue named `N` is the stream `IPCQ_N` with the one subject
//!   `ipcq.N`, work-queue retention (a message is deleted once
//!   acknowledged), `max_msgs` = the capacity with the *discard new*
//!   policy (a put into a full queue is refused, not an old message
//!   dropped), and `max_msg_size` = the largest message.
//! - All getters share one durable pull consumer, `ipcq`, with explicit
//!   acknowledgement: each message goes to one getter; a message fetched
//!   but not acknowledged within `redeliver_after` (its getter died, or
//!   its host) is delivered again to another. That is the local queue's
//!   rule for a consumer killed mid-get: at least once, never lost.
//! - **put** publishes with a message id (`Nats-Msg-Id`) and returns once
//!   JetStream acknowledged it, so an acknowledged put is stored (on disk
//!   with the default file storage). A put whose acknowledgement was lost
//!   (the server restarted, a timeout) is sent again with the same id,
//!   which the server's duplicate window (2 minutes) drops if the first
//!   was stored. A full queue refuses the put with the server's "maximum
//!   messages exceeded"; a blocking put waits and tries again.
//! - **get** first takes what was fetched before; else, if the last message
//!   fetched said more were waiting, it fetches up to `prefetch` messages
//!   that are already there (a no-wait pull); else (a getter that keeps up)
//!   it long-polls for one in slices of at most a second, one pull request
//!   per message. It
//!   acknowledges a message once it has handed it over (`get_bytes`
//!   returns, the closure of `get_bytes_with` returns, a [`Delivery`] is
//!   acknowledged or dropped). Prefetched messages older than half of
//!   `redeliver_after` are given back (negative acknowledgement) rather
//!   than handed over late, when the server may already have given them to
//!   another getter; dropping the queue gives back the rest.
//! - **close** moves the stream's subject to `ipcq.N.closed`: later puts
//!   find no stream for their subject (`Disconnected`), the messages
//!   already in stay, and a get that finds the queue empty asks the
//!   stream whether it is closed (`Disconnected`) or merely empty.
//!
//! A server restart is waited out: every call retries within its deadline
//! while the client reconnects.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind, ErrorCode};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::remote::{Remote, check_name, retrying, server_error, transient};
use ipc_core::Deadline;

use crate::runtime::{self, DeadlineExt};

/// The durable consumer every getter shares.
const CONSUMER: &str = "ipcq";
/// How long one long-poll for a message lasts at most.
const POLL_SLICE: Duration = Duration::from_secs(1);
/// Bytes of a stored message the server counts beyond its payload (the
/// message-id header): kept free under the stream's and the server's
/// message size limits.
const HEADER_ROOM: usize = 128;
/// The shortest long-poll the server is asked for.
const MIN_POLL: Duration = Duration::from_millis(10);

/// How a [`RemoteQueue`] is made: `RemoteQueue::builder(&remote, "orders").capacity(10_000)`
/// then [`create`](Self::create), [`open`](Self::open) or
/// [`open_or_create`](Self::open_or_create).
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteQueueBuilder {
    remote: Remote,
    name: String,
    capacity: Option<u64>,
    max_message: Option<usize>,
    redeliver_after: Duration,
    memory: bool,
    replicas: usize,
    prefetch: usize,
}

impl RemoteQueueBuilder {
    pub(crate) fn new(remote: &Remote, name: &str) -> Self {
        Self {
            remote: remote.clone(),
            name: name.to_owned(),
            capacity: None,
            max_message: None,
            redeliver_after: Duration::from_secs(30),
            memory: false,
            replicas: 1,
            prefetch: 64,
        }
    }

    /// At most `n` messages in the queue (default: no limit but the
    /// server's storage).
    pub fn capacity(mut self, n: u64) -> Self {
        self.capacity = Some(n);
        self
    }

    /// The largest message (default and upper bound: the server's
    /// `max_payload`, 1 MiB unless configured).
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = Some(bytes);
        self
    }

    /// How long a fetched message may stay unacknowledged before the server
    /// gives it to another getter (default 30 s). Set when the queue is
    /// created; longer than any pause a live getter takes between its get
    /// and the hand-over.
    pub fn redeliver_after(mut self, d: Duration) -> Self {
        self.redeliver_after = d;
        self
    }

    /// Keeps the messages in the server's memory instead of its file store
    /// (faster; lost when the server restarts).
    pub fn in_memory(mut self, memory: bool) -> Self {
        self.memory = memory;
        self
    }

    /// Copies of each message kept by a cluster (1, 3 or 5).
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// How many waiting messages one fetch takes at most (default 64; 1
    /// hands each message to the first getter that asks, at a round trip
    /// per message).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n.max(1);
        self
    }

    /// Creates the queue; [`AlreadyExists`](Error::AlreadyExists) if it is
    /// there.
    pub fn create(&self) -> Result<RemoteQueue> {
        runtime::block_on(self.create_async())
    }

    /// Opens an existing queue; [`NotFound`](Error::NotFound) if there is
    /// none.
    pub fn open(&self) -> Result<RemoteQueue> {
        runtime::block_on(self.open_async())
    }

    /// Opens the queue, creating it if it is not there.
    pub fn open_or_create(&self) -> Result<RemoteQueue> {
        runtime::block_on(self.open_or_create_async())
    }

    /// [`create`](Self::create) as a future.
    pub async fn create_async(&self) -> Result<RemoteQueue> {
        check_name(&self.name)?;
        let config = self.stream_config()?;
        let js = &self.remote.js;
        let deadline = Deadline::after(self.remote.opts.connect_timeout);
        // JetStream takes a second create with the same configuration as a
        // no-op: look first.
        match self.lookup(deadline).await {
            Ok(_) => {
                return Err(Error::AlreadyExists {
                    name: self.name.clone(),
                });
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        retrying(deadline, transient, || async {
            js.create_stream(config.clone())
                .await
                .map_err(|e| match e.kind() {
                    CreateStreamErrorKind::JetStream(j)
                        if j.error_code() == ErrorCode::STREAM_NAME_EXIST =>
                    {
                        Error::AlreadyExists {
                            name: self.name.clone(),
                        }
                    }
                    _ => server_error("create the queue's stream", &e),
                })
        })
        .await?;
        self.finish().await
    }

    /// [`open`](Self::open) as a future.
    pub async fn open_async(&self) -> Result<RemoteQueue> {
        check_name(&self.name)?;
        self.finish().await
    }

    /// [`open_or_create`](Self::open_or_create) as a future.
    pub async fn open_or_create_async(&self) -> Result<RemoteQueue> {
        match self.create_async().await {
            Err(Error::AlreadyExists { .. }) => self.open_async().await,
            other => other,
        }
    }

    fn stream_config(&self) -> Result<stream::Config> {
        let limit = largest_message(&self.remote);
        let max_message = self.max_message.unwrap_or(limit);
        if max_message > limit {
            return Err(Error::TooLarge {
                len: max_message,
                max: limit,
            });
        }
        Ok(stream::Config {
            name: stream_name(&self.name),
            subjects: vec![subject(&self.name)],
            retention: RetentionPolicy::WorkQueue,
            discard: DiscardPolicy::New,
            max_messages: self
                .capacity
                .map_or(-1, |c| i64::try_from(c).unwrap_or(i64::MAX)),
            max_message_size: i32::try_from(max_message + HEADER_ROOM).unwrap_or(i32::MAX),
            storage: if self.memory {
                StorageType::Memory
            } else {
                StorageType::File
            },
            num_replicas: self.replicas,
            duplicate_window: Duration::from_secs(120),
            description: Some("ipc-toolkit remote queue".into()),
            ..Default::default()
        })
    }

    /// The queue's stream; `NotFound` if there is none.
    async fn lookup(&self, deadline: Deadline) -> Result<stream::Stream> {
        let js = &self.remote.js;
        let name = stream_name(&self.name);
        retrying(deadline, transient, || async {
            js.get_stream(&name).await.map_err(|e| match e.kind() {
                GetStreamErrorKind::JetStream(j)
                    if j.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Error::NotFound {
                        name: self.name.clone(),
                    }
                }
                _ => server_error("look up the queue's stream", &e),
            })
        })
        .await
    }

    /// Looks the stream up and attaches to (or makes) the shared consumer.
    async fn finish(&self) -> Result<RemoteQueue> {
        let name = stream_name(&self.name);
        let deadline = Deadline::after(self.remote.opts.connect_timeout);
        let stream = self.lookup(deadline).await?;
        let info = stream.cached_info();
        if info.config.retention != RetentionPolicy::WorkQueue {
            return Err(Error::Server {
                op: "open the queue",
                reason: format!("stream {name} is not a work queue (not made by this toolkit)"),
            });
        }
        let max_message = usize::try_from(info.config.max_message_size)
            .ok()
            .filter(|&m| m > HEADER_ROOM)
            .map_or(usize::MAX, |m| m - HEADER_ROOM)
            .min(largest_message(&self.remote));
        let capacity = u64::try_from(info.config.max_messages).ok();
        let config = pull::Config {
            durable_name: Some(CONSUMER.into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.redeliver_after,
            max_deliver: -1,
            max_ack_pending: 100_000,
            ..Default::default()
        };
        let consumer: PullConsumer = retrying(deadline, transient, || async {
            stream
                .get_or_create_consumer(CONSUMER, config.clone())
                .await
                .map_err(|e| server_error("attach to the queue's consumer", &e))
        })
        .await?;
        let redeliver_after = consumer.cached_info().config.ack_wait;
        Ok(RemoteQueue {
            remote: self.remote.clone(),
            name: self.name.clone(),
            subject: subject(&self.name),
            stream_name: name,
            consumer,
            max_message,
            capacity,
            prefetch: self.prefetch,
            redeliver_after,
            fetched: tokio::sync::Mutex::new(VecDeque::new()),
            backlog: AtomicBool::new(true),
        })
    }
}

/// A message fetched and not yet handed over, with when it was fetched.
type Fetched = (Instant, jetstream::Message);

/// A queue on a NATS JetStream server, with the local
/// [`Queue`](ipc_queue::Queue)'s byte and serde methods, errors and
/// timeouts (see the module docs for how it maps onto JetStream).
///
/// ```no_run
/// use ipc_remote::{Remote, RemoteOptions, RemoteQueue};
///
/// let remote = Remote::connect(&RemoteOptions::new("nats://127.0.0.1:4222"))?;
/// let q = RemoteQueue::builder(&remote, "orders").capacity(10_000).open_or_create()?;
/// q.put_serde(&("widget", 3u32))?;
/// let (item, n): (String, u32) = q.get_serde()?;
/// # Ok::<(), ipc_remote::Error>(())
/// ```
#[derive(Debug)]
pub struct RemoteQueue {
    remote: Remote,
    name: String,
    subject: String,
    stream_name: String,
    consumer: PullConsumer,
    max_message: usize,
    capacity: Option<u64>,
    prefetch: usize,
    redeliver_after: Duration,
    fetched: tokio::sync::Mutex<VecDeque<Fetched>>,
    /// Whether the last message fetched said more were waiting (see
    /// `take_until`).
    backlog: AtomicBool,
}

/// A message taken from a [`RemoteQueue`] and not yet acknowledged: the
/// server gives it to another getter if this process dies (or does not
/// acknowledge within `redeliver_after`). Acknowledged by
/// [`ack`](Self::ack) or when dropped, as the local queue's held message
/// is consumed when its guard drops; [`nak`](Self::nak) gives it back.
pub struct Delivery {
    payload: Bytes,
    acker: Option<jetstream::message::Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("len", &self.payload.len())
            .field("acknowledged", &self.acker.is_none())
            .finish()
    }
}

impl Delivery {
    /// The message.
    pub fn bytes(&self) -> &[u8] {
        &self.payload
    }

    /// The message decoded (postcard) as `V`.
    pub fn decode<V: DeserializeOwned>(&self) -> Result<V> {
        decode(&self.payload)
    }

    /// Acknowledges it: the server deletes it.
    pub fn ack(mut self) -> Result<()> {
        match self.acker.take() {
            Some(a) => runtime::block_on(ack(a, AckKind::Ack)),
            None => Ok(()),
        }
    }

    /// [`ack`](Self::ack) as a future.
    pub async fn ack_async(mut self) -> Result<()> {
        match self.acker.take() {
            Some(a) => ack(a, AckKind::Ack).await,
            None => Ok(()),
        }
    }

    /// Gives it back: the server delivers it again at once (to any getter).
    pub fn nak(mut self) -> Result<()> {
        match self.acker.take() {
            Some(a) => runtime::block_on(ack(a, AckKind::Nak(None))),
            None => Ok(()),
        }
    }

    /// Tells the server the message is still being worked on, so that it
    /// waits another `redeliver_after` before giving it to another getter.
    pub fn in_progress(&self) -> Result<()> {
        match &self.acker {
            Some(a) => runtime::block_on(async {
                a.ack_with(AckKind::Progress)
                    .await
                    .map_err(|e| Error::Server {
                        op: "extend a delivery",
                        reason: e.to_string(),
                    })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(a) = self.acker.take() {
            // Drop cannot wait: the acknowledgement goes out on the runtime.
            runtime::handle().spawn(async move {
                let _ = ack(a, AckKind::Ack).await;
            });
        }
    }
}

async fn ack(acker: jetstream::message::Acker, kind: AckKind) -> Result<()> {
    acker.ack_with(kind).await.map_err(|e| Error::Server {
        op: "acknowledge a message",
        reason: e.to_string(),
    })
}

impl RemoteQueue {
    /// How a queue named `name` on `remote`'s server is made or opened.
    pub fn builder(remote: &Remote, name: &str) -> RemoteQueueBuilder {
        RemoteQueueBuilder::new(remote, name)
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stream beneath (`IPCQ_<name>`), for NATS tools.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// The capacity in messages, if it has one.
    pub fn capacity(&self) -> Option<u64> {
        self.capacity
    }

    /// The largest message.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// How long a fetched message may stay unacknowledged before another
    /// getter receives it.
    pub fn redeliver_after(&self) -> Duration {
        self.redeliver_after
    }

    // ----- put -----

    /// Appends `bytes`, waiting for room; returns once the server stored it.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<()> {
        runtime::block_on(self.put_at(Bytes::copy_from_slice(bytes), Deadline::Forever))
    }

    /// [`put_bytes`](Self::put_bytes) without waiting for room (`Full`).
    pub fn try_put_bytes(&self, bytes: &[u8]) -> Result<()> {
        runtime::block_on(self.put_at(Bytes::copy_from_slice(bytes), Deadline::Now))
    }

    /// [`put_bytes`](Self::put_bytes) waiting at most `timeout` (`Timeout`;
    /// the message may then have been stored, as with any network call
    /// cut short).
    pub fn put_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        runtime::block_on(self.put_at(Bytes::copy_from_slice(bytes), Deadline::after(timeout)))
    }

    /// [`put_bytes`](Self::put_bytes) as a future.
    pub async fn put_bytes_async(&self, bytes: &[u8]) -> Result<()> {
        self.put_at(Bytes::copy_from_slice(bytes), Deadline::Forever)
            .await
    }

    /// Appends `value` encoded with postcard (the local queue's serde
    /// format), waiting for room.
    pub fn put_serde<V: Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        runtime::block_on(self.put_at(encode(value)?, Deadline::Forever))
    }

    /// [`put_serde`](Self::put_serde) without waiting (`Full`).
    pub fn try_put_serde<V: Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        runtime::block_on(self.put_at(encode(value)?, Deadline::Now))
    }

    /// [`put_serde`](Self::put_serde) waiting at most `timeout`.
    pub fn put_serde_timeout<V: Serialize + ?Sized>(
        &self,
        value: &V,
        timeout: Duration,
    ) -> Result<()> {
        runtime::block_on(self.put_at(encode(value)?, Deadline::after(timeout)))
    }

    /// [`put_serde`](Self::put_serde) as a future.
    pub async fn put_serde_async<V: Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        self.put_at(encode(value)?, Deadline::Forever).await
    }

    /// One put: published with one message id, retried with it while the
    /// server is away or the queue full, until `deadline`.
    pub(crate) async fn put_at(&self, payload: Bytes, deadline: Deadline) -> Result<()> {
        // Each request has its own timeout; this bounds the whole, retries
        // and all, by the caller's deadline.
        deadline.run(self.put_until(payload, deadline)).await
    }

    async fn put_until(&self, payload: Bytes, deadline: Deadline) -> Result<()> {
        if payload.len() > self.max_message {
            return Err(Error::TooLarge {
                len: payload.len(),
                max: self.max_message,
            });
        }
        let id = self.remote.unique_id();
        let mut pause = Duration::from_millis(1);
        loop {
            let attempt = async {
                let ack = self
                    .remote
                    .js
                    .send_publish(
                        self.subject.clone(),
                        PublishMessage::build()
                            .payload(payload.clone())
                            .message_id(&id),
                    )
                    .await?;
                ack.await
            };
            let outcome = match attempt.await {
                Ok(_) => return Ok(()),
                Err(e) => self.publish_outcome(&e, payload.len()).await,
            };
            match outcome {
                PutOutcome::Failed(e) => return Err(e),
                PutOutcome::Full if matches!(deadline, Deadline::Now) => return Err(Error::Full),
                outcome @ (PutOutcome::Full | PutOutcome::Retry) => {
                    if deadline.has_passed() {
                        // Not to wait, or the wait is over: `Full` for a
                        // full queue asked not to wait, `Timeout` else.
                        return Err(match outcome {
                            PutOutcome::Full => deadline.expired(Error::Full),
                            _ => Error::Timeout,
                        });
                    }
                    tokio::time::sleep(deadline.slice(pause)).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// What a refused publish means.
    async fn publish_outcome(
        &self,
        e: &async_nats::jetstream::context::PublishError,
        len: usize,
    ) -> PutOutcome {
        let code = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<jetstream::Error>())
            .map(jetstream::Error::error_code);
        match (e.kind(), code) {
            (_, Some(ErrorCode::STREAM_STORE_FAILED)) => PutOutcome::Full,
            (_, Some(ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM)) => {
                PutOutcome::Failed(Error::TooLarge {
                    len,
                    max: self.max_message,
                })
            }
            // No stream listens on the subject: closed or deleted, or
            // JetStream not back yet after a restart.
            (PublishErrorKind::StreamNotFound, _) => match self.state().await {
                Ok(s) if s.closed => PutOutcome::Failed(Error::Disconnected),
                Err(Error::NotFound { .. }) => PutOutcome::Failed(Error::Disconnected),
                _ => PutOutcome::Retry,
            },
            (_, Some(_)) => PutOutcome::Failed(server_error("store a message", e)),
            _ => PutOutcome::Retry,
        }
    }

    // ----- get -----

    /// Removes the next message, waiting for one; `Disconnected` once the
    /// queue is closed and drained.
    pub fn get_bytes(&self) -> Result<Vec<u8>> {
        runtime::block_on(self.get_bytes_at(Deadline::Forever))
    }

    /// [`get_bytes`](Self::get_bytes) without waiting (`Empty`; one round
    /// trip to the server when nothing was fetched before).
    pub fn try_get_bytes(&self) -> Result<Vec<u8>> {
        runtime::block_on(self.get_bytes_at(Deadline::Now))
    }

    /// [`get_bytes`](Self::get_bytes) waiting at most `timeout`.
    pub fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        runtime::block_on(self.get_bytes_at(Deadline::after(timeout)))
    }

    /// [`get_bytes`](Self::get_bytes) as a future.
    pub async fn get_bytes_async(&self) -> Result<Vec<u8>> {
        self.get_bytes_at(Deadline::Forever).await
    }

    /// Removes the next message decoded (postcard) as `V`.
    pub fn get_serde<V: DeserializeOwned>(&self) -> Result<V> {
        runtime::block_on(self.get_serde_at(Deadline::Forever))
    }

    /// [`get_serde`](Self::get_serde) without waiting.
    pub fn try_get_serde<V: DeserializeOwned>(&self) -> Result<V> {
        runtime::block_on(self.get_serde_at(Deadline::Now))
    }

    /// [`get_serde`](Self::get_serde) waiting at most `timeout`.
    pub fn get_serde_timeout<V: DeserializeOwned>(&self, timeout: Duration) -> Result<V> {
        runtime::block_on(self.get_serde_at(Deadline::after(timeout)))
    }

    /// [`get_serde`](Self::get_serde) as a future.
    pub async fn get_serde_async<V: DeserializeOwned>(&self) -> Result<V> {
        self.get_serde_at(Deadline::Forever).await
    }

    /// Takes the next message and runs `f` on it; the message is
    /// acknowledged only after `f` returns, so if this process dies inside
    /// `f` the message goes to another getter.
    pub fn get_bytes_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let d = self.get_delivery()?;
        let r = f(d.bytes());
        d.ack()?;
        Ok(r)
    }

    /// Takes the next message unacknowledged (see [`Delivery`]).
    pub fn get_delivery(&self) -> Result<Delivery> {
        runtime::block_on(self.take(Deadline::Forever)).map(delivery)
    }

    /// [`get_delivery`](Self::get_delivery) without waiting.
    pub fn try_get_delivery(&self) -> Result<Delivery> {
        runtime::block_on(self.take(Deadline::Now)).map(delivery)
    }

    /// [`get_delivery`](Self::get_delivery) waiting at most `timeout`.
    pub fn get_delivery_timeout(&self, timeout: Duration) -> Result<Delivery> {
        runtime::block_on(self.take(Deadline::after(timeout))).map(delivery)
    }

    /// [`get_delivery`](Self::get_delivery) as a future.
    pub async fn get_delivery_async(&self) -> Result<Delivery> {
        self.take(Deadline::Forever).await.map(delivery)
    }

    async fn get_bytes_at(&self, deadline: Deadline) -> Result<Vec<u8>> {
        let m = self.take(deadline).await?;
        let (msg, acker) = m.split();
        // Handed over: acknowledged. A failed acknowledgement (the server
        // went away just now) means the message comes again later.
        let _ = ack(acker, AckKind::Ack).await;
        Ok(msg.payload.to_vec())
    }

    async fn get_serde_at<V: DeserializeOwned>(&self, deadline: Deadline) -> Result<V> {
        let m = self.take(deadline).await?;
        let (msg, acker) = m.split();
        let _ = ack(acker, AckKind::Ack).await;
        decode(&msg.payload)
    }

    /// The next message, unacknowledged (see the module docs).
    pub(crate) async fn take(&self, deadline: Deadline) -> Result<jetstream::Message> {
        // Cancelled at the deadline, a fetch under way is dropped: what it
        // had received stays in `fetched`, the rest comes again after
        // `redeliver_after`.
        deadline.run(self.take_until(deadline)).await
    }

    async fn take_until(&self, deadline: Deadline) -> Result<jetstream::Message> {
        let mut fetched = self.fetched.lock().await;
        let mut empty_polls = 0u32;
        loop {
            if let Some(m) = self.pop_fresh(&mut fetched).await {
                return Ok(m);
            }
            // What is there already, without waiting, if the last message
            // said more were waiting (or nothing was fetched yet): a getter
            // that keeps up goes straight to the long poll, one request per
            // message instead of two. A failure (the server away) counts as
            // nothing there; the long poll below waits and tries again.
            if self.backlog.load(Ordering::Relaxed) || matches!(deadline, Deadline::Now) {
                let _ = self.fetch(&mut fetched, None).await;
                if !fetched.is_empty() {
                    continue;
                }
            }
            if matches!(deadline, Deadline::Now) {
                return Err(self.drained_error(Error::Empty).await);
            }
            // Closed and drained? Asked before a long poll once one came
            // back empty, or when the deadline is shorter than a poll slice
            // (the answer must come before the deadline cuts the call
            // short); not on the first wait of a long call, which would
            // cost a request per message of a stream that keeps up.
            let short = deadline.remaining().is_some_and(|l| l < POLL_SLICE);
            if (short || empty_polls > 0)
                && matches!(self.drained_error(Error::Empty).await, Error::Disconnected)
            {
                return Err(Error::Disconnected);
            }
            let wait = deadline.slice(POLL_SLICE);
            if wait < MIN_POLL {
                if deadline.has_passed() {
                    return Err(Error::Timeout);
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let polled = self.fetch(&mut fetched, Some(wait)).await;
            if fetched.is_empty() {
                empty_polls += 1;
                if deadline.has_passed() {
                    return Err(Error::Timeout);
                }
                if polled.is_err() {
                    // The server away: wait a little before asking again.
                    tokio::time::sleep(deadline.slice(Duration::from_millis(50))).await;
                }
            }
        }
    }

    /// The oldest fetched message still fresh; stale ones are given back.
    async fn pop_fresh(&self, fetched: &mut VecDeque<Fetched>) -> Option<jetstream::Message> {
        while let Some((at, m)) = fetched.pop_front() {
            if at.elapsed() < self.redeliver_after / 2 {
                return Some(m);
            }
            let _ = m.ack_with(AckKind::Nak(None)).await;
        }
        None
    }

    /// Fetches into `fetched`: what is waiting (`wait` None: a no-wait
    /// pull of up to `prefetch`), or one message within `wait`.
    async fn fetch(&self, fetched: &mut VecDeque<Fetched>, wait: Option<Duration>) -> Result<()> {
        // A pull whose answer never comes (the server died with the
        // request) must not hold the getter for ever: it is given up after
        // its own wait plus a request timeout, and tried again.
        let limit = wait.unwrap_or_default() + self.remote.opts.request_timeout;
        match tokio::time::timeout(limit, self.fetch_unbounded(fetched, wait)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout),
        }
    }

    async fn fetch_unbounded(
        &self,
        fetched: &mut VecDeque<Fetched>,
        wait: Option<Duration>,
    ) -> Result<()> {
        let batch = match wait {
            None => {
                self.consumer
                    .fetch()
                    .max_messages(self.prefetch)
                    .messages()
                    .await
            }
            Some(w) => {
                self.consumer
                    .batch()
                    .max_messages(1)
                    .expires(w)
                    .messages()
                    .await
            }
        };
        let mut batch = batch.map_err(|e| server_error("fetch messages", &e))?;
        let now = Instant::now();
        // Nothing fetched: no backlog, until a message says otherwise.
        self.backlog.store(false, Ordering::Relaxed);
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => {
                    // The server counts what waits behind each message.
                    let pending = m.info().map_or(1, |i| i.pending);
                    self.backlog.store(pending > 0, Ordering::Relaxed);
                    fetched.push_back((now, m));
                }
                // A status the server ends a pull with (a timeout, the
                // consumer gone during a restart): what came is kept.
                Err(e) => return Err(server_error("fetch messages", e.as_ref())),
            }
        }
        Ok(())
    }

    /// `otherwise`, or `Disconnected` if the queue is closed and drained.
    async fn drained_error(&self, otherwise: Error) -> Error {
        match self.state().await {
            Ok(s) if s.closed && s.messages == 0 => Error::Disconnected,
            Err(Error::NotFound { .. }) => Error::Disconnected,
            _ => otherwise,
        }
    }

    // ----- state -----

    async fn state(&self) -> Result<QueueState> {
        let mut stream = self
            .remote
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|e| match e.kind() {
                GetStreamErrorKind::JetStream(j)
                    if j.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Error::NotFound {
                        name: self.name.clone(),
                    }
                }
                _ => server_error("look up the queue's stream", &e),
            })?;
        let info = stream
            .info()
            .await
            .map_err(|e| server_error("read the queue's state", &e))?;
        Ok(QueueState {
            closed: info.config.subjects.iter().all(|s| s.ends_with(".closed")),
            messages: info.state.messages,
            config: info.config.clone(),
        })
    }

    /// The messages in the queue, those fetched but not yet acknowledged
    /// included.
    pub fn len(&self) -> Result<u64> {
        runtime::block_on(async { Ok(self.state().await?.messages) })
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> Result<bool> {
        runtime::block_on(async { Ok(self.state().await?.closed) })
    }

    /// Closes the queue for every handle on every host: later puts are
    /// `Disconnected`; gets take what is left, then are `Disconnected`.
    pub fn close(&self) -> Result<()> {
        runtime::block_on(self.close_async())
    }

    /// [`close`](Self::close) as a future.
    pub async fn close_async(&self) -> Result<()> {
        let state = self.state().await?;
        if state.closed {
            return Ok(());
        }
        let mut config = state.config;
        config.subjects = vec![format!("{}.closed", self.subject)];
        self.remote
            .js
            .update_stream(config)
            .await
            .map_err(|e| server_error("close the queue", &e))?;
        Ok(())
    }

    /// Deletes the queue and its messages from the server.
    pub fn destroy(self) -> Result<()> {
        runtime::block_on(async {
            self.remote
                .js
                .delete_stream(&self.stream_name)
                .await
                .map_err(|e| server_error("delete the queue", &e))?;
            Ok(())
        })
    }
}

impl Drop for RemoteQueue {
    fn drop(&mut self) {
        // Give back what was fetched and not handed over, so that other
        // getters need not wait `redeliver_after` for it.
        let fetched = std::mem::take(self.fetched.get_mut());
        if !fetched.is_empty() {
            runtime::handle().spawn(async move {
                for (_, m) in fetched {
                    let _ = m.ack_with(AckKind::Nak(None)).await;
                }
            });
        }
    }
}

struct QueueState {
    closed: bool,
    messages: u64,
    config: stream::Config,
}

enum PutOutcome {
    Full,
    Retry,
    Failed(Error),
}

fn delivery(m: jetstream::Message) -> Delivery {
    let (msg, acker) = m.split();
    Delivery {
        payload: msg.payload,
        acker: Some(acker),
    }
}

/// The largest payload the server takes with our headers.
fn largest_message(remote: &Remote) -> usize {
    remote.max_payload().saturating_sub(HEADER_ROOM)
}

fn stream_name(name: &str) -> String {
    format!("IPCQ_{name}")
}

fn subject(name: &str) -> String {
    format!("ipcq.{name}")
}
