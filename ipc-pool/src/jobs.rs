//! The parent's bookkeeping of submitted work: jobs ([`Job`], one per call)
//! and the chunks they are cut into ([`Chunk`]).
//!
//! A job lives from its submission until both its handle is done with it and
//! every chunk of it was answered or failed: results of chunks still in a
//! worker's hands must land somewhere, and a handle may still want results.
//! Its function stays in the pool's registry for as long; the methods that
//! may forget a job therefore return its function id, for the coordinator
//! (`core.rs`) to release it from the registry, which this file does not
//! know.
//!
//! A chunk keeps its items' encoded bytes until every item was answered, so
//! that the part a dead worker left unanswered can be sent again
//! ([`Chunk::remainder`]). Where chunks wait and which worker holds them is
//! `dispatch.rs`'s concern; this file only counts them per job.

use std::collections::HashMap;

use crate::Error;
use crate::sink::Sink;
use crate::wire::{FIXED, ItemIter, PREFIX, PREFIXED};

/// Consecutive items of a job, sent to one worker as one task.
pub(crate) struct Chunk {
    pub(crate) job: u64,
    pub(crate) func: u64,
    /// The job index of the first item.
    pub(crate) first: usize,
    pub(crate) count: usize,
    /// Items answered so far (a prefix: a worker answers in order).
    pub(crate) received: usize,
    /// Executions that ended with the worker's death.
    pub(crate) attempts: u32,
    pub(crate) encoding: u32,
    pub(crate) stride: u32,
    /// The items' encoded bytes (kept until answered, to re-dispatch them
    /// if the worker dies).
    pub(crate) args: Vec<u8>,
    /// The worker slot and serial it was dispatched to.
    pub(crate) slot: usize,
    pub(crate) serial: u64,
}

impl Chunk {
    /// A chunk of `count` items from job index `first`, encoded in `args`.
    pub fn new(first: usize, count: usize, encoding: u32, stride: usize, args: Vec<u8>) -> Self {
        Self {
            job: 0,
            func: 0,
            first,
            count,
            received: 0,
            attempts: 0,
            encoding,
            stride: stride as u32,
            args,
            slot: usize::MAX,
            serial: 0,
        }
    }

    /// Items in the chunk.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Bytes of the first `items` items in `args`.
    fn byte_offset(&self, items: usize) -> usize {
        let at = match self.encoding {
            FIXED => items * self.stride as usize,
            _ => ItemIter::new(PREFIXED, 0, items, &self.args)
                .map(|item| item.map_or(0, |b| PREFIX + b.len()))
                .sum(),
        };
        at.min(self.args.len())
    }

    /// What is left to run: the unanswered items, as a chunk to dispatch
    /// again (under a new id).
    pub(crate) fn remainder(mut self) -> Chunk {
        let skip = self.received;
        if skip > 0 {
            let at = self.byte_offset(skip);
            self.args.drain(..at);
            self.first += skip;
            self.count -= skip;
            self.received = 0;
        }
        self
    }

    /// Splits the unanswered items at job index `index`: the items before
    /// it, and those from it on (either may be empty, `count` 0). Both keep
    /// the chunk's attempts.
    pub(crate) fn split_at_index(self, index: usize) -> (Chunk, Chunk) {
        let mut front = self.remainder();
        let k = index.saturating_sub(front.first).min(front.count);
        let at = front.byte_offset(k);
        let back = Chunk {
            job: front.job,
            func: front.func,
            attempts: front.attempts,
            ..Chunk::new(
                front.first + k,
                front.count - k,
                front.encoding,
                front.stride as usize,
                front.args.split_off(at),
            )
        };
        front.count = k;
        (front, back)
    }
}

/// A callback call ready to make, outside the pool's lock.
pub(crate) type Call = Box<dyn FnOnce() + Send>;

/// A job's callback call, with the job's id (to mark it done afterwards:
/// [`Jobs::callback_done`]).
pub(crate) type Due = (u64, Call);

