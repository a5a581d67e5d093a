//! Python's `multiprocessing.Pipe` in shared memory: a duplex [`Pipe`] of two
//! [`PipeEnd`]s, and a one-way [`channel`] of a [`Sender`] and a [`Receiver`].
//!
//! Each direction is a lock-free single-producer single-consumer ring of
//! fixed-size slots (protocol in `ring.rs`). A message is a [`Message`] type
//! copied straight into its slot, or a byte frame of up to
//! [`max_frame`](PipeBuilder::max_frame) bytes; nothing is serialized and
//! nothing is allocated per message (except by [`PipeEnd::recv_bytes`], which
//! returns a `Vec`).
//!
//! ```
//! use ipc_core::process::Process;
//! use ipc_queue::Pipe;
//!
//! let (parent, child) = Pipe::<u64>::new()?;
//! let worker = Process::spawn(move || {
//!     // The child owns `child` now; the parent's copy was dropped by spawn
//!     // without closing it.
//!     while let Ok(n) = child.recv() {
//!         child.send(&(n * n)).unwrap();
//!     }
//!     // `recv` failed with Disconnected: the parent closed its end.
//! })?;
//! for n in 1..=3 {
//!     parent.send(&n)?;
//!     assert_eq!(parent.recv()?, n * n);
//! }
//! drop(parent); // closes our end: the child's recv reports Disconnected
//! assert!(worker.join()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Peers that go away
//!
//! When the peer end is dropped, or its process dies (even by `SIGKILL`),
//! a receive first delivers every message the peer committed and then
//! reports [`Error::Disconnected`], instead of waiting forever; a send
//! reports it as soon as the peer's end is closed, or, if the peer was
//! killed, once the ring is full and the death noticed. A killed peer is
//! noticed by blocking calls within about [`PEER_CHECK_PERIOD`] of sleep,
//! and by non-blocking ones at most that often. A message is committed
//! exactly when its slot is published, so a sender killed mid-copy never
//! exposes a torn frame.
//!
//! An end belongs to the process that uses it: the first send, receive or
//! poll from a process claims it (taking over from a dead or departed
//! previous user, e.g. a killed child replaced by a new one), and dropping
//! a handle closes the end only if this process owns it and has not forked
//! since it last used it. A forked child that received an end in its
//! closure therefore owns it, and the parent's copy that
//! [`Process::spawn`](ipc_core::process::Process::spawn) drops closes
//! nothing. The rule counts every fork of the process, from any thread: a
//! multi-threaded parent that drops a handle after another of its threads
//! forked (and before using the handle again) closes nothing either, and
//! its peer hears of it only when the process exits; call `close()` to end
//! it regardless. Like Python, a receive on a pipe whose other end no process has
//! used yet simply waits. An end must not be used by two processes at once.
//!
//! [`PipeEnd`], [`Sender`] and [`Receiver`] are `Send` but not `Sync`:
//! each direction has exactly one producer and one consumer.
//!
//! [`Message`]: crate::Message
//! [`PEER_CHECK_PERIOD`]: crate::PEER_CHECK_PERIOD
#![deny(unsafe_code)]

mod end;
mod layout;
mod readiness;
mod report;
mod ring;
#[cfg(feature = "futures")]
pub mod stream;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use ipc_core::segment::{ObjectSegment, SegmentOptions, TypeDesc};

use crate::{Error, Message, Result, Waitable};
use end::Endpoint;
use ipc_core::wait::Deadline;
use layout::{CHANNEL_KIND, PIPE_KIND, PipeGeometry, Region};

#[cfg(feature = "testing")]
#[doc(hidden)]
pub use layout::{HEAD_OFFSET, SLOTS_OFFSET, TAIL_OFFSET, ring_ctl_offset};
pub use layout::{MAX_CAPACITY, MAX_FRAME};
pub use readiness::RecvReadiness;
pub use report::{DirectionReport, EndReport, PipeReport};

/// The object-kind code in a duplex pipe segment's header (for tools that
/// tell segments apart: see [`ipc_core::segment::peek`]).
pub const PIPE_KIND_CODE: u32 = PIPE_KIND.code;
/// The object-kind code in a one-way channel segment's header.
pub const CHANNEL_KIND_CODE: u32 = CHANNEL_KIND.code;

