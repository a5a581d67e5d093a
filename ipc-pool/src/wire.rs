//! The frames that travel between the pool and its workers.
//!
//! Every frame is a byte frame of an `ipc-queue` queue: a fixed header
//! followed by a payload. Tasks go parent → worker on the worker's own queue;
//! results, failures and status reports come back on the pool's one result
//! queue. Items inside a payload are either all the same size (`FIXED`,
//! packed back to back with no padding) or each preceded by its length as a
//! little-endian `u32` (`PREFIXED`, for byte messages).
//!
//! Both sides check what they read: a header that does not parse, a length
//! that overruns the payload or a count that does not match is reported, never
//! trusted (see the trust model in the README).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Items of one size, packed back to back.
pub(crate) const FIXED: u32 = 1;
/// Items each preceded by a little-endian `u32` length.
pub(crate) const PREFIXED: u32 = 2;

/// A worker finished its initializer and takes tasks.
pub(crate) const READY: u32 = 1;
/// Results for consecutive items of a chunk.
pub(crate) const RESULTS: u32 = 2;
/// Consecutive items of a chunk failed (see `failure`).
pub(crate) const FAILED: u32 = 3;
/// The initializer panicked; the worker exits.
pub(crate) const INIT_FAILED: u32 = 4;

/// The word pair a worker keeps up to date in shared memory while it runs a
/// chunk: `[RECORD_CHUNK]` the chunk's id, `[RECORD_ITEM]` the job index of
/// the item it is running (or the chunk's end while it sends results). Read
/// by the parent only after the worker died, to charge that item.
pub(crate) type RunRecord = [std::sync::atomic::AtomicU64; 2];
/// The chunk word of a [`RunRecord`].
pub(crate) const RECORD_CHUNK: usize = 0;
/// The item word of a [`RunRecord`].
pub(crate) const RECORD_ITEM: usize = 1;

/// Why items failed (`ResultHeader::failure`).
pub(crate) mod failure {
    /// The task panicked; the payload holds the message and location.
    pub const PANICKED: u32 = 1;
    /// A byte result did not fit in a frame; the payload holds its length.
    pub const TOO_LARGE: u32 = 2;
    /// The task's arguments did not decode (a malformed frame).
    pub const BAD_INPUT: u32 = 3;
    /// The worker does not know the task's function (a protocol slip).
    pub const UNKNOWN_FUNCTION: u32 = 4;
    /// The task returned an `Err`; the payload holds its text.
    pub const RETURNED_ERROR: u32 = 5;
}

/// The header of a task frame: a chunk of `count` consecutive items of a job.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct TaskHeader {
    /// The function to run, by registry id.
    pub func: u64,
    /// The chunk's id (unique for the pool's lifetime, never 0).
    pub chunk: u64,
    /// The job index of the chunk's first item.
    pub first: u64,
    /// Items in the chunk.
    pub count: u32,
    /// `FIXED` or `PREFIXED`.
    pub encoding: u32,
    /// Bytes per item for `FIXED`.
    pub stride: u32,
    /// Explicit padding, zero.
    pub _pad: u32,
}

/// The header of a frame from a worker.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(crate) struct ResultHeader {
    /// `READY`, `RESULTS`, `FAILED` or `INIT_FAILED`.
    pub kind: u32,
    /// The sending worker's pid.
    pub pid: u32,
    /// The chunk the items belong to.
    pub chunk: u64,
    /// The job index of the first item in this frame.
    pub first: u64,
    /// Items in this frame.
    pub count: u32,
    /// `FIXED` or `PREFIXED` (for `RESULTS`).
    pub encoding: u32,
    /// Bytes per item for `FIXED`.
    pub stride: u32,
    /// A `failure` code for `FAILED`.
    pub failure: u32,
}

/// Bytes of a task header.
pub(crate) const TASK_HEADER: usize = size_of::<TaskHeader>();
/// Bytes of a result header.
pub(crate) const RESULT_HEADER: usize = size_of::<ResultHeader>();
/// Bytes of an item's length prefix.
pub(crate) const PREFIX: usize = 4;

/// The items of a payload, one slice each; `Some(None)` once (then the end)
/// when the payload is malformed.
#[derive(Debug, Clone)]
pub(crate) struct ItemIter<'a> {
    encoding: u32,
    stride: usize,
    rest: &'a [u8],
    left: usize,
}

impl<'a> ItemIter<'a> {
    pub fn new(encoding: u32, stride: usize, count: usize, payload: &'a [u8]) -> Self {
        Self {
            encoding,
            stride,
            rest: payload,
            left: count,
        }
    }

