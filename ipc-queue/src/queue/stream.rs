//! A queue as a `futures` [`Stream`] of its messages and a [`Sink`] for
//! them (feature `futures`). They wait like `get_async` and `put_async`
//! (`ipc_core::wait::WaitState`): no thread of their own, no busy polling.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use ipc_core::wait::WaitState;

use super::Queue;
use crate::{Error, Message, Result};

/// A [`Queue`] handle as a [`Stream`]: `Some(Ok(msg))` for each message it
/// takes, `Some(Err(e))` for an error of one get, and `None` once the
/// producers are gone (or the queue closed) and it is drained. Several
/// streams (and other consumers) may share the queue; each message goes to
/// one of them. Dropping the stream between items takes nothing.
///
/// ```
/// use futures_util::StreamExt;
/// use ipc_queue::Queue;
/// use ipc_queue::queue::stream::QueueStream;
///
/// let q = Queue::<u32>::new(8)?;
/// for x in [5, 6, 7] {
///     q.put(&x)?;
/// }
/// q.close()?;
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let got: Vec<u32> = rt.block_on(QueueStream::new(q).map(Result::unwrap).collect());
/// assert_eq!(got, [5, 6, 7]);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
#[derive(Debug)]
pub struct QueueStream<T: Message> {
    queue: Queue<T>,
    state: WaitState,
    done: bool,
}

impl<T: Message> QueueStream<T> {
    /// The stream of the messages `queue` takes.
    pub fn new(queue: Queue<T>) -> Self {
        Self {
            queue,
            state: WaitState::new(),
            done: false,
        }
    }
}

impl<T: Message> Stream for QueueStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let claimed = match this.queue.raw.poll_acquire(&mut this.state, cx, 1, false) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(claimed) => claimed,
        };
        match claimed.and_then(|(pos, _)| this.queue.take_claimed(pos)) {
            Ok(msg) => Poll::Ready(Some(Ok(msg))),
            Err(Error::Disconnected) => {
                this.done = true;
                Poll::Ready(None)
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl<T: Message> Drop for QueueStream<T> {
    fn drop(&mut self) {
        self.queue.raw.cancel_acquire(&mut self.state);
    }
}

/// A [`Queue`] handle as a [`Sink`]: `poll_ready` reserves a slot (waiting
/// for room), `start_send` writes the message into it and commits it;
/// `poll_flush` is immediate (nothing is buffered). `poll_close` ends this
/// handle's part as a producer (the handle is dropped), not the queue.
#[derive(Debug)]
pub struct QueueSink<T: Message> {
    queue: Option<Queue<T>>,
    state: WaitState,
    reserved: Option<u64>,
}

impl<T: Message> QueueSink<T> {
    /// The sink putting into `queue`.
    pub fn new(queue: Queue<T>) -> Self {
        Self {
            queue: Some(queue),
            state: WaitState::new(),
            reserved: None,
        }
    }
}

impl<T: Message> Sink<T> for QueueSink<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.reserved.is_some() {
            return Poll::Ready(Ok(()));
        }
        let Some(queue) = &this.queue else {
            return Poll::Ready(Err(Error::Disconnected));
        };
        match queue
            .raw
            .poll_reserve(&mut this.state, cx, 1, size_of::<T>())
        {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok((pos, _))) => {
                this.reserved = Some(pos);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<()> {
        let this = self.get_mut();
        let (Some(queue), Some(pos)) = (&this.queue, this.reserved.take()) else {
            // The Sink contract: start_send only after poll_ready said Ready.
            return Err(Error::Full);
        };
        queue.publish(pos, item.as_bytes())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(queue) = this.queue.take() {
            queue.raw.cancel_reserve(&mut this.state);
            if let Some(pos) = this.reserved.take() {
                // A reservation never used: give the slot back.
                queue.raw.abandon(pos);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Message> Drop for QueueSink<T> {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.raw.cancel_reserve(&mut self.state);
            if let Some(pos) = self.reserved.take() {
                queue.raw.abandon(pos);
            }
        }
    }
}
