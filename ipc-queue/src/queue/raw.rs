//! The queue protocol, over untyped frames.
//!
//! Positions `head` and `tail` run freely; the slots in `[head, tail)` are the
//! *window* of messages in flight. Each slot has a state and an owner (pid
//! and start time, in one word):
//!
//! | state   | where          | meaning                                                  |
//! |---------|----------------|----------------------------------------------------------|
//! | EMPTY   | outside window | free for a producer                                      |
//! | WRITING | in window      | reserved by a producer (a put in progress, or a loan)     |
//! | READY   | in window      | a committed message                                      |
//! | COPYING | in window, from head | a consumer copying it out; head not yet advanced   |
//! | HELD    | outside window | consumed into a receive guard that is still alive        |
//! | SKIP    | in window      | an abandoned reservation, to be stepped over             |
//!
//! Two robust locks: producers serialise their claims at the tail under the
//! *producer lock*, consumers theirs at the head under the *consumer lock*
//! (a two-lock queue). With one producer and one consumer neither lock is
//! contended and each stays in its own process's cache. The copies happen
//! outside both locks, so producers and consumers overlap on large messages.
//!
//! - **put**: under the producer lock, the slot at `tail` must be EMPTY: mark
//!   it WRITING, advance `tail`. Unlock, copy the frame in, store READY. *The
//!   READY store is the commit.* A producer killed before it leaves WRITING
//!   behind, which consumers step over once they see its owner is dead:
//!   nothing torn is ever delivered.
//! - **get**: under the consumer lock, the slots from `head` must be READY:
//!   mark them COPYING. Unlock, copy out, store EMPTY, advance `head` by
//!   compare-and-swap over the EMPTY slots. *The advance of `head` is the
//!   commit*: a consumer killed mid-copy leaves COPYING behind, which is
//!   turned back into READY and delivered to the next consumer, in order.
//! - **receive guard**: under the consumer lock, mark the head slot HELD and
//!   advance `head` at once (the message counts as delivered); dropping the
//!   guard stores EMPTY. A guard holder that dies is detected by producers,
//!   who reclaim the slot.
//! - **lock owner killed**: the next holder of that lock is told (`OwnerDied`)
//!   and repairs its side: the producer side resets stale states beyond
//!   `tail`, the consumer side turns dead claims at the head back into
//!   messages. Each step above is ordered so that any prefix of it is either
//!   invisible or recognisable from the states it leaves.
//!
//! Each handle caches the other side's position (producers cache `head`,
//! consumers `tail`) and re-reads it only when the cached value says full or
//! empty, so the steady state touches the other side's cache line rarely.
//!
//! # Disconnection
//!
//! A handle registers as a producer at its first put and as a consumer at
//! its first get, by storing its packed process identity
//! (`ipc_core::liveness::packed_current`: pid and start time in one word) in
//! a free slot of the queue's role table; it leaves when dropped, and a dead
//! process's slots are taken back by whoever finds them dead (the slow form
//! of a blocked call, once per sleep slice). A role is *gone* when some
//! handle of that role registered since the queue was last empty with no
//! registered handle at all, and none is registered now:
//!
//! - a get on an **empty** queue whose producers are gone reports
//!   `Disconnected` (a producer that registers later connects it again);
//! - a put into a **full** queue whose consumers are gone reports
//!   `Disconnected` instead of waiting; while there is room, messages are
//!   queued for a consumer that comes later.
//!
//! So a queue whose other side has not attached yet waits for it (a
//! consumer started before any producer blocks; producers may fill the
//! queue before any consumer starts), and a queue re-opened after its last
//! user left starts afresh.
//!
//! **Inheritors.** A child that `Process::spawn` forks with a handle of
//! the queue in its closure may use it in either role, but registers only
//! at its first call: a consumer that drained the queue in between would
//! find the producers gone while one was about to start (three producers
//! forked in a row, the first two done before the third ran: a
//! `log_shipper` run failed so, 1 time in 70). So the spawn hook
//! (`fork.rs`) records each such child in the `inheritors` table, written
//! by the parent before `spawn` returns (its own identity stands in during
//! the fork itself), and a role is not gone while a live inheritor remains.
//! An inheritor leaves the table when it registers in a role, drops the
//! queue, or dies. A child given no handle (a pool's worker, another
//! thread's child) is no inheritor; a child given one that never uses it
//! but runs on keeps the other side waiting, as a cloned `Sender` moved
//! into a thread would in crossbeam. A leaving handle wakes the other side's
//! sleepers. A handle passed to another process *by name* (pickled for a
//! Python `spawn` child, say) is handed off the same way: the sender puts
//! a stand-in in the table (`Queue::hand_off`) and the receiver, once it
//! opened the queue, takes its place (`Queue::take_hand_off`). A stand-in
//! counts for every process, its own included, while that process lives.
//! With more than `ROLE_SLOTS` handles of one role at once,
//! tracking is off for that role: it is never reported gone.
//!
//! Waiting goes through `ipc_core::wait`: three wait words (not empty, not
//! full, all done), each bumped by wakers only when its sleepers count is
//! non-zero, so the hot path makes no system call when nobody sleeps. A
//! blocked call retries its claim in the slow form (liveness checks of the
//! slots' owners) after every sleep slice that ran out unwoken.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use std::sync::Mutex;

use ipc_core::liveness::{packed_current, packed_is_alive};
use ipc_core::segment::{ObjectKind, ObjectSegment, SegmentOptions, TypeDesc};
use ipc_core::sync::{LockError, RobustMutex, RobustMutexExt, RobustMutexGuard};
#[cfg(feature = "futures")]
use ipc_core::wait::WaitState;
use ipc_core::wait::{Check, Deadline, PEER_CHECK_PERIOD, Ready, SPIN_FOR, Waitable, Waiter};

use super::layout::{CONSUMER, PRODUCER, QueueGeometry, ROLE_SLOTS, Roles, SlotRing, state};
use super::report::{Holder, QueueReport};
use crate::{Error, Result};

/// The segment kind of a queue.
pub(crate) const QUEUE_KIND: ObjectKind = ObjectKind {
    code: 100,
    // 3: the roles block (registered producers and consumers); 4: the
    // byte ring (`ring_bytes`, frame references, the data head).
    version: 4,
    name: "ipc-queue Queue",
};

/// A queue handle over untyped frames; `Queue<T>` wraps it.
#[derive(Debug)]
pub(crate) struct RawQueue {
    object: ObjectSegment,
    pub ring: SlotRing,
    /// This handle's last view of `head` (never ahead of the real one).
    cached_head: AtomicU64,
    /// This handle's last view of `tail` (never ahead of the real one).
    cached_tail: AtomicU64,
    /// How long a blocked call spins before it sleeps, in nanoseconds.
    spin_ns: AtomicU64,
    /// This handle's registration as producer and as consumer.
    claims: [RoleClaim; 2],
    /// Serialises this handle's registrations (threads sharing it).
    registering: Mutex<()>,
    /// When a non-blocking call on an empty or full queue may next look for
    /// dead peers, on `coarse_now`'s clock (nanoseconds).
    next_peer_check: AtomicU64,
    /// A read-only handle for `inspect`: it writes nothing, not even on drop.
    inspecting: bool,
    /// `Queue` handles of this queue dropped in this process (for the spawn
    /// hook: a fork during which some were dropped gave the child some).
    handle_drops: AtomicU64,
}

