//! Type tags: how stored values remember their Rust type.
//!
//! A typed value is stored with a 64-bit tag, an FNV-1a hash of its type's
//! name (`core::any::type_name`), size and alignment; plain bytes carry tag
//! [`BYTES_TAG`]. A typed read compares tags and refuses a mismatch with
//! [`Error::WrongType`](crate::Error::WrongType). The manager's type
//! registry (an internal dictionary) maps tags back to names so that the
//! error can name the stored type, whichever process stored it.
//!
//! As with ipc-core's `TypeDesc`, type names come from the compiler:
//! processes sharing a manager should be built by the same toolchain.

/// The tag of untyped byte values.
pub(crate) const BYTES_TAG: u64 = 0;
/// The tag of directory entries (object descriptors).
pub(crate) const DESC_TAG: u64 = 0x4D47_5244_4553_4331;
/// The tag of type registry entries.
pub(crate) const TYPE_TAG: u64 = 0x4D47_5254_5950_4531;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

const fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// Refuses element and value types larger than
/// [`MAX_VALUE_LEN`](crate::storage::layout::MAX_VALUE_LEN).
pub(crate) fn check_size<T>() -> crate::Result<()> {
    if size_of::<T>() > crate::storage::layout::MAX_VALUE_LEN {
        return Err(crate::Error::ValueTooLarge {
            len: size_of::<T>(),
            max: crate::storage::layout::MAX_VALUE_LEN,
        });
    }
    Ok(())
}

/// The tag and name of type `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeTag {
    pub(crate) tag: u64,
    pub(crate) name: &'static str,
    pub(crate) size: u64,
    pub(crate) align: u64,
}

impl TypeTag {
    /// The tag of `T` (never [`BYTES_TAG`]).
    pub(crate) fn of<T>() -> Self {
        let name = core::any::type_name::<T>();
        let size = size_of::<T>() as u64;
        let align = align_of::<T>() as u64;
        let mut h = fnv1a(FNV_OFFSET, name.as_bytes());
        h = fnv1a(h, &size.to_le_bytes());
        h = fnv1a(h, &align.to_le_bytes());
        Self {
            tag: if h == BYTES_TAG { 1 } else { h },
            name,
            size,
            align,
        }
    }

    /// The one tag of serde-encoded values (feature `serde`), whatever
    /// their Rust type: serde's data model is structural (a `&str` is
    /// written as a `String` is read, a `Vec` as an array), so values are
    /// told apart by decoding, not by type name. Size and alignment 0
    /// describe it as an encoding.
    #[cfg(feature = "serde")]
    pub(crate) const SERDE: TypeTag = TypeTag {
        tag: fnv1a(FNV_OFFSET, b"serde value (postcard)"),
        name: "serde value (postcard)",
        size: 0,
        align: 0,
    };

    /// The one tag of rkyv archives (feature `rkyv`), whatever their type:
    /// an archive is checked by validating it as the requested type.
    #[cfg(feature = "rkyv")]
    pub(crate) const RKYV: TypeTag = TypeTag {
        tag: fnv1a(FNV_OFFSET, b"rkyv archive"),
        name: "rkyv archive",
        size: 0,
        align: 0,
    };

    /// `name (size S, align A)`, as in error messages; `name (serde)` for a
    /// serde-encoded value.
    pub(crate) fn describe(&self) -> String {
        if self.size == 0 && self.align == 0 {
            return self.name.to_owned();
        }
        format!("{} (size {}, align {})", self.name, self.size, self.align)
    }

    /// The registry record: size, alignment, name.
    pub(crate) fn record(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.name.len());
        v.extend_from_slice(&self.size.to_le_bytes());
        v.extend_from_slice(&self.align.to_le_bytes());
        v.extend_from_slice(self.name.as_bytes());
        v
    }

    /// Reads a registry record back into a description.
    pub(crate) fn describe_record(rec: &[u8]) -> Option<String> {
        if rec.len() < 16 {
            return None;
        }
        let size = u64::from_le_bytes(rec[..8].try_into().ok()?);
        let align = u64::from_le_bytes(rec[8..16].try_into().ok()?);
        let name = String::from_utf8_lossy(&rec[16..]);
        if size == 0 && align == 0 {
            return Some(name.into_owned());
        }
        Some(format!("{name} (size {size}, align {align})"))
    }
}

/// How a dictionary value is encoded, as its stored type tag records it:
/// plain bytes ([`Encoding::BYTES`]), a [`Message`](ipc_core::Message) type
/// ([`Encoding::of`]), or an encoding that another program names for
/// itself ([`Encoding::named`]): the Python package stores pickles so, and
/// reads back the bytes and integers a Rust program stored.
///
/// ```
/// use ipc_manager::Encoding;
///
/// const PICKLE: Encoding = Encoding::named("python pickle");
/// assert_ne!(PICKLE.tag(), Encoding::BYTES.tag());
/// assert_eq!(Encoding::of::<u64>(), Encoding::of::<u64>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding(pub(crate) TypeTag);

impl Encoding {
    /// Plain bytes (what [`Dict::insert`](crate::Dict::insert) stores).
    pub const BYTES: Encoding = Encoding(TypeTag {
        tag: BYTES_TAG,
        name: "bytes",
        size: 0,
        align: 0,
    });

    /// Values of type `T`, as [`Dict::insert_as`](crate::Dict::insert_as)
    /// and typed views store them (tagged with `T`'s name, size and
    /// alignment).
    pub fn of<T: ipc_core::Message>() -> Self {
        Encoding(TypeTag::of::<T>())
    }

    /// An encoding a program names: values of any length, told apart from
    /// every other encoding by the hash of `name` (FNV-1a, never the tag of
    /// plain bytes).
    pub const fn named(name: &'static str) -> Self {
        let h = fnv1a(FNV_OFFSET, name.as_bytes());
        Encoding(TypeTag {
            tag: if h == BYTES_TAG { 1 } else { h },
            name,
            size: 0,
            align: 0,
        })
    }

    /// The 64-bit tag stored beside each value so encoded.
    pub const fn tag(&self) -> u64 {
        self.0.tag
    }

    /// The encoding's name (a Rust type name for [`Encoding::of`]).
    pub const fn name(&self) -> &'static str {
        self.0.name
    }
}
