//! Property test: the dictionary behaves like `std::collections::HashMap`.

use std::collections::HashMap;

use ipc_core::segment::SegmentOptions;
use ipc_manager::{Error, Manager, ManagerConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, Vec<u8>),
    InsertBig(u8, u16, u8),
    InsertTyped(u8, u64),
    Get(u8),
    GetTyped(u8),
    GetRef(u8),
    Contains(u8),
    Remove(u8),
    Pop(u8),
    SetDefault(u8, Vec<u8>),
    Update(Vec<(u8, Vec<u8>)>),
    Clear,
    Len,
    Items,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..40;
    let val = prop::collection::vec(any::<u8>(), 0..48);
    prop_oneof![
        6 => (key.clone(), val.clone()).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => (key.clone(), 1000u16..6000, any::<u8>()).prop_map(|(k, n, b)| Op::InsertBig(k, n, b)),
        2 => (key.clone(), any::<u64>()).prop_map(|(k, v)| Op::InsertTyped(k, v)),
        4 => key.clone().prop_map(Op::Get),
        2 => key.clone().prop_map(Op::GetTyped),
        1 => key.clone().prop_map(Op::GetRef),
        1 => key.clone().prop_map(Op::Contains),
        3 => key.clone().prop_map(Op::Remove),
        2 => key.clone().prop_map(Op::Pop),
        1 => (key.clone(), val.clone()).prop_map(|(k, v)| Op::SetDefault(k, v)),
        1 => prop::collection::vec((key, val), 0..12).prop_map(Op::Update),
        1 => Just(Op::Clear),
        1 => Just(Op::Len),
        1 => Just(Op::Items),
    ]
}

fn key(k: u8) -> Vec<u8> {
    // Keys of varied length, some sharing prefixes.
    let mut v = format!("key/{k}").into_bytes();
    v.extend(std::iter::repeat_n(b'x', usize::from(k % 7) * 5));
    v
}