/// Reads the ends and the frames in flight of the pipe or channel at `opts`
/// (any message type) through a read-only mapping, without claiming an end:
/// what the `ipc` tool shows. Fails like an open (`NotFound`, a segment of
/// another kind, a damaged one, `PermissionDenied`).
///
/// ```
/// use ipc_queue::pipe::{self, Pipe};
/// use ipc_core::segment::SegmentOptions;
///
/// let name = format!("doc-pipe-inspect-{}", std::process::id());
/// let (a, b) = Pipe::<u64>::builder().named(&name).create()?;
/// a.send(&1)?;
/// let report = pipe::inspect(&SegmentOptions::named(&name))?;
/// assert_eq!(report.directions[0].in_flight, 1);
/// assert_eq!(report.ends[0].owner.map(|o| o.pid), Some(std::process::id()));
/// assert_eq!(report.ends[1].owner, None, "B is claimed when first used");
/// drop(b);
/// assert!(pipe::inspect(&SegmentOptions::named(&name))?.ends[1].closed);
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub fn inspect(opts: &SegmentOptions) -> Result<PipeReport> {
    let info = ipc_core::segment::peek(opts)?;
    let code = info.header.map(|h| h.kind_code);
    let kind = [PIPE_KIND, CHANNEL_KIND]
        .into_iter()
        .find(|k| Some(k.code) == code)
        .ok_or_else(|| ipc_core::Error::WrongKind {
            object: String::new(),
            expected: PIPE_KIND.name,
            found: info
                .header
                .map_or_else(|| "no header".to_owned(), |h| h.kind_name()),
        })?;
    let region = Region::open_for_inspection(opts, kind)?;
    Ok(PipeReport::read(&region, kind.code == CHANNEL_KIND.code))
}

/// Slots per direction of [`Pipe::new`] and [`channel`].
pub const DEFAULT_CAPACITY: usize = 1024;

/// One end of a duplex pipe: [`Side::A`] or [`Side::B`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first end returned by [`PipeBuilder::create`]; a channel's sender.
    A,
    /// The second end; a channel's receiver.
    B,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// The duplex pipe carrying `T`, as a name for its constructors:
/// [`Pipe::new`] and [`Pipe::builder`]. A pipe is used through its two
/// [`PipeEnd`]s.
#[derive(Debug)]
pub struct Pipe<T: Message>(PhantomData<fn() -> T>);

impl<T: Message> Pipe<T> {
    /// Two connected ends of an anonymous pipe (shared with forked children)
    /// carrying `T`, with [`DEFAULT_CAPACITY`] slots per direction.
    ///
    /// ```
    /// let (a, b) = ipc_queue::Pipe::<u32>::new()?;
    /// a.send(&1)?;
    /// b.send(&2)?;
    /// assert_eq!((b.recv()?, a.recv()?), (1, 2));
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    #[allow(clippy::new_ret_no_self)] // Python's `Pipe()`: a pair, not a `Pipe`.
    pub fn new() -> Result<(PipeEnd<T>, PipeEnd<T>)> {
        Self::builder().create()
    }

    /// A [`PipeBuilder`] to choose the capacity, the largest byte frame and
    /// the backing (e.g. a name other processes can open).
    pub fn builder() -> PipeBuilder<T> {
        PipeBuilder::new()
    }
}

/// A one-way anonymous channel carrying `T`, with [`DEFAULT_CAPACITY`]
/// slots: `Pipe(duplex=False)`.
///
/// ```
/// let (tx, rx) = ipc_queue::channel::<u64>()?;
/// tx.send_batch(&[1, 2, 3])?;
/// let mut out = [0u64; 8];
/// assert_eq!(rx.recv_batch(&mut out)?, 3);
/// drop(tx);
/// assert_eq!(rx.recv(), Err(ipc_queue::Error::Disconnected));
/// # Ok::<(), ipc_queue::Error>(())
/// ```
pub fn channel<T: Message>() -> Result<(Sender<T>, Receiver<T>)> {
    PipeBuilder::<T>::new().channel()
}

/// Configures a pipe or channel before creating or opening it.
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use ipc_queue::pipe::{Pipe, Side};
/// use ipc_queue::Error;
///
/// let builder = Pipe::<u64>::builder()
///     .capacity(100) // rounded up to 128
///     .max_frame(256)
///     .options(SegmentOptions::named(&format!("doc-pipe-{}", std::process::id())));
/// let (a, _b) = builder.create()?;
/// // Another process would do this (here: the same one, for the example).
/// let b = builder.open(Side::B)?;
/// a.send_bytes(b"hello")?;
/// assert_eq!(b.recv_bytes()?, b"hello");
/// assert_eq!(a.capacity(), 128);
/// assert!(matches!(a.send_bytes(&[0; 257]), Err(Error::TooLarge { len: 257, max: 256 })));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until create, open or channel is called"]
pub struct PipeBuilder<T: Message> {
    capacity: usize,
    max_frame: Option<usize>,
    ring_bytes: usize,
    options: SegmentOptions,
    spin: Duration,
    interleave: bool,
    start: u32,
    _message: PhantomData<fn() -> T>,
}

impl<T: Message> Clone for PipeBuilder<T> {
    fn clone(&self) -> Self {
        Self {
            options: self.options.clone(),
            _message: PhantomData,
            ..*self
        }
    }
}

