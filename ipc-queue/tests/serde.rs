//! Structured values (feature `serde`) between real processes: records with
//! strings and vectors through a named queue and a pipe, the errors for a
//! value too large and a frame of another type, and a producer SIGKILLed in
//! the middle of encoding a value, which never exposes half a frame.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipc_core::segment::SegmentOptions;
use ipc_queue::{Error, Pipe, Queue};
use ipc_test_support::{daemon, eventually, join_ok, park, slots, unique_name};
use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LogRecord {
    id: u64,
    ts: u64,
    msg: String,
    tags: Vec<u32>,
    origin: Option<String>,
}

fn record(id: u64) -> LogRecord {
    LogRecord {
        id,
        ts: 1_700_000_000 + id,
        msg: format!("request {id} served in {} ms", id % 17),
        tags: (0..(id % 5) as u32).collect(),
        origin: id.is_multiple_of(2).then(|| format!("worker-{}", id % 3)),
    }
}

#[test]
fn records_cross_processes_through_a_queue_and_a_pipe() {
    let name = unique_name("serde-q");
    let q = Queue::<u8>::builder()
        .named(&name)
        .capacity(64)
        .create()
        .unwrap();
    let pipe = unique_name("serde-p");
    let (a, _b) = Pipe::<u8>::builder().named(&pipe).create().unwrap();
    let child = daemon({
        let (name, pipe) = (name.clone(), pipe.clone());
        move || {
            let q = Queue::<u8>::builder().named(&name).open().unwrap();
            for id in 0..1000 {
                q.put_serde(&record(id)).unwrap();
            }
            let b = Pipe::<u8>::builder()
                .named(&pipe)
                .open(ipc_queue::pipe::Side::B)
                .unwrap();
            for _ in 0..100 {
                let r: LogRecord = b.recv_serde().unwrap();
                b.send_serde(&LogRecord { id: r.id + 1, ..r }).unwrap();
            }
        }
    });
    for id in 0..1000 {
        assert_eq!(q.get_serde::<LogRecord>().unwrap(), record(id));
    }
    for id in 0..100 {
        a.send_serde(&record(id)).unwrap();
        let back: LogRecord = a.recv_serde().unwrap();
        assert_eq!(
            back,
            LogRecord {
                id: id + 1,
                ..record(id)
            }
        );
    }
    join_ok(child);
}

#[test]
fn too_large_and_wrong_type_are_typed_errors() {
    let q = Queue::<u8>::builder()
        .capacity(4)
        .max_frame(64)
        .create()
        .unwrap();
    let big = LogRecord {
        msg: "x".repeat(100),
        ..record(1)
    };
    match q.put_serde(&big) {
        Err(Error::TooLarge { len, max: 64 }) => assert!(len > 100, "{len}"),
        other => panic!("{other:?}"),
    }
    assert!(q.is_empty(), "nothing was sent");
    q.put_serde(&(1u8, 2u8)).unwrap();
    q.put_serde(&record(2)).unwrap();
    // A frame of another type: an error naming the type; the frame is gone.
    match q.get_serde::<LogRecord>() {
        Err(Error::Decode { type_name, .. }) => assert!(type_name.contains("LogRecord")),
        other => panic!("{other:?}"),
    }
    assert_eq!(q.get_serde::<LogRecord>().unwrap(), record(2));
    assert_eq!(q.try_get_serde::<LogRecord>(), Err(Error::Empty));
    // The same on a pipe.
    let (a, b) = Pipe::<u8>::builder().max_frame(64).create().unwrap();
    assert!(matches!(
        a.send_serde(&big),
        Err(Error::TooLarge { max: 64, .. })
    ));
    a.send_serde(&"text").unwrap();
    assert!(matches!(b.recv_serde::<u64>(), Err(Error::Decode { .. })));
    assert_eq!(b.try_recv_serde::<u64>(), Err(Error::Empty));
}

/// A value whose serialization signals, then parks: the producer is
/// SIGKILLed halfway through writing its frame into the slot.
struct Stalls<'a>(&'a ipc_core::segment::Shared<[std::sync::atomic::AtomicU64; 1]>);

impl Serialize for Stalls<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element("the first half of a frame that never completes")?;
        self.0[0].store(1, Ordering::SeqCst);
        park();
        #[allow(unreachable_code)]
        {
            t.serialize_element(&0u64)?;
            t.end()
        }
    }
}

