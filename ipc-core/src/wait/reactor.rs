//! The async reactor: one thread per process that sleeps on the futex words
//! of every pending future at once (`futex_waitv`) and wakes the futures
//! whose word was woken.
//!
//! # Why one thread, and why futex words
//!
//! The toolkit's objects signal through futex words in shared memory (see
//! the [module docs](super)); there is no file descriptor to hand to epoll,
//! tokio or smol. A thread per waiting future would cost a thread per
//! object; instead, one lazily started thread per process waits on up to
//! 127 words at a time with `futex_waitv` (Linux 5.16), plus a word of its
//! own (`control`) that registrations bump to make it rebuild its list.
//! Runtimes need nothing of ours: a future registers its [`Waker`], and the
//! reactor calls it. With more than 127 pending futures the reactor watches
//! them in turns of a millisecond.
//!
//! # The protocol
//!
//! A future ([`super::future::Ready`]) snapshots its object's word,
//! announces itself in the object's sleepers count (so the other process
//! issues the wake-up), re-checks readiness, and only then arms its
//! registration with the snapshot: the same order as a blocking sleep, so
//! no wake-up is lost. Registrations are one-shot: the reactor removes an
//! entry when it wakes its waker, and the future re-arms on its next poll if
//! it still has to wait.
//!
//! The reactor never reads the words itself. It holds their addresses only
//! to pass them to the kernel, which validates them; a future dropped (or
//! leaked with `mem::forget`) while registered leaves at worst a stale
//! address, on which the kernel waits or fails with `EFAULT`. So no
//! `unsafe` is needed here: the one system call is in `os::futex`.
//!
//! When the reactor's wait ends without saying which word changed (a word
//! differed from its snapshot when the wait began, a signal, a stale
//! address), or every [`PEER_CHECK_PERIOD`] while futures wait, it wakes
//! every future of the turn: they re-check (the periodic wake-up lets them
//! notice a peer process that died, which wakes nobody).
//!
//! A forked child inherits a copy of the state but not the thread, and the
//! copy's lock may be held (by a thread of the parent, at the fork). So a
//! process uses the reactor of its fork generation (`fork_generation`,
//! counted by the toolkit's `pthread_atfork` handler): a child starts a
//! fresh one and never touches its parent's. (Other locks of a threaded
//! parent, a runtime's say, are the child's problem as with any fork: fork
//! worker processes before starting threads where you can, or start them
//! with `Process::entry`.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::block::PEER_CHECK_PERIOD;
use crate::liveness::{current_pid, fork_generation};
use crate::os::futex::{self, WAIT_ANY_MAX, WaitvEnded};

/// Futures watched per turn (one slot of `futex_waitv` is the control word).
const PER_TURN: usize = WAIT_ANY_MAX - 1;
/// A turn's length when more futures wait than one turn holds.
const TURN: Duration = Duration::from_millis(1);

/// A pending future's entry.
struct Entry {
    addr: u64,
    expected: u32,
    waker: Waker,
    generation: u64,
}

/// The reactor's state, behind its mutex.
struct State {
    /// The process the state belongs to (a forked child starts afresh).
    pid: u32,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    next_generation: u64,
    running: bool,
    /// Where the next turn starts, when one turn cannot hold every entry.
    cursor: usize,
}

/// The process's reactor.
struct Reactor {
    state: Mutex<State>,
    /// Bumped (and woken) when the set of entries changes.
    control: AtomicU32,
}

/// A future's place in the reactor; dropped by [`disarm`].
#[derive(Debug)]
pub(crate) struct Registration {
    slot: usize,
    generation: u64,
    pid: u32,
}

/// Reactors by fork generation (see the module docs): enough that a
/// process never meets one an ancestor used.
const GENERATIONS: usize = 64;

/// This process's reactor: one per fork generation, so that a forked child
/// never touches the reactor its parent was using, whose lock another
/// thread of the parent may have held at the fork (the child's copy of it
/// would stay locked for ever).
fn reactor() -> &'static Reactor {
    static REACTORS: [OnceLock<Reactor>; GENERATIONS] = [const { OnceLock::new() }; GENERATIONS];
    let generation = (fork_generation() % GENERATIONS as u64) as usize;
    REACTORS[generation].get_or_init(|| Reactor {
        state: Mutex::new(State {
            pid: current_pid(),
            entries: Vec::new(),
            free: Vec::new(),
            next_generation: 1,
            running: false,
            cursor: 0,
        }),
        control: AtomicU32::new(0),
    })
}

impl Reactor {
    /// The state, reset if this is a forked child's first use.
    fn lock(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = current_pid();
        if state.pid != pid {
            *state = State {
                pid,
                entries: Vec::new(),
                free: Vec::new(),
                next_generation: 1,
                running: false,
                cursor: 0,
            };
        }
        state
    }

    /// Makes the reactor look at its entries again.
    fn kick(&self) {
        self.control.fetch_add(1, Ordering::SeqCst);
        futex::wake(&self.control, 1);
    }
}

