//! [`RemotePipeEnd`]: one end of a duplex pipe across hosts, as the local
//! [`Pipe`](ipc_queue::Pipe)'s ends exchange frames both ways.
//!
//! A remote pipe named `N` is two [`RemoteQueue`]s, `N-ab` (end A sends,
//! end B receives) and `N-ba`; each end sends into one and receives from
//! the other, with the queue's guarantees (an acknowledged send is
//! stored; a frame is acknowledged once received). A one-way channel is
//! simply a `RemoteQueue`. [`close`](RemotePipeEnd::close) closes the
//! end's sending direction: the peer receives what was sent, then
//! `Disconnected`. A peer on another host cannot be watched as a local
//! process is, so a peer that dies without closing is not reported: use
//! timeouts, or a dict key as a heartbeat, where that matters.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::queue::RemoteQueue;
use crate::remote::{Remote, check_name};

/// Which end of a remote pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeSide {
    /// Sends on `N-ab`, receives on `N-ba`.
    A,
    /// Sends on `N-ba`, receives on `N-ab`.
    B,
}

/// One end of the remote pipe (see the module docs).
///
/// ```no_run
/// use ipc_remote::{PipeSide, Remote, RemoteOptions, RemotePipeEnd};
///
/// let remote = Remote::connect(&RemoteOptions::new("nats://127.0.0.1:4222"))?;
/// let a = RemotePipeEnd::open(&remote, "chat", PipeSide::A)?;
/// a.send_serde(&"hello")?;
/// let reply: String = a.recv_serde()?;
/// # Ok::<(), ipc_remote::Error>(())
/// ```
#[derive(Debug)]
pub struct RemotePipeEnd {
    outgoing: RemoteQueue,
    incoming: RemoteQueue,
}

impl RemotePipeEnd {
    /// Opens end `side` of the pipe named `name`, creating its two queues
    /// if needed.
    pub fn open(remote: &Remote, name: &str, side: PipeSide) -> Result<Self> {
        check_name(name)?;
        let ab = RemoteQueue::builder(remote, &format!("{name}-ab"))
            .prefetch(1)
            .open_or_create()?;
        let ba = RemoteQueue::builder(remote, &format!("{name}-ba"))
            .prefetch(1)
            .open_or_create()?;
        let (outgoing, incoming) = match side {
            PipeSide::A => (ab, ba),
            PipeSide::B => (ba, ab),
        };
        Ok(Self { outgoing, incoming })
    }

    /// Sends `bytes`; returns once the server stored them.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.outgoing.put_bytes(bytes)
    }

    /// [`send_bytes`](Self::send_bytes) waiting at most `timeout`.
    pub fn send_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        self.outgoing.put_bytes_timeout(bytes, timeout)
    }

    /// [`send_bytes`](Self::send_bytes) as a future.
    pub async fn send_bytes_async(&self, bytes: &[u8]) -> Result<()> {
        self.outgoing.put_bytes_async(bytes).await
    }

    /// Sends `value` (postcard).
    pub fn send_serde<V: Serialize + ?Sized>(&self, value: &V) -> Result<()> {
        self.outgoing.put_serde(value)
    }

    /// Receives the next frame, waiting for it; `Disconnected` once the
    /// peer closed its end and everything it sent was received.
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.incoming.get_bytes()
    }

    /// [`recv_bytes`](Self::recv_bytes) if a frame is there now (`Empty`).
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>> {
        self.incoming.try_get_bytes()
    }

    /// [`recv_bytes`](Self::recv_bytes) waiting at most `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.incoming.get_bytes_timeout(timeout)
    }

    /// [`recv_bytes`](Self::recv_bytes) as a future.
    pub async fn recv_bytes_async(&self) -> Result<Vec<u8>> {
        self.incoming.get_bytes_async().await
    }

    /// Receives the next frame decoded as `V`.
    pub fn recv_serde<V: DeserializeOwned>(&self) -> Result<V> {
        self.incoming.get_serde()
    }

    /// Closes this end's sending direction (see the module docs).
    pub fn close(&self) -> Result<()> {
        self.outgoing.close()
    }
}
