//! Where every chunk is between its submission and its last answer: pending
//! in the parent, or in flight in a worker's queue.
//!
//! # Dispatch
//!
//! Each worker has its own task queue, and the parent decides who runs what:
//! a chunk goes to the least-loaded worker that knows its function
//! (`Workers::pick_worker`), and at most [`DEPTH`](crate::workers::DEPTH)
//! chunks wait for a worker at once (one running, the next ready so the
//! worker never idles while the parent is busy). A chunk is written straight
//! into a slot of the worker's queue under a fresh id (unique for the pool's
//! lifetime, never 0), and the parent records it both here (by id) and in
//! the worker's own list. The parent therefore always knows which chunks a
//! worker holds, and nothing is lost when one dies.
//!
//! # Worker death
//!
//! The item a dead worker was running (the chunk id and item index in its
//! shared record) is charged with one attempt; the other unanswered items of
//! its chunk, of the chunks merely queued behind it, and the charged item
//! itself if the retry budget allows, go back to the front of the line, in
//! their order, under new ids: answers still arriving for the old ids are
//! late duplicates and are dropped. An item whose budget is spent is handed
//! back to the caller, and fails alone.

use std::collections::{HashMap, VecDeque};

use zerocopy::IntoBytes;

use crate::jobs::Chunk;
use crate::wire::{TASK_HEADER, TaskHeader};
use crate::workers::Workers;

/// The chunks not yet fully answered: waiting to be sent, or sent.
pub(crate) struct Dispatch {
    pending: VecDeque<Chunk>,
    inflight: HashMap<u64, Chunk>,
    next_chunk: u64,
}

impl Dispatch {
    pub fn new() -> Self {
        Self {
            pending: VecDeque::new(),
            inflight: HashMap::new(),
            next_chunk: 1,
        }
    }