impl<T: Message> Default for PipeBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Message> PipeBuilder<T> {
    /// Defaults: anonymous, [`DEFAULT_CAPACITY`] slots, frames of
    /// `size_of::<T>()` bytes ([`DEFAULT_BYTE_FRAME`](crate::DEFAULT_BYTE_FRAME)
    /// for `u8`).
    pub fn new() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_frame: None,
            ring_bytes: 0,
            options: SegmentOptions::anonymous(),
            spin: ipc_core::wait::SPIN_FOR,
            interleave: true,
            start: 0,
            _message: PhantomData,
        }
    }

    /// Slots per direction, rounded up to a power of two (at most
    /// [`MAX_CAPACITY`]; 0 is an error).
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// The largest byte frame in bytes (at least `size_of::<T>()`, the
    /// default, or [`DEFAULT_BYTE_FRAME`](crate::DEFAULT_BYTE_FRAME) for `u8`,
    /// or for `u8` with [`ring_bytes`](Self::ring_bytes) the ring's size;
    /// at most [`MAX_FRAME`]). With fixed slots every slot has room for one.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = Some(bytes);
        self
    }

    /// Keeps each direction's frames in a byte ring of `bytes` (rounded up
    /// to 64) instead of fixed slots: each frame takes its own length
    /// (rounded up to 8), so memory follows the data. The slots
    /// ([`capacity`](Self::capacity)) still bound the frames in flight. A
    /// frame larger than [`max_frame`](Self::max_frame) (for a `u8` pipe by
    /// default the whole ring) is refused with [`Error::TooLarge`]; the ring
    /// must hold one frame of `max_frame` bytes. Default 0: fixed slots.
    ///
    /// ```
    /// use ipc_queue::Pipe;
    ///
    /// let (mut a, mut b) = Pipe::<u8>::builder().ring_bytes(1 << 20).create()?;
    /// a.send_bytes(&[1; 100])?;
    /// a.send_bytes(&vec![2; 700_000])?;
    /// assert_eq!(b.recv_bytes()?.len(), 100);
    /// assert_eq!(b.recv_bytes()?.len(), 700_000);
    /// # Ok::<(), ipc_queue::Error>(())
    /// ```
    pub fn ring_bytes(mut self, bytes: usize) -> Self {
        self.ring_bytes = bytes;
        self
    }

    /// The backing: anonymous (the default), named, or a file.
    pub fn options(mut self, options: SegmentOptions) -> Self {
        self.options = options;
        self
    }

    /// How long a blocked call of the new handles spins (checking between
    /// `pause` instructions) before it sleeps in the kernel. The default,
    /// [`SPIN_FOR`](ipc_core::wait::SPIN_FOR) (20 µs), catches a busy
    /// peer's reply without a sleep; `Duration::ZERO` never spins, for
    /// waiters that must not use CPU. Per handle: see also `set_spin`.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// How a duplex pipe lays out its two directions' slots (the opener
    /// learns it from the pipe). Interleaved (the default) puts a reply in
    /// the cache line of the request it answers, which suits request/response
    /// traffic: a round trip moves one line, not two. A pipe that streams
    /// small frames both ways at once does better with `false`, one array
    /// per direction, so that its two senders do not write the same lines.
    /// Compare `pipe_pingpong_8B` and `pipe_duplex_tput_8B` in the benchmark
    /// suite. No effect on a one-way channel.
    pub fn interleave(mut self, interleave: bool) -> Self {
        self.interleave = interleave;
        self
    }

    /// Shorthand for `.options(SegmentOptions::named(name))`.
    pub fn named(self, name: &str) -> Self {
        self.options(SegmentOptions::named(name))
    }

    /// Starts both rings' positions at `pos` instead of 0, to exercise the
    /// wrap-around of the indices in tests.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn start_position(mut self, pos: u32) -> Self {
        self.start = pos;
        self
    }

    fn geometry(&self, rings: u32) -> Result<PipeGeometry> {
        let capacity = match self.capacity {
            0 => {
                return Err(ipc_core::Error::InvalidSize {
                    size: 0,
                    reason: "a pipe needs at least one slot",
                }
                .into());
            }
            n if n > MAX_CAPACITY => {
                return Err(ipc_core::Error::InvalidSize {
                    size: n as u64,
                    reason: "pipe capacity must be at most 2^30 slots",
                }
                .into());
            }
            n => n.next_power_of_two(),
        };
        let max_frame = match (self.max_frame, self.ring_bytes) {
            (Some(max), _) => max,
            (None, ring) if ring != 0 && crate::message::is_bytes::<T>() => ring.min(MAX_FRAME),
            (None, _) => crate::message::default_max_frame::<T>(),
        };
        if max_frame < size_of::<T>() {
            return Err(ipc_core::Error::InvalidArgument {
                reason: "max_frame is smaller than the message type",
            }
            .into());
        }
        PipeGeometry::new(
            rings,
            capacity,
            max_frame,
            self.interleave,
            self.ring_bytes as u64,
        )
    }

    fn create_region(&self, rings: u32) -> Result<Arc<Region>> {
        let geo = self.geometry(rings)?;
        let kind = if rings == 2 { PIPE_KIND } else { CHANNEL_KIND };
        let region = Region::create(&self.options, kind, &TypeDesc::of::<T>(), geo, self.start)?;
        Ok(Arc::new(region))
    }

    fn open_region(&self, rings: u32) -> Result<Arc<Region>> {
        let kind = if rings == 2 { PIPE_KIND } else { CHANNEL_KIND };
        Ok(Arc::new(Region::open(
            &self.options,
            kind,
            &TypeDesc::of::<T>(),
            rings,
        )?))
    }

    fn endpoint(
        &self,
        region: Arc<Region>,
        side: usize,
        tx: Option<usize>,
        rx: Option<usize>,
    ) -> Endpoint {
        let ep = Endpoint::new(region, side, tx, rx);
        ep.set_spin_limit(self.spin);
        ep
    }

    /// Creates a duplex pipe and returns its two ends, [`Side::A`] first.
    ///
    /// Errors: [`ipc_core::Error::InvalidSize`] for a capacity of 0 or above
    /// [`MAX_CAPACITY`], a frame above [`MAX_FRAME`] or a ring beyond the
    /// segment limit; [`ipc_core::Error::InvalidArgument`] for a `max_frame`
    /// below `size_of::<T>()`; segment errors (a name that exists, ...).
    pub fn create(&self) -> Result<(PipeEnd<T>, PipeEnd<T>)> {
        let region = self.create_region(2)?;
        Ok((
            PipeEnd::new(Arc::clone(&region), Side::A, self.spin),
            PipeEnd::new(region, Side::B, self.spin),
        ))
    }

    /// Opens end `side` of an existing named (or file-backed) duplex pipe,
    /// typically from another process. The capacity and frame size come from
    /// the pipe; a different `T` than its creator's is refused with
    /// [`ipc_core::Error::WrongType`], a channel with
    /// [`ipc_core::Error::WrongKind`].
    pub fn open(&self, side: Side) -> Result<PipeEnd<T>> {
        let end = PipeEnd::new(self.open_region(2)?, side, self.spin);
        end.ep.claim_now()?;
        Ok(end)
    }

    /// Creates a one-way channel.
    pub fn channel(&self) -> Result<(Sender<T>, Receiver<T>)> {
        let region = self.create_region(1)?;
        Ok((
            Sender {
                ep: self.endpoint(Arc::clone(&region), 0, Some(0), None),
                _t: PhantomData,
            },
            Receiver {
                ep: self.endpoint(region, 1, None, Some(0)),
                _t: PhantomData,
            },
        ))
    }

    /// Opens the sending half of an existing named channel.
    pub fn open_sender(&self) -> Result<Sender<T>> {
        let ep = self.endpoint(self.open_region(1)?, 0, Some(0), None);
        ep.claim_now()?;
        Ok(Sender {
            ep,
            _t: PhantomData,
        })
    }

    /// Opens the receiving half of an existing named channel.
    pub fn open_receiver(&self) -> Result<Receiver<T>> {
        let ep = self.endpoint(self.open_region(1)?, 1, None, Some(0));
        ep.claim_now()?;
        Ok(Receiver {
            ep,
            _t: PhantomData,
        })
    }
}

