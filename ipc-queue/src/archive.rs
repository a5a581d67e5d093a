//! Values read in place (feature `rkyv`): a value is archived with
//! [rkyv](https://docs.rs/rkyv) straight into a queue's slot or a pipe's
//! frame, and the receiver reads the archive where it lies, in shared
//! memory, without deserializing it: the "no copies, no serialization" path for
//! structured, variable-size values.
//!
//! Shared memory is untrusted, so the archive is validated (rkyv's
//! `bytecheck`) before any of it is used: a damaged or foreign frame is
//! [`Error::Decode`], never undefined behaviour. Validation walks the
//! archive once, at the cost of reading it; it is the only pass over the
//! bytes (nothing is built or copied).
//!
//! Archived values need their alignment in the frame: queue payloads and
//! pipe frames (slots and byte-ring frames alike) are 8-aligned, enough for
//! every archived type but those holding 16-byte integers (refused by
//! validation, with an error that says so).

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::writer::Buffer;

use crate::{Error, Result};

/// The serializer `put_rkyv` archives with: into the slot's bytes.
pub type SlotSerializer<'buf, 'arena> =
    HighSerializer<Buffer<'buf>, ArenaHandle<'arena>, rancor::Error>;

/// The validator `get_rkyv` checks archives with.
pub type SlotValidator<'a> = HighValidator<'a, rancor::Error>;

/// Archives `value` into `dst`; returns the archive's length.
pub(crate) fn encode_into<T>(value: &T, dst: &mut [u8]) -> Result<usize>
where
    T: for<'buf, 'arena> rkyv::Serialize<SlotSerializer<'buf, 'arena>>,
{
    let max = dst.len();
    rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, Buffer::from(dst))
        .map(|written| written.len())
        .map_err(|e| Error::Encode {
            reason: format!("{e} (the archive must fit the {max}-byte frame; max_frame raises it)"),
        })
}

/// The validated archive of a `T` in `frame`.
pub(crate) fn access<T>(frame: &[u8]) -> Result<&T::Archived>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<SlotValidator<'a>>,
{
    rkyv::access::<T::Archived, rancor::Error>(frame).map_err(|e| Error::Decode {
        type_name: std::any::type_name::<T>(),
        reason: e.to_string(),
    })
}