#[test]
fn a_producer_killed_mid_encode_exposes_nothing() {
    for pipe in [false, true] {
        let name = unique_name("serde-kill");
        let inside = Arc::new(slots::<1>());
        let q = Queue::<u8>::builder()
            .named(&name)
            .capacity(8)
            .create()
            .unwrap();
        let (rx, tx_name) = if pipe {
            let (a, _b) = Pipe::<u8>::builder()
                .named(&format!("{name}-p"))
                .create()
                .unwrap();
            (Some(a), format!("{name}-p"))
        } else {
            (None, String::new())
        };
        let producer = daemon({
            let (name, inside, tx_name) = (name.clone(), inside.clone(), tx_name.clone());
            move || {
                if pipe {
                    let b = Pipe::<u8>::builder()
                        .named(&tx_name)
                        .open(ipc_queue::pipe::Side::B)
                        .unwrap();
                    b.send_serde(&record(1)).unwrap();
                    let _ = b.send_serde(&Stalls(&inside));
                } else {
                    let q = Queue::<u8>::builder().named(&name).open().unwrap();
                    q.put_serde(&record(1)).unwrap();
                    let _ = q.put_serde(&Stalls(&inside));
                }
            }
        });
        assert!(eventually(Duration::from_secs(5), || inside[0]
            .load(Ordering::SeqCst)
            == 1));
        producer.kill().unwrap();
        let _ = producer.join();
        if let Some(a) = rx {
            assert_eq!(a.recv_serde::<LogRecord>().unwrap(), record(1));
            assert_eq!(a.recv_serde::<LogRecord>(), Err(Error::Disconnected));
        } else {
            assert_eq!(q.get_serde::<LogRecord>().unwrap(), record(1));
            // The half-written slot is stepped over; the queue goes on.
            assert_eq!(
                q.get_serde_timeout::<LogRecord>(Duration::from_millis(300)),
                Err(Error::Disconnected)
            );
            q.put_serde(&record(2)).unwrap();
            assert_eq!(q.get_serde::<LogRecord>().unwrap(), record(2));
        }
        let _ = SegmentOptions::named(&name);
    }
}