/// Arms (or re-arms) `reg` to wake `waker` once the word at `word` no longer
/// holds `expected` or is woken.
pub(crate) fn arm(reg: &mut Option<Registration>, word: &AtomicU32, expected: u32, waker: &Waker) {
    let r = reactor();
    let addr = word.as_ptr() as u64;
    let mut state = r.lock();
    let pid = state.pid;
    if let Some(existing) = reg.as_ref()
        && existing.pid == pid
        && let Some(Some(entry)) = state.entries.get_mut(existing.slot)
        && entry.generation == existing.generation
    {
        let same = entry.addr == addr && entry.expected == expected;
        if !entry.waker.will_wake(waker) {
            entry.waker = waker.clone();
        }
        entry.addr = addr;
        entry.expected = expected;
        drop(state);
        if !same {
            r.kick();
        }
        return;
    }
    let generation = state.next_generation;
    state.next_generation += 1;
    let entry = Entry {
        addr,
        expected,
        waker: waker.clone(),
        generation,
    };
    let slot = match state.free.pop() {
        Some(slot) => {
            state.entries[slot] = Some(entry);
            slot
        }
        None => {
            state.entries.push(Some(entry));
            state.entries.len() - 1
        }
    };
    *reg = Some(Registration {
        slot,
        generation,
        pid,
    });
    let start = !state.running;
    state.running = true;
    drop(state);
    if start {
        let spawned = std::thread::Builder::new()
            .name("ipc-reactor".into())
            .spawn(|| run(reactor()));
        if spawned.is_err() {
            // No thread: the futures are woken at once and poll again, so
            // they still complete (busily) instead of hanging.
            reactor().lock().running = false;
            waker.wake_by_ref();
        }
    }
    r.kick();
}

/// Removes `reg`'s entry, if it is still there.
pub(crate) fn disarm(reg: &mut Option<Registration>) {
    let Some(reg) = reg.take() else {
        return;
    };
    let mut state = reactor().lock();
    if state.pid != reg.pid {
        return;
    }
    let live = matches!(
        state.entries.get(reg.slot),
        Some(Some(e)) if e.generation == reg.generation
    );
    if live {
        state.entries[reg.slot] = None;
        state.free.push(reg.slot);
    }
}

/// The reactor thread: wait on the control word and one turn of entries,
/// wake what was woken, sweep every [`PEER_CHECK_PERIOD`], and again.
fn run(r: &'static Reactor) {
    let control_addr = r.control.as_ptr() as u64;
    let mut next_sweep = Instant::now() + PEER_CHECK_PERIOD;
    // Reused from turn to turn: the reactor allocates nothing once warm.
    let mut live: Vec<(usize, u64, u64, u32)> = Vec::new();
    let mut turn: Vec<(usize, u64, u64, u32)> = Vec::new();
    let mut words: Vec<(u64, u32)> = Vec::new();
    let mut woken: Vec<Waker> = Vec::new();
    loop {
        let (control, deadline) =
            {
                let mut state = r.lock();
                if !state.running {
                    return;
                }
                let control = r.control.load(Ordering::SeqCst);
                live.clear();
                live.extend(state.entries.iter().enumerate().filter_map(|(i, e)| {
                    e.as_ref().map(|e| (i, e.generation, e.addr, e.expected))
                }));
                let crowded = live.len() > PER_TURN;
                let start = if crowded {
                    state.cursor % live.len()
                } else {
                    0
                };
                turn.clear();
                turn.extend(
                    live.iter()
                        .cycle()
                        .skip(start)
                        .take(live.len().min(PER_TURN))
                        .copied(),
                );
                if crowded {
                    state.cursor = start + PER_TURN;
                }
                let deadline = match (turn.is_empty(), crowded) {
                    (true, _) => None,
                    (false, true) => Some((Instant::now() + TURN).min(next_sweep)),
                    (false, false) => Some(next_sweep),
                };
                (control, deadline)
            };
        words.clear();
        words.push((control_addr, control));
        words.extend(turn.iter().map(|&(_, _, addr, expected)| (addr, expected)));
        let ended = futex::wait_any_addr(&words, deadline);
        let sweep = !turn.is_empty() && Instant::now() >= next_sweep;
        {
            let mut state = r.lock();
            if sweep {
                // Every waiting future looks again (a peer that died wakes
                // nobody), crowded or not.
                next_sweep = Instant::now() + PEER_CHECK_PERIOD;
                for slot in 0..state.entries.len() {
                    let generation = match &state.entries[slot] {
                        Some(e) => e.generation,
                        None => continue,
                    };
                    woken.extend(take(&mut state, slot, generation));
                }
            } else {
                match ended {
                    WaitvEnded::Woken(0) | WaitvEnded::TimedOut => {}
                    WaitvEnded::Woken(i) => {
                        if let Some(&(slot, generation, _, _)) = turn.get(i - 1) {
                            woken.extend(take(&mut state, slot, generation));
                        }
                    }
                    WaitvEnded::Changed if r.control.load(Ordering::SeqCst) != control => {}
                    // A word changed before the wait began, a signal, a
                    // stale address: everyone of the turn looks again.
                    WaitvEnded::Changed | WaitvEnded::Failed => {
                        for &(slot, generation, _, _) in &turn {
                            woken.extend(take(&mut state, slot, generation));
                        }
                    }
                }
            }
        }
        for waker in woken.drain(..) {
            waker.wake();
        }
    }
}

/// Removes the entry in `slot` if it is still of `generation`; its waker.
fn take(state: &mut State, slot: usize, generation: u64) -> Option<Waker> {
    let live = matches!(
        state.entries.get(slot),
        Some(Some(e)) if e.generation == generation
    );
    if !live {
        return None;
    }
    state.free.push(slot);
    state.entries[slot].take().map(|e| e.waker)
}
