//! One end of a pipe: who owns it, whether the peer is still there, and the
//! blocking loops around the ring operations.
//!
//! # Ownership
//!
//! An end is *claimed* by the process that uses it: every operation compares
//! the end's `owner` word (`pid << 32 | start time`, one atomic word) with the
//! calling process's and, if they differ, takes the end over: it stores its
//! own identity, clears `closed` and, for the producing direction, recovers
//! the ring's `tail` (see `ring.rs`). So an end handed to a forked child, or
//! re-opened by name after its previous user was killed, simply continues.
//! An end is used by one process at a time: a claim fails with
//! `Error::InUse` while another live process holds the end, unless that
//! process is where this very handle came from (a forked child continuing
//! its parent's handle). A dead owner's end is taken over.
//!
//! Dropping (or [`close`](super::PipeEnd::close)-ing) a handle marks the end
//! closed, and wakes the peer, only if
//!
//! - the end is unclaimed or claimed by this process, and
//! - this process has not forked since it created or last used the handle
//!   (for `close`: ignored).
//!
//! The second rule makes a fork hand the end over to the child: the parent's
//! copy of a handle moved into a forked child's closure (which
//! `Process::spawn` drops in the parent) closes nothing, while the child's
//! copy closes the end when the child drops it. A pthread_atfork handler
//! counts this process's forks.
//!
//! # Peer liveness
//!
//! The peer is gone when its end is `closed`, or when its recorded owner no
//! longer runs (checked through `/proc`, only in slow paths: once per
//! [`PEER_CHECK_PERIOD`] of sleep, or of non-blocking polling on an empty
//! ring). An unclaimed peer end counts as alive: nobody has used it yet.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use std::time::Duration;

use ipc_core::liveness::{forks_made, packed_current, packed_is_alive};
use ipc_core::wait::{
    Check, Deadline, PEER_CHECK_PERIOD, SPIN_FOR, WaitState, Waitable, Waiter, coarse_now,
};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::layout::Region;
use super::readiness::{owner_is_dead, peer_closed};
use super::ring::SpscRing;
use crate::{Error, Result};

/// A handle's view of one end: the mapping, which rings it produces into and
/// consumes from, and process-local caches. Not `Sync` (the `Cell`s): each
/// ring has one producer and one consumer.
#[derive(Debug)]
pub(crate) struct Endpoint {
    region: Arc<Region>,
    /// 0 = A, 1 = B.
    side: usize,
    tx: Option<usize>,
    rx: Option<usize>,
    /// The producer's last view of the consumer's `head` (a lower bound).
    cached_head: Cell<u32>,
    /// `forks_made()` when this handle was created or last used here.
    forks_seen: Cell<u64>,
    /// How long a blocking call spins before it sleeps.
    spin: Cell<Duration>,
    /// When a non-blocking call may next check whether the peer died, on
    /// `coarse_now`'s clock.
    next_peer_check: Cell<Duration>,
    /// The process this handle came from: the one that created or opened
    /// it, or last claimed the end through it. A forked child's copy of the
    /// handle may take the end over from that process (the hand-off); any
    /// other live owner makes the end exclusive (`Error::InUse`).
    origin: Cell<u64>,
    /// Set by [`hand_off`](Self::hand_off): dropping closes nothing.
    handed_off: Cell<bool>,
}

impl Endpoint {
    /// A handle on end `side`, producing into ring `tx` and consuming `rx`.
    pub fn new(region: Arc<Region>, side: usize, tx: Option<usize>, rx: Option<usize>) -> Self {
        Self {
            region,
            side,
            tx,
            rx,
            cached_head: Cell::new(0),
            forks_seen: Cell::new(forks_made()),
            spin: Cell::new(SPIN_FOR),
            next_peer_check: Cell::new(Duration::ZERO),
            origin: Cell::new(packed_current()),
            handed_off: Cell::new(false),
        }
    }

    /// How long a blocking call of this handle spins before it sleeps.
    pub fn spin_limit(&self) -> Duration {
        self.spin.get()
    }

    /// The blocking policy of this handle's calls.
    fn waiter(&self) -> Waiter {
        Waiter::new()
            .spin(self.spin.get())
            .check_peers_every(PEER_CHECK_PERIOD)
    }

