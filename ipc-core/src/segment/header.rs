//! The header at the start of every segment that holds a toolkit object.
//!
//! Layout (256 bytes, `#[repr(C)]`, every field at a fixed offset):
//!
//! | offset | field            | meaning                                         |
//! |--------|------------------|-------------------------------------------------|
//! | 0      | magic            | `b"IPCTKSEG"`                                   |
//! | 8      | format_version   | [`FORMAT_VERSION`]: this header's own layout    |
//! | 12     | state            | empty / initialising / ready (the one mutable word) |
//! | 16     | kind_code        | which object ([`ObjectKind::code`])             |
//! | 20     | kind_version     | that object's layout version                    |
//! | 24     | creator          | [`ProcessIdentity`] of the creating process     |
//! | 40     | segment_len      | bytes the creator mapped                        |
//! | 48     | payload_offset   | where the object starts                         |
//! | 56     | payload_len      | how many bytes it spans                         |
//! | 64     | type_size        | payload type: `size_of`                         |
//! | 72     | type_align       | payload type: `align_of`                        |
//! | 80     | type_fingerprint | hash of the type's name, size and alignment     |
//! | 88     | kind_name        | NUL-padded, for error messages                  |
//! | 120    | type_name        | NUL-padded (truncated), for error messages      |
//! | 248    | checksum         | FNV-1a over bytes 0..248 with `state` zeroed    |
//!
//! Protocol. The creator writes `magic`, `creator` and then `state =
//! INITIALISING` (release), builds the payload, fills in the remaining fields
//! and the checksum, and finally stores `state = READY` (release) and wakes
//! futex waiters on `state`. An opener loads `state` (acquire): READY means the
//! rest is immutable and may be copied and checked; INITIALISING means wait,
//! bounded, unless the recorded creator is dead; anything else is refused.
//!
//! All of that happens before anyone can open the segment: a named or
//! file-backed object is built in an unnamed `O_TMPFILE` file and linked
//! under its name only once READY (`Segment::create_hidden`, `publish`), so
//! a creator killed at any instant leaves nothing behind. The EMPTY and
//! INITIALISING states are met only where the filesystem lacks `O_TMPFILE`
//! (the creator then works under the final name), and in damaged segments.
//!
//! The header is never read through a reference: it is copied out word by word
//! with relaxed atomic loads, so even a process scribbling over it concurrently
//! cannot cause undefined behaviour here, only a checksum mismatch.
// Unsafe code is allowed here: the header of a mapped segment.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::liveness::ProcessIdentity;
use crate::{Error, Result};

/// Size of the header in bytes; payloads start at or after this offset.
pub const HEADER_LEN: usize = 256;
/// Version of the header layout written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Largest payload alignment a segment supports (one page).
pub const MAX_ALIGN: u64 = 4096;

const MAGIC: [u8; 8] = *b"IPCTKSEG";
const STATE_OFFSET: usize = 12;
const CHECKSUM_OFFSET: usize = 248;

/// `state` values: distinctive bit patterns, so that garbage is unlikely to
/// read as READY (and the checksum catches it if it does).
pub(crate) const STATE_EMPTY: u32 = 0;
pub(crate) const STATE_INITIALISING: u32 = 0x1A17_0001;
pub(crate) const STATE_READY: u32 = 0x1A17_0002;

/// Identifies which toolkit object a segment holds, and that object's own
/// layout version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectKind {
    /// A code unique across the toolkit (crates pick from their own range).
    pub code: u32,
    /// Bumped whenever the object's shared layout changes.
    pub version: u32,
    /// A short name for error messages (at most 32 bytes are stored).
    pub name: &'static str,
}

impl ObjectKind {
    /// A plain value of a [`ShmSafe`](super::ShmSafe) type, as held by [`Shared`](super::Shared).
    pub const SHARED_VALUE: ObjectKind = ObjectKind {
        code: 1,
        version: 1,
        name: "shared value",
    };
}

/// The layout of a payload type, recorded in the header and checked on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDesc {
    /// `core::any::type_name`, possibly truncated to 128 bytes.
    pub name: String,
    /// `size_of`.
    pub size: u64,
    /// `align_of`.
    pub align: u64,
    /// FNV-1a of name, size and alignment.
    pub fingerprint: u64,
}

impl TypeDesc {
    /// The descriptor of `T`.
    ///
    /// The name comes from `core::any::type_name`, whose text may change
    /// between compiler versions: processes that share a segment should be
    /// built by the same toolchain (in practice, from the same workspace).
    pub fn of<T>() -> Self {
        Self::new(
            core::any::type_name::<T>(),
            size_of::<T>() as u64,
            align_of::<T>() as u64,
        )
    }

    /// A descriptor from its parts (for payloads that are not one Rust type).
    pub fn new(name: &str, size: u64, align: u64) -> Self {
        let name = truncate(name, 128).to_owned();
        let mut h = fnv1a(FNV_OFFSET, name.as_bytes());
        h = fnv1a(h, &size.to_le_bytes());
        h = fnv1a(h, &align.to_le_bytes());
        Self {
            name,
            size,
            align,
            fingerprint: h,
        }
    }
}

