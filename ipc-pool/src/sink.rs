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

/// All results of a `map` in one vector, in input order. Fail-fast: the
/// first failure to arrive is kept and `map` returns it.
///
/// Results that arrive in order (the common case: chunks are handed out in
/// order and come back roughly so) are decoded straight onto the end of
/// `out`; a run that arrives ahead of a gap is decoded into a vector of its
/// own, parked by its first index, and appended once the gap is filled. So
/// no placeholder values are needed (result types need no zero value), and
/// nothing is decoded twice.
///
/// A result type may have invalid bit patterns (`bool`, a fieldless enum),
/// so every item is read with `try_read_from_bytes`; for types without
/// invalid patterns (`u64`) the check vanishes and the loop is a copy.
pub(crate) struct CollectSink<R> {
    pub out: Vec<R>,
    /// Runs of results that arrived ahead of `out.len()`, by first index.
    parked: BTreeMap<usize, Vec<R>>,
    pub error: Option<Error>,
}

impl<R: TaskResult> CollectSink<R> {
    /// A sink expecting about `len` results.
    pub fn new(len: usize) -> Self {
        Self {
            out: Vec::with_capacity(len),
            parked: BTreeMap::new(),
            error: None,
        }
    }

    /// The results, once every item has been answered (`None` if a gap is
    /// left: an item never answered, which the pool's accounting rules out).
    pub fn take(&mut self) -> Option<Vec<R>> {
        self.parked
            .is_empty()
            .then(|| std::mem::take(&mut self.out))
    }

    fn decode_into(dst: &mut Vec<R>, items: ItemIter<'_>) -> Result<(), String> {
        let size = size_of::<R>();
        dst.reserve(items.remaining());
        if size > 0
            && let Some(bytes) = items.fixed_payload(size)
        {
            // The common case: the whole frame, item by item.
            for item in bytes.chunks_exact(size) {
                dst.push(read_result(item)?);
            }
            return Ok(());
        }
        for item in items {
            dst.push(read_result(item.ok_or("malformed result")?)?);
        }
        Ok(())
    }
}

impl<R: TaskResult> Sink for CollectSink<R> {
    fn put(&mut self, first: usize, items: ItemIter<'_>) -> Result<(), String> {
        let next = self.out.len();
        if first < next || self.parked.contains_key(&first) {
            return Err(format!("results for item {first} arrived twice"));
        }
        if first > next {
            let mut run = Vec::new();
            Self::decode_into(&mut run, items)?;
            self.parked.insert(first, run);
            return Ok(());
        }
        Self::decode_into(&mut self.out, items)?;
        while let Some(run) = self.parked.remove(&self.out.len()) {
            self.out.extend(run);
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

/// Decodes one item's outcome as an `R` (checking its bytes).
pub(crate) fn decode_outcome<R: TaskResult>(outcome: &Outcome) -> crate::Result<R> {
    match outcome {
        Ok(bytes) => read_result(bytes).map_err(|reason| Error::Protocol { reason }),
        Err(e) => Err(e.clone()),
    }
}

/// The outcome of a one-item job (`apply_async`) from its [`StreamSink`],
/// once known; it stays in the sink, so it can be read again.
pub(crate) fn single_outcome<R: TaskResult>(sink: &mut dyn Sink) -> Option<crate::Result<R>> {
    let Some(sink) = sink.as_any().downcast_mut::<StreamSink>() else {
        return Some(Err(Error::vanished()));
    };
    if let Some((_, outcome)) = sink.ready.front() {
        return Some(decode_outcome(outcome));
    }
    sink.fatal.clone().map(Err)
}

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
        // Items 2 and 3 arrive first and wait for the gap.
        s.put(2, ItemIter::new(FIXED, 4, 2, &bytes)).unwrap();
        assert!(s.out.is_empty());
        assert!(s.put(2, ItemIter::new(FIXED, 4, 2, &bytes)).is_err());
        let mut short = Vec::new();
        crate::wire::push_prefixed(&mut short, &[1, 2]);
        assert!(s.put(0, ItemIter::new(PREFIXED, 0, 1, &short)).is_err());
        let mut s = CollectSink::<u32>::new(4);
        s.put(2, ItemIter::new(FIXED, 4, 2, &bytes)).unwrap();
        let mut pre = Vec::new();
        crate::wire::push_prefixed(&mut pre, &5u32.to_ne_bytes());
        s.put(0, ItemIter::new(PREFIXED, 0, 1, &pre)).unwrap();
        assert_eq!(s.out, [5]);
        assert_eq!(s.take(), None, "item 1 is still missing");
        s.put(1, ItemIter::new(FIXED, 4, 1, &bytes[4..])).unwrap();
        assert!(s.put(0, ItemIter::new(FIXED, 4, 1, &bytes[..4])).is_err());
        assert_eq!(s.take().unwrap(), [5, 8, 7, 8]);
    }

    /// A byte that is no valid `bool` is refused, never read as one.
    #[test]
    fn invalid_results_are_refused() {
        let mut s = CollectSink::<bool>::new(3);
        assert!(s.put(0, ItemIter::new(FIXED, 1, 3, &[1, 2, 0])).is_err());
        let mut s = CollectSink::<bool>::new(3);
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
