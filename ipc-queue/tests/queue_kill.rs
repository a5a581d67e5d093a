//! The Queue's kill loops: producers and consumers SIGKILLed at random
//! points, hundreds of times, while traffic flows, over fixed slots and
//! over a byte ring. In a binary of their own, so that the traffic they
//! need is not starved by the other queue tests' processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::process::Process;
use ipc_core::segment::{SegmentOptions, Shared};
use ipc_queue::{Error, Queue};
use ipc_test_support::{PROMPT, Stamped, daemon, parse_stamped_frame, slots, stamped_frame};

/// Byte-sized delivery counters in an anonymous segment (too many for the stack).
struct ByteCounters {
    seg: ipc_core::segment::Segment,
    len: usize,
}

impl ByteCounters {
    fn new(len: usize) -> Self {
        Self {
            seg: ipc_core::segment::Segment::create(&SegmentOptions::anonymous(), len as u64)
                .unwrap(),
            len,
        }
    }

    fn try_clone(&self) -> Self {
        Self {
            seg: self.seg.try_clone().unwrap(),
            len: self.len,
        }
    }

    fn cell(&self, i: usize) -> &std::sync::atomic::AtomicU8 {
        assert!(i < self.len);
        // SAFETY: `i` is inside the zero-initialised mapping, which lives as
        // long as `self`; AtomicU8 has no alignment requirement.
        unsafe {
            &*self
                .seg
                .as_ptr()
                .add(i)
                .cast::<std::sync::atomic::AtomicU8>()
        }
    }

    fn add(&self, i: usize) {
        self.cell(i).fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self, i: usize) -> u8 {
        self.cell(i).load(Ordering::SeqCst)
    }
}

/// Producers and consumers SIGKILLed at random points, hundreds of times, while
/// traffic flows. Every committed message is delivered, none torn; the only
/// duplicates allowed are messages a killed consumer was still processing
/// inside `get_with` (delivered again by design).
#[test]
fn kill_loop_keeps_every_committed_message() {
    kill_loop(
        Queue::<Stamped>::new(16).unwrap(),
        200,
        |q, m, seq| {
            if seq % 3 == 0 {
                q.loan().map(|mut l| {
                    *l.as_mut().unwrap() = *m;
                    l.commit();
                })
            } else {
                q.put(m)
            }
        },
        |q, timeout, f| q.get_with_timeout(timeout, |m| f(Some(*m))),
    );
}

/// The same kill loop over variable-size frames in a small byte ring (16
/// slots, 8 KiB: frames of 64 B to 1.5 KiB wrap every few messages, and puts
/// wait for bytes as often as for slots). A producer killed mid-frame
/// exposes nothing; a consumer killed mid-read has the frame delivered
/// again; the ring's bytes are never handed out twice (a torn frame would
/// fail its pattern check).
#[test]
fn kill_loop_keeps_every_committed_frame_in_a_byte_ring() {
    kill_loop(
        Queue::<u8>::builder()
            .capacity(16)
            .ring_bytes(8 << 10)
            .max_frame(4 << 10)
            .create()
            .unwrap(),
        400,
        |q, m, seq| {
            let frame = stamped_frame(m);
            if seq % 3 == 0 {
                q.loan_bytes(frame.len()).map(|mut l| {
                    l.bytes_mut().copy_from_slice(&frame);
                    l.commit_bytes(frame.len());
                })
            } else {
                q.put_bytes(&frame)
            }
        },
        |q, timeout, f| q.get_bytes_with_timeout(timeout, |b| f(parse_stamped_frame(b))),
    );
}

type PutFn<T> = fn(&Queue<T>, &Stamped, u64) -> Result<(), Error>;
type GetFn<T> = fn(&Queue<T>, Duration, &mut dyn FnMut(Option<Stamped>)) -> Result<(), Error>;