/// rkyv archives (feature `rkyv`): written into the slot by another
/// process, read in place; garbage and a truncated archive are typed
/// errors; an archive larger than the frame is refused.
#[test]
fn archives_read_in_place_across_processes() {
    #[derive(rkyv::Archive, rkyv::Serialize)]
    struct Trade {
        id: u64,
        symbol: String,
        prices: Vec<u32>,
    }
    let name = unique_name("rkyv-q");
    let q = Queue::<u8>::builder()
        .named(&name)
        .capacity(32)
        .max_frame(512)
        .create()
        .unwrap();
    let child = daemon({
        let name = name.clone();
        move || {
            let q = Queue::<u8>::builder().named(&name).open().unwrap();
            for id in 0..200u64 {
                let trade = Trade {
                    id,
                    symbol: format!("SYM{}", id % 7),
                    prices: (0..(id % 9) as u32).collect(),
                };
                q.put_rkyv(&trade).unwrap();
            }
            // Not archives: garbage, and a valid archive cut short.
            q.put_bytes(&[0xff; 40]).unwrap();
            let mut buf = Vec::new();
            let t = Trade {
                id: 1,
                symbol: "X".repeat(30),
                prices: vec![1, 2, 3],
            };
            let full = rkyv::to_bytes::<rkyv::rancor::Error>(&t).unwrap();
            buf.extend_from_slice(&full[..full.len() / 2]);
            q.put_bytes(&buf).unwrap();
            let too_big = Trade {
                id: 2,
                symbol: "Y".repeat(600),
                prices: vec![],
            };
            assert!(matches!(q.put_rkyv(&too_big), Err(Error::Encode { .. })));
            q.put_rkyv(&Trade {
                id: 999,
                symbol: "END".into(),
                prices: vec![],
            })
            .unwrap();
        }
    });
    for id in 0..200u64 {
        let (got, symbol_ok, n) = q
            .get_rkyv_with::<Trade, _>(|t| {
                (
                    t.id.to_native(),
                    t.symbol.as_str() == format!("SYM{}", id % 7),
                    t.prices.len(),
                )
            })
            .unwrap();
        assert_eq!((got, symbol_ok, n as u64), (id, true, id % 9));
    }
    for _ in 0..2 {
        match q.get_rkyv_with::<Trade, _>(|t| t.id.to_native()) {
            Err(Error::Decode { type_name, .. }) => assert!(type_name.contains("Trade")),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        q.get_rkyv_with::<Trade, _>(|t| t.id.to_native()).unwrap(),
        999
    );
    join_ok(child);
}

/// Serde records in a byte ring take their encoded length, not the frame
/// limit: 64 slots of records fit a 16 KiB ring whose frame limit is the
/// whole ring, between processes, in order.
#[test]
fn records_in_a_byte_ring_take_their_own_length() {
    let q = Queue::<u8>::builder()
        .capacity(64)
        .ring_bytes(16 << 10)
        .create()
        .unwrap();
    assert_eq!(q.max_frame(), 16 << 10);
    let tx = q.clone();
    let child = daemon(move || {
        for id in 0..2000 {
            tx.put_serde(&record(id)).unwrap();
        }
    });
    // Fill-up check: with every record reserving the 16 KiB limit, one
    // would fit at a time; with their own lengths, dozens do.
    assert!(ipc_test_support::eventually(
        std::time::Duration::from_secs(10),
        || q.len() >= 32
    ));
    for id in 0..2000 {
        assert_eq!(q.get_serde::<LogRecord>().unwrap(), record(id));
    }
    join_ok(child);
}

/// rkyv archives through a pipe (fixed slots, and a byte ring where each
/// archive takes only its length), read in place across processes; garbage
/// is a `Decode` error, an archive over the frame an `Encode` error.
#[test]
fn archives_read_in_place_through_pipes() {
    #[derive(rkyv::Archive, rkyv::Serialize)]
    struct Trade {
        id: u64,
        symbol: String,
        prices: Vec<u32>,
    }
    for ring in [0, 8 << 10] {
        let (a, b) = Pipe::<u8>::builder()
            .capacity(64)
            .max_frame(512)
            .ring_bytes(ring)
            .create()
            .unwrap();
        let child = daemon(move || {
            for id in 0..300u64 {
                a.send_rkyv(&Trade {
                    id,
                    symbol: format!("SYM{}", id % 7),
                    prices: (0..(id % 9) as u32).collect(),
                })
                .unwrap();
            }
            a.send_bytes(&[0xff; 40]).unwrap();
            let too_big = Trade {
                id: 2,
                symbol: "Y".repeat(600),
                prices: vec![],
            };
            assert!(matches!(a.send_rkyv(&too_big), Err(Error::Encode { .. })));
            a.send_rkyv(&Trade {
                id: 999,
                symbol: "END".into(),
                prices: vec![],
            })
            .unwrap();
        });
        for id in 0..300u64 {
            let got = b
                .recv_rkyv_with::<Trade, _>(|t| {
                    (
                        t.id.to_native(),
                        t.symbol.as_str() == format!("SYM{}", id % 7),
                        t.prices.len() as u64,
                    )
                })
                .unwrap();
            assert_eq!(got, (id, true, id % 9), "ring {ring}");
        }
        assert!(matches!(
            b.recv_rkyv_with::<Trade, _>(|t| t.id.to_native()),
            Err(Error::Decode { .. })
        ));
        assert_eq!(
            b.recv_rkyv_with::<Trade, _>(|t| t.id.to_native()).unwrap(),
            999
        );
        join_ok(child);
    }
}

/// A receiver killed while it reads a frame in place (`recv_bytes_with`)
/// leaves the frame queued: the process that takes the end over receives
/// it, in a pipe of fixed slots and in a byte ring.
#[test]
fn a_receiver_killed_reading_in_place_leaves_the_frame_queued() {
    for ring in [0, 4096] {
        let name = unique_name("inplace");
        let (tx, rx) = Pipe::<u8>::builder()
            .named(&name)
            .capacity(8)
            .ring_bytes(ring)
            .channel()
            .unwrap();
        tx.send_bytes(b"first").unwrap();
        tx.send_bytes(b"second").unwrap();
        let inside = slots::<1>();
        let child = daemon({
            let inside = inside.try_clone().unwrap();
            // The child continues this process's receiving end.
            move || {
                rx.recv_bytes_with(|b| {
                    assert_eq!(b, b"first");
                    inside[0].store(1, Ordering::SeqCst);
                    park()
                })
                .unwrap();
            }
        });
        assert!(eventually(Duration::from_secs(10), || inside[0]
            .load(Ordering::SeqCst)
            == 1));
        child.kill().unwrap();
        let _ = child.join();
        let rx = Pipe::<u8>::builder().named(&name).open_receiver().unwrap();
        assert_eq!(
            rx.recv_bytes_timeout(Duration::from_secs(10)).unwrap(),
            b"first"
        );
        assert_eq!(
            rx.recv_bytes_timeout(Duration::from_secs(10)).unwrap(),
            b"second"
        );
    }
}

/// `get_rkyv` hands out guards that dereference to the archived value in
/// shared memory; several may be held at once, each frees its slot on drop;
/// garbage is a `Decode` error and is consumed.
#[test]
fn archived_guards_read_in_place_across_processes() {
    #[derive(rkyv::Archive, rkyv::Serialize)]
    struct Order {
        id: u64,
        lines: Vec<String>,
    }
    let q = Queue::<u8>::builder()
        .capacity(8)
        .ring_bytes(16 << 10)
        .create()
        .unwrap();
    let tx = q.clone();
    let child = daemon(move || {
        for id in 0..4u64 {
            tx.put_rkyv(&Order {
                id,
                lines: (0..id).map(|i| format!("line {i}")).collect(),
            })
            .unwrap();
        }
        tx.put_bytes(&[0xee; 24]).unwrap();
    });
    let a = q.get_rkyv::<Order>().unwrap();
    let b = q.get_rkyv::<Order>().unwrap();
    assert_eq!((a.id.to_native(), b.id.to_native()), (0, 1));
    assert_eq!(b.lines[0].as_str(), "line 0");
    drop((a, b));
    for id in 2..4u64 {
        let o = q
            .get_rkyv_timeout::<Order>(Duration::from_secs(10))
            .unwrap();
        assert_eq!((o.id.to_native(), o.lines.len() as u64), (id, id));
    }
    assert!(matches!(
        q.get_rkyv_timeout::<Order>(Duration::from_secs(10)),
        Err(Error::Decode { .. })
    ));
    assert_eq!(q.try_get_rkyv::<Order>().unwrap_err(), Error::Empty);
    join_ok(child);
}
