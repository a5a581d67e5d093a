//! [`Inner`]: the handle set shared by all handles of one open manager in
//! one process, and its reader-slot registry in the root.
//!
//! A reader slot's claim word holds its owner's process identity, packed
//! in one word as everywhere in the toolkit (`pid << 32 | start time`, see
//! `ipc_core::liveness::packed_current`; 0: free), with the handle set's id
//! as a nonce beside it. One atomic load reads a whole identity, so a reused
//! pid is never taken for the dead owner. A slot whose owner died (SIGKILL
//! while pinned) is taken back by a CAS of that word to [`CLEANING`]: a dead
//! process never claims again, so a word that still names it can only be
//! its own claim, and a slot claimed by someone else in between is never
//! disturbed. See `epoch` for what the slots are for.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ipc_core::liveness::{packed_current, packed_is_alive};
use ipc_core::segment::Segment;

use crate::error::{Error, Result};
use crate::storage::arena::{Arena, Backing};
use crate::storage::layout::{MAX_SEGMENTS, READER_SLOTS, ReaderSlot, Root};

/// The claim word of a slot being cleaned up after its dead owner (no
/// packed identity is all ones: pids stay below 2^31).
const CLEANING: u64 = u64::MAX;

/// Numbers handle sets within this process (thread-local slot records are
/// keyed by it).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Removes the additional segments of a named manager once its root is gone
/// (declared after the arena in [`Inner`], so it runs after the root
/// segment's own drop decided whether to remove the root).
#[derive(Debug, Default)]
struct Cleanup {
    armed: Option<(Backing, usize, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some((backing, count, root)) = self.armed.take() else {
            return;
        };
        let root_gone = match &backing {
            Backing::Named(_) => !Segment::exists(&root).unwrap_or(true),
            Backing::File(p) => !p.exists(),
            Backing::Anonymous => false,
        };
        if root_gone {
            for n in 1..count {
                let _ = backing.remove_segment(n);
            }
        }
    }
}

/// Everything a handle needs, shared by all handles of one open manager in
/// one process.
pub(crate) struct Inner {
    pub(crate) arena: Arena,
    /// Process-local id of this handle set.
    pub(crate) id: u64,
    /// The hash seed (copied from the root, where it never changes).
    pub(crate) seed: [u64; 2],
    /// The pid of the process that created (and may remove) the manager,
    /// if it was this handle set that created it.
    creator_pid: Option<u32>,
    last_liveness_check: Mutex<Option<Instant>>,
    cleanup: Cleanup,
    /// How long a write waits for the writer mutex, in nanoseconds
    /// (`u64::MAX`: for ever).
    write_timeout_ns: AtomicU64,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("arena", &self.arena)
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.release_all_slots();
        let me = std::process::id();
        if self.creator_pid == Some(me) {
            let count = self
                .arena
                .root()
                .state
                .seg_count
                .load(Ordering::Acquire)
                .min(MAX_SEGMENTS as u64) as usize;
            let root_name = match self.arena.backing() {
                Backing::Named(n) => n.clone(),
                _ => String::new(),
            };
            self.cleanup.armed = Some((self.arena.backing().clone(), count, root_name));
        } else {
            // A forked child (or an opener) never removes the manager.
            self.arena
                .root_segment_mut()
                .segment_mut()
                .set_unlink_on_drop(false);
        }
    }
}

impl Inner {
    /// A handle set over `arena`; `created` when this process created the
    /// manager (and so may remove it).
    pub(crate) fn new(arena: Arena, created: bool) -> Arc<Self> {
        let root = arena.root();
        let seed = [
            root.seed[0].load(Ordering::Relaxed),
            root.seed[1].load(Ordering::Relaxed),
        ];
        Arc::new(Inner {
            arena,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            seed,
            creator_pid: created.then(std::process::id),
            last_liveness_check: Mutex::new(None),
            cleanup: Cleanup::default(),
            write_timeout_ns: AtomicU64::new(u64::MAX),
        })
    }