    /// Whether nothing is pending or in flight.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.inflight.is_empty()
    }

    /// Whether chunks wait to be sent.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The function of the oldest pending chunk.
    pub fn next_func(&self) -> Option<u64> {
        self.pending.front().map(|c| c.func)
    }

    /// Queues `chunks` of job `id`, which runs function `func`.
    pub fn queue(&mut self, id: u64, func: u64, chunks: Vec<Chunk>) {
        self.pending.extend(chunks.into_iter().map(|mut c| {
            c.job = id;
            c.func = func;
            c
        }));
    }

    /// Sends the oldest pending chunk to worker `slot` (see
    /// [`send_chunk`](Self::send_chunk)).
    pub fn send_next(
        &mut self,
        workers: &mut Workers,
        slot: usize,
        max_tasks: Option<u64>,
    ) -> Option<Chunk> {
        let chunk = self.pending.pop_front()?;
        self.send_chunk(workers, slot, chunk, max_tasks)
    }

    /// Writes `chunk` into worker `slot`'s queue, in place. A worker that
    /// reaches `max_tasks` chunks is retired. Returns the chunk if it does
    /// not fit its message: its items must fail.
    fn send_chunk(
        &mut self,
        workers: &mut Workers,
        slot: usize,
        mut chunk: Chunk,
        max_tasks: Option<u64>,
    ) -> Option<Chunk> {
        let id = self.next_chunk;
        let Some(w) = workers.get_mut(slot) else {
            self.pending.push_front(chunk);
            return None;
        };
        let header = TaskHeader {
            func: chunk.func,
            chunk: id,
            first: chunk.first as u64,
            count: chunk.count as u32,
            encoding: chunk.encoding,
            stride: chunk.stride,
            _pad: 0,
        };
        let mut loan = match w.tasks.try_loan() {
            Ok(loan) => loan,
            Err(_) => {
                // Cannot happen with DEPTH accounting; if the queue is
                // unusable, replace the worker and send the chunk elsewhere.
                w.retiring = true;
                self.pending.push_front(chunk);
                return None;
            }
        };
        let frame = loan.bytes_mut();
        let (head, body) = frame.split_at_mut(TASK_HEADER);
        head.copy_from_slice(header.as_bytes());
        let written = body.get_mut(..chunk.args.len()).map(|dst| {
            dst.copy_from_slice(&chunk.args);
            chunk.args.len()
        });
        let Some(len) = written else {
            // Sizes are checked at submission; this would be a bug. The
            // caller fails the items rather than send garbage or wait
            // forever.
            drop(loan);
            return Some(chunk);
        };
        loan.commit_bytes(TASK_HEADER + len);
        self.next_chunk += 1;
        w.inflight.push_back(id);
        w.dispatched += 1;
        if max_tasks.is_some_and(|max| w.dispatched >= max) {
            // It exits by itself after this many; replaced once idle.
            w.retiring = true;
        }
        chunk.slot = slot;
        chunk.serial = w.serial;
        self.inflight.insert(id, chunk);
        None
    }

    /// Chunk `id`, while it is in flight.
    pub fn in_flight(&self, id: u64) -> Option<&Chunk> {
        self.inflight.get(&id)
    }

    /// Chunk `id`, while it is in flight, to record answers.
    pub fn in_flight_mut(&mut self, id: u64) -> Option<&mut Chunk> {
        self.inflight.get_mut(&id)
    }

    /// Removes chunk `id` from the chunks in flight and from its worker's.
    pub fn take_inflight(&mut self, workers: &mut Workers, id: u64) -> Option<Chunk> {
        let chunk = self.inflight.remove(&id)?;
        if let Some(w) = workers.get_mut(chunk.slot)
            && w.serial == chunk.serial
        {
            w.inflight.retain(|&other| other != id);
        }
        Some(chunk)
    }

    /// A worker died holding the chunks `held` (oldest first) while running
    /// item `running.1` of chunk `running.0` (as its record says): charges
    /// that item with an attempt, and puts the unanswered rest of the held
    /// chunks back at the front of the line, in order: the running item too
    /// if it may be retried (`retries` more times than its first run). The
    /// running chunk's other items are innocent: those before the item ran
    /// but their results died with the worker, those after it never ran;
    /// they go back uncharged. If the record names no unanswered item of the
    /// chunk (the worker died between items, sending results), the whole
    /// chunk is charged. Returns what is to fail (the chunks whose retry
    /// budget is spent), and the job of each extra chunk the split made, for
    /// the job's count of outstanding chunks.
    pub fn requeue_dead(
        &mut self,
        held: &VecDeque<u64>,
        running: (u64, u64),
        retries: u32,
    ) -> (Vec<Chunk>, Vec<u64>) {
        let mut spent = Vec::new();
        let mut extra = Vec::new();
        let mut requeue = Vec::new();
        for id in held {
            let Some(chunk) = self.inflight.remove(id) else {
                continue;
            };
            if *id != running.0 {
                requeue.push(chunk.remainder());
                continue;
            }
            let unanswered =
                (chunk.first + chunk.received) as u64..(chunk.first + chunk.count) as u64;
            let (before, mut blamed, after) = if unanswered.contains(&running.1) {
                let item = running.1 as usize;
                let (before, rest) = chunk.split_at_index(item);
                let (blamed, after) = rest.split_at_index(item + 1);
                (Some(before), blamed, Some(after))
            } else {
                (None, chunk.remainder(), None)
            };
            blamed.attempts += 1;
            let before = before.filter(|c| c.count > 0);
            let after = after.filter(|c| c.count > 0);
            let job = blamed.job;
            extra.extend(before.iter().chain(after.iter()).map(|_| job));
            requeue.extend(before);
            if blamed.attempts > retries {
                spent.push(blamed);
            } else {
                requeue.push(blamed);
            }
            requeue.extend(after);
        }
        for chunk in requeue.into_iter().rev() {
            self.pending.push_front(chunk);
        }
        (spent, extra)
    }

    /// Forgets every chunk, pending or in flight (the pool failed them all;
    /// the workers' own lists are cleared by `Workers::clear_inflight`).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.inflight.clear();
    }
}