/// Two producers and two consumers on `q`, SIGKILLed at random and
/// restarted; `put` sends a message, `get` hands one to its callback
/// (`None`: a torn one) and commits when the callback returns; `kills`
/// processes are killed in all.
fn kill_loop<T: ipc_queue::Message>(q: Queue<T>, kills: usize, put: PutFn<T>, get: GetFn<T>) {
    const ROLES: usize = 4; // producers 0,1; consumers 2,3
    const INCARNATIONS: usize = 512;
    const MAX_SEQ: usize = 4096;
    assert!(kills + ROLES < INCARNATIONS);
    // Per incarnation: [0] last seq whose put returned + 1.
    let returned = Shared::create(
        &SegmentOptions::anonymous(),
        std::array::from_fn::<AtomicU64, INCARNATIONS, _>(|_| AtomicU64::new(0)),
    )
    .unwrap();
    // Deliveries per (incarnation, seq), flattened.
    let seen = ByteCounters::new(INCARNATIONS * MAX_SEQ);
    // Per consumer incarnation: the (incarnation * MAX_SEQ + seq) + 1 it is processing, 0 if none.
    let inflight = Shared::create(
        &SegmentOptions::anonymous(),
        std::array::from_fn::<AtomicU64, INCARNATIONS, _>(|_| AtomicU64::new(0)),
    )
    .unwrap();
    let torn = slots::<1>();
    let stop = slots::<1>();

    let spawn = |role: usize, inc: usize| -> Process {
        let (q, returned, seen, inflight, torn, stop) = (
            q.try_clone().unwrap(),
            returned.try_clone().unwrap(),
            seen.try_clone(),
            inflight.try_clone().unwrap(),
            torn.try_clone().unwrap(),
            stop.try_clone().unwrap(),
        );
        daemon(move || {
            if role < 2 {
                for seq in 0..MAX_SEQ as u64 {
                    if stop[0].load(Ordering::SeqCst) != 0 {
                        break;
                    }
                    let m = Stamped::new(inc as u64, seq);
                    // Both consumers dead and the queue full: `Disconnected`
                    // until the test restarts one; try again.
                    loop {
                        match put(&q, &m, seq) {
                            Ok(()) => break,
                            Err(Error::Disconnected) if !q.is_closed() => {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    returned[inc].store(seq + 1, Ordering::SeqCst);
                }
                // Out of sequence numbers: idle until killed or stopped.
                while stop[0].load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            } else {
                loop {
                    let r = get(&q, Duration::from_millis(50), &mut |m| {
                        let Some(m) = m.filter(|m| {
                            m.intact()
                                && (m.source as usize) < INCARNATIONS
                                && (m.seq as usize) < MAX_SEQ
                        }) else {
                            torn[0].fetch_add(1, Ordering::SeqCst);
                            return;
                        };
                        let key = m.source as usize * MAX_SEQ + m.seq as usize;
                        inflight[inc].store(key as u64 + 1, Ordering::SeqCst);
                        // Dwell a little before recording, so that kills often
                        // land mid-get: those messages must be redelivered.
                        let mut x = m.check;
                        for _ in 0..2000 {
                            x = std::hint::black_box(x.rotate_left(3) ^ m.seq);
                        }
                        seen.add(key);
                    });
                    // Cleared only once the get committed: a kill before this
                    // point may legitimately see the message delivered again.
                    inflight[inc].store(0, Ordering::SeqCst);
                    match r {
                        Ok(()) | Err(Error::Timeout) => {}
                        // The end: closed and drained.
                        Err(Error::Disconnected) if q.is_closed() => break,
                        // Both producers dead: until the test restarts one.
                        Err(Error::Disconnected) => std::thread::sleep(Duration::from_millis(1)),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        })
    };

    let mut next_inc = 0;
    let mut procs: Vec<(Process, usize)> = (0..ROLES)
        .map(|role| {
            next_inc += 1;
            (spawn(role, next_inc - 1), next_inc - 1)
        })
        .collect();
    let mut killed_consumers = Vec::new();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for _ in 0..kills {
        std::thread::sleep(Duration::from_micros(200 + rand(3000)));
        let role = rand(ROLES as u64) as usize;
        let (p, inc) = &procs[role];
        p.kill().unwrap();
        let _ = p.join().unwrap();
        if role >= 2 {
            killed_consumers.push(*inc);
        }
        assert!(next_inc < INCARNATIONS);
        procs[role] = (spawn(role, next_inc), next_inc);
        next_inc += 1;
    }
    // Stop producing, let consumers drain, then close.
    stop[0].store(1, Ordering::SeqCst);
    for (p, _) in &procs[..2] {
        assert!(p.join_timeout(PROMPT).unwrap().success());
    }
    let drained = Instant::now();
    while !q.is_empty() && drained.elapsed() < PROMPT {
        std::thread::sleep(Duration::from_millis(5));
    }
    q.close().unwrap();
    for (p, _) in &procs[2..] {
        assert!(p.join_timeout(PROMPT).unwrap().success());
    }

    assert_eq!(
        torn[0].load(Ordering::SeqCst),
        0,
        "a torn message was delivered"
    );
    let mid_get_kills = killed_consumers
        .iter()
        .filter(|&&c| inflight[c].load(Ordering::SeqCst) != 0)
        .count();
    eprintln!(
        "{} consumer kills, {mid_get_kills} of them inside get_with",
        killed_consumers.len()
    );
    assert!(
        mid_get_kills > 0,
        "no kill landed mid-get: the test did not exercise redelivery"
    );
    let allowed_dups: Vec<u64> = killed_consumers
        .iter()
        .map(|&c| inflight[c].load(Ordering::SeqCst))
        .filter(|&k| k != 0)
        .map(|k| k - 1)
        .collect();
    let mut delivered = 0u64;
    for inc in 0..next_inc {
        let committed = returned[inc].load(Ordering::SeqCst) as usize;
        for seq in 0..MAX_SEQ {
            let key = inc * MAX_SEQ + seq;
            let n = u64::from(seen.get(key));
            delivered += n;
            if seq < committed {
                assert!(n >= 1, "committed message ({inc}, {seq}) lost");
            } else if seq > committed {
                // At most the single put in flight when its producer died.
                assert_eq!(n, 0, "message ({inc}, {seq}) delivered but never sent");
            }
            if n > 1 {
                assert!(
                    n == 2 && allowed_dups.contains(&(key as u64)),
                    "message ({inc}, {seq}) delivered {n} times"
                );
            }
        }
    }
    eprintln!("{delivered} messages delivered");
    assert!(
        delivered > 1000,
        "too little traffic ({delivered}) to mean anything"
    );
}
