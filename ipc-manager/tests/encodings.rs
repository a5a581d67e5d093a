//! Values in encodings of other programs (`Encoding`): stored with their
//! tag, read back in place with it, swapped by tag and bytes.

use ipc_manager::{Encoding, Error, Manager};

const PICKLE: Encoding = Encoding::named("test pickle");

#[test]
fn encoded_values_keep_their_tag_and_swap_by_tag_and_bytes() {
    let m = Manager::new().unwrap();
    let d = m.dict("enc").unwrap();
    d.insert_encoded("p", b"\x80\x05K\x01.", &PICKLE).unwrap();
    d.insert("b", b"raw").unwrap();
    d.insert_as("n", &41i64).unwrap();

    let seen = d
        .get_encoded_with("p", |tag, bytes| (tag, bytes.to_vec()))
        .unwrap();
    assert_eq!(seen, Some((PICKLE.tag(), b"\x80\x05K\x01.".to_vec())));
    assert_eq!(
        d.get_encoded_with("b", |tag, _| tag).unwrap(),
        Some(Encoding::BYTES.tag())
    );
    assert_eq!(
        d.get_encoded_with("n", |tag, b| (tag, b.to_vec())).unwrap(),
        Some((Encoding::of::<i64>().tag(), 41i64.to_le_bytes().to_vec()))
    );
    assert_eq!(d.get_encoded_with("absent", |t, _| t).unwrap(), None);

    // Same bytes under another tag is not the expected value.
    let wrong = d
        .compare_and_swap_encoded(
            "p",
            Some((Encoding::BYTES.tag(), b"\x80\x05K\x01.")),
            b"x",
            &Encoding::BYTES,
        )
        .unwrap();
    assert_eq!(wrong, Err(Some((PICKLE.tag(), b"\x80\x05K\x01.".to_vec()))));
    // The right tag and bytes swap, and the new tag is stored.
    let n42 = 42i64.to_le_bytes();
    let ok = d
        .compare_and_swap_encoded(
            "n",
            Some((Encoding::of::<i64>().tag(), &41i64.to_le_bytes())),
            &n42,
            &Encoding::of::<i64>(),
        )
        .unwrap();
    assert_eq!(ok, Ok(()));
    assert_eq!(d.get_as::<_, i64>("n").unwrap(), Some(42));
    // Absent expected: inserts only if absent.
    assert_eq!(
        d.compare_and_swap_encoded("new", None, b"v", &PICKLE)
            .unwrap(),
        Ok(())
    );
    assert!(matches!(
        d.compare_and_swap_encoded("new", None, b"w", &PICKLE)
            .unwrap(),
        Err(Some(_))
    ));
    // A named encoding reads back as bytes (the raw API) and is named in
    // a typed read's error.
    match d.get_as::<_, u64>("p") {
        Err(Error::WrongType { found, .. }) => assert!(found.contains("test pickle"), "{found}"),
        other => panic!("expected WrongType, got {other:?}"),
    }
    let mut tags = Vec::new();
    d.for_each_tagged(|k, _, tag| {
        tags.push((k.to_vec(), tag));
        Ok(())
    })
    .unwrap();
    assert!(tags.contains(&(b"p".to_vec(), PICKLE.tag())));
}