/// What a job with a callback does when it completes: reads its outcome from
/// the sink (under the lock) and returns the call to make (outside it).
pub(crate) type OnComplete = Box<dyn FnOnce(&mut dyn Sink) -> Call + Send>;

/// One call's worth of work (a `map`, an `apply_async`, an `imap`).
pub(crate) struct Job {
    pub(crate) func: u64,
    pub sink: Box<dyn Sink>,
    /// Chunks pending or in flight.
    pub outstanding: usize,
    /// A handle still wants the results.
    owned: bool,
    /// All of its input has been submitted.
    pub fed: bool,
    /// Run once when the job completes (`apply_async_then`).
    on_complete: Option<OnComplete>,
    /// Its callback was handed out and has not returned yet.
    callback_running: bool,
}

impl Job {
    /// Whether every submitted item has been answered and no more will come.
    pub fn is_complete(&self) -> bool {
        self.fed && self.outstanding == 0
    }

    /// Whether it is complete and its callback, if any, was handed out to
    /// run (a handle then waits until the callback is done: see
    /// `Jobs::settle`).
    pub fn is_settled(&self) -> bool {
        self.is_complete() && self.on_complete.is_none() && !self.callback_running
    }
}

/// Every job the pool still holds, by id.
pub(crate) struct Jobs {
    jobs: HashMap<u64, Job>,
    next_job: u64,
    /// Callbacks of completed jobs, waiting for a thread to run them.
    due: Vec<Due>,
    /// Callbacks handed out (due or running) and not returned yet.
    callbacks_in_flight: usize,
}

impl Jobs {
    pub fn new() -> Self {
        Self {
            jobs: HashMap::new(),
            next_job: 1,
            due: Vec::new(),
            callbacks_in_flight: 0,
        }
    }