#[cfg(feature = "serde")]
thread_local! {
    /// The buffer `recv_serde` copies a frame into before decoding it.
    static RECV_SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The sending methods shared by [`PipeEnd`] and [`Sender`].
macro_rules! send_methods {
    () => {
        /// [`send`](Self::send) as a future: waits for a free slot without
        /// blocking a thread, in any async runtime (through the process's
        /// one reactor thread; see `ipc_core::wait::Ready`). It takes the
        /// end by `&mut`: an end serves one task at a time, and the future
        /// is `Send`. Dropping it before it completes sends nothing.
        ///
        /// ```
        /// use ipc_queue::Pipe;
        ///
        /// let (mut a, mut b) = Pipe::<u64>::new()?;
        /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        /// rt.block_on(async {
        ///     a.send_async(&41).await?;
        ///     let x = b.recv_async().await?;
        ///     b.send_async(&(x + 1)).await?;
        ///     assert_eq!(a.recv_async().await?, 42);
        ///     Ok::<(), ipc_queue::Error>(())
        /// })?;
        /// # Ok::<(), ipc_queue::Error>(())
        /// ```
        pub async fn send_async(&mut self, msg: &T) -> Result<()> {
            let (pos, _) = self.ep.wait_space_async(1, size_of::<T>()).await?;
            self.ep.publish_frame(pos, msg.as_bytes())
        }

        /// [`send_bytes`](Self::send_bytes) as a future.
        pub async fn send_bytes_async(&mut self, bytes: &[u8]) -> Result<()> {
            if bytes.len() > self.ep.max_frame() {
                return Err(Error::TooLarge {
                    len: bytes.len(),
                    max: self.ep.max_frame(),
                });
            }
            let (pos, _) = self.ep.wait_space_async(1, bytes.len()).await?;
            self.ep.publish_frame(pos, bytes)
        }

        /// [`send_serde`](Self::send_serde) as a future.
        #[cfg(feature = "serde")]
        pub async fn send_serde_async<V: serde::Serialize + Sync + ?Sized>(
            &mut self,
            value: &V,
        ) -> Result<()> {
            let frame = self.ep.serde_frame(value)?;
            let (pos, _) = self.ep.wait_space_async(1, frame).await?;
            self.ep.publish_serde(pos, frame, value)
        }

        /// Sends any `Serialize` value (feature `serde`), encoded with
        /// postcard straight into the slot: no intermediate buffer, no
        /// allocation for types whose serialization needs none. Its encoded
        /// length must fit the pipe's frame ([`Error::TooLarge`] otherwise,
        /// nothing sent); the receiver calls `recv_serde`.
        ///
        /// ```
        /// use ipc_queue::Pipe;
        ///
        /// let (a, b) = Pipe::<u8>::new()?;
        /// a.send_serde(&("job", 7u32, vec![1.5f64, 2.5]))?;
        /// let (name, id, xs): (String, u32, Vec<f64>) = b.recv_serde()?;
        /// assert_eq!((name.as_str(), id, xs), ("job", 7, vec![1.5, 2.5]));
        /// # Ok::<(), ipc_queue::Error>(())
        /// ```
        #[cfg(feature = "serde")]
        pub fn send_serde<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<()> {
            self.ep.send_serde(value, Deadline::Forever)
        }

        /// Archives any rkyv `Serialize` value straight into the frame
        /// (feature `rkyv`), for a receiver that reads it in place with
        /// `recv_rkyv_with`. The archive must fit the pipe's frame
        /// ([`Error::Encode`] says so, nothing sent); with a byte ring the
        /// unused rest of the frame is given back at once.
        ///
        /// ```
        /// use ipc_queue::Pipe;
        ///
        /// #[derive(rkyv::Archive, rkyv::Serialize)]
        /// struct Tick {
        ///     symbol: String,
        ///     prices: Vec<u64>,
        /// }
        ///
        /// let (a, b) = Pipe::<u8>::builder().ring_bytes(64 << 10).create()?;
        /// a.send_rkyv(&Tick { symbol: "ACME".into(), prices: vec![3, 9, 4] })?;
        /// let top = b.recv_rkyv_with::<Tick, _>(|t| t.prices.iter().map(|p| p.to_native()).max())?;
        /// assert_eq!(top, Some(9));
        /// # Ok::<(), ipc_queue::Error>(())
        /// ```
        #[cfg(feature = "rkyv")]
        pub fn send_rkyv<V>(&self, value: &V) -> Result<()>
        where
            V: for<'b, 'a> rkyv::Serialize<crate::archive::SlotSerializer<'b, 'a>>,
        {
            self.ep.send_rkyv(value, Deadline::Forever)
        }

        /// [`send_serde`](Self::send_serde) if a slot is free now;
        /// [`Error::Full`] otherwise.
        #[cfg(feature = "serde")]
        pub fn try_send_serde<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<()> {
            self.ep.send_serde(value, Deadline::Now)
        }

        /// [`send_serde`](Self::send_serde), waiting at most `timeout`.
        #[cfg(feature = "serde")]
        pub fn send_serde_timeout<V: serde::Serialize + ?Sized>(
            &self,
            value: &V,
            timeout: Duration,
        ) -> Result<()> {
            self.ep.send_serde(value, Deadline::after(timeout))
        }

        /// Sends a message, waiting for a free slot.
        ///
        /// [`Error::Disconnected`] if the peer's end is closed (or its process
        /// died and the ring is full).
        #[inline]
        pub fn send(&self, msg: &T) -> Result<()> {
            self.ep.send_frame(msg.as_bytes(), Deadline::Forever)
        }

        /// Sends a message if a slot is free now; [`Error::Full`] otherwise.
        #[inline]
        pub fn try_send(&self, msg: &T) -> Result<()> {
            self.ep.send_frame(msg.as_bytes(), Deadline::Now)
        }

        /// Sends a message, waiting at most `timeout` for a free slot
        /// ([`Error::Timeout`]).
        pub fn send_timeout(&self, msg: &T, timeout: Duration) -> Result<()> {
            self.ep.send_frame(msg.as_bytes(), Deadline::after(timeout))
        }

        /// Sends as many of `msgs` as there are free slots (publishing them
        /// together), after waiting for the first; returns how many were sent,
        /// in order.
        pub fn send_batch(&self, msgs: &[T]) -> Result<usize> {
            self.ep.send_batch(msgs, Deadline::Forever)
        }

        /// Sends a byte frame of at most [`max_frame`](Self::max_frame) bytes,
        /// waiting for a free slot. A longer one is refused with
        /// [`Error::TooLarge`] and nothing is sent.
        #[inline]
        pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
            self.ep.send_frame(bytes, Deadline::Forever)
        }

        /// [`send_bytes`](Self::send_bytes) if a slot is free now;
        /// [`Error::Full`] otherwise.
        pub fn try_send_bytes(&self, bytes: &[u8]) -> Result<()> {
            self.ep.send_frame(bytes, Deadline::Now)
        }

        /// [`send_bytes`](Self::send_bytes), waiting at most `timeout`.
        pub fn send_bytes_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
            self.ep.send_frame(bytes, Deadline::after(timeout))
        }
    };
}

