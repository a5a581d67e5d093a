//! What may travel through a queue or pipe: `zerocopy` types and byte frames.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A message type: plain bytes with no pointers, any bit pattern valid, so it
/// can be copied into shared memory and read back (or viewed in place) by
/// another process without serialization.
///
/// Implemented for every type deriving zerocopy's `FromBytes`, `IntoBytes`,
/// `Immutable` and `KnownLayout`:
///
/// ```
/// use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
///
/// #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Tick {
///     seq: u64,
///     price: f64,
/// }
///
/// fn assert_message<T: ipc_queue::Message>() {}
/// assert_message::<Tick>();
/// ```
pub trait Message:
    FromBytes + IntoBytes + Immutable + KnownLayout + Send + Sized + 'static
{
}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout + Send + Sized + 'static> Message for T {}
