//! Property test: the queue's ring index handling against a `VecDeque` model,
//! over random interleavings of every operation on small capacities.

use std::collections::VecDeque;

use ipc_queue::{Error, Queue};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    TryPut(u64),
    TryGet,
    PutBatch(Vec<u64>),
    GetBatch(usize),
    Loan { value: u64, commit: bool },
    Guard,
    GetWith,
    Bytes(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u64>().prop_map(Op::TryPut),
        Just(Op::TryGet),
        proptest::collection::vec(any::<u64>(), 1..6).prop_map(Op::PutBatch),
        (1usize..6).prop_map(Op::GetBatch),
        (any::<u64>(), any::<bool>()).prop_map(|(value, commit)| Op::Loan { value, commit }),
        Just(Op::Guard),
        Just(Op::GetWith),
        proptest::collection::vec(any::<u8>(), 8..=8).prop_map(Op::Bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn queue_matches_model(capacity in 1usize..6, ops in proptest::collection::vec(op(), 1..80)) {
        run_model(&Queue::<u64>::new(capacity).unwrap(), capacity, ops)?;
    }

    /// The same over a byte ring of 64 or 128 bytes: 8 or 16 frames of a
    /// u64, so with up to 11 slots either the slots or the bytes run out
    /// first, and the ring wraps every few operations.
    #[test]
    fn byte_ring_queue_matches_model(
        capacity in 1usize..12,
        ring in prop_oneof![Just(64usize), Just(128)],
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let q = Queue::<u64>::builder().capacity(capacity).ring_bytes(ring).create().unwrap();
        run_model(&q, capacity.min(ring / 8), ops)?;
    }
}

/// Runs `ops` on `q`, which holds at most `capacity` messages, and on a
/// `VecDeque`, comparing every result.
fn run_model(q: &Queue<u64>, capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut model: VecDeque<u64> = VecDeque::new();
    for op in ops {
        match op {
            Op::TryPut(v) => {
                let r = q.try_put(&v);
                if model.len() < capacity {
                    prop_assert_eq!(r, Ok(()));
                    model.push_back(v);
                } else {
                    prop_assert_eq!(r, Err(Error::Full));
                }
            }
            Op::TryGet => prop_assert_eq!(q.try_get().ok(), model.pop_front()),
            Op::PutBatch(vs) => {
                if model.len() == capacity {
                    continue;
                } // put_batch would block
                let n = q.put_batch(&vs).unwrap();
                prop_assert_eq!(n, vs.len().min(capacity - model.len()));
                model.extend(&vs[..n]);
            }
            Op::GetBatch(k) => {
                if model.is_empty() {
                    continue;
                } // get_batch would block
                let mut out = vec![0u64; k];
                let n = q.get_batch(&mut out).unwrap();
                prop_assert_eq!(n, k.min(model.len()));
                let expected: Vec<u64> = model.drain(..n).collect();
                prop_assert_eq!(&out[..n], &expected[..]);
            }
            Op::Loan { value, commit } => match q.try_loan() {
                Ok(mut l) => {
                    prop_assert!(model.len() < capacity);
                    *l.as_mut().unwrap() = value;
                    if commit {
                        l.commit();
                        model.push_back(value);
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e, Error::Full);
                    prop_assert_eq!(model.len(), capacity);
                }
            },
            Op::Guard => match q.try_recv_guard() {
                Ok(g) => prop_assert_eq!(Some(*g.get().unwrap()), model.pop_front()),
                Err(e) => {
                    prop_assert_eq!(e, Error::Empty);
                    prop_assert!(model.is_empty());
                }
            },
            Op::GetWith => {
                if model.is_empty() {
                    continue;
                }
                prop_assert_eq!(q.get_with(|v| *v).ok(), model.pop_front());
            }
            Op::Bytes(b) => {
                // An 8-byte frame is indistinguishable from a u64.
                if model.len() == capacity {
                    continue;
                }
                q.put_bytes(&b).unwrap();
                model.push_back(u64::from_ne_bytes(b.try_into().unwrap()));
            }
        }
        prop_assert_eq!(q.len(), model.len());
    }
    Ok(())
}