    /// Creates a job running the registered function `func`, with its
    /// results going to `sink`.
    pub fn new_job(
        &mut self,
        func: u64,
        sink: Box<dyn Sink>,
        on_complete: Option<OnComplete>,
    ) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.insert(
            id,
            Job {
                func,
                sink,
                outstanding: 0,
                owned: true,
                fed: false,
                on_complete,
                callback_running: false,
            },
        );
        id
    }

    /// The job, while it exists.
    pub fn job(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.get_mut(&id)
    }

    /// The handle of job `id` is done with it: it is dropped now if nothing
    /// of it is in flight, else once its last chunk is answered. Input not
    /// yet submitted never will be. Returns the function of the job if it
    /// was dropped now.
    pub fn release_job(&mut self, id: u64) -> Option<u64> {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.owned = false;
            job.fed = true;
        }
        self.forget_if_done(id)
    }

    /// Queues job `id`'s callback if the job has just completed.
    pub fn settle(&mut self, id: u64) {
        if let Some(job) = self.jobs.get_mut(&id)
            && job.is_complete()
            && let Some(on_complete) = job.on_complete.take()
        {
            job.callback_running = true;
            self.callbacks_in_flight += 1;
            self.due.push((id, on_complete(&mut *job.sink)));
        }
    }

    /// Whether callbacks wait to run.
    pub fn has_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// Whether callbacks wait to run or are running.
    pub fn callbacks_pending(&self) -> bool {
        self.callbacks_in_flight > 0
    }

    /// Job `id`'s callback returned.
    pub fn callback_done(&mut self, id: u64) {
        self.callbacks_in_flight = self.callbacks_in_flight.saturating_sub(1);
        if let Some(job) = self.jobs.get_mut(&id) {
            job.callback_running = false;
        }
    }

    /// The callbacks waiting to run.
    pub fn take_due(&mut self) -> Vec<Due> {
        std::mem::take(&mut self.due)
    }

    /// Drops job `id` if no handle wants it and it is complete; returns its
    /// function then, for the registry to release.
    fn forget_if_done(&mut self, id: u64) -> Option<u64> {
        self.settle(id);
        let done = self
            .jobs
            .get(&id)
            .is_some_and(|job| !job.owned && job.is_complete());
        if done && let Some(job) = self.jobs.remove(&id) {
            return Some(job.func);
        }
        None
    }

    /// Fails every unfinished job with `error`. Returns the functions of the
    /// jobs dropped as a result.
    pub fn fail_all(&mut self, error: Error) -> Vec<u64> {
        for job in self.jobs.values_mut() {
            if !job.is_complete() {
                job.sink.fail_all(error.clone());
                job.outstanding = 0;
                job.fed = true;
            }
        }
        let ids: Vec<u64> = self.jobs.keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| self.forget_if_done(id))
            .collect()
    }

    /// Fails `n` items of `chunk` from job index `first`.
    pub fn fail_items(&mut self, chunk: &Chunk, first: usize, n: usize, err: &Error) {
        if let Some(job) = self.jobs.get_mut(&chunk.job) {
            for index in first..first + n {
                job.sink.fail(index, err.at_index(index));
            }
        }
    }

    /// Job `id` has one more chunk outstanding (a dead worker's chunk was
    /// split around the item it was running).
    pub fn add_outstanding(&mut self, id: u64) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.outstanding += 1;
        }
    }

    /// A chunk is finished (answered or failed): its job has one less.
    /// Returns the function of the job if it was dropped as a result.
    pub fn chunk_done(&mut self, chunk: Chunk) -> Option<u64> {
        if let Some(job) = self.jobs.get_mut(&chunk.job) {
            job.outstanding = job.outstanding.saturating_sub(1);
        }
        self.forget_if_done(chunk.job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    #[test]
    fn remainder_skips_answered_items() {
        let mut fixed = Chunk::new(10, 4, FIXED, 2, vec![1, 1, 2, 2, 3, 3, 4, 4]);
        fixed.received = 3;
        let rest = fixed.remainder();
        assert_eq!((rest.first, rest.count, rest.args), (13, 1, vec![4, 4]));

        let mut bytes = Vec::new();
        for item in [&b"ab"[..], b"", b"xyz"] {
            wire::push_prefixed(&mut bytes, item);
        }
        let mut prefixed = Chunk::new(0, 3, PREFIXED, 0, bytes);
        prefixed.received = 2;
        let rest = prefixed.remainder();
        let mut expected = Vec::new();
        wire::push_prefixed(&mut expected, b"xyz");
        assert_eq!((rest.first, rest.count, rest.args), (2, 1, expected));
    }

    #[test]
    fn split_at_index_keeps_order_and_bytes() {
        let mut fixed = Chunk::new(10, 4, FIXED, 2, vec![1, 1, 2, 2, 3, 3, 4, 4]);
        fixed.received = 1;
        fixed.attempts = 2;
        fixed.job = 7;
        let (front, back) = fixed.split_at_index(12);
        assert_eq!(
            (front.first, front.count, &front.args[..]),
            (11, 1, &[2, 2][..])
        );
        assert_eq!(
            (back.first, back.count, &back.args[..]),
            (12, 2, &[3, 3, 4, 4][..])
        );
        assert_eq!((back.job, back.attempts, back.received), (7, 2, 0));

        let mut bytes = Vec::new();
        for item in [&b"ab"[..], b"", b"xyz"] {
            wire::push_prefixed(&mut bytes, item);
        }
        let (front, back) = Chunk::new(0, 3, PREFIXED, 0, bytes.clone()).split_at_index(2);
        assert_eq!((front.count, back.first, back.count), (2, 2, 1));
        assert_eq!([front.args, back.args].concat(), bytes);
        let (front, back) = Chunk::new(5, 3, PREFIXED, 0, bytes.clone()).split_at_index(99);
        assert_eq!((front.count, back.count, back.args.len()), (3, 0, 0));
    }
}