/// A role a handle takes on by its first put or get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Producer,
    Consumer,
}

impl Role {
    fn bit(self) -> u32 {
        match self {
            Role::Producer => PRODUCER,
            Role::Consumer => CONSUMER,
        }
    }

    fn index(self) -> usize {
        match self {
            Role::Producer => 0,
            Role::Consumer => 1,
        }
    }

    fn table(self, roles: &Roles) -> &[AtomicU64; ROLE_SLOTS] {
        match self {
            Role::Producer => &roles.producers,
            Role::Consumer => &roles.consumers,
        }
    }
}

/// A handle's registration in one role: the slot it holds, and the identity
/// it holds it under (a forked child's copy of the handle registers anew).
#[derive(Debug)]
struct RoleClaim {
    slot: AtomicU64,
    identity: AtomicU64,
}

/// [`RoleClaim::slot`] when the handle holds none (tracking overflowed).
const NO_SLOT: u64 = u64::MAX;

impl RoleClaim {
    const fn new() -> Self {
        Self {
            slot: AtomicU64::new(NO_SLOT),
            identity: AtomicU64::new(0),
        }
    }
}

/// The inheritor entry a process holds for a child during a fork: its pid
/// with no start time (so liveness goes by the pid, and the entry is told
/// apart from a child's).
fn stand_in() -> u64 {
    packed_current() & !0xffff_ffff
}

/// Whether inheritor entry `id` is a stand-in (see [`stand_in`]).
fn is_stand_in(id: u64) -> bool {
    id != 0 && id & 0xffff_ffff == 0
}

/// The error for a wait that is over: `busy` (`Full`, `Empty`) for a call
/// that was not to wait, `Timeout` otherwise.
pub(crate) fn expired(deadline: Deadline, busy: Error) -> Error {
    match deadline {
        Deadline::Now => busy,
        _ => Error::Timeout,
    }
}

/// Which of the two locks.
#[derive(Clone, Copy)]
enum Side {
    Producer,
    Consumer,
}

/// What a claim under a lock found: slots `[pos, pos + n)` that are now
/// ours, or `None` (nothing to take, or no room).
type Claim = Option<(u64, u64)>;

fn alive(owner: u64) -> bool {
    packed_is_alive(owner)
}

impl RawQueue {
    /// Creates a queue segment for frames laid out as `ty`.
    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    pub fn create(opts: &SegmentOptions, ty: &TypeDesc, geometry: QueueGeometry) -> Result<Self> {
        let len = geometry.payload_len()?;
        let object = ObjectSegment::create(opts, QUEUE_KIND, ty, len, |p, _| {
            // SAFETY: the payload is `len` = payload_len() bytes, page-aligned,
            // and private to us until `create` publishes it.
            unsafe { SlotRing::new(p, geometry).init() };
            Ok(())
        })?;
        Ok(Self::wrap(object, geometry, false))
    }

    /// Opens an existing queue whose frames are laid out as `ty`.
    pub fn open(opts: &SegmentOptions, ty: &TypeDesc) -> Result<Self> {
        Self::open_checked(opts, Some(ty), false)
    }

    /// Opens a queue of any message type through a read-only mapping, for
    /// [`inspect`](Self::inspect) alone: the handle registers nowhere and
    /// only its reading methods may be called.
    fn open_for_inspection(opts: &SegmentOptions) -> Result<Self> {
        Self::open_checked(&opts.clone().read_only(true), None, true)
    }

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn open_checked(
        opts: &SegmentOptions,
        ty: Option<&TypeDesc>,
        inspecting: bool,
    ) -> Result<Self> {
        let object = ObjectSegment::open(opts, QUEUE_KIND, ty)?;
        if object.segment().is_read_only() && !inspecting {
            // Every call, `len` aside, takes one of the queue's locks, which
            // writes: a read-only mapping would fault on the first one.
            return Err(ipc_core::Error::InvalidArgument {
                reason: "a queue cannot be opened read-only: its calls take its locks",
            }
            .into());
        }
        if object.payload_len() < super::layout::SHARED_LEN {
            return Err(Error::corrupted(
                "queue payload shorter than its control block",
            ));
        }
        // SAFETY: at least SHARED_LEN bytes are mapped (checked above); the
        // config block is immutable after creation; a volatile copy keeps a
        // concurrent scribbler from being a data race on our side.
        let config = unsafe {
            std::ptr::read_volatile(
                &raw const (*object
                    .payload()
                    .cast::<super::layout::QueueShared>()
                    .as_ptr())
                .config,
            )
        };
        let align = ty.map_or(object.header().type_align, |ty| ty.align);
        let align = usize::try_from(align).map_err(|_| Error::corrupted("message alignment"))?;
        let geometry = QueueGeometry::from_config(&config, object.payload_len(), align)?;
        Ok(Self::wrap(object, geometry, inspecting))
    }

    /// What the queue at `opts` holds and who uses it, read through a
    /// read-only mapping without taking a lock or registering (for the `ipc`
    /// tool). Counters are read one by one while others may change them.
    pub fn inspect(opts: &SegmentOptions) -> Result<QueueReport> {
        let q = Self::open_for_inspection(opts)?;
        let shared = q.ring.shared();
        let holders = |role: Option<Role>| -> Vec<Holder> {
            role.map_or(&shared.roles.inheritors, |r| r.table(&shared.roles))
                .iter()
                .map(|w| w.load(Ordering::Acquire))
                .filter(|&w| w != 0)
                .map(Holder::from_packed)
                .collect()
        };
        let dead_slots = (0..q.ring.geometry.capacity)
            .filter(|&pos| {
                let slot = q.ring.slot(pos);
                let st = slot.state.load(Ordering::Acquire);
                matches!(st, state::WRITING | state::COPYING | state::HELD)
                    && !alive(slot.owner.load(Ordering::Acquire))
            })
            .count() as u64;
        Ok(QueueReport {
            message_type: q.object.header().type_desc().name,
            capacity: q.ring.geometry.capacity,
            max_frame: q.ring.geometry.max_frame as u64,
            ring_bytes: q.ring.geometry.ring_bytes,
            ring_used: q.ring_used(),
            len: q.len() as u64,
            puts: q.tail(),
            gets: q.head(),
            unfinished: q.unfinished(),
            closed: q.is_closed(),
            producers: holders(Some(Role::Producer)),
            consumers: holders(Some(Role::Consumer)),
            inheritors: holders(None),
            dead_slots,
            waiting_getters: shared.not_empty.w.sleepers().load(Ordering::Relaxed),
            waiting_putters: shared.not_full.w.sleepers().load(Ordering::Relaxed),
        })
    }

