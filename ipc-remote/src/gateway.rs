//! Gateways between a local shared-memory queue and a remote queue, so
//! that the processes of one host keep shared-memory speed and only the
//! traffic that crosses hosts goes through NATS (`ipc gateway` runs one).
//!
//! # Protocol
//!
//! - **Local to remote** ([`forward_to_remote`]): takes each local message
//!   in place ([`Queue::recv_guard_timeout`]), puts its bytes to the remote
//!   queue, and frees the local slot only once the server acknowledged the
//!   put. The local queue counts a message delivered when it is taken, so
//!   a gateway killed between the two loses that one message; every
//!   message whose forwarding returned is stored remotely.
//! - **Remote to local** ([`forward_to_local`]): takes each remote message
//!   unacknowledged ([`RemoteQueue::get_delivery_timeout`]), puts it into
//!   the local queue (waiting for room), then acknowledges it. A gateway
//!   killed in between leaves it unacknowledged: the server gives it to
//!   the next gateway, and the local queue may see it twice (at least
//!   once, as every remote get).
//! - Both wait in slices of [`SLICE`] and look at `stop` between them.
//!   They return the number of messages forwarded when `stop` is set or
//!   their source is closed and drained (`Disconnected`); local to remote
//!   then closes the remote queue if asked to.
//!
//! Messages travel as their bytes: a queue of any message type forwards
//! to a remote queue, and a remote queue into a local queue whose frames
//! fit (a byte queue, or one whose type has the messages' size).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipc_queue::{Message, Queue};

use crate::error::{Error, Result};
use crate::queue::RemoteQueue;

/// How long a gateway waits for a message before it looks at `stop`.
pub const SLICE: Duration = Duration::from_millis(100);

/// Forwards `local`'s messages to `remote` until `stop` or until `local`
/// is disconnected (every producer gone, drained); then closes `remote`
/// if `close_remote`. Returns how many messages were forwarded.
pub fn forward_to_remote<T: Message>(
    local: &Queue<T>,
    remote: &RemoteQueue,
    stop: &AtomicBool,
    close_remote: bool,
) -> Result<u64> {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let guard = match local.recv_guard_timeout(SLICE) {
            Ok(g) => g,
            Err(ipc_queue::Error::Timeout) => continue,
            Err(ipc_queue::Error::Disconnected) => {
                if close_remote {
                    remote.close()?;
                }
                return Ok(n);
            }
            Err(e) => return Err(Error::from(e)),
        };
        // Retried through a server restart; `stop` is looked at between
        // tries so that a gateway can be stopped while the server is away.
        loop {
            match remote.put_bytes_timeout(guard.bytes(), SLICE * 10) {
                Ok(()) => break,
                Err(Error::Timeout) if !stop.load(Ordering::Relaxed) => {}
                Err(e) => return Err(e),
            }
        }
        drop(guard);
        n += 1;
    }
    Ok(n)
}

/// Forwards `remote`'s messages into `local` until `stop` or until
/// `remote` is closed and drained. Returns how many were forwarded.
pub fn forward_to_local<T: Message>(
    remote: &RemoteQueue,
    local: &Queue<T>,
    stop: &AtomicBool,
) -> Result<u64> {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let delivery = match remote.get_delivery_timeout(SLICE) {
            Ok(d) => d,
            Err(Error::Timeout) => continue,
            Err(Error::Disconnected) => return Ok(n),
            Err(e) => return Err(e),
        };
        loop {
            match local.put_bytes_timeout(delivery.bytes(), SLICE) {
                Ok(()) => break,
                Err(ipc_queue::Error::Timeout) if !stop.load(Ordering::Relaxed) => {}
                Err(ipc_queue::Error::Timeout) => {
                    // Stopped while the local queue is full: the message
                    // goes back for the next gateway.
                    delivery.nak()?;
                    return Ok(n);
                }
                Err(e) => {
                    delivery.nak()?;
                    return Err(Error::from(e));
                }
            }
        }
        delivery.ack()?;
        n += 1;
    }
    Ok(n)
}
