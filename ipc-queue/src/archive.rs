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
//! With fixed slots the archive is written straight into the slot, which
//! has room for `max_frame` bytes anyway. With a byte ring its length must
//! be known before the ring is asked for room (reserving `max_frame` would
//! need that much contiguous free space, the whole ring by default, while
//! readers may hold frames), and rkyv cannot tell it without archiving: so
//! the archive is built in a per-thread scratch buffer, reused from call to
//! call and grown (doubling, up to `max_frame`) only for larger archives,
//! and copied into a frame of exactly its length.
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

/// Archives `value` into this thread's scratch buffer (at most `max`
/// bytes) and calls `f` with the archive's bytes (8-aligned).
pub(crate) fn with_scratch_archive<T, R>(
    value: &T,
    max: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R>
where
    T: for<'buf, 'arena> rkyv::Serialize<SlotSerializer<'buf, 'arena>>,
{
    use ipc_core::zerocopy::IntoBytes;
    thread_local! {
        static SCRATCH: std::cell::Cell<Vec<u64>> = const { std::cell::Cell::new(Vec::new()) };
    }
    // Taken out for the call, so that a re-entrant archive (a Serialize
    // impl that sends) gets a buffer of its own.
    let mut scratch = SCRATCH.take();
    let mut room = (scratch.len() * 8).clamp(max.min(4096), max);
    let result = loop {
        if scratch.len() * 8 < room {
            scratch.resize(room.div_ceil(8), 0);
        }
        let buf = &mut scratch.as_mut_bytes()[..room];
        match encode_into(value, buf) {
            Ok(len) => break Ok(f(&buf[..len])),
            Err(_) if room < max => room = (room * 2).min(max),
            Err(e) => break Err(e),
        }
    };
    SCRATCH.set(scratch);
    result
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
