//! Structured values as frames (feature `serde`): any `Serialize` value is
//! encoded with [postcard](https://docs.rs/postcard) straight into the slot
//! it travels in, and decoded from the slot (a queue's, in place) or from a
//! copy of the frame (a pipe's).
//!
//! Why postcard: its wire format is specified and stable since 1.0 (a
//! frame written by one build reads in another), it is compact (varints, no
//! field names: a small record is about its data's size), it writes into a
//! caller's buffer with no allocation (`to_slice`, or a custom flavor as
//! below), and it is among the fastest serde formats. bincode 2 is as fast,
//! but its 1.x-to-2 format change is recent; JSON or MessagePack carry field
//! names and cost several times more.
//!
//! A value too large for the frame is refused with `TooLarge` (its encoded
//! length is computed only then); a failing `Serialize` is `Encode`; bytes
//! that do not decode as the requested type are `Decode`. Nothing is
//! published in the first two cases.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Where an encoder writes a frame: a slot reached through copies at an
/// offset (a pipe's slot is never lent out as a slice).
pub(crate) trait FrameSink {
    /// Copies `bytes` to offset `at`; `false` if they would pass the frame
    /// limit.
    fn write_at(&mut self, at: usize, bytes: &[u8]) -> bool;
    /// The frame limit.
    fn max(&self) -> usize;
}

/// The postcard flavor writing into a [`FrameSink`].
struct SinkFlavor<'s, S: FrameSink> {
    sink: &'s mut S,
    len: usize,
}

impl<S: FrameSink> postcard::ser_flavors::Flavor for SinkFlavor<'_, S> {
    type Output = usize;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if !self.sink.write_at(self.len, bytes) {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.len += bytes.len();
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.len)
    }
}

/// The error for `value` failing to encode into `max` bytes.
fn encode_error<T: Serialize + ?Sized>(value: &T, max: usize, e: postcard::Error) -> Error {
    match e {
        postcard::Error::SerializeBufferFull => Error::TooLarge {
            len: postcard::experimental::serialized_size(value).unwrap_or(max + 1),
            max,
        },
        e => Error::Encode {
            reason: e.to_string(),
        },
    }
}

/// Encodes `value` into `dst`; returns the frame's length.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, dst: &mut [u8]) -> Result<usize> {
    let max = dst.len();
    postcard::to_slice(value, dst)
        .map(|used| used.len())
        .map_err(|e| encode_error(value, max, e))
}

/// Encodes `value` into `sink`; returns the frame's length.
pub(crate) fn encode_to_sink<T: Serialize + ?Sized, S: FrameSink>(
    value: &T,
    sink: &mut S,
) -> Result<usize> {
    let max = sink.max();
    postcard::serialize_with_flavor(value, SinkFlavor { sink, len: 0 })
        .map_err(|e| encode_error(value, max, e))
}

/// Decodes a `T` from a whole frame (trailing bytes are an error: a frame
/// holds exactly one value).
pub(crate) fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T> {
    let fail = |e: postcard::Error| Error::Decode {
        type_name: std::any::type_name::<T>(),
        reason: e.to_string(),
    };
    let (value, rest) = postcard::take_from_bytes::<T>(frame).map_err(fail)?;
    if !rest.is_empty() {
        return Err(fail(postcard::Error::DeserializeBadEncoding));
    }
    Ok(value)
}