impl std::fmt::Display for TypeDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (size {}, align {})",
            self.name, self.size, self.align
        )
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The header as a plain value: what is written at creation and what a copy
/// taken from shared memory is parsed into.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Header {
    /// `b"IPCTKSEG"`.
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Initialisation state (the one field written after creation).
    pub state: u32,
    /// [`ObjectKind::code`].
    pub kind_code: u32,
    /// [`ObjectKind::version`].
    pub kind_version: u32,
    /// The creating process.
    pub creator: ProcessIdentity,
    /// Bytes the creator mapped.
    pub segment_len: u64,
    /// Offset of the payload from the start of the segment.
    pub payload_offset: u64,
    /// Length of the payload.
    pub payload_len: u64,
    /// Payload type size.
    pub type_size: u64,
    /// Payload type alignment.
    pub type_align: u64,
    /// Payload type fingerprint.
    pub type_fingerprint: u64,
    /// Object kind name, NUL-padded.
    pub kind_name: [u8; 32],
    /// Payload type name, NUL-padded.
    pub type_name: [u8; 128],
    /// FNV-1a checksum of bytes 0..248 with `state` zeroed.
    pub checksum: u64,
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(Header, state) == STATE_OFFSET);
const _: () = assert!(core::mem::offset_of!(Header, checksum) == CHECKSUM_OFFSET);
const _: () = assert!(core::mem::offset_of!(Header, creator) == 24);
const _: () = assert!(core::mem::offset_of!(Header, type_name) == 120);

fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let s = truncate(s, N);
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