    /// Sets [`spin_limit`](Self::spin_limit).
    pub fn set_spin_limit(&self, spin: Duration) {
        self.spin.set(spin);
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn side(&self) -> usize {
        self.side
    }

    fn tx(&self) -> SpscRing<'_> {
        SpscRing::new(&self.region, self.tx.unwrap_or(0))
    }

    fn rx(&self) -> SpscRing<'_> {
        SpscRing::new(&self.region, self.rx.unwrap_or(0))
    }

    pub fn max_frame(&self) -> usize {
        self.region.geo.max_frame as usize
    }

    /// Marks this process as the end's user, taking the end over if another
    /// process (or nobody) held it. Called by every operation.
    #[inline]
    pub(crate) fn enter(&self) -> Result<()> {
        self.forks_seen.set(forks_made());
        let me = packed_current();
        if self.region.end(self.side).owner.load(Ordering::Relaxed) != me {
            self.claim(me)?;
        }
        Ok(())
    }

    #[cold]
    fn claim(&self, me: u64) -> Result<()> {
        let end = self.region.end(self.side);
        loop {
            let owner = end.owner.load(Ordering::SeqCst);
            // An end is exclusive: another live process holds it unless it
            // handed this very handle over by forking (the origin).
            if owner != 0 && owner != self.origin.get() && packed_is_alive(owner) {
                return Err(Error::InUse {
                    pid: (owner >> 32) as u32,
                });
            }
            if end
                .owner
                .compare_exchange(owner, me, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                if owner != 0 && owner != self.origin.get() {
                    ipc_core::trace_event!(
                        warn,
                        pipe = %self.region.segment().segment().display_name(),
                        side = if self.side == 0 { "A" } else { "B" },
                        dead_owner = owner >> 32,
                        "took over a pipe end from a dead process"
                    );
                }
                break;
            }
        }
        self.origin.set(me);
        end.closed.store(0, Ordering::SeqCst);
        if self.tx.is_some() {
            self.cached_head.set(self.tx().recover_tail()?);
        }
        Ok(())
    }

    /// Claims the end for this process at once (an open by name), so that a
    /// second live opener is refused instead of sharing it.
    pub fn claim_now(&self) -> Result<()> {
        self.enter()
    }

    /// Whether the peer end was closed (cheap: one load).
    #[inline]
    fn peer_closed(&self) -> bool {
        peer_closed(&self.region, self.side)
    }

    /// Whether the peer is gone: its end closed, or its owner exited
    /// (slow: reads `/proc`).
    pub fn peer_gone(&self) -> bool {
        self.peer_closed() || self.peer_dead()
    }

    /// Whether this end is claimed by a process other than the caller (a
    /// process it was handed to has taken it up).
    pub fn claimed_elsewhere(&self) -> bool {
        let owner = self.region.end(self.side).owner.load(Ordering::Acquire);
        owner != 0 && owner != packed_current()
    }

    /// Whether the peer end's owner has exited (slow: reads `/proc`).
    pub fn peer_dead(&self) -> bool {
        let owner = self.region.end(self.side ^ 1).owner.load(Ordering::Acquire);
        let dead = owner_is_dead(owner);
        if dead {
            ipc_core::trace_event!(
                debug,
                pipe = %self.region.segment().segment().display_name(),
                peer = owner >> 32,
                "the pipe's peer process is gone"
            );
        }
        dead
    }

    /// Whether a non-blocking call on an empty or full ring should run the
    /// slow checks (peer liveness, index cross-check): at most once per
    /// [`PEER_CHECK_PERIOD`].
    #[inline]
    fn slow_check_due(&self) -> bool {
        // The coarse clock: a busy-polling caller runs this on every empty
        // poll, and `Instant::now` would be most of that poll's cost.
        let now = coarse_now();
        if now < self.next_peer_check.get() {
            return false;
        }
        self.next_peer_check.set(now + PEER_CHECK_PERIOD);
        true
    }

    // ----- receiving -----------------------------------------------------

    /// Waits for the next frame until `deadline`; returns its position and
    /// length without consuming it. `Disconnected` only once the ring is
    /// drained.
    pub fn wait_frame(&self, deadline: Deadline) -> Result<(u32, usize)> {
        self.enter()?;
        let mut tries = 0u32;
        let frame = self.waiter().block(&RecvWait(self), deadline, |check| {
            self.try_frame(check, &mut tries)
        })?;
        match frame {
            Some(frame) => Ok(frame),
            None if deadline == Deadline::Now => {
                if self.slow_check_due() {
                    self.rx().check_indices()?;
                    if self.peer_dead() {
                        return self.last_look();
                    }
                }
                Err(Error::Empty)
            }
            None => Err(Error::Timeout),
        }
    }

    /// One look for the next frame (the attempt of `wait_frame` and of
    /// its future): `Ok(None)` to wait.
    #[inline]
    pub(crate) fn try_frame(&self, check: Check, tries: &mut u32) -> Result<Option<(u32, usize)>> {
        let rx = self.rx();
        if let Some(frame) = rx.peek()? {
            return Ok(Some(frame));
        }
        *tries += 1;
        if self.peer_closed() {
            return self.last_look().map(Some);
        }
        // After the first try, a ring that still looks empty may be a
        // scribbled index: cross-check before (and between) sleeps.
        if *tries > 1 {
            rx.check_indices()?;
        }
        if check == Check::Slow && self.peer_dead() {
            return self.last_look().map(Some);
        }
        Ok(None)
    }

    /// [`wait_frame`](Self::wait_frame) as a future, holding the end by
    /// `&mut` (so that the future is `Send`: an end is not `Sync`).
    pub fn wait_frame_async(&mut self) -> FrameWait<'_> {
        FrameWait {
            ep: self,
            state: WaitState::new(),
            tries: 0,
            entered: false,
        }
    }

    /// The peer is gone: one more look (a frame committed just before it
    /// closed), else `Disconnected`.
    fn last_look(&self) -> Result<(u32, usize)> {
        self.rx().peek()?.ok_or(Error::Disconnected)
    }

    /// Reads the frame at `pos` (of `len` bytes, as returned by
    /// `wait_frame`) as a `T` and consumes it; `WrongSize` (consumed too) if
    /// its length is not `size_of::<T>()`.
    #[inline]
    pub fn take_value<T: zerocopy::FromBytes>(&self, pos: u32, len: usize) -> Result<T> {
        let rx = self.rx();
        let result = if len == size_of::<T>() {
            Ok(rx.read_value::<T>(pos))
        } else {
            Err(Error::WrongSize {
                expected: size_of::<T>(),
                found: len,
            })
        };
        rx.consume_to(pos.wrapping_add(1));
        result
    }

    /// Copies the frame at `pos` into `dst` (exactly `len` bytes long) and
    /// consumes it.
    #[inline]
    pub fn take_bytes(&self, pos: u32, dst: &mut [u8]) {
        let rx = self.rx();
        rx.read(pos, dst);
        rx.consume_to(pos.wrapping_add(1));
    }

    /// Calls `f` with the frame at `pos` (of `len` bytes, as returned by
    /// `wait_frame`) where it lies in shared memory, then consumes it: a
    /// process killed inside `f` leaves the frame queued.
    pub fn take_in_place<R>(&self, pos: u32, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let rx = self.rx();
        let r = rx.read_in_place(pos, len, f);
        rx.consume_to(pos.wrapping_add(1));
        r
    }

    /// Archives `value` straight into a reserved slot (feature `rkyv`), or
    /// with a byte ring into a scratch buffer copied into a frame of its
    /// length, and publishes it; nothing is published if it fails.
    #[cfg(feature = "rkyv")]
    pub fn send_rkyv<V>(&self, value: &V, deadline: Deadline) -> Result<()>
    where
        V: for<'b, 'a> rkyv::Serialize<crate::archive::SlotSerializer<'b, 'a>>,
    {
        let max = self.max_frame();
        if self.region.geo.has_ring() {
            // Built aside and copied in, so that the ring need not have
            // `max_frame` bytes free at once (see the `archive` module).
            return crate::archive::with_scratch_archive(value, max, |bytes| {
                self.send_frame(bytes, deadline)
            })?;
        }
        let (pos, _) = self.wait_space(1, max, deadline)?;
        let tx = self.tx();
        let f = tx.frame_for(pos, max)?;
        let len = tx.fill(f, |buf| crate::archive::encode_into(value, buf))?;
        tx.publish_one(pos, len as u32);
        Ok(())
    }

    /// Receives up to `out.len()` messages that are ready now, after waiting
    /// for the first; stops before a frame that is not a `T` (consuming it
    /// and reporting `WrongSize` only if it comes first).
    pub fn recv_batch<T: zerocopy::FromBytes + zerocopy::IntoBytes>(
        &self,
        out: &mut [T],
        deadline: Deadline,
    ) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let (pos, len) = self.wait_frame(deadline)?;
        if len != size_of::<T>() {
            return self.take_value::<T>(pos, len).map(|_| 0);
        }
        let rx = self.rx();
        let mut n = 0u32;
        for slot in out.iter_mut() {
            let p = pos.wrapping_add(n);
            if rx.peek_at(p) != Ok(Some(size_of::<T>())) {
                break;
            }
            rx.read(p, slot.as_mut_bytes());
            n += 1;
        }
        rx.consume_to(pos.wrapping_add(n));
        Ok(n as usize)
    }

    /// Whether a receive would not block: a frame, a closed peer, or
    /// corruption to report.
    pub fn rx_ready(&self) -> bool {
        self.rx().data_ready() || self.peer_closed()
    }

    pub fn rx_words(&self) -> (&AtomicU32, &AtomicU32) {
        self.rx().data_word()
    }

    /// This end's receiving direction as an owned, thread-safe view.
    pub fn recv_readiness(&self) -> super::RecvReadiness {
        super::RecvReadiness::new(Arc::clone(&self.region), self.side, self.rx.unwrap_or(0))
    }

    /// Python's `poll`: whether a receive would return at once (a message,
    /// or the peer gone), waiting until `deadline` for that.
    pub fn poll(&self, deadline: Deadline) -> Result<bool> {
        self.enter()?;
        let mut tries = 0u32;
        let ready = self.waiter().block(&RecvWait(self), deadline, |check| {
            if self.rx_ready() {
                return Ok::<_, Error>(Some(()));
            }
            tries += 1;
            if tries > 1 {
                self.rx().check_indices()?;
            }
            Ok((check == Check::Slow && self.peer_dead()).then_some(()))
        })?;
        if ready.is_some() {
            return Ok(true);
        }
        if deadline == Deadline::Now && self.slow_check_due() {
            self.rx().check_indices()?;
            return Ok(self.peer_dead());
        }
        Ok(false)
    }

    // ----- sending -------------------------------------------------------

    /// Waits for room for up to `want` frames of `frame` bytes until
    /// `deadline`; returns the first position and the count (at least 1).
    pub fn wait_space(&self, want: u32, frame: usize, deadline: Deadline) -> Result<(u32, u32)> {
        self.enter()?;
        let room = self
            .waiter()
            .block(&SendWait(self, frame), deadline, |check| {
                self.try_space(want, frame, check)
            })?;
        match room {
            Some(room) => Ok(room),
            None if deadline == Deadline::Now => {
                Err(if self.slow_check_due() && self.peer_dead() {
                    Error::Disconnected
                } else {
                    Error::Full
                })
            }
            None => Err(Error::Timeout),
        }
    }

    /// One attempt to reserve room for up to `want` frames of `frame`
    /// bytes (the attempt of `wait_space` and of its future): `Ok(None)` to
    /// wait.
    #[inline]
    pub(crate) fn try_space(
        &self,
        want: u32,
        frame: usize,
        check: Check,
    ) -> Result<Option<(u32, u32)>> {
        if self.peer_closed() {
            return Err(Error::Disconnected);
        }
        match self.tx().reserve(want, frame, &self.cached_head) {
            Err(Error::Full) => {}
            other => return other.map(Some),
        }
        if check == Check::Slow && self.peer_dead() {
            return Err(Error::Disconnected);
        }
        Ok(None)
    }

    /// [`wait_space`](Self::wait_space) as a future, holding the end by
    /// `&mut` (so that the future is `Send`).
    pub fn wait_space_async(&mut self, want: u32, frame: usize) -> SpaceWait<'_> {
        SpaceWait {
            ep: self,
            state: WaitState::new(),
            want,
            frame,
            entered: false,
        }
    }

    /// Sends one frame, waiting for room until `deadline`.
    #[inline]
    pub fn send_frame(&self, bytes: &[u8], deadline: Deadline) -> Result<()> {
        if bytes.len() > self.max_frame() {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: self.max_frame(),
            });
        }
        let (pos, _) = self.wait_space(1, bytes.len(), deadline)?;
        self.publish_frame(pos, bytes)
    }

    /// Writes `bytes` (at most `max_frame`, checked by the caller) into the
    /// frame reserved at `pos` and publishes it.
    #[inline]
    pub fn publish_frame(&self, pos: u32, bytes: &[u8]) -> Result<()> {
        let tx = self.tx();
        let f = tx.frame_for(pos, bytes.len())?;
        tx.write(f, bytes);
        tx.publish_one(pos, bytes.len() as u32);
        Ok(())
    }

    /// Sends one value encoded in place in the reserved slot (feature
    /// `serde`): nothing is published if it does not encode or fit.
    #[cfg(feature = "serde")]
    pub fn send_serde<V: serde::Serialize + ?Sized>(
        &self,
        value: &V,
        deadline: Deadline,
    ) -> Result<()> {
        let frame = self.serde_frame(value)?;
        let (pos, _) = self.wait_space(1, frame, deadline)?;
        self.publish_serde(pos, frame, value)
    }

    /// The room to reserve for `value`'s encoding: the frame limit in a
    /// pipe of fixed slots, its exact encoded length with a byte ring (an
    /// extra encoding pass that allocates nothing). `TooLarge` if it cannot
    /// fit.
    #[cfg(feature = "serde")]
    pub fn serde_frame<V: serde::Serialize + ?Sized>(&self, value: &V) -> Result<usize> {
        let max = self.max_frame();
        if !self.region.geo.has_ring() {
            return Ok(max);
        }
        let len = postcard::experimental::serialized_size(value).map_err(|e| Error::Encode {
            reason: e.to_string(),
        })?;
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        Ok(len)
    }

    /// Encodes `value` into the frame reserved at `pos` for `frame` bytes
    /// (from [`serde_frame`](Self::serde_frame)) and publishes it (nothing
    /// is published if it does not encode or fit).
    #[cfg(feature = "serde")]
    pub fn publish_serde<V: serde::Serialize + ?Sized>(
        &self,
        pos: u32,
        frame: usize,
        value: &V,
    ) -> Result<()> {
        let tx = self.tx();
        let mut slot = SlotSink {
            tx: &tx,
            frame: tx.frame_for(pos, frame)?,
        };
        let len = crate::codec::encode_to_sink(value, &mut slot)?;
        tx.publish_one(pos, len as u32);
        Ok(())
    }

    /// Sends as many of `msgs` as fit once there is room for one.
    pub fn send_batch<T: zerocopy::IntoBytes + zerocopy::Immutable>(
        &self,
        msgs: &[T],
        deadline: Deadline,
    ) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let want = u32::try_from(msgs.len()).unwrap_or(u32::MAX);
        let (pos, n) = self.wait_space(want, size_of::<T>(), deadline)?;
        let tx = self.tx();
        for (i, m) in msgs.iter().take(n as usize).enumerate() {
            let f = tx.frame_for(pos.wrapping_add(i as u32), size_of::<T>())?;
            tx.write(f, m.as_bytes());
        }
        tx.publish_many(pos, n, size_of::<T>() as u32);
        Ok(n as usize)
    }

    /// Marks the end as handed to another process by name: dropping this
    /// handle will not close it.
    pub fn hand_off(&self) {
        self.handed_off.set(true);
    }

    /// Closes the end now, if this process may (see the module docs).
    /// `forced` ignores the fork rule (an explicit `close`).
    pub fn release(&self, forced: bool) {
        if !forced && self.forks_seen.get() != forks_made() {
            return;
        }
        let end = self.region.end(self.side);
        let owner = end.owner.load(Ordering::Acquire);
        if owner != 0 && owner != packed_current() {
            return;
        }
        end.closed.store(1, Ordering::SeqCst);
        // Free for the next opener (the peer sees `closed` first).
        let _ = end
            .owner
            .compare_exchange(owner, 0, Ordering::SeqCst, Ordering::SeqCst);
        if let Some(r) = self.tx {
            SpscRing::new(&self.region, r).wake_everyone();
        }
        if let Some(r) = self.rx {
            SpscRing::new(&self.region, r).wake_everyone();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if !self.handed_off.get() {
            self.release(false);
        }
    }
}