/// The receiving methods shared by [`PipeEnd`] and [`Receiver`].
macro_rules! recv_methods {
    () => {
        /// [`recv`](Self::recv) as a future: waits for a message without
        /// blocking a thread; [`Error::Disconnected`] once the peer is gone
        /// and everything it sent was received. It takes the end by `&mut`
        /// (one task at a time; the future is `Send`). Dropping it before it
        /// completes takes nothing: the message stays for the next receive.
        pub async fn recv_async(&mut self) -> Result<T> {
            let (pos, len) = self.ep.wait_frame_async().await?;
            self.ep.take_value(pos, len)
        }

        /// [`recv_bytes`](Self::recv_bytes) as a future.
        pub async fn recv_bytes_async(&mut self) -> Result<Vec<u8>> {
            let (pos, len) = self.ep.wait_frame_async().await?;
            let mut v = vec![0; len];
            self.ep.take_bytes(pos, &mut v);
            Ok(v)
        }

        /// [`recv_serde`](Self::recv_serde) as a future.
        #[cfg(feature = "serde")]
        pub async fn recv_serde_async<V: serde::de::DeserializeOwned>(&mut self) -> Result<V> {
            let (pos, len) = self.ep.wait_frame_async().await?;
            let mut buf = vec![0; len];
            self.ep.take_bytes(pos, &mut buf);
            crate::codec::decode(&buf)
        }

        /// Receives the next frame and decodes it as a `V` (feature
        /// `serde`; see [`send_serde`](PipeEnd::send_serde)). The frame is
        /// copied out of its slot into a per-thread buffer reused from call
        /// to call, and decoded from there. [`Error::Decode`] (the frame is
        /// consumed) if it is not a `V`'s encoding.
        #[cfg(feature = "serde")]
        pub fn recv_serde<V: serde::de::DeserializeOwned>(&self) -> Result<V> {
            self.recv_serde_wait(Deadline::Forever)
        }

        /// [`recv_serde`](Self::recv_serde) if a frame is ready;
        /// [`Error::Empty`] otherwise.
        #[cfg(feature = "serde")]
        pub fn try_recv_serde<V: serde::de::DeserializeOwned>(&self) -> Result<V> {
            self.recv_serde_wait(Deadline::Now)
        }

        /// [`recv_serde`](Self::recv_serde), waiting at most `timeout`.
        #[cfg(feature = "serde")]
        pub fn recv_serde_timeout<V: serde::de::DeserializeOwned>(
            &self,
            timeout: Duration,
        ) -> Result<V> {
            self.recv_serde_wait(Deadline::after(timeout))
        }

        #[cfg(feature = "serde")]
        fn recv_serde_wait<V: serde::de::DeserializeOwned>(&self, wait: Deadline) -> Result<V> {
            let (pos, len) = self.ep.wait_frame(wait)?;
            // Taken out for the call, so a re-entrant receive (a Deserialize
            // impl that receives) gets a buffer of its own.
            let mut buf = RECV_SCRATCH.take();
            buf.resize(len, 0);
            self.ep.take_bytes(pos, &mut buf[..len]);
            let value = crate::codec::decode(&buf[..len]);
            RECV_SCRATCH.set(buf);
            value
        }

        /// Receives the next frame and calls `f` with its bytes where they
        /// lie in shared memory, without copying them; the frame is consumed
        /// when `f` returns (a process killed inside `f` leaves it queued,
        /// at-least-once for `f`'s side effects).
        ///
        /// ```
        /// # use ipc_queue::Pipe;
        /// let (a, b) = Pipe::<u8>::new()?;
        /// a.send_bytes(b"in place")?;
        /// assert_eq!(b.recv_bytes_with(|bytes| bytes.len())?, 8);
        /// # Ok::<(), ipc_queue::Error>(())
        /// ```
        pub fn recv_bytes_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
            let (pos, len) = self.ep.wait_frame(Deadline::Forever)?;
            Ok(self.ep.take_in_place(pos, len, f))
        }

        /// [`recv_bytes_with`](Self::recv_bytes_with) if a frame is ready;
        /// [`Error::Empty`] otherwise.
        pub fn try_recv_bytes_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
            let (pos, len) = self.ep.wait_frame(Deadline::Now)?;
            Ok(self.ep.take_in_place(pos, len, f))
        }

        /// [`recv_bytes_with`](Self::recv_bytes_with), waiting at most `timeout`.
        pub fn recv_bytes_with_timeout<R>(
            &self,
            timeout: Duration,
            f: impl FnOnce(&[u8]) -> R,
        ) -> Result<R> {
            let (pos, len) = self.ep.wait_frame(Deadline::after(timeout))?;
            Ok(self.ep.take_in_place(pos, len, f))
        }

        /// Receives the next frame, validates it as the archive of a `V`
        /// (feature `rkyv`; see [`send_rkyv`](PipeEnd::send_rkyv)) and calls
        /// `f` with the archived value where it lies in shared memory,
        /// without deserializing or copying it. [`Error::Decode`] (the frame
        /// is consumed) if it is not a valid archive of a `V`.
        #[cfg(feature = "rkyv")]
        pub fn recv_rkyv_with<V, R>(&self, f: impl FnOnce(&V::Archived) -> R) -> Result<R>
        where
            V: rkyv::Archive,
            V::Archived: for<'a> rkyv::bytecheck::CheckBytes<crate::archive::SlotValidator<'a>>,
        {
            let (pos, len) = self.ep.wait_frame(Deadline::Forever)?;
            self.ep
                .take_in_place(pos, len, |bytes| crate::archive::access::<V>(bytes).map(f))
        }

        /// Receives the next message, waiting for one: spins briefly, then
        /// sleeps. [`Error::Disconnected`] once the peer is gone and every
        /// message it sent has been received; [`Error::WrongSize`] (the frame
        /// is consumed) for a byte frame that is not `size_of::<T>()` long.
        #[inline]
        pub fn recv(&self) -> Result<T> {
            let (pos, len) = self.ep.wait_frame(Deadline::Forever)?;
            self.ep.take_value(pos, len)
        }

        /// Receives a message if one is ready; [`Error::Empty`] otherwise.
        ///
        /// To busy-poll, prefer [`recv`](Self::recv), which spins for
        /// 20 µs before it sleeps. A loop of `try_recv` should call
        /// [`std::hint::spin_loop`] a few times between polls: polling
        /// back-to-back keeps pulling the slot's cache line away from the
        /// sender while it writes, which slows each hand-off.
        #[inline]
        pub fn try_recv(&self) -> Result<T> {
            let (pos, len) = self.ep.wait_frame(Deadline::Now)?;
            self.ep.take_value(pos, len)
        }

        /// Receives a message, waiting at most `timeout` ([`Error::Timeout`]).
        pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
            let (pos, len) = self.ep.wait_frame(Deadline::after(timeout))?;
            self.ep.take_value(pos, len)
        }

        /// Receives up to `out.len()` messages: waits for the first, then
        /// takes every one that is ready, freeing their slots together.
        /// Returns how many were written to the front of `out`. Stops before
        /// a frame that is not a `T`, which the next call reports.
        pub fn recv_batch(&self, out: &mut [T]) -> Result<usize> {
            self.ep.recv_batch(out, Deadline::Forever)
        }

        /// Receives the next frame as bytes, waiting for one.
        pub fn recv_bytes(&self) -> Result<Vec<u8>> {
            self.recv_bytes_wait(Deadline::Forever)
        }

        /// [`recv_bytes`](Self::recv_bytes) if a frame is ready;
        /// [`Error::Empty`] otherwise.
        pub fn try_recv_bytes(&self) -> Result<Vec<u8>> {
            self.recv_bytes_wait(Deadline::Now)
        }

        /// [`recv_bytes`](Self::recv_bytes), waiting at most `timeout`.
        pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
            self.recv_bytes_wait(Deadline::after(timeout))
        }

        fn recv_bytes_wait(&self, wait: Deadline) -> Result<Vec<u8>> {
            let (pos, len) = self.ep.wait_frame(wait)?;
            let mut v = vec![0; len];
            self.ep.take_bytes(pos, &mut v);
            Ok(v)
        }

        /// Receives the next frame into `buf`, waiting for one; returns its
        /// length. A frame longer than `buf` stays queued and is reported as
        /// [`Error::BufferTooSmall`]. No allocation.
        #[inline]
        pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
            self.recv_bytes_into_wait(buf, Deadline::Forever)
        }

        /// [`recv_bytes_into`](Self::recv_bytes_into) if a frame is ready;
        /// [`Error::Empty`] otherwise.
        pub fn try_recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
            self.recv_bytes_into_wait(buf, Deadline::Now)
        }

        /// [`recv_bytes_into`](Self::recv_bytes_into), waiting at most `timeout`.
        pub fn recv_bytes_into_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
            self.recv_bytes_into_wait(buf, Deadline::after(timeout))
        }

        #[inline]
        fn recv_bytes_into_wait(&self, buf: &mut [u8], wait: Deadline) -> Result<usize> {
            let (pos, len) = self.ep.wait_frame(wait)?;
            match buf.get_mut(..len) {
                Some(dst) => {
                    self.ep.take_bytes(pos, dst);
                    Ok(len)
                }
                None => Err(Error::BufferTooSmall {
                    needed: len,
                    got: buf.len(),
                }),
            }
        }

        /// Python's `poll()`: whether a receive would return without
        /// waiting, because a message is ready or the peer is gone; does not
        /// wait. A shared-state error also counts as ready: the next receive
        /// reports it. To wait without a limit, use
        /// [`wait`](crate::wait) on this end.
        pub fn poll(&self) -> bool {
            self.ep.poll(Deadline::Now).unwrap_or(true)
        }

        /// Python's `poll(timeout)`: [`poll`](Self::poll), waiting up to
        /// `timeout` for a message or the peer's end.
        pub fn poll_timeout(&self, timeout: Duration) -> bool {
            self.ep.poll(Deadline::after(timeout)).unwrap_or(true)
        }
    };
}

