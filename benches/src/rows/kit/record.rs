//! The structured message of the serde rows: the record of issue 12, two
//! integers, a string of 100 bytes and four small integers, as a log line
//! or an event would be. Senders reuse one record, changing its numbers,
//! so that the rows time the transfer, not building strings.

use serde::{Deserialize, Serialize};

/// A log record: what the serde rows send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize)]
pub struct Record {
    pub id: u64,
    pub ts: u64,
    pub msg: String,
    pub tags: Vec<u32>,
}

/// The timestamp of record 0 (record `id` has `EPOCH_MS + id`).
pub const EPOCH_MS: u64 = 1_764_460_800_000;

impl Record {
    /// The record for sequence number `id` (its message is 100 bytes).
    pub fn new(id: u64) -> Self {
        let mut msg = "GET /api/v2/items?page=17&sort=desc served from cache shard 12 in 842 us; user-agent curl/8.5"
            .to_owned();
        msg.extend(std::iter::repeat_n('.', 100 - msg.len()));
        let mut r = Self {
            id: 0,
            ts: 0,
            msg,
            tags: vec![0, 1, 2, 3],
        };
        r.set(id);
        r
    }

    /// Makes this the record of `id`, without allocating.
    pub fn set(&mut self, id: u64) {
        self.id = id;
        self.ts = EPOCH_MS + id;
        self.tags[0] = id as u32;
    }

    /// Whether this is the record of `id` (every field checked).
    pub fn is(&self, id: u64) -> bool {
        self.id == id
            && self.ts == EPOCH_MS + id
            && self.msg.len() == 100
            && self.tags == [id as u32, 1, 2, 3]
    }
}