/// The receiving side of an endpoint as a [`Waitable`].
pub(crate) struct RecvWait<'a>(pub &'a Endpoint);

impl Waitable for RecvWait<'_> {
    fn ready_word(&self) -> &AtomicU32 {
        self.0.rx_words().0
    }
    fn sleepers(&self) -> &AtomicU32 {
        self.0.rx_words().1
    }
    fn is_ready(&self) -> bool {
        self.0.rx_ready()
    }
    fn check_peer(&self) -> bool {
        self.0.peer_dead()
    }
}

/// The sending side of an endpoint, waiting for room for a frame of the
/// given size, as a [`Waitable`].
pub(crate) struct SendWait<'a>(pub &'a Endpoint, pub usize);

impl Waitable for SendWait<'_> {
    fn ready_word(&self) -> &AtomicU32 {
        self.0.tx().space_word().0
    }
    fn sleepers(&self) -> &AtomicU32 {
        self.0.tx().space_word().1
    }
    fn is_ready(&self) -> bool {
        self.0.tx().has_space(self.1) || self.0.peer_closed()
    }
    fn check_peer(&self) -> bool {
        self.0.peer_dead()
    }
}

/// A reserved, unpublished frame as the encoder's destination.
#[cfg(feature = "serde")]
struct SlotSink<'a, 'r> {
    tx: &'a SpscRing<'r>,
    frame: super::layout::PipeFrame,
}

