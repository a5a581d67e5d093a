//! Property-based fuzzing of the header parser: arbitrary bytes, and valid
//! headers with random damage, must give a typed error or a layout that fits
//! the mapping, never a panic.

use std::sync::atomic::AtomicU64;

use ipc_core::Error;
use ipc_core::segment::{HEADER_LEN, Header, ObjectKind, SegmentOptions, Shared, TypeDesc};
use proptest::prelude::*;
use zerocopy::{FromBytes, IntoBytes};

const KIND: ObjectKind = ObjectKind {
    code: 901,
    version: 1,
    name: "fuzz object",
};

fn valid_header(payload_len: u64) -> Header {
    let ty = TypeDesc::of::<u64>();
    let (off, total) = Header::plan(payload_len, 8).unwrap();
    Header::new(KIND, &ty, total, off, payload_len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any 256 bytes: `check` returns an error or a layout inside the mapping.
    #[test]
    fn arbitrary_bytes_never_escape_the_mapping(bytes in proptest::collection::vec(any::<u8>(), HEADER_LEN), mapped in 0usize..1 << 20) {
        let h = Header::read_from_bytes(&bytes).unwrap();
        if let Ok(l) = h.check(KIND, None, mapped) {
            prop_assert!(l.payload_offset >= HEADER_LEN);
            prop_assert!(l.payload_offset + l.payload_len <= mapped);
        }
    }

    /// A valid header with any byte changed (other than the mutable state word)
    /// is refused.
    #[test]
    fn any_single_byte_damage_is_detected(pos in 0usize..HEADER_LEN, xor in 1u8..=255, payload in 0u64..100_000) {
        prop_assume!(!(12..16).contains(&pos));
        let mut bytes = valid_header(payload).as_bytes().to_vec();
        bytes[pos] ^= xor;
        let h = Header::read_from_bytes(&bytes).unwrap();
        prop_assert!(h.check(KIND, Some(&TypeDesc::of::<u64>()), 1 << 20).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The whole open path over files with random contents and lengths.
    #[test]
    fn random_files_are_refused_through_open(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let path = std::env::temp_dir().join(ipc_test_support::unique_name("fuzzfile"));
        std::fs::write(&path, &bytes).unwrap();
        let opts = SegmentOptions::file(&path).init_timeout(std::time::Duration::from_millis(5));
        let r = Shared::<AtomicU64>::open(&opts);
        std::fs::remove_file(&path).unwrap();
        prop_assert!(matches!(r, Err(Error::CorruptHeader { .. } | Error::WrongVersion { .. })), "{:?}", r.map(|_| ()));
    }
}
