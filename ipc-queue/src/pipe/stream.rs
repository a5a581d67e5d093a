//! A channel's ends as a `futures` [`Stream`] and [`Sink`] (feature
//! `futures`), for combinators (`StreamExt`, `SinkExt`, `select!`,
//! `forward`) in any runtime. They wait like the `_async` methods
//! (`ipc_core::wait::WaitState`): no thread of their own, no busy polling.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use ipc_core::wait::WaitState;

use super::end::{RecvWait, SendWait};
use super::{Receiver, Sender};
use crate::{Error, Message, Result};

/// A [`Receiver`] as a [`Stream`] of its messages: `Some(Ok(msg))` for each,
/// `Some(Err(e))` for an error of one receive (a frame of the wrong size,
/// damaged shared state), and `None` once the sender is gone and everything
/// it sent was received. Dropping the stream between items loses nothing.
///
/// ```
/// use futures_util::StreamExt;
/// use ipc_queue::pipe::{self, stream::RecvStream};
///
/// let (tx, rx) = pipe::channel::<u32>()?;
/// for x in [1, 2, 3] {
///     tx.send(&x)?;
/// }
/// drop(tx);
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let got: Vec<u32> = rt.block_on(RecvStream::new(rx).map(Result::unwrap).collect());
/// assert_eq!(got, [1, 2, 3]);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
#[derive(Debug)]
pub struct RecvStream<T: Message> {
    rx: Receiver<T>,
    state: WaitState,
    tries: u32,
    done: bool,
}

impl<T: Message> RecvStream<T> {
    /// The stream of `rx`'s messages.
    pub fn new(rx: Receiver<T>) -> Self {
        Self {
            rx,
            state: WaitState::new(),
            tries: 0,
            done: false,
        }
    }
}

impl<T: Message> From<Receiver<T>> for RecvStream<T> {
    fn from(rx: Receiver<T>) -> Self {
        Self::new(rx)
    }
}

impl<T: Message> Stream for RecvStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let ep = &this.rx.ep;
        if let Err(e) = ep.enter() {
            return Poll::Ready(Some(Err(e)));
        }
        let tries = &mut this.tries;
        let frame = match this
            .state
            .poll(&RecvWait(ep), cx, |check| ep.try_frame(check, tries))
        {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        this.tries = 0;
        match frame.and_then(|(pos, len)| ep.take_value(pos, len)) {
            Ok(msg) => Poll::Ready(Some(Ok(msg))),
            Err(Error::Disconnected) => {
                this.done = true;
                Poll::Ready(None)
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl<T: Message> Drop for RecvStream<T> {
    fn drop(&mut self) {
        self.state.cancel(&RecvWait(&self.rx.ep));
    }
}

/// A [`Sender`] as a [`Sink`]: `poll_ready` waits for a free slot,
/// `start_send` writes the message into it and publishes it (there is no
/// buffer to flush: `poll_flush` is immediate). `poll_close` closes the
/// sender's end, which ends the receiver's stream once it has drained it.
#[derive(Debug)]
pub struct SendSink<T: Message> {
    tx: Option<Sender<T>>,
    state: WaitState,
    /// The slot `poll_ready` found.
    reserved: Option<u32>,
}

impl<T: Message> SendSink<T> {
    /// The sink of `tx`.
    pub fn new(tx: Sender<T>) -> Self {
        Self {
            tx: Some(tx),
            state: WaitState::new(),
            reserved: None,
        }
    }
}

impl<T: Message> From<Sender<T>> for SendSink<T> {
    fn from(tx: Sender<T>) -> Self {
        Self::new(tx)
    }
}

impl<T: Message> Sink<T> for SendSink<T> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if this.reserved.is_some() {
            return Poll::Ready(Ok(()));
        }
        let Some(tx) = &this.tx else {
            return Poll::Ready(Err(Error::Disconnected));
        };
        let ep = &tx.ep;
        if let Err(e) = ep.enter() {
            return Poll::Ready(Err(e));
        }
        match this.state.poll(&SendWait(ep, size_of::<T>()), cx, |check| {
            ep.try_space(1, size_of::<T>(), check)
        }) {
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
        let (Some(tx), Some(pos)) = (&this.tx, this.reserved.take()) else {
            // The Sink contract: start_send only after poll_ready said Ready.
            return Err(Error::Full);
        };
        tx.ep
            .publish_frame(pos, zerocopy::IntoBytes::as_bytes(&item))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(tx) = this.tx.take() {
            this.state.cancel(&SendWait(&tx.ep, size_of::<T>()));
            tx.close();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Message> Drop for SendSink<T> {
    fn drop(&mut self) {
        if let Some(tx) = &self.tx {
            self.state.cancel(&SendWait(&tx.ep, size_of::<T>()));
        }
    }
}