    /// Checks the whole payload: exactly `count` well-formed items, nothing
    /// left over.
    pub fn validate(&self) -> Result<(), String> {
        if self.encoding == FIXED {
            return match self.stride.checked_mul(self.left) {
                Some(len) if len == self.rest.len() => Ok(()),
                _ => Err(format!(
                    "{} bytes for {} items of {} bytes",
                    self.rest.len(),
                    self.left,
                    self.stride
                )),
            };
        }
        let mut it = self.clone();
        for item in it.by_ref() {
            if item.is_none() {
                return Err("an item overruns the frame".into());
            }
        }
        if it.rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes left over after the items", it.rest.len()))
        }
    }

    /// Items not yet iterated.
    pub fn remaining(&self) -> usize {
        self.left
    }

    /// `(stride, payload)` for `FIXED` items.
    pub fn fixed_parts(&self) -> Option<(usize, &'a [u8])> {
        (self.encoding == FIXED).then_some((self.stride, self.rest))
    }

    /// The payload as one slice, when the items are `FIXED` with `size`
    /// bytes each (then it holds exactly the items: the iterator was
    /// validated).
    pub(crate) fn fixed_payload(&self, size: usize) -> Option<&[u8]> {
        self.fixed_parts()
            .filter(|&(stride, _)| stride == size)
            .map(|(_, payload)| payload)
    }

    fn malformed(&mut self) -> Option<Option<&'a [u8]>> {
        self.left = 0;
        Some(None)
    }
}

impl<'a> Iterator for ItemIter<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let len = match self.encoding {
            FIXED => self.stride,
            PREFIXED => {
                let Some((len, rest)) = self.rest.split_first_chunk::<PREFIX>() else {
                    return self.malformed();
                };
                self.rest = rest;
                u32::from_le_bytes(*len) as usize
            }
            _ => return self.malformed(),
        };
        if self.rest.len() < len {
            return self.malformed();
        }
        let (item, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(Some(item))
    }
}

/// Appends a length-prefixed item.
pub(crate) fn push_prefixed(out: &mut Vec<u8>, item: &[u8]) {
    // Lengths are bounded by the frame size (at most 64 MiB), so they fit.
    out.extend_from_slice(&(item.len() as u32).to_le_bytes());
    out.extend_from_slice(item);
}

/// Encodes a failure payload: message length, message, location.
pub(crate) fn encode_failure(
    out: &mut Vec<u8>,
    message: &str,
    location: Option<&str>,
    room: usize,
) {
    // Truncated to fit the frame, at a character boundary.
    let cut = |s: &str, max: usize| -> usize {
        let mut n = s.len().min(max);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        n
    };
    let room = room.saturating_sub(PREFIX);
    let m = cut(message, room);
    push_prefixed(out, &message.as_bytes()[..m]);
    if let Some(loc) = location {
        let l = cut(loc, room - m);
        out.extend_from_slice(&loc.as_bytes()[..l]);
    }
}

/// Decodes a failure payload (lossily: it came from another process).
pub(crate) fn decode_failure(payload: &[u8]) -> (String, Option<String>) {
    let mut it = ItemIter::new(PREFIXED, 0, 1, payload);
    let message = match it.next() {
        Some(Some(m)) => String::from_utf8_lossy(m).into_owned(),
        _ => return (String::from_utf8_lossy(payload).into_owned(), None),
    };
    let location = (!it.rest.is_empty()).then(|| String::from_utf8_lossy(it.rest).into_owned());
    (message, location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_have_no_padding() {
        assert_eq!(TASK_HEADER, 40);
        assert_eq!(RESULT_HEADER, 40);
    }

    #[test]
    fn fixed_items() {
        let payload = [1u8, 2, 3, 4, 5, 6];
        let items: Vec<_> = ItemIter::new(FIXED, 2, 3, &payload).collect();
        assert_eq!(items, [Some(&[1u8, 2][..]), Some(&[3, 4]), Some(&[5, 6])]);
        assert!(ItemIter::new(FIXED, 2, 3, &payload).validate().is_ok());
        assert!(ItemIter::new(FIXED, 2, 4, &payload).validate().is_err());
        assert!(ItemIter::new(FIXED, 2, 2, &payload).validate().is_err());
        // Zero-sized items.
        assert_eq!(ItemIter::new(FIXED, 0, 3, &[]).count(), 3);
    }

    #[test]
    fn prefixed_items() {
        let mut payload = Vec::new();
        push_prefixed(&mut payload, b"ab");
        push_prefixed(&mut payload, b"");
        let items: Vec<_> = ItemIter::new(PREFIXED, 0, 2, &payload).collect();
        assert_eq!(items, [Some(&b"ab"[..]), Some(&b""[..])]);
        assert!(ItemIter::new(PREFIXED, 0, 2, &payload).validate().is_ok());
        // A length that overruns the payload.
        let bad = [9u8, 0, 0, 0, 1];
        let items: Vec<_> = ItemIter::new(PREFIXED, 0, 5, &bad).collect();
        assert_eq!(items, [None]);
        // An unknown encoding.
        assert_eq!(ItemIter::new(7, 1, 1, &[0]).collect::<Vec<_>>(), [None]);
    }

    #[test]
    fn failure_round_trip_and_truncation() {
        let mut out = Vec::new();
        encode_failure(&mut out, "boom", Some("src/x.rs:1:2"), 1000);
        assert_eq!(
            decode_failure(&out),
            ("boom".into(), Some("src/x.rs:1:2".into()))
        );
        let mut out = Vec::new();
        encode_failure(&mut out, "ééé", None, PREFIX + 3);
        assert_eq!(decode_failure(&out), ("é".into(), None));
        // Garbage decodes to something, never panics.
        let _ = decode_failure(&[255, 255, 255, 255, 1]);
    }
}