#[cfg(feature = "serde")]
impl crate::codec::FrameSink for SlotSink<'_, '_> {
    fn write_at(&mut self, at: usize, bytes: &[u8]) -> bool {
        self.tx.write_at(self.frame, at, bytes)
    }

    fn max(&self) -> usize {
        self.frame.cap()
    }
}

/// The future of [`Endpoint::wait_frame_async`]: the next frame's position
/// and length, not yet consumed. Dropping it takes nothing.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct FrameWait<'a> {
    ep: &'a mut Endpoint,
    state: WaitState,
    tries: u32,
    entered: bool,
}

impl Future for FrameWait<'_> {
    type Output = Result<(u32, usize)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let ep: &Endpoint = this.ep;
        if !this.entered {
            if let Err(e) = ep.enter() {
                return Poll::Ready(Err(e));
            }
            this.entered = true;
        }
        let tries = &mut this.tries;
        this.state
            .poll(&RecvWait(ep), cx, |check| ep.try_frame(check, tries))
    }
}

impl Drop for FrameWait<'_> {
    fn drop(&mut self) {
        let ep: &Endpoint = self.ep;
        self.state.cancel(&RecvWait(ep));
    }
}

/// The future of [`Endpoint::wait_space_async`]: room reserved (first
/// position and count). Dropping it publishes nothing: a reservation is
/// only a position until a frame is published there.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct SpaceWait<'a> {
    ep: &'a mut Endpoint,
    state: WaitState,
    want: u32,
    frame: usize,
    entered: bool,
}

impl Future for SpaceWait<'_> {
    type Output = Result<(u32, u32)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let ep: &Endpoint = this.ep;
        if !this.entered {
            if let Err(e) = ep.enter() {
                return Poll::Ready(Err(e));
            }
            this.entered = true;
        }
        let (want, frame) = (this.want, this.frame);
        this.state.poll(&SendWait(ep, frame), cx, |check| {
            ep.try_space(want, frame, check)
        })
    }
}

impl Drop for SpaceWait<'_> {
    fn drop(&mut self) {
        let ep: &Endpoint = self.ep;
        self.state.cancel(&SendWait(ep, self.frame));
    }
}