    #[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
    fn wrap(object: ObjectSegment, geometry: QueueGeometry, inspecting: bool) -> Self {
        // SAFETY: the payload holds payload_len() bytes (checked at open or
        // planned at create), page-aligned, mapped while `object` lives, and
        // `object` is stored beside the ring.
        let ring = unsafe { SlotRing::new(object.payload(), geometry) };
        Self {
            object,
            ring,
            cached_head: AtomicU64::new(0),
            cached_tail: AtomicU64::new(0),
            spin_ns: AtomicU64::new(SPIN_FOR.as_nanos() as u64),
            claims: [RoleClaim::new(), RoleClaim::new()],
            registering: Mutex::new(()),
            next_peer_check: AtomicU64::new(0),
            inspecting,
            handle_drops: AtomicU64::new(0),
        }
    }

    /// A `Queue` handle of this queue was dropped in this process.
    pub(crate) fn note_handle_drop(&self) {
        self.handle_drops.fetch_add(1, Ordering::Relaxed);
    }

    /// How many `Queue` handles of this queue this process has dropped.
    pub(crate) fn handle_drops(&self) -> u64 {
        self.handle_drops.load(Ordering::Relaxed)
    }

    // ----- roles (see "Disconnection" above) -----

    /// Registers this handle in `role` unless it already is, in this
    /// process: on the hot path, one compare.
    #[inline]
    fn register(&self, role: Role) {
        let me = packed_current();
        if self.claims[role.index()].identity.load(Ordering::Relaxed) != me {
            self.register_slow(role, me);
        }
    }

    #[cold]
    fn register_slow(&self, role: Role, me: u64) {
        let _g = self
            .registering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let claim = &self.claims[role.index()];
        if claim.identity.load(Ordering::Relaxed) == me {
            return;
        }
        let roles = &self.ring.shared().roles;
        // Only an empty queue can start afresh, so only then is it worth
        // reading `/proc` for the liveness of every registered handle.
        if self.head() == self.tail() {
            self.reclaim_dead(Role::Producer);
            self.reclaim_dead(Role::Consumer);
            self.reclaim_dead_inheritors();
            // (This process's own inheritor entry does not count: it is
            // about to become a registration; nor does a stand-in, there
            // only while some process forks, likely a child that takes no
            // handle of this queue.)
            let unused = [&roles.producers, &roles.consumers, &roles.inheritors]
                .iter()
                .all(|table| {
                    table.iter().all(|w| {
                        let id = w.load(Ordering::Acquire);
                        id == 0
                            || (std::ptr::eq(*table, &roles.inheritors)
                                && (id >> 32 == me >> 32 || is_stand_in(id)))
                    })
                });
            if unused && self.head() == self.tail() {
                // Nobody uses the queue any more and nothing is left in it:
                // it starts afresh. (Messages left behind mean a producer
                // was here: a consumer that comes after it left must drain
                // them and then hear that it is gone.)
                roles.ever.store(0, Ordering::SeqCst);
                roles.overflow.store(0, Ordering::SeqCst);
            }
        }
        crate::testing::pause_in_register();
        let take = || {
            role.table(roles).iter().position(|w| {
                w.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            })
        };
        let slot = take().or_else(|| {
            // A full table may hold dead processes' slots.
            self.reclaim_dead(role);
            take()
        });
        match slot {
            Some(i) => claim.slot.store(i as u64, Ordering::Relaxed),
            None => {
                roles.overflow.fetch_or(role.bit(), Ordering::SeqCst);
                claim.slot.store(NO_SLOT, Ordering::Relaxed);
            }
        }
        claim.identity.store(me, Ordering::Relaxed);
        roles.ever.fetch_or(role.bit(), Ordering::SeqCst);
        // Only now, registered, does this process stop standing as an
        // inheritor: in between it would be neither, and the other side
        // could find this role gone (as a run of `log_shipper` under load
        // did, 1 time in 2500).
        let _ = self.leave_inheritors();
    }