/// Methods every handle has.
macro_rules! common_methods {
    () => {
        /// Whether the peer is gone: its end was closed, or the process
        /// that used it exited or was killed. Slow (reads `/proc`): the
        /// sending calls find out by themselves only when they would wait,
        /// so a binding that wants a send to a dead peer refused at once
        /// asks this now and then. An end nobody has used yet is not gone.
        pub fn peer_gone(&self) -> bool {
            self.ep.peer_gone()
        }

        /// Whether another process has claimed this end (taken it up after
        /// a [`hand_off`](Self::hand_off), say).
        pub fn claimed_elsewhere(&self) -> bool {
            self.ep.claimed_elsewhere()
        }

        /// Slots per direction.
        pub fn capacity(&self) -> usize {
            self.ep.region().geo.capacity as usize
        }

        /// Bytes of shared memory the pipe maps (its header, control block
        /// and every slot of both directions).
        pub fn shm_bytes(&self) -> usize {
            self.ep.region().segment().segment().len()
        }

        /// The largest byte frame.
        pub fn max_frame(&self) -> usize {
            self.ep.max_frame()
        }

        /// How long a blocked call of this handle spins before it sleeps
        /// (see [`PipeBuilder::spin`]).
        pub fn spin(&self) -> Duration {
            self.ep.spin_limit()
        }

        /// Sets how long a blocked call of this handle spins before it
        /// sleeps.
        pub fn set_spin(&self, spin: Duration) {
            self.ep.set_spin_limit(spin);
        }

        /// The underlying segment (its name, its header).
        pub fn object(&self) -> &ObjectSegment {
            self.ep.region().segment()
        }

        /// Closes this end: the peer's receive reports
        /// [`Error::Disconnected`] once it has drained the ring, its send at
        /// once. Same as dropping the handle, except that it closes the end
        /// even if this process has forked since it last used it (but never
        /// an end that another process has claimed since).
        pub fn close(self) {
            self.ep.release(true);
        }

        /// Marks the end as handed to another process *by name* (a Python
        /// `spawn` child unpickling it, a name sent over a socket) that will
        /// open and use it: dropping this handle then closes nothing.
        /// Otherwise dropping it would close an end nobody here used, and
        /// the peer could hear `Disconnected` before that process opened
        /// it. A forked child needs none of this (see the module docs on
        /// ownership). [`close`](Self::close) still closes.
        pub fn hand_off(&self) {
            self.ep.hand_off();
        }
    };
}

