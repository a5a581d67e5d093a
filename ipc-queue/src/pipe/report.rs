//! What [`inspect`](super::inspect) reads from a pipe or channel: its ends'
//! owners and the frames in flight each way, for tools and monitoring.

use std::sync::atomic::Ordering;

use ipc_core::liveness::Holder;

use super::layout::Region;

/// A pipe's or channel's state, read without claiming an end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipeReport {
    /// `true` for a one-way channel (A sends, B receives), `false` for a
    /// duplex pipe.
    pub one_way: bool,
    /// The message type's name, as its creator recorded it.
    pub message_type: String,
    /// Slots per direction.
    pub capacity: u64,
    /// Largest frame in bytes.
    pub max_frame: u64,
    /// Bytes of each direction's byte ring; 0 for fixed slots.
    pub ring_bytes: u64,
    /// End A, then end B.
    pub ends: Vec<EndReport>,
    /// A → B, then (duplex pipes) B → A.
    pub directions: Vec<DirectionReport>,
}

/// One end of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndReport {
    /// The process that claimed it, if any.
    pub owner: Option<Holder>,
    /// Whether its owner closed it.
    pub closed: bool,
}

/// One direction of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectionReport {
    /// Frames sent and not yet received.
    pub in_flight: u64,
    /// Frames sent since creation, modulo 2^32 (for rates).
    pub sent: u32,
    /// Whether a receiver sleeps waiting for a frame.
    pub receiver_waiting: bool,
    /// Whether a sender sleeps waiting for room.
    pub sender_waiting: bool,
}

impl PipeReport {
    /// Reads the report from a mapping opened for inspection.
    pub(crate) fn read(region: &Region, one_way: bool) -> Self {
        let rings = region.geo.rings as usize;
        let ends = (0..2)
            .map(|side| {
                let end = region.end(side);
                let owner = end.owner.load(Ordering::Acquire);
                EndReport {
                    owner: (owner != 0).then(|| Holder::from_packed(owner)),
                    closed: end.closed.load(Ordering::Acquire) != 0,
                }
            })
            .collect();
        let directions = (0..rings)
            .map(|ring| {
                let ctl = region.ctl(ring);
                let tail = ctl.tail.word.load(Ordering::Acquire);
                let head = ctl.head.word.load(Ordering::Acquire);
                DirectionReport {
                    in_flight: u64::from(tail.wrapping_sub(head))
                        .min(u64::from(region.geo.capacity)),
                    sent: tail,
                    receiver_waiting: ctl.data_sleepers.word.load(Ordering::Relaxed) != 0,
                    sender_waiting: ctl.space_sleepers.word.load(Ordering::Relaxed) != 0,
                }
            })
            .collect();
        Self {
            one_way,
            message_type: region.segment().header().type_desc().name,
            capacity: u64::from(region.geo.capacity),
            max_frame: region.geo.max_frame as u64,
            ring_bytes: region.geo.ring_bytes,
            ends,
            directions,
        }
    }
}