    /// Gives this handle's slot in `role` back (the handle is dropped) and
    /// wakes the other side, which may now find this role gone.
    fn unregister(&self, role: Role) {
        let claim = &self.claims[role.index()];
        let me = packed_current();
        if claim.identity.load(Ordering::Relaxed) != me {
            return;
        }
        let slot = claim.slot.load(Ordering::Relaxed);
        if let Some(word) = role.table(&self.ring.shared().roles).get(slot as usize) {
            let _ = word.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire);
        }
        self.wake_other_side(role);
    }

    fn wake_other_side(&self, leaving: Role) {
        let shared = self.ring.shared();
        match leaving {
            Role::Producer => shared.not_empty.w.bump_and_wake_all(),
            Role::Consumer => shared.not_full.w.bump_and_wake_all(),
        }
    }

    /// Takes back the slots of `role` whose processes died (reads `/proc`);
    /// wakes the other side if it freed one.
    fn reclaim_dead(&self, role: Role) {
        let mut freed = false;
        for word in role.table(&self.ring.shared().roles) {
            let id = word.load(Ordering::Acquire);
            if id != 0
                && !packed_is_alive(id)
                && word
                    .compare_exchange(id, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                ipc_core::trace_event!(
                    info,
                    queue = %self.object.segment().display_name(),
                    pid = id >> 32,
                    producer = matches!(role, Role::Producer),
                    "freed a dead process's registration"
                );
                freed = true;
            }
        }
        if freed {
            self.wake_other_side(role);
        }
    }

    /// Whether every handle of `role` is gone (see "Disconnection"); `slow`
    /// first takes back the slots of dead processes.
    fn role_gone(&self, role: Role, slow: bool) -> bool {
        let roles = &self.ring.shared().roles;
        let bit = role.bit();
        if roles.ever.load(Ordering::Acquire) & bit == 0
            || roles.overflow.load(Ordering::Acquire) & bit != 0
        {
            return false;
        }
        if slow {
            self.reclaim_dead(role);
            self.reclaim_dead_inheritors();
        }
        role.table(roles)
            .iter()
            .all(|w| w.load(Ordering::Acquire) == 0)
            && !self.inheritors_count()
    }

    /// Whether some inheritor entry counts (see `inheritor_counts`). While
    /// `inheritors_added` is 0 the table is empty and is not read; a caller
    /// that finds every entry 0 sets it back to 0, unless an entry was
    /// added meanwhile (an adder bumps it after adding, so the compare
    /// fails then).
    fn inheritors_count(&self) -> bool {
        let roles = &self.ring.shared().roles;
        let added = roles.inheritors_added.load(Ordering::SeqCst);
        if added == 0 {
            return false;
        }
        let me = packed_current();
        let mut empty = true;
        let mut counts = false;
        for w in &roles.inheritors {
            let id = w.load(Ordering::SeqCst);
            empty &= id == 0;
            counts |= self.inheritor_counts(id, me);
        }
        if empty {
            let _ = roles.inheritors_added.compare_exchange(
                added,
                0,
                Ordering::SeqCst,
                Ordering::Relaxed,
            );
        }
        counts
    }

    /// Whether inheritor entry `id` stands for a process that may still
    /// take up a role: a stand-in, or else not an empty entry, not the
    /// caller (which is here, acting), and not a process already registered
    /// in a role. (The parent records a child after the fork; a quick child
    /// may have registered, and left the table, before that.)
    fn inheritor_counts(&self, id: u64, me: u64) -> bool {
        let roles = &self.ring.shared().roles;
        let pid = id >> 32;
        if is_stand_in(id) {
            // A stand-in holds the place of a process to come (a child
            // being forked, or one a handle was handed off to by name):
            // it counts for everyone, its own process included, as long as
            // that process lives.
            return true;
        }
        id != 0
            && pid != me >> 32
            && !roles
                .producers
                .iter()
                .chain(&roles.consumers)
                .any(|w| w.load(Ordering::Acquire) >> 32 == pid)
    }

    // ----- inheritors (see "Inheritors" above) -----

    /// Spawn hook, in the parent just before a fork: stands this process in
    /// for the child to come (a live entry, so no role looks gone while the
    /// child starts). `false` if the table is full (the child then counts
    /// from its first call, as a named opener does).
    pub(crate) fn inheritor_forking(&self) -> bool {
        let me = stand_in();
        let roles = &self.ring.shared().roles;
        let take = || {
            roles.inheritors.iter().any(|w| {
                w.compare_exchange(0, me, Ordering::SeqCst, Ordering::Acquire)
                    .is_ok()
            })
        };
        let taken = take() || {
            self.reclaim_dead_inheritors();
            take()
        };
        if taken {
            roles.inheritors_added.fetch_add(1, Ordering::SeqCst);
        }
        taken
    }

    /// Spawn hook, in the parent after the fork: `child` takes the place
    /// this process held for it (or a new one, if a registration of this
    /// process removed the stand-in meanwhile); `child` 0 (the fork failed,
    /// or the child took no handle of this queue): the stand-in goes.
    pub(crate) fn inheritor_forked(&self, child: u64) {
        let me = stand_in();
        let table = &self.ring.shared().roles.inheritors;
        let replaced = table.iter().any(|w| {
            w.compare_exchange(me, child, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        if !replaced && child != 0 {
            let _ = table.iter().any(|w| {
                w.compare_exchange(0, child, Ordering::SeqCst, Ordering::Acquire)
                    .is_ok()
            });
        }
        let roles = &self.ring.shared().roles;
        roles.inheritors_added.fetch_add(1, Ordering::SeqCst);
    }

    /// A hand-off by name: this process stands in (as during a fork) for
    /// a process that will open the queue by name and call
    /// [`take_hand_off`](Self::take_hand_off), so that no role looks gone
    /// in between. `false` if the table is full.
    pub(crate) fn hand_off(&self) -> bool {
        self.inheritor_forking()
    }

    /// How many places this process holds for others (stand-ins of
    /// hand-offs, or of forks under way) that have yet to be taken.
    pub(crate) fn hand_offs_held(&self) -> usize {
        let me = stand_in();
        self.ring
            .shared()
            .roles
            .inheritors
            .iter()
            .filter(|w| w.load(Ordering::Acquire) == me)
            .count()
    }

    /// In the process a handle was handed off to: takes the place a
    /// stand-in of process `from` held for it. Whether there was one.
    pub(crate) fn take_hand_off(&self, from: u32) -> bool {
        let me = packed_current();
        let stand_in = u64::from(from) << 32;
        // Handed to itself (unpickled where it was pickled): the place is
        // simply given back.
        let to = if me >> 32 == u64::from(from) { 0 } else { me };
        let taken = self.ring.shared().roles.inheritors.iter().any(|w| {
            w.compare_exchange(stand_in, to, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        if taken && to != 0 {
            self.ring
                .shared()
                .roles
                .inheritors_added
                .fetch_add(1, Ordering::SeqCst);
        }
        taken
    }

    /// This process has chosen a role or dropped the queue: it is no longer
    /// an inheritor (its own entries go; its stand-ins, which hold places
    /// for other processes, stay). Whether it removed one.
    fn leave_inheritors(&self) -> bool {
        let me = packed_current();
        let mut left = false;
        for w in &self.ring.shared().roles.inheritors {
            let id = w.load(Ordering::Acquire);
            // This process's stand-ins hold places for others (a fork under
            // way, a hand-off): they stay.
            if id != 0 && id >> 32 == me >> 32 && !is_stand_in(id) {
                left |= w
                    .compare_exchange(id, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            }
        }
        left
    }

    /// Takes back the inheritor entries of processes that died (reads
    /// `/proc`) or that no longer count (see `inheritor_counts`); wakes both
    /// sides if it freed one.
    fn reclaim_dead_inheritors(&self) {
        let me = packed_current();
        let mut freed = false;
        for w in &self.ring.shared().roles.inheritors {
            let id = w.load(Ordering::Acquire);
            // This process's own entry is not the caller's to reclaim: it
            // goes when this process has registered (`leave_inheritors`);
            // taken earlier, by a registration looking over the tables of
            // an empty queue, the other side could find the role gone in
            // between.
            if id != 0
                && (id >> 32 != me >> 32 || is_stand_in(id))
                && (!self.inheritor_counts(id, me) || !packed_is_alive(id))
                && w.compare_exchange(id, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                freed = true;
            }
        }
        // Wake a side only if what it waits on may now be gone: waking
        // sleepers for nothing makes each of them spin before it sleeps
        // again, and a process that forks often (a test harness, a pool)
        // frees entries often.
        if freed && !self.inheritors_count() {
            let roles = &self.ring.shared().roles;
            for role in [Role::Producer, Role::Consumer] {
                if role
                    .table(roles)
                    .iter()
                    .all(|w| w.load(Ordering::Acquire) == 0)
                {
                    self.wake_other_side(role);
                }
            }
        }
    }

    /// Whether a call that found the queue empty or full should look for
    /// dead peers now: always after a sleep slice ran out (`slow`), else at
    /// most once per [`PEER_CHECK_PERIOD`] (a polling `try_` loop).
    fn peer_check_due(&self, slow: bool) -> bool {
        let now = ipc_core::wait::coarse_now().as_nanos() as u64;
        let next = self.next_peer_check.load(Ordering::Relaxed);
        if !slow && now < next {
            return false;
        }
        self.next_peer_check
            .store(now + PEER_CHECK_PERIOD.as_nanos() as u64, Ordering::Relaxed);
        true
    }

    /// How long a blocked call of this handle spins before it sleeps.
    pub fn spin(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.spin_ns.load(Ordering::Relaxed))
    }

    /// The blocking policy of this handle's calls.
    fn waiter(&self) -> Waiter {
        Waiter::new()
            .spin(self.spin())
            .check_peers_every(PEER_CHECK_PERIOD)
    }

    /// Sets [`spin`](Self::spin).
    pub fn set_spin(&self, spin: std::time::Duration) {
        let ns = u64::try_from(spin.as_nanos()).unwrap_or(u64::MAX);
        self.spin_ns.store(ns, Ordering::Relaxed);
    }

    /// A second handle on the same queue (for a forked child, for example).
    pub fn try_clone(&self) -> Result<Self> {
        let object = self.object.try_clone()?;
        let clone = Self::wrap(object, self.ring.geometry, false);
        clone.set_spin(self.spin());
        Ok(clone)
    }

    /// The segment beneath.
    pub fn object(&self) -> &ObjectSegment {
        &self.object
    }

    // ----- the locks and recovery -----

    /// Takes the producer or the consumer lock as `deadline` allows,
    /// repairing that side first if its previous holder died. `Ok(None)`
    /// once the deadline passed with the lock still held by another
    /// process (running, stopped, or wedged): a call's deadline covers its
    /// locks too. A call that is not to wait ([`Deadline::Now`]) still
    /// waits out a hand-off between two busy processes, up to [`SPIN_FOR`].
    fn lock(&self, side: Side, deadline: Deadline) -> Result<Option<RobustMutexGuard<'_, ()>>> {
        let shared = self.ring.shared();
        let lock = match side {
            Side::Producer => &shared.producer_lock,
            Side::Consumer => &shared.consumer_lock,
        };
        match lock.lock_robust_deadline(deadline) {
            Ok(g) => Ok(Some(g)),
            Err(LockError::OwnerDied(g)) => {
                ipc_core::trace_event!(
                    warn,
                    queue = %self.object.segment().display_name(),
                    side = match side {
                        Side::Producer => "producer",
                        Side::Consumer => "consumer",
                    },
                    "a queue lock holder died; repairing its side"
                );
                match side {
                    Side::Producer => self.recover_tail_side()?,
                    Side::Consumer => self.recover_head_side()?,
                }
                RobustMutex::mark_consistent(&g);
                Ok(Some(g))
            }
            Err(LockError::Corrupted(e)) => Err(e.into()),
            Err(LockError::Timeout | LockError::WouldBlock) => Ok(None),
        }
    }

    fn head(&self) -> u64 {
        self.ring.shared().head.head.load(Ordering::Acquire)
    }

    fn tail(&self) -> u64 {
        self.ring.shared().tail.tail.load(Ordering::Acquire)
    }

    /// Checks that `tail - head` fits the ring: the one invariant a
    /// scribbled index breaks.
    fn check_window(&self, h: u64, t: u64) -> Result<()> {
        if t.wrapping_sub(h) > self.ring.geometry.capacity {
            return Err(Error::corrupted(format!(
                "queue indices out of range: head {h}, tail {t}"
            )));
        }
        Ok(())
    }

    /// Producer side, after a producer died holding the producer lock: every
    /// slot at or beyond `tail` is outside the window, where only EMPTY and
    /// live HELD slots belong (a claim that died before advancing `tail`
    /// leaves WRITING there).
    fn recover_tail_side(&self) -> Result<()> {
        let (h, t) = (self.head(), self.tail());
        self.check_window(h, t)?;
        for pos in t..h.wrapping_add(self.ring.geometry.capacity) {
            let slot = self.ring.slot(pos);
            let s = slot.state.load(Ordering::Acquire);
            let keep = s == state::EMPTY
                || (s == state::HELD && alive(slot.owner.load(Ordering::Relaxed)));
            if !keep {
                slot.state.store(state::EMPTY, Ordering::Release);
            }
        }
        self.ring.shared().not_full.w.notify_all();
        Ok(())
    }

    /// Consumer side, after a consumer died holding the consumer lock: claims
    /// it left inside the window become messages again.
    fn recover_head_side(&self) -> Result<()> {
        let (h, t) = (self.head(), self.tail());
        self.check_window(h, t)?;
        for pos in h..t {
            let slot = self.ring.slot(pos);
            let s = slot.state.load(Ordering::Acquire);
            // A guard claim interrupted before head moved was not delivered;
            // a dead copier's claim goes back to READY as well.
            let dead = !alive(slot.owner.load(Ordering::Relaxed));
            if s == state::HELD || (s == state::COPYING && dead) {
                slot.state.store(state::READY, Ordering::Release);
            }
        }
        self.ring.shared().not_empty.w.notify_all();
        Ok(())
    }

    // ----- producing -----

    /// Reserves up to `want` consecutive slots at the tail, each with room
    /// for a frame of `frame` bytes (in the byte ring, if the queue has one).
    /// `slow` enables liveness checks of slots held by other processes.
    fn claim_put(&self, want: u64, frame: usize, slow: bool, deadline: Deadline) -> Result<Claim> {
        let shared = self.ring.shared();
        let Some(_g) = self.lock(Side::Producer, deadline)? else {
            return Ok(None);
        };
        if shared.flags.closed.load(Ordering::Acquire) != 0 {
            return Err(Error::Disconnected);
        }
        let cap = self.ring.geometry.capacity;
        let t = self.tail();
        let mut h = self.cached_head.load(Ordering::Relaxed);
        let used = t.wrapping_sub(h);
        if used > cap || cap - used < want {
            h = self.head();
            self.cached_head.store(h, Ordering::Relaxed);
        }
        self.check_window(h, t)?;
        let me = packed_current();
        let mut slow = slow;
        let n = loop {
            let free = cap - t.wrapping_sub(h);
            let mut n = 0;
            while n < want.min(free) {
                let slot = self.ring.slot(t.wrapping_add(n));
                // Beyond the tail only EMPTY and HELD are legitimate; anything
                // else was left by a process that died between two steps.
                let held = slot.state.load(Ordering::Acquire) == state::HELD;
                if held && (!slow || alive(slot.owner.load(Ordering::Relaxed))) {
                    break;
                }
                if self.ring.geometry.has_ring() {
                    let mut placed = self.claim_bytes(t.wrapping_add(n), h, frame, slow)?;
                    if placed.is_none() {
                        // The cached head may be behind: frames consumed since
                        // (into receive guards, say) count as in flight. Look
                        // again with the real one before waiting for room.
                        let fresh = self.head();
                        if fresh != h {
                            h = fresh;
                            self.cached_head.store(h, Ordering::Relaxed);
                            placed = self.claim_bytes(t.wrapping_add(n), h, frame, slow)?;
                        }
                    }
                    if placed.is_none() {
                        break;
                    }
                }
                slot.owner.store(me, Ordering::Relaxed);
                slot.state.store(state::WRITING, Ordering::Release);
                n += 1;
            }
            if n == 0 && !slow && self.peer_check_due(false) {
                // About to look for dead peers: first take back what dead
                // processes hold (a killed guard's slot and its bytes),
                // which may be all the room there is.
                slow = true;
                continue;
            }
            break n;
        };
        if n == 0 {
            // As for gets: a consumer that took messages and then left made
            // room first, so the head read again after seeing it gone tells
            // whether there is room now (then the next round claims it).
            if self.role_gone(Role::Consumer, slow) && self.head() == h {
                ipc_core::trace_event!(
                    debug,
                    queue = %self.object.segment().display_name(),
                    "every consumer is gone: put reports Disconnected"
                );
                return Err(Error::Disconnected);
            }
            return Ok(None);
        }
        shared.tail.unfinished.fetch_add(n, Ordering::Relaxed);
        shared.tail.tail.store(t.wrapping_add(n), Ordering::Release);
        Ok(Some((t, n)))
    }

    // ----- the byte ring (see layout.rs) -----

    /// Byte ring: the oldest slot position at or after `reclaimed` whose
    /// frame may still be in use, for a claim at slot position `p` with
    /// `h` a head no newer than the real one. A slot's bytes are free once
    /// it is EMPTY, or, before the head (consumed), unless a live receive
    /// guard holds it (a dead one's, if `slow`) - the same rule as a claim's
    /// at the tail.
    fn first_in_use(&self, p: u64, h: u64, slow: bool) -> Result<u64> {
        let cap = self.ring.geometry.capacity;
        let mut r = self.ring.shared().tail.reclaimed.load(Ordering::Acquire);
        if p.wrapping_sub(r) > cap {
            return Err(Error::corrupted(format!(
                "byte ring reclaim position {r} out of range (tail {p})"
            )));
        }
        while r != p {
            let slot = self.ring.slot(r);
            let s = slot.state.load(Ordering::Acquire);
            let consumed = (h.wrapping_sub(r) as i64) > 0;
            let free = s == state::EMPTY
                || (consumed
                    && (s != state::HELD || (slow && !alive(slot.owner.load(Ordering::Relaxed)))));
            if !free {
                break;
            }
            r = r.wrapping_add(1);
        }
        Ok(r)
    }

    /// Byte ring: where a frame of `frame` bytes would go for a claim at
    /// slot position `p`, given `r` from [`first_in_use`](Self::first_in_use):
    /// `None` if the slots or the bytes are not free yet.
    fn place(&self, p: u64, r: u64, frame: usize) -> Result<Option<u64>> {
        let g = &self.ring.geometry;
        if p.wrapping_sub(r) >= g.capacity {
            // The slot p would reuse still holds the bytes of position p - capacity.
            return Ok(None);
        }
        let head = self.ring.shared().tail.data_head.load(Ordering::Acquire);
        let oldest = if r == p {
            head
        } else {
            self.ring.frame_start(r)
        };
        let used = head.wrapping_sub(oldest);
        let size = g.ring_bytes;
        if used > size || !head.is_multiple_of(g.unit as u64) {
            return Err(Error::corrupted(format!(
                "byte ring positions out of range: oldest {oldest}, head {head}"
            )));
        }
        let need = g.reservation(frame);
        let off = head % size;
        let pad = if off + need > size { size - off } else { 0 };
        // The padding is free space too when no frame is in use.
        let room = if r == p { need } else { used + pad + need };
        Ok((room <= size).then_some(head + pad))
    }

    /// Byte ring, under the producer lock: gives back the bytes of finished
    /// slots, then reserves `frame` bytes for the slot at position `p` and
    /// records where. `None`: no room yet.
    fn claim_bytes(&self, p: u64, h: u64, frame: usize, slow: bool) -> Result<Option<()>> {
        let tail = &self.ring.shared().tail;
        let r = self.first_in_use(p, h, slow)?;
        tail.reclaimed.store(r, Ordering::Release);
        let Some(at) = self.place(p, r, frame)? else {
            return Ok(None);
        };
        self.ring.set_frame(p, at, frame as u64);
        // Any prefix of this is harmless: bytes reserved past the last
        // claimed slot are given back once `reclaimed` reaches the tail.
        tail.data_head.store(
            at + self.ring.geometry.reservation(frame),
            Ordering::Release,
        );
        Ok(Some(()))
    }

    /// Byte ring: bytes in use now (racy, for reports); 0 without a ring or
    /// when the words read make no sense.
    fn ring_used(&self) -> u64 {
        if !self.ring.geometry.has_ring() {
            return 0;
        }
        let (h, t) = (self.head(), self.tail());
        let head = self.ring.shared().tail.data_head.load(Ordering::Acquire);
        match self.first_in_use(t, h, false) {
            Ok(r) if r != t => head
                .wrapping_sub(self.ring.frame_start(r))
                .min(self.ring.geometry.ring_bytes),
            _ => 0,
        }
    }

    /// Wakes producers waiting for room after `n` slots were freed. With a
    /// byte ring every waiter looks again: the bytes freed may fit one
    /// waiter's frame and not another's.
    #[inline]
    fn wake_producers(&self, n: u32) {
        let n = if self.ring.geometry.has_ring() {
            u32::MAX
        } else {
            n
        };
        self.ring.shared().not_full.w.notify(n);
    }

    /// Publishes the reserved slot at `pos` holding `len` bytes.
    #[inline]
    pub fn commit(&self, pos: u64, len: usize) {
        let slot = self.ring.slot(pos);
        slot.len.store(len as u32, Ordering::Relaxed);
        // SeqCst: orders the commit before the sleeper check in `wake`.
        slot.state.store(state::READY, Ordering::SeqCst);
    }

    /// Wakes consumers after commits.
    #[inline]
    pub fn committed(&self) {
        self.ring.shared().not_empty.w.notify(1);
    }

    /// Gives a reservation back. The newest reservation is simply undone;
    /// an older one is marked SKIP, and consumers step over it.
    pub fn abandon(&self, pos: u64) {
        let shared = self.ring.shared();
        // Bounded: a drop must not hang on a stopped lock holder; without
        // the lock the slot is simply marked SKIP below.
        if let Ok(Some(_g)) = self.lock(Side::Producer, Deadline::after(PEER_CHECK_PERIOD)) {
            let slot = self.ring.slot(pos);
            if self.tail() == pos.wrapping_add(1)
                && slot.state.load(Ordering::Acquire) == state::WRITING
            {
                // Move the tail back first: a consumer that then sees the
                // slot EMPTY re-reads the tail and finds it outside the window.
                shared.tail.tail.store(pos, Ordering::SeqCst);
                if self.ring.geometry.has_ring() {
                    // Its bytes go back too (any padding before them stays
                    // taken until the ring drains).
                    if let Ok(at) = self.ring.locate(pos) {
                        let start = self.ring.frame_start(pos);
                        let end = start + self.ring.geometry.reservation(at.cap());
                        let _ = shared.tail.data_head.compare_exchange(
                            end,
                            start,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                    }
                }
                slot.state.store(state::EMPTY, Ordering::SeqCst);
                self.finish_tasks(1);
                self.wake_producers(1);
                return;
            }
        }
        self.ring
            .slot(pos)
            .state
            .store(state::SKIP, Ordering::SeqCst);
        self.committed();
    }

    /// Reserves between 1 and `want` slots, each with room for `frame`
    /// bytes, waiting for room until `deadline`.
    pub fn reserve(&self, want: u64, frame: usize, deadline: Deadline) -> Result<(u64, u64)> {
        self.register(Role::Producer);
        let room = self
            .ring
            .shared()
            .not_full
            .w
            .until(|_| self.has_room(frame));
        self.waiter()
            .block(&room, deadline, |check| {
                self.claim_put(want, frame, check == Check::Slow, deadline)
            })?
            .ok_or_else(|| expired(deadline, Error::Full))
    }

    /// [`reserve`](Self::reserve) without blocking the thread: the future
    /// waits through the process's reactor (see `ipc_core::wait::Ready`).
    pub async fn reserve_async(&self, want: u64, frame: usize) -> Result<(u64, u64)> {
        self.register(Role::Producer);
        let room = self
            .ring
            .shared()
            .not_full
            .w
            .until(|_| self.has_room(frame));
        Ready::new(&room, |check| {
            self.claim_put(want, frame, check == Check::Slow, Deadline::Now)
        })
        .await
    }

    /// One poll of a reservation of up to `want` slots, for hand-written
    /// futures (a `Sink`): waits through `state` (see `reserve_async`).
    #[cfg(feature = "futures")]
    pub fn poll_reserve(
        &self,
        state: &mut WaitState,
        cx: &mut std::task::Context<'_>,
        want: u64,
        frame: usize,
    ) -> std::task::Poll<Result<(u64, u64)>> {
        self.register(Role::Producer);
        let room = self
            .ring
            .shared()
            .not_full
            .w
            .until(|_| self.has_room(frame));
        state.poll(&room, cx, |check| {
            self.claim_put(want, frame, check == Check::Slow, Deadline::Now)
        })
    }

    /// Withdraws a producer's wait (the owner of `state` is dropped).
    #[cfg(feature = "futures")]
    pub fn cancel_reserve(&self, state: &mut WaitState) {
        state.cancel(&self.ring.shared().not_full.w.until(|_| true));
    }

    /// Whether a producer could claim a slot for a frame of `frame` bytes
    /// right now (racy; for waiting). A corrupted byte ring counts as room:
    /// the claim then reports it.
    fn has_room(&self, frame: usize) -> bool {
        let (h, t) = (self.head(), self.tail());
        let bytes = || {
            !self.ring.geometry.has_ring()
                || self
                    .first_in_use(t, h, false)
                    .and_then(|r| self.place(t, r, frame))
                    .map_or(true, |at| at.is_some())
        };
        self.is_closed()
            || (t.wrapping_sub(h) < self.ring.geometry.capacity
                && self.ring.slot(t).state.load(Ordering::SeqCst) != state::HELD
                && bytes())
            || self.role_gone(Role::Consumer, false)
    }

    // ----- consuming -----

    /// Claims up to `want` READY slots from head: as COPYING (`hold = false`,
    /// head stays) or HELD (`hold = true`, head advances now).
    fn claim_get(&self, want: u64, hold: bool, slow: bool, deadline: Deadline) -> Result<Claim> {
        let shared = self.ring.shared();
        let Some(_g) = self.lock(Side::Consumer, deadline)? else {
            return Ok(None);
        };
        let me = packed_current();
        // Consumers that finished a copy advance `head` without the lock
        // (over EMPTY slots), so a look at a slot can be overtaken: each
        // time it may have been, the claim starts again from the real head.
        'claim: loop {
            let mut h = self.head();
            let mut t = self.cached_tail.load(Ordering::Relaxed);
            let avail = t.wrapping_sub(h);
            if avail < want || avail > self.ring.geometry.capacity {
                t = self.tail();
                self.cached_tail.store(t, Ordering::Relaxed);
            }
            self.check_window(h, t)?;
            // Only the slow form looks whether the owner of a claimed slot at
            // the head died (a read of `/proc`, under the consumer lock). A
            // caller that waits on its own (the Python binding) calls
            // `recover_head` for it.
            let dead = |owner: u64| slow && !alive(owner);
            // Step over what needs no consumer: abandoned reservations, finished
            // copies whose consumer has not advanced head, dead producers' slots.
            while h != t {
                let slot = self.ring.slot(h);
                let s = slot.state.load(Ordering::Acquire);
                if matches!(s, state::WRITING | state::COPYING) {
                    crate::testing::pause_in_claim();
                }
                let step = match s {
                    state::SKIP => true,
                    state::WRITING if dead(slot.owner.load(Ordering::Relaxed)) => {
                        ipc_core::trace_event!(
                            warn,
                            queue = %self.object.segment().display_name(),
                            producer = slot.owner.load(Ordering::Relaxed) >> 32,
                            "stepped over a slot its producer died writing"
                        );
                        true
                    }
                    state::COPYING if dead(slot.owner.load(Ordering::Relaxed)) => {
                        ipc_core::trace_event!(
                            warn,
                            queue = %self.object.segment().display_name(),
                            consumer = slot.owner.load(Ordering::Relaxed) >> 32,
                            "a consumer died copying a message; it is delivered again"
                        );
                        slot.state.store(state::READY, Ordering::Release);
                        break;
                    }
                    // Inside the window, EMPTY means a copy finished and its
                    // consumer has yet to advance head - unless the producer
                    // just gave back its newest reservation, which moved the
                    // tail first: re-read it after seeing the state.
                    state::EMPTY => {
                        t = self.tail();
                        if h.wrapping_sub(t) as i64 >= 0 {
                            break;
                        }
                        false
                    }
                    s if s > state::SKIP => {
                        return Err(Error::corrupted(format!(
                            "slot state {s:#x} is not a state"
                        )));
                    }
                    _ => break,
                };
                if step {
                    slot.state.store(state::EMPTY, Ordering::Release);
                    self.finish_tasks(1);
                }
                if shared
                    .head
                    .head
                    .compare_exchange(h, h.wrapping_add(1), Ordering::SeqCst, Ordering::Relaxed)
                    .is_err()
                {
                    // A finishing consumer advanced it first.
                    continue 'claim;
                }
                h = h.wrapping_add(1);
                self.wake_producers(1);
            }
            let mut n = 0;
            while n < want && h.wrapping_add(n) != t {
                let slot = self.ring.slot(h.wrapping_add(n));
                if slot.state.load(Ordering::Acquire) != state::READY {
                    break;
                }
                if n == 0 && self.head() != h {
                    // While this claim looked at the slots, a finishing consumer
                    // moved `head` past `h` (over slots it had emptied), so this
                    // READY slot may hold a later lap's message, at `h + capacity`:
                    // claiming it as `h` would deliver it out of order. Head is
                    // read after the state: equal, no later lap can be there
                    // (a producer fills `h + capacity` only once head passed `h`).
                    continue 'claim;
                }
                slot.owner.store(me, Ordering::Relaxed);
                slot.state.store(
                    if hold { state::HELD } else { state::COPYING },
                    Ordering::Release,
                );
                n += 1;
            }
            if n == 0 {
                let closed = shared.flags.closed.load(Ordering::SeqCst) != 0;
                if closed && h == self.tail() {
                    return Err(Error::Disconnected);
                }
                if h == self.tail() {
                    crate::testing::pause_before_role_check();
                    // A producer's puts precede its leaving (release), which
                    // `role_gone` sees (acquire): the tail read again after it
                    // shows what a producer put between the first look and its
                    // departure, so those messages are drained first.
                    if self.role_gone(Role::Producer, self.peer_check_due(slow)) && h == self.tail()
                    {
                        ipc_core::trace_event!(
                            debug,
                            queue = %self.object.segment().display_name(),
                            "every producer is gone: get reports Disconnected"
                        );
                        return Err(Error::Disconnected);
                    }
                }
                return Ok(None);
            }
            if hold {
                shared.head.head.store(h.wrapping_add(n), Ordering::Release);
            }
            return Ok(Some((h, n)));
        }
    }

    /// The slow form of a claim that takes nothing: steps over what dead
    /// processes left at the head (a producer's WRITING slot, turned into
    /// nothing; a consumer's COPYING slot, turned back into a message),
    /// as a blocked get does once per peer check period. `Disconnected` if
    /// the queue is empty and its producers are gone.
    pub fn recover_head(&self) -> Result<()> {
        self.register(Role::Consumer);
        self.claim_get(0, false, true, Deadline::Now).map(drop)
    }

    /// Claims between 1 and `want` messages, waiting until `deadline`.
    pub fn acquire(&self, want: u64, hold: bool, deadline: Deadline) -> Result<(u64, u64)> {
        self.register(Role::Consumer);
        let messages = self.ring.shared().not_empty.w.until(|_| self.is_ready());
        self.waiter()
            .block(&messages, deadline, |check| {
                self.claim_get(want, hold, check == Check::Slow, deadline)
            })?
            .ok_or_else(|| expired(deadline, Error::Empty))
    }

    /// [`acquire`](Self::acquire) without blocking the thread: the future
    /// waits through the process's reactor (see `ipc_core::wait::Ready`).
    pub async fn acquire_async(&self, want: u64, hold: bool) -> Result<(u64, u64)> {
        self.register(Role::Consumer);
        let messages = self.ring.shared().not_empty.w.until(|_| self.is_ready());
        Ready::new(&messages, |check| {
            self.claim_get(want, hold, check == Check::Slow, Deadline::Now)
        })
        .await
    }

    /// One poll of a claim of up to `want` messages, for hand-written
    /// futures (a `Stream`): waits through `state` (see `acquire_async`).
    #[cfg(feature = "futures")]
    pub fn poll_acquire(
        &self,
        state: &mut WaitState,
        cx: &mut std::task::Context<'_>,
        want: u64,
        hold: bool,
    ) -> std::task::Poll<Result<(u64, u64)>> {
        self.register(Role::Consumer);
        let messages = self.ring.shared().not_empty.w.until(|_| self.is_ready());
        state.poll(&messages, cx, |check| {
            self.claim_get(want, hold, check == Check::Slow, Deadline::Now)
        })
    }

    /// Withdraws a consumer's wait (the owner of `state` is dropped).
    #[cfg(feature = "futures")]
    pub fn cancel_acquire(&self, state: &mut WaitState) {
        state.cancel(&self.ring.shared().not_empty.w.until(|_| true));
    }

    /// Finishes a copying claim of `[pos, pos + n)`: frees the slots and
    /// advances head over them (the commit of a get).
    pub fn release_copied(&self, pos: u64, n: u64) {
        let shared = self.ring.shared();
        for i in 0..n {
            self.ring
                .slot(pos.wrapping_add(i))
                .state
                .store(state::EMPTY, Ordering::Release);
        }
        let end = pos.wrapping_add(n);
        let head = &shared.head.head;
        let mut cur = head.load(Ordering::SeqCst);
        // Advance over our EMPTY slots; another consumer (under the lock) may
        // advance over some of them first, which is just as good.
        while (end.wrapping_sub(cur) as i64) > 0
            && self.ring.slot(cur).state.load(Ordering::Acquire) == state::EMPTY
        {
            match head.compare_exchange(
                cur,
                cur.wrapping_add(1),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => cur = cur.wrapping_add(1),
                Err(now) => cur = now,
            }
        }
        self.wake_producers(if n > 1 { u32::MAX } else { 1 });
        // Consumers that stalled behind our claim may proceed.
        if shared.not_empty.w.has_sleepers() && self.tail() != end {
            shared.not_empty.w.notify(1);
        }
    }

    /// Gives back a copying claim untouched (the frame did not fit the caller's buffer).
    pub fn unclaim(&self, pos: u64, n: u64) {
        for i in 0..n {
            self.ring
                .slot(pos.wrapping_add(i))
                .state
                .store(state::READY, Ordering::SeqCst);
        }
        self.committed();
    }

    /// Frees a HELD slot (a receive guard was dropped).
    pub fn release_held(&self, pos: u64) {
        self.ring
            .slot(pos)
            .state
            .store(state::EMPTY, Ordering::SeqCst);
        self.wake_producers(1);
    }

    // ----- close, length, tasks -----

    /// Closes the queue: puts fail, gets drain and then report Disconnected.
    pub fn close(&self) -> Result<()> {
        let shared = self.ring.shared();
        {
            // Under the producer lock: no claim at the tail is halfway through.
            let _g = self.lock(Side::Producer, Deadline::Forever)?;
            shared.flags.closed.store(1, Ordering::SeqCst);
        }
        for line in [&shared.not_empty, &shared.not_full, &shared.all_done] {
            line.w.bump_and_wake_all();
        }
        Ok(())
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.ring.shared().flags.closed.load(Ordering::Acquire) != 0
    }

    /// Messages in flight (approximate while others operate).
    pub fn len(&self) -> usize {
        self.tail()
            .wrapping_sub(self.head())
            .min(self.ring.geometry.capacity) as usize
    }

    /// Marks `n` tasks done (for JoinableQueue).
    pub fn finish_tasks(&self, n: u64) -> bool {
        let shared = self.ring.shared();
        let u = &shared.tail.unfinished;
        let mut cur = u.load(Ordering::Acquire);
        loop {
            if cur < n {
                return false;
            }
            match u.compare_exchange_weak(cur, cur - n, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur == n {
            shared.all_done.w.bump(u32::MAX);
        }
        true
    }

    /// Waits until every put message has been marked done, or `deadline`.
    pub fn join_tasks(&self, deadline: Deadline) -> Result<()> {
        let shared = self.ring.shared();
        let done = || shared.tail.unfinished.load(Ordering::SeqCst) == 0;
        self.waiter()
            .block(&shared.all_done.w.until(|_| done()), deadline, |_| {
                Ok::<_, Error>(done().then_some(()))
            })?
            .ok_or(Error::Timeout)
    }

    /// Messages put but not yet marked done.
    pub fn unfinished(&self) -> u64 {
        self.ring.shared().tail.unfinished.load(Ordering::Acquire)
    }
}

impl Waitable for RawQueue {
    fn ready_word(&self) -> &AtomicU32 {
        self.ring.shared().not_empty.w.word()
    }

    fn sleepers(&self) -> &AtomicU32 {
        self.ring.shared().not_empty.w.sleepers()
    }

    fn is_ready(&self) -> bool {
        let (h, t) = (self.head(), self.tail());
        if h == t {
            return self.is_closed() || self.role_gone(Role::Producer, false);
        }
        matches!(
            self.ring.slot(h).state.load(Ordering::SeqCst),
            state::READY | state::SKIP | state::EMPTY
        )
    }

    fn check_peer(&self) -> bool {
        let (h, t) = (self.head(), self.tail());
        if h == t {
            return self.role_gone(Role::Producer, true);
        }
        let slot = self.ring.slot(h);
        matches!(
            slot.state.load(Ordering::SeqCst),
            state::WRITING | state::COPYING
        ) && !alive(slot.owner.load(Ordering::Relaxed))
    }
}

impl Drop for RawQueue {
    fn drop(&mut self) {
        if !self.inspecting && self.leave_inheritors() {
            // An inheritor that leaves may have been the last possible user.
            self.wake_other_side(Role::Producer);
            self.wake_other_side(Role::Consumer);
        }
        self.unregister(Role::Producer);
        self.unregister(Role::Consumer);
    }
}
