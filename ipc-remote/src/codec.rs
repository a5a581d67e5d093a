//! Values as message bytes: postcard, the local queue's serde format, so
//! a value put by a local producer and forwarded by a gateway decodes the
//! same on the other side.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Encodes `value` with postcard.
pub(crate) fn encode<V: Serialize + ?Sized>(value: &V) -> Result<Bytes> {
    postcard::to_allocvec(value)
        .map(Bytes::from)
        .map_err(|e| Error::Encode {
            reason: e.to_string(),
        })
}

/// Decodes postcard bytes as `V`.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V> {
    postcard::from_bytes(bytes).map_err(|e| Error::Decode {
        type_name: std::any::type_name::<V>(),
        reason: e.to_string(),
    })
}
