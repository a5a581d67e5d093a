//! [`Message`]: the one bound for plain-bytes data, shared by every crate
//! of the toolkit (queue and pipe messages, pool arguments and results,
//! manager values), and the re-export of `zerocopy` that defines it.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Plain bytes: a type with no pointers and no padding for which every bit
/// pattern of its size is a value, so it can be copied into shared memory
/// and read back (or looked at in place) by another process without
/// serialization.
///
/// Implemented for every type deriving zerocopy's `FromBytes`, `IntoBytes`,
/// `Immutable` and `KnownLayout`: integers, floats, arrays of them, and
/// `#[repr(C)]` structs of them without padding. The derives come with the
/// toolkit (`ipc_core::zerocopy`, re-exported by every crate), so a program
/// needs no `zerocopy` dependency of its own; the `crate` attribute tells
/// the derives where to find it:
///
/// ```
/// use ipc_core::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
///
/// #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq)]
/// #[zerocopy(crate = "ipc_core::zerocopy")]
/// #[repr(C)]
/// struct Tick {
///     seq: u64,
///     price: f64,
/// }
///
/// fn assert_message<T: ipc_core::Message>() {}
/// assert_message::<Tick>();
/// assert_message::<[u32; 4]>();
/// ```
///
/// # Not a `Message`? Three ways to send a value
///
/// A type with pointers or a variable size (`String`, `Vec<T>`,
/// `Option<u64>`, a struct with a `bool` or with padding) is not a
/// `Message`; the compiler then suggests deriving `FromBytes`, which such a
/// type cannot. Depending on the value:
///
/// | the value | how | cost |
/// |---|---|---|
/// | fixed layout, plain numbers (`#[repr(C)]`, no padding) | a `Message`: `Queue<Tick>`, `q.put(&tick)` | a copy of its bytes; read in place with a receive guard |
/// | anything `Serialize + Deserialize` (`String`, `Vec`, enums, `Option`) | feature `serde`: `Queue<u8>` with `q.put_serde(&rec)` / `q.get_serde::<Rec>()`, `send_serde` / `recv_serde` on pipes, `insert_serde` / `get_serde` on dicts | encoded with postcard straight into the slot, decoded on receipt |
/// | anything rkyv can archive, read without deserializing | feature `rkyv`: `q.put_rkyv(&rec)` / `q.get_rkyv_with::<Rec, _>(\|archived\| ..)` on a `Queue<u8>` | archived into the slot; validated and read in place |
/// | bytes you encode yourself | `put_bytes` / `get_bytes`, `send_bytes` / `recv_bytes` | a copy |
pub trait Message:
    FromBytes + IntoBytes + Immutable + KnownLayout + Send + Sized + 'static
{
}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout + Send + Sized + 'static> Message for T {}