    /// Sets how long writes through this handle set wait for the writer
    /// mutex (`None`: for ever).
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) {
        let ns = timeout.map_or(u64::MAX, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX - 1)
        });
        self.write_timeout_ns.store(ns, Ordering::Relaxed);
    }

    /// How long writes wait for the writer mutex (`None`: for ever).
    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        match self.write_timeout_ns.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Whether this handle set created the manager.
    pub(crate) fn was_created(&self) -> bool {
        self.creator_pid == Some(std::process::id())
    }

    /// Whether a (rate-limited) liveness check of reader slots may run now.
    pub(crate) fn liveness_check_due(&self, every: Duration) -> bool {
        let mut last = self
            .last_liveness_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        due(&mut last, every)
    }

    pub(crate) fn root(&self) -> &Root {
        self.arena.root()
    }
}

/// Whether the process owning `slot` is certainly gone.
fn owner_is_dead(slot: &ReaderSlot) -> bool {
    let claim = slot.claim.load(Ordering::Acquire);
    if claim == 0 || claim == CLEANING {
        return false;
    }
    !packed_is_alive(claim) && slot.claim.load(Ordering::Acquire) == claim
}

/// Frees `slot` if its claim is still `claim` (a dead owner's). Only the
/// CAS winner touches the slot's epoch.
fn clean_dead(slot: &ReaderSlot, claim: u64) -> bool {
    if slot
        .claim
        .compare_exchange(claim, CLEANING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    slot.epoch.store(0, Ordering::Release);
    slot.nonce.store(0, Ordering::Relaxed);
    slot.claim.store(0, Ordering::Release);
    true
}

impl Inner {
    /// Claims a free reader slot for the calling thread.
    pub(crate) fn claim_slot(&self) -> Result<usize> {
        let root = self.arena.root();
        let me = packed_current();
        for attempt in 0..2 {
            for (i, slot) in root.slots.iter().enumerate() {
                if slot.claim.load(Ordering::Acquire) != 0 {
                    continue;
                }
                if slot
                    .claim
                    .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    slot.epoch.store(0, Ordering::Relaxed);
                    slot.nonce.store(self.id, Ordering::Release);
                    root.state.slot_hw.fetch_max(i as u64 + 1, Ordering::AcqRel);
                    return Ok(i);
                }
            }
            if attempt == 0 {
                self.clean_dead_slots(|_| true);
            }
        }
        Err(Error::TooManyReaders)
    }

    /// Gives a slot back (thread exit, last handle dropped).
    pub(crate) fn release_slot(&self, i: usize) {
        let root = self.arena.root();
        let Some(slot) = root.slots.get(i) else {
            return;
        };
        if slot.claim.load(Ordering::Acquire) != packed_current()
            || slot.nonce.load(Ordering::Relaxed) != self.id
        {
            return;
        }
        slot.epoch.store(0, Ordering::Release);
        slot.nonce.store(0, Ordering::Relaxed);
        slot.claim.store(0, Ordering::Release);
    }

    /// Gives back every slot this handle set claimed in this process.
    pub(crate) fn release_all_slots(&self) {
        let root = self.arena.root();
        let hw = root
            .state
            .slot_hw
            .load(Ordering::Acquire)
            .min(READER_SLOTS as u64);
        for i in 0..hw as usize {
            self.release_slot(i);
        }
    }

    /// Frees the slots of dead processes among those `which` selects.
    /// Returns how many were freed.
    pub(crate) fn clean_dead_slots(&self, which: impl Fn(&ReaderSlot) -> bool) -> usize {
        let root = self.arena.root();
        let hw = root
            .state
            .slot_hw
            .load(Ordering::Acquire)
            .min(READER_SLOTS as u64);
        let mut freed = 0;
        for slot in &root.slots[..hw as usize] {
            let claim = slot.claim.load(Ordering::Acquire);
            if which(slot) && owner_is_dead(slot) && clean_dead(slot, claim) {
                ipc_core::trace_event!(
                    info,
                    pid = claim >> 32,
                    "freed the reader slot of a dead process"
                );
                freed += 1;
            }
        }
        freed
    }
}

/// How long ago something happened, for rate limits kept per handle set.
pub(crate) fn due(last: &mut Option<Instant>, every: Duration) -> bool {
    let now = Instant::now();
    match last {
        Some(t) if now.duration_since(*t) < every => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}