/// One end of a duplex [`Pipe`]: sends to and receives from the other end.
///
/// Created by [`Pipe::new`] or [`PipeBuilder::create`] (both ends), or
/// opened by name with [`PipeBuilder::open`]. See the [module
/// documentation](self) for ownership and disconnection.
pub struct PipeEnd<T: Message> {
    ep: Endpoint,
    _t: PhantomData<fn() -> T>,
}

impl<T: Message> PipeEnd<T> {
    fn new(region: Arc<Region>, side: Side, spin: Duration) -> Self {
        let me = side.index();
        let ep = Endpoint::new(region, me, Some(me), Some(me ^ 1));
        ep.set_spin_limit(spin);
        Self {
            ep,
            _t: PhantomData,
        }
    }

    /// Which end this is.
    pub fn side(&self) -> Side {
        if self.ep.side() == 0 {
            Side::A
        } else {
            Side::B
        }
    }

    send_methods!();
    recv_methods!();
    common_methods!();
}

/// The sending half of a one-way [`channel`].
pub struct Sender<T: Message> {
    ep: Endpoint,
    _t: PhantomData<fn() -> T>,
}

impl<T: Message> Sender<T> {
    send_methods!();
    common_methods!();
}

/// The receiving half of a one-way [`channel`].
pub struct Receiver<T: Message> {
    ep: Endpoint,
    _t: PhantomData<fn() -> T>,
}

