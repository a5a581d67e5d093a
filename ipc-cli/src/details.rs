//! The per-kind details of `ipc show` and the samples of `ipc watch`.

use std::io::Write;
use std::time::{Duration, Instant};

use ipc_core::liveness::Holder;
use serde_json::{Value, json};

use crate::survey::{Kind, Object, Place, open_manager};

/// What `show` adds to an object's line: text lines, and the same as JSON.
pub struct Detail {
    pub lines: Vec<String>,
    pub json: Option<Value>,
}

fn holders(list: &[Holder]) -> Value {
    list.iter()
        .map(|h| json!({ "pid": h.pid, "alive": h.alive }))
        .collect()
}

fn holders_text(list: &[Holder]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter()
        .map(|h| {
            if h.alive {
                h.pid.to_string()
            } else {
                format!("{} (dead)", h.pid)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The details of `object`, by kind.
pub fn detail(object: &Object) -> Result<Detail, Box<dyn std::error::Error>> {
    let Some(place) = &object.place else {
        return Ok(Detail {
            lines: Vec::new(),
            json: None,
        });
    };
    let opts = place.options();
    Ok(match object.kind {
        Kind::Queue => {
            let q = ipc_queue::queue::inspect(&opts)?;
            Detail {
                lines: vec![
                    format!(
                        "capacity {}  length {}  max frame {} B  closed {}",
                        q.capacity, q.len, q.max_frame, q.closed
                    ),
                    if q.ring_bytes == 0 {
                        "frames: fixed slots".to_string()
                    } else {
                        format!(
                            "frames: byte ring of {} B, {} B in use",
                            q.ring_bytes, q.ring_used
                        )
                    },
                    format!(
                        "puts {}  gets {}  unfinished {}",
                        q.puts, q.gets, q.unfinished
                    ),
                    format!("producers: {}", holders_text(&q.producers)),
                    format!("consumers: {}", holders_text(&q.consumers)),
                    format!(
                        "forked children yet to choose a role: {}",
                        holders_text(&q.inheritors)
                    ),
                    format!(
                        "slots held by dead processes: {}  sleepers: {} getting, {} putting",
                        q.dead_slots, q.waiting_getters, q.waiting_putters
                    ),
                ],
                json: Some(json!({
                    "capacity": q.capacity, "len": q.len, "max_frame": q.max_frame,
                    "ring_bytes": q.ring_bytes, "ring_used": q.ring_used,
                    "closed": q.closed, "puts": q.puts, "gets": q.gets,
                    "unfinished": q.unfinished,
                    "producers": holders(&q.producers), "consumers": holders(&q.consumers),
                    "inheritors": holders(&q.inheritors),
                    "dead_slots": q.dead_slots,
                    "waiting_getters": q.waiting_getters, "waiting_putters": q.waiting_putters,
                })),
            }
        }
        Kind::Pipe | Kind::Channel => {
            let p = ipc_queue::pipe::inspect(&opts)?;
            let mut lines = vec![format!(
                "capacity {} per direction  max frame {} B  frames: {}",
                p.capacity,
                p.max_frame,
                if p.ring_bytes == 0 {
                    "fixed slots".to_string()
                } else {
                    format!("byte ring of {} B per direction", p.ring_bytes)
                }
            )];
            let mut ends = Vec::new();
            for (end, side) in p.ends.iter().zip(["A", "B"]) {
                let owner = end.owner.map_or("unclaimed".to_owned(), |o| {
                    holders_text(std::slice::from_ref(&o))
                });
                lines.push(format!(
                    "end {side}: {owner}{}",
                    if end.closed { ", closed" } else { "" }
                ));
                ends.push(json!({
                    "side": side,
                    "owner": end.owner.map(|o| json!({ "pid": o.pid, "alive": o.alive })),
                    "closed": end.closed,
                }));
            }
            let mut dirs = Vec::new();
            for (d, way) in p.directions.iter().zip(["A->B", "B->A"]) {
                lines.push(format!(
                    "{way}: {} in flight, {} sent{}{}",
                    d.in_flight,
                    d.sent,
                    if d.receiver_waiting {
                        ", receiver asleep"
                    } else {
                        ""
                    },
                    if d.sender_waiting {
                        ", sender asleep"
                    } else {
                        ""
                    },
                ));
                dirs.push(json!({
                    "direction": way, "in_flight": d.in_flight, "sent": d.sent,
                    "receiver_waiting": d.receiver_waiting, "sender_waiting": d.sender_waiting,
                }));
            }
            Detail {
                lines,
                json: Some(json!({
                    "one_way": p.one_way, "capacity": p.capacity, "max_frame": p.max_frame,
                    "ring_bytes": p.ring_bytes,
                    "ends": ends, "directions": dirs,
                })),
            }
        }
        Kind::Manager => manager_detail(place)?,
        _ => Detail {
            lines: Vec::new(),
            json: None,
        },
    })
}

fn manager_detail(place: &Place) -> Result<Detail, Box<dyn std::error::Error>> {
    let m = open_manager(place)?;
    let stats = m.stats()?;
    let readers = m.readers();
    let mut objects = Vec::new();
    let mut lines = vec![format!(
        "segments {}  committed {} B  limbo {} B  recoveries {}  epoch {}",
        stats.segments, stats.committed_bytes, stats.limbo_bytes, stats.recoveries, stats.epoch
    )];
    lines.push(format!("readers: {}", holders_text(&readers)));
    for (name, kind) in m.objects()? {
        let len = match kind {
            "dict" => m.dict(&name).and_then(|d| d.len()).ok(),
            _ => None,
        };
        lines.push(format!(
            "  {kind:<10} {name}{}",
            len.map_or(String::new(), |n| format!("  ({n} entries)"))
        ));
        objects.push(json!({ "name": name, "kind": kind, "len": len }));
    }
    let check = m.check();
    lines.push(match &check {
        Ok(r) => format!(
            "check: consistent; {} live blocks ({} B), {} free ({} B), {} in limbo, {} leaked",
            r.live_blocks,
            r.live_bytes,
            r.free_blocks,
            r.free_bytes,
            r.limbo_blocks,
            r.leaked_blocks
        ),
        Err(e) => format!("check: FAILED: {e}"),
    });
    Ok(Detail {
        lines,
        json: Some(json!({
            "segments": stats.segments, "committed_bytes": stats.committed_bytes,
            "limbo_bytes": stats.limbo_bytes, "recoveries": stats.recoveries,
            "readers": holders(&readers), "objects": objects,
            "check": match &check {
                Ok(r) => json!({ "ok": true, "live_bytes": r.live_bytes, "leaked_blocks": r.leaked_blocks }),
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            },
        })),
    })
}

/// One sample of a queue or pipe: (messages in, messages out, waiting,
/// sleepers) with free-running counters.
fn sample(place: &Place) -> Result<(u64, u64, u64, u32), Box<dyn std::error::Error>> {
    let opts = place.options();
    match ipc_queue::queue::inspect(&opts) {
        Ok(q) => Ok((q.puts, q.gets, q.len, q.waiting_getters + q.waiting_putters)),
        Err(_) => {
            let p = ipc_queue::pipe::inspect(&opts)?;
            let sent: u64 = p.directions.iter().map(|d| u64::from(d.sent)).sum();
            let waiting: u64 = p.directions.iter().map(|d| d.in_flight).sum();
            let received = sent.saturating_sub(waiting);
            let sleepers = p
                .directions
                .iter()
                .map(|d| u32::from(d.receiver_waiting) + u32::from(d.sender_waiting))
                .sum();
            Ok((sent, received, waiting, sleepers))
        }
    }
}

/// Prints rates every `interval` until `count` lines (or for ever).
pub fn watch(
    place: &Place,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut last = sample(place)?;
    let mut at = Instant::now();
    println!(
        "{:>10} {:>10} {:>8} {:>8}",
        "IN/s", "OUT/s", "LEN", "SLEEPERS"
    );
    let mut printed = 0;
    while count.is_none_or(|c| printed < c) {
        std::thread::sleep(interval);
        let now = sample(place)?;
        let secs = at.elapsed().as_secs_f64().max(1e-9);
        at = Instant::now();
        let rate = |a: u64, b: u64| (a.wrapping_sub(b) as f64 / secs).round();
        println!(
            "{:>10} {:>10} {:>8} {:>8}",
            rate(now.0, last.0),
            rate(now.1, last.1),
            now.2,
            now.3
        );
        std::io::stdout().flush()?;
        last = now;
        printed += 1;
    }
    Ok(())
}