/// The model: bytes, and whether they were stored as a typed u64.
type Model = HashMap<Vec<u8>, (Vec<u8>, bool)>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn dict_matches_hashmap(ops in prop::collection::vec(op(), 1..250)) {
        let config = ManagerConfig { initial_size: 64 * 1024, anonymous_capacity: 64 << 20, ..ManagerConfig::default() };
        let m = Manager::builder().options(SegmentOptions::anonymous()).config(config.clone()).create().unwrap();
        let d = m.dict("model").unwrap();
        let mut model: Model = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    d.insert(&key(k)[..], &v).unwrap();
                    model.insert(key(k), (v, false));
                }
                Op::InsertBig(k, n, b) => {
                    let v = vec![b; usize::from(n)];
                    d.insert(&key(k)[..], &v).unwrap();
                    model.insert(key(k), (v, false));
                }
                Op::InsertTyped(k, v) => {
                    d.insert_as(&key(k)[..], &v).unwrap();
                    model.insert(key(k), (v.to_ne_bytes().to_vec(), true));
                }
                Op::Get(k) => {
                    prop_assert_eq!(d.get(&key(k)[..]).unwrap(), model.get(&key(k)).map(|(v, _)| v.clone()));
                }
                Op::GetTyped(k) => {
                    let got = d.get_as::<_, u64>(&key(k)[..]);
                    match model.get(&key(k)) {
                        None => prop_assert_eq!(got.unwrap(), None),
                        Some((v, true)) => prop_assert_eq!(got.unwrap(), Some(u64::from_ne_bytes(v[..].try_into().unwrap()))),
                        Some((_, false)) => {
                            let wrong_type = matches!(got, Err(Error::WrongType { .. }));
                            prop_assert!(wrong_type, "bytes read as u64: {:?}", got);
                        }
                    }
                }
                Op::GetRef(k) => {
                    let got = d.get_ref(&key(k)[..]).unwrap();
                    prop_assert_eq!(got.as_deref(), model.get(&key(k)).map(|(v, _)| &v[..]));
                    if let (Some(g), Some((_, typed))) = (&got, model.get(&key(k))) {
                        prop_assert_eq!(g.typed::<u64>().is_ok(), *typed);
                    }
                }
                Op::Contains(k) => {
                    prop_assert_eq!(d.contains(&key(k)[..]).unwrap(), model.contains_key(&key(k)));
                }
                Op::Remove(k) => {
                    prop_assert_eq!(d.remove(&key(k)[..]).unwrap(), model.remove(&key(k)).is_some());
                }
                Op::Pop(k) => {
                    prop_assert_eq!(d.pop(&key(k)[..]).unwrap(), model.remove(&key(k)).map(|(v, _)| v));
                }
                Op::SetDefault(k, v) => {
                    let want = model.entry(key(k)).or_insert((v.clone(), false)).0.clone();
                    prop_assert_eq!(d.get_or_insert(&key(k)[..], &v).unwrap(), want);
                }
                Op::Update(items) => {
                    d.update(items.iter().map(|(k, v)| (key(*k), v.clone()))).unwrap();
                    for (k, v) in items {
                        model.insert(key(k), (v, false));
                    }
                }
                Op::Clear => {
                    d.clear().unwrap();
                    model.clear();
                }
                Op::Len => {
                    prop_assert_eq!(d.len().unwrap(), model.len() as u64);
                    prop_assert_eq!(d.is_empty().unwrap(), model.is_empty());
                }
                Op::Items => {
                    let items: HashMap<Vec<u8>, Vec<u8>> = d.items().unwrap().into_iter().collect();
                    let want: HashMap<Vec<u8>, Vec<u8>> = model.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
                    prop_assert_eq!(items, want);
                }
            }
        }
        let mut keys = d.keys().unwrap();
        keys.sort();
        let mut want: Vec<Vec<u8>> = model.keys().cloned().collect();
        want.sort();
        prop_assert_eq!(keys, want);
        let mut values = d.values().unwrap();
        values.sort();
        let mut want: Vec<Vec<u8>> = model.values().map(|(v, _)| v.clone()).collect();
        want.sort();
        prop_assert_eq!(values, want);
        let report = m.check().unwrap();
        prop_assert_eq!(report.leaked_blocks, 0);
        // Everything removed and reclaimed: the heap is one free block again
        // (plus the dictionary's own block and the registry's).
        d.clear().unwrap();
        m.reclaim().unwrap();
        let report = m.check().unwrap();
        prop_assert!(report.free_blocks <= 2, "heap not merged back: {:?}", report);
    }
}

/// A typed view refuses values of other types and round-trips its own.
#[test]
fn typed_view_round_trip() {
    let m = Manager::new().unwrap();
    let d = m.dict("t").unwrap();
    let t = d.typed::<str, [u32; 3]>().unwrap();
    t.insert("a", &[1, 2, 3]).unwrap();
    assert_eq!(t.get("a").unwrap(), Some([1, 2, 3]));
    assert_eq!(*t.get_ref("a").unwrap().unwrap(), [1, 2, 3]);
    assert_eq!(t.get_or_insert("b", &[4, 5, 6]).unwrap(), [4, 5, 6]);
    assert_eq!(t.get_or_insert("b", &[0, 0, 0]).unwrap(), [4, 5, 6]);
    t.update([("c", [7, 8, 9])]).unwrap();
    let mut items = t.items().unwrap();
    items.sort();
    assert_eq!(
        items,
        vec![
            (b"a".to_vec(), [1, 2, 3]),
            (b"b".to_vec(), [4, 5, 6]),
            (b"c".to_vec(), [7, 8, 9])
        ]
    );
    d.insert("bytes", b"123456789012").unwrap();
    let err = t.get("bytes").unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err}");
    assert!(err.to_string().contains("bytes"), "{err}");
    d.insert_as("other", &7u64).unwrap();
    let err = t.get("other").unwrap_err();
    assert!(err.to_string().contains("u64"), "{err}");
    assert!(t.items().is_err());
    assert_eq!(t.pop("a").unwrap(), Some([1, 2, 3]));
    assert!(!t.contains("a").unwrap());
}