impl<T: Message> Receiver<T> {
    recv_methods!();
    common_methods!();
}

/// [`Waitable`] on a handle's receiving direction.
macro_rules! waitable_receiver {
    ($handle:ident) => {
        impl<T: Message> Waitable for $handle<T> {
            fn ready_word(&self) -> &AtomicU32 {
                self.ep.rx_words().0
            }
            fn sleepers(&self) -> &AtomicU32 {
                self.ep.rx_words().1
            }
            fn is_ready(&self) -> bool {
                self.ep.rx_ready()
            }
            fn check_peer(&self) -> bool {
                self.ep.peer_dead()
            }
        }

        impl<T: Message> $handle<T> {
            /// Whether a receive would not block, as an owned [`Waitable`]
            /// another thread can wait on without using this end (a
            /// notifier that makes a file descriptor readable, say); see
            /// [`RecvReadiness`].
            pub fn readiness(&self) -> RecvReadiness {
                self.ep.recv_readiness()
            }
        }
    };
}

waitable_receiver!(PipeEnd);
waitable_receiver!(Receiver);

fn debug_handle(f: &mut fmt::Formatter<'_>, name: &str, ep: &Endpoint) -> fmt::Result {
    f.debug_struct(name)
        .field("side", &if ep.side() == 0 { Side::A } else { Side::B })
        .field("capacity", &ep.region().geo.capacity)
        .field("max_frame", &ep.max_frame())
        .field("segment", &ep.region().segment().segment().display_name())
        .finish()
}

impl<T: Message> fmt::Debug for PipeEnd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(f, "PipeEnd", &self.ep)
    }
}

impl<T: Message> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(f, "Sender", &self.ep)
    }
}

impl<T: Message> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_handle(f, "Receiver", &self.ep)
    }
}