fn unpadded(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// What a successful check of a header established.
#[derive(Debug, Clone, Copy)]
pub struct CheckedLayout {
    /// Offset of the payload.
    pub payload_offset: usize,
    /// Length of the payload.
    pub payload_len: usize,
}

impl Header {
    /// A complete header for a new object, with its checksum and `state = READY`.
    pub fn new(
        kind: ObjectKind,
        ty: &TypeDesc,
        segment_len: u64,
        payload_offset: u64,
        payload_len: u64,
    ) -> Self {
        let mut h = Header {
            magic: MAGIC,
            format_version: FORMAT_VERSION,
            state: STATE_READY,
            kind_code: kind.code,
            kind_version: kind.version,
            creator: ProcessIdentity::current(),
            segment_len,
            payload_offset,
            payload_len,
            type_size: ty.size,
            type_align: ty.align,
            type_fingerprint: ty.fingerprint,
            kind_name: padded(kind.name),
            type_name: padded(&ty.name),
            checksum: 0,
        };
        h.checksum = h.compute_checksum();
        h
    }

    /// Where the payload of an object of type alignment `align` and length
    /// `payload_len` goes, and the total segment length.
    pub fn plan(payload_len: u64, align: u64) -> Result<(u64, u64)> {
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(Error::InvalidArgument {
                reason: "payload alignment must be a power of two up to 4096",
            });
        }
        let offset = (HEADER_LEN as u64).next_multiple_of(align);
        let total = offset
            .checked_add(payload_len)
            .filter(|&t| t <= super::raw::MAX_SEGMENT_LEN)
            .ok_or(Error::InvalidSize {
                size: payload_len,
                reason: "payload larger than the 1 TiB limit",
            })?;
        Ok((offset, total))
    }

    fn compute_checksum(&self) -> u64 {
        let mut copy = *self;
        copy.state = 0;
        fnv1a(FNV_OFFSET, &copy.as_bytes()[..CHECKSUM_OFFSET])
    }

    /// Copies a header out of shared memory with relaxed atomic word loads.
    ///
    /// # Safety
    /// `base` must point to at least [`HEADER_LEN`] mapped, readable bytes,
    /// aligned to 8.
    pub unsafe fn read_from(base: *const u8) -> Header {
        let mut words = [0u64; HEADER_LEN / 8];
        for (i, w) in words.iter_mut().enumerate() {
            // SAFETY: the caller guarantees HEADER_LEN readable bytes at an
            // 8-aligned `base`, so word `i` is in bounds and aligned; AtomicU64
            // has the layout of u64, and an atomic load cannot tear or race.
            *w = unsafe { (*base.add(i * 8).cast::<AtomicU64>()).load(Ordering::Relaxed) };
        }
        // Any 256 bytes are a valid Header (it is FromBytes).
        Header::read_from_bytes(words.as_bytes())
            .unwrap_or_else(|_| unreachable!("sizes match by const assert"))
    }

    /// The `state` word of a header in shared memory.
    ///
    /// # Safety
    /// `base` must point to at least [`HEADER_LEN`] mapped bytes, aligned to 8,
    /// that stay mapped for `'a`.
    pub unsafe fn state_word<'a>(base: *const u8) -> &'a AtomicU32 {
        // SAFETY: offset 12 is in bounds and 4-aligned; the caller guarantees
        // the mapping outlives 'a; AtomicU32 permits concurrent access.
        unsafe { &*base.add(STATE_OFFSET).cast::<AtomicU32>() }
    }

    /// Checks a READY header against what the opener expects and against the
    /// mapping it was found in.
    pub fn check(
        &self,
        kind: ObjectKind,
        ty: Option<&TypeDesc>,
        mapped_len: usize,
    ) -> Result<CheckedLayout> {
        let corrupt = |reason: &str| Error::CorruptHeader {
            object: String::new(),
            reason: reason.to_owned(),
        };
        if self.magic != MAGIC {
            return Err(corrupt("bad magic: not a toolkit segment"));
        }
        if self.format_version != FORMAT_VERSION {
            return Err(Error::WrongVersion {
                object: String::new(),
                expected: FORMAT_VERSION,
                found: self.format_version,
            });
        }
        if self.checksum != self.compute_checksum() {
            return Err(corrupt(
                "checksum mismatch: the header was modified or damaged",
            ));
        }
        if self.kind_code != kind.code {
            return Err(Error::WrongKind {
                object: String::new(),
                expected: kind.name,
                found: format!("{} (code {})", unpadded(&self.kind_name), self.kind_code),
            });
        }
        if self.kind_version != kind.version {
            return Err(Error::WrongVersion {
                object: String::new(),
                expected: kind.version,
                found: self.kind_version,
            });
        }
        if let Some(ty) = ty
            && (self.type_fingerprint != ty.fingerprint
                || self.type_size != ty.size
                || self.type_align != ty.align)
        {
            return Err(Error::WrongType {
                object: String::new(),
                expected: ty.to_string(),
                found: self.type_desc().to_string(),
            });
        }
        // The layout must fit inside what is actually mapped; a checksum
        // collision or a truncated file must not become an out-of-bounds access.
        let align_ok = self.type_align.is_power_of_two() && self.type_align <= MAX_ALIGN;
        let end = self.payload_offset.checked_add(self.payload_len);
        let fits = self.payload_offset >= HEADER_LEN as u64
            && align_ok
            && self.payload_offset.is_multiple_of(self.type_align)
            && end.is_some_and(|e| e <= self.segment_len);
        if !fits {
            return Err(corrupt("payload offset, length or alignment out of range"));
        }
        if self.segment_len > mapped_len as u64 {
            return Err(Error::CorruptHeader {
                object: String::new(),
                reason: format!(
                    "segment truncated: header records {} bytes, only {} present",
                    self.segment_len, mapped_len
                ),
            });
        }
        Ok(CheckedLayout {
            payload_offset: self.payload_offset as usize,
            payload_len: self.payload_len as usize,
        })
    }

    /// The payload type recorded in the header.
    pub fn type_desc(&self) -> TypeDesc {
        TypeDesc {
            name: unpadded(&self.type_name),
            size: self.type_size,
            align: self.type_align,
            fingerprint: self.type_fingerprint,
        }
    }

    /// Whether the first bytes carry the toolkit's magic.
    pub fn has_magic(&self) -> bool {
        self.magic == MAGIC
    }

    /// Whether this is a toolkit header of this format whose checksum holds
    /// (its state aside): the kind, type and creator fields can be trusted.
    pub fn is_intact(&self) -> bool {
        self.has_magic()
            && self.format_version == FORMAT_VERSION
            && self.checksum == self.compute_checksum()
    }

    /// The object kind's name, as recorded.
    pub fn kind_name(&self) -> String {
        unpadded(&self.kind_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: ObjectKind = ObjectKind {
        code: 77,
        version: 3,
        name: "test object",
    };

    fn ready(payload_len: u64) -> Header {
        let ty = TypeDesc::of::<u64>();
        let (off, total) = Header::plan(payload_len, 8).unwrap();
        Header::new(K, &ty, total, off, payload_len)
    }

    #[test]
    fn round_trip_checks() {
        let h = ready(64);
        let l = h.check(K, Some(&TypeDesc::of::<u64>()), 4096).unwrap();
        assert_eq!(l.payload_offset, HEADER_LEN);
        assert_eq!(l.payload_len, 64);
    }

    #[test]
    fn wrong_type_names_both_sides() {
        let h = ready(64);
        let e = h.check(K, Some(&TypeDesc::of::<u32>()), 4096).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("u32") && msg.contains("u64"), "{msg}");
    }

    #[test]
    fn wrong_kind_and_version() {
        let h = ready(8);
        let other = ObjectKind {
            code: 78,
            version: 3,
            name: "other",
        };
        assert!(matches!(
            h.check(other, None, 4096),
            Err(Error::WrongKind { .. })
        ));
        let newer = ObjectKind { version: 4, ..K };
        assert!(matches!(
            h.check(newer, None, 4096),
            Err(Error::WrongVersion {
                expected: 4,
                found: 3,
                ..
            })
        ));
    }

    #[test]
    fn truncated_mapping_refused() {
        let h = ready(4096);
        assert!(matches!(
            h.check(K, None, 1024),
            Err(Error::CorruptHeader { .. })
        ));
    }

    #[test]
    fn plan_rejects_bad_alignment() {
        assert!(Header::plan(8, 3).is_err());
        assert!(Header::plan(8, 8192).is_err());
        assert!(Header::plan(u64::MAX, 8).is_err());
    }
}
