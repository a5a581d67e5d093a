//! Where a job's results land in the parent, until its handle takes them.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};

use crate::task::{TaskResult, read_result};

use crate::Error;
use crate::wire::ItemIter;

/// Receives a job's results and failures, item by item or frame by frame.
/// The job's handle knows the concrete type and downcasts through `as_any`.
pub(crate) trait Sink: Send + 'static {
    /// Results for the items `first..first + n`, in order; the iterator was
    /// validated (well-formed, exactly `n` items).
    fn put(&mut self, first: usize, items: ItemIter<'_>) -> Result<(), String>;
    /// Item `index` failed.
    fn fail(&mut self, index: usize, error: Error);
    /// The whole job failed (pool terminated or broken).
    fn fail_all(&mut self, error: Error);
    fn as_any(&mut self) -> &mut dyn Any;
}

/// All results of a `map` in one vector, each checked and written in place
/// as chunks arrive. Fail-fast: the first failure to arrive is kept and
/// `map` returns it.
///
/// A result type may have invalid bit patterns (`bool`, a fieldless enum),
/// so every item is read with `try_read_from_bytes`; for types without
/// invalid patterns (`u64`) the check vanishes and the loop is a copy.
pub(crate) struct CollectSink<R> {
    pub out: Vec<R>,
    pub error: Option<Error>,
}

impl<R: TaskResult> CollectSink<R> {
    pub fn new(len: usize) -> Self {
        let mut out = Vec::with_capacity(len);
        out.resize_with(len, R::new_zeroed);
        Self { out, error: None }
    }
}

impl<R: TaskResult> Sink for CollectSink<R> {
    fn put(&mut self, first: usize, items: ItemIter<'_>) -> Result<(), String> {
        let size = size_of::<R>();
        let n = items.remaining();
        let end = first.checked_add(n).ok_or("item range overflows")?;
        if end > self.out.len() {
            // More items than the input's length hint said (the range was
            // checked against the chunks actually sent).
            self.out.resize_with(end, R::new_zeroed);
        }
        let dst = self
            .out
            .get_mut(first..end)
            .ok_or("results beyond the end of the input")?;
        if size > 0
            && let Some(bytes) = items.fixed_payload(size)
        {
            // The common case: the whole frame, item by item into place.
            for (slot, item) in dst.iter_mut().zip(bytes.chunks_exact(size)) {
                *slot = read_result(item)?;
            }
            return Ok(());
        }
        for (slot, item) in dst.iter_mut().zip(items) {
            *slot = read_result(item.ok_or("malformed result")?)?;
        }
        Ok(())
    }

    fn fail(&mut self, _index: usize, error: Error) {
        self.error.get_or_insert(error);
    }

    fn fail_all(&mut self, error: Error) {
        self.error.get_or_insert(error);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// One item's outcome, as bytes until the handle decodes it.
pub(crate) type Outcome = Result<Vec<u8>, Error>;

/// Results handed out one at a time (`imap`, `imap_unordered`, `apply`,
/// `map_bytes`): in input order, or in order of arrival.
pub(crate) struct StreamSink {
    ordered: bool,
    /// The next index to hand out (ordered mode).
    next: usize,
    /// Arrived ahead of `next` (ordered mode).
    parked: BTreeMap<usize, Outcome>,
    /// Ready to hand out.
    pub ready: VecDeque<(usize, Outcome)>,
    /// Set when the whole job failed; reported once everything that did
    /// arrive was handed out.
    pub fatal: Option<Error>,
}

impl StreamSink {
    pub fn new(ordered: bool) -> Self {
        Self {
            ordered,
            next: 0,
            parked: BTreeMap::new(),
            ready: VecDeque::new(),
            fatal: None,
        }
    }

    fn deliver(&mut self, index: usize, outcome: Outcome) {
        if !self.ordered {
            self.ready.push_back((index, outcome));
            return;
        }
        if index != self.next {
            self.parked.insert(index, outcome);
            return;
        }
        self.ready.push_back((index, outcome));
        self.next += 1;
        while let Some(outcome) = self.parked.remove(&self.next) {
            self.ready.push_back((self.next, outcome));
            self.next += 1;
        }
    }
}

impl Sink for StreamSink {
    fn put(&mut self, first: usize, items: ItemIter<'_>) -> Result<(), String> {
        for (k, item) in items.enumerate() {
            let bytes = item.ok_or("malformed result")?;
            self.deliver(first + k, Ok(bytes.to_vec()));
        }
        Ok(())
    }

    fn fail(&mut self, index: usize, error: Error) {
        self.deliver(index, Err(error));
    }

    fn fail_all(&mut self, error: Error) {
        // What is parked behind a gap will never be handed out in order.
        self.parked.clear();
        self.fatal.get_or_insert(error);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FIXED, PREFIXED};

    #[test]
    fn collect_in_place_and_by_item() {
        use zerocopy::IntoBytes;

        let mut s = CollectSink::<u32>::new(4);
        let bytes: Vec<u8> = [7u32, 8].as_bytes().to_vec();
        s.put(2, ItemIter::new(FIXED, 4, 2, &bytes)).unwrap();
        assert_eq!(s.out, [0, 0, 7, 8]);
        s.put(3, ItemIter::new(FIXED, 4, 2, &bytes)).unwrap();
        assert_eq!(s.out, [0, 0, 7, 7, 8]);
        s.out.truncate(4);
        s.out[3] = 8;
        let mut pre = Vec::new();
        crate::wire::push_prefixed(&mut pre, &5u32.to_ne_bytes());
        s.put(0, ItemIter::new(PREFIXED, 0, 1, &pre)).unwrap();
        assert_eq!(s.out, [5, 0, 7, 8]);
        let mut short = Vec::new();
        crate::wire::push_prefixed(&mut short, &[1, 2]);
        assert!(s.put(0, ItemIter::new(PREFIXED, 0, 1, &short)).is_err());
    }

    /// A byte that is no valid `bool` is refused, never read as one.
    #[test]
    fn invalid_results_are_refused() {
        let mut s = CollectSink::<bool>::new(3);
        assert!(s.put(0, ItemIter::new(FIXED, 1, 3, &[1, 2, 0])).is_err());
        s.put(0, ItemIter::new(FIXED, 1, 3, &[1, 0, 1])).unwrap();
        assert_eq!(s.out, [true, false, true]);
    }

    #[test]
    fn stream_orders_or_not() {
        let mut s = StreamSink::new(true);
        s.fail(1, Error::Timeout);
        assert!(s.ready.is_empty());
        s.put(0, ItemIter::new(FIXED, 1, 1, &[9])).unwrap();
        let got: Vec<usize> = s.ready.iter().map(|(i, _)| *i).collect();
        assert_eq!(got, [0, 1]);

        let mut s = StreamSink::new(false);
        s.fail(1, Error::Timeout);
        s.put(0, ItemIter::new(FIXED, 1, 1, &[9])).unwrap();
        let got: Vec<usize> = s.ready.iter().map(|(i, _)| *i).collect();
        assert_eq!(got, [1, 0]);
    }
}
