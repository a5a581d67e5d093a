//! The hash table behind every dictionary, and its publish protocol.
//!
//! A dictionary is a [`DictHeader`](crate::storage::layout::DictHeader) whose `table`
//! word holds the ref of a table block: a power-of-two array of 8-byte slots
//! probed linearly. A slot is empty (0), a tombstone, or `tag << 48 | entry`
//! with the top 16 bits of the key's hash as `tag`, so a probe rejects most
//! other keys without touching their entries. Entries (key, value, value
//! type) are blocks written once, before publication, and never changed.
//!
//! Every change is published by exactly one atomic store, made with release
//! ordering after the new data is written:
//!
//! | operation          | writes first (invisible)   | publishes                  | retires            |
//! |--------------------|----------------------------|----------------------------|--------------------|
//! | insert new key     | entry block                | its slot: entry            | -                  |
//! | overwrite          | entry block                | the key's slot: new entry  | old entry          |
//! | remove / pop       | -                          | the key's slot: tombstone  | old entry          |
//! | grow / rehash      | new table, filled          | header `table`             | old table          |
//! | clear              | -                          | header `table`: 0          | table, all entries |
//!
//! A writer killed anywhere in between leaves either the old or the new
//! state visible; what it allocated and did not publish, or unlinked and did
//! not retire, is found by recovery's heap walk. The counters `len` and
//! `used` are updated after the publishing store and recounted by recovery.
//!
//! Readers (pinned, see [`crate::storage::epoch`]) load `table`, then slots, then
//! entries, all with acquire ordering; a table or entry they reached stays
//! allocated and unchanged until they unpin. An insert that grows the table
//! does so as a separate, earlier publication, so a reader on the old table
//! sees a consistent dictionary as of the moment the new table appeared.

use std::sync::atomic::{Ordering, fence};

use crate::error::Result;
use crate::error::corrupted;
use crate::storage::arena::Arena;
use crate::storage::fault::{self, Point};
use crate::storage::layout::{BLOCK_HDR, FLAG_FREE, REF_MASK, SIZE_MASK, dict_hdr, entry, table};
use crate::storage::layout::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::storage::writer::Writer;

/// What an entry's fixed part says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryMeta {
    pub(crate) key_len: u64,
    pub(crate) val_len: u64,
    pub(crate) tag: u64,
}

impl EntryMeta {
    pub(crate) fn value_off(&self) -> u64 {
        entry::value_off(self.key_len)
    }
}

/// Reads and checks the fixed part of entry `e`.
#[inline]
pub(crate) fn entry_meta(arena: &Arena, e: u64) -> Result<EntryMeta> {
    let w = arena.words(e, 0, 4)?;
    let h = w[0].load(Ordering::Relaxed);
    let lens = w[2].load(Ordering::Relaxed);
    let meta = EntryMeta {
        key_len: lens & 0xFFFF_FFFF,
        val_len: lens >> 32,
        tag: w[3].load(Ordering::Relaxed),
    };
    if h & FLAG_FREE != 0
        || meta.key_len > MAX_KEY_LEN as u64
        || meta.val_len > MAX_VALUE_LEN as u64
        || entry::value_off(meta.key_len) + meta.val_len > (h & SIZE_MASK)
    {
        return Err(corrupted(format!("bad entry at {e:#x}")));
    }
    Ok(meta)
}

/// The key bytes of entry `e`.
pub(crate) fn read_key(arena: &Arena, e: u64, meta: &EntryMeta) -> Result<Vec<u8>> {
    let mut k = vec![0u8; meta.key_len as usize];
    arena.read(e, entry::KEY, &mut k)?;
    Ok(k)
}

/// The value bytes of entry `e`.
pub(crate) fn read_value(arena: &Arena, e: u64, meta: &EntryMeta) -> Result<Vec<u8>> {
    let mut v = vec![0u8; meta.val_len as usize];
    arena.read(e, meta.value_off(), &mut v)?;
    Ok(v)
}

/// The current table of dictionary `d` and its capacity (None: no table).
#[inline]
fn current_table(arena: &Arena, d: u64) -> Result<Option<(u64, u64)>> {
    let t = arena.word(d, dict_hdr::TABLE)?.load(Ordering::Acquire);
    if t == 0 {
        return Ok(None);
    }
    let cap = arena.word(t, table::CAP)?.load(Ordering::Relaxed);
    if !cap.is_power_of_two() || !(table::MIN_CAP..=(1 << 36)).contains(&cap) {
        return Err(corrupted(format!("bad table capacity {cap} at {t:#x}")));
    }
    Ok(Some((t, cap)))
}

/// Where `key` is, or would go, in a table.
struct Probe {
    /// The slot holding the key, its entry, and the entry's meta.
    found: Option<(u64, u64, EntryMeta)>,
    /// The first empty or tombstone slot met (where an insert goes).
    vacant: Option<u64>,
}

/// Probes table `t` (of `cap` slots) for `key` with hash `h`.
#[inline]
fn probe(arena: &Arena, t: u64, cap: u64, key: &[u8], h: u64) -> Result<Probe> {
    let slots = arena.words(t, table::SLOTS, cap)?;
    let mask = cap - 1;
    let tag = h >> 48;
    let mut i = h & mask;
    let mut vacant = None;
    for _ in 0..cap {
        let s = slots[i as usize].load(Ordering::Acquire);
        if s == 0 {
            return Ok(Probe {
                found: None,
                vacant: vacant.or(Some(i)),
            });
        }
        if s == table::TOMBSTONE {
            vacant = vacant.or(Some(i));
        } else if s >> 48 == tag {
            let e = s & REF_MASK;
            let meta = entry_meta(arena, e)?;
            if meta.key_len == key.len() as u64 && arena.equals(e, entry::KEY, key)? {
                return Ok(Probe {
                    found: Some((i, e, meta)),
                    vacant,
                });
            }
        }
        i = (i + 1) & mask;
    }
    Ok(Probe {
        found: None,
        vacant,
    })
}

/// Finds the entry of `key` (hash `h`) in dictionary `d`. The caller is
/// pinned or holds the writer lock.
#[inline]
pub(crate) fn lookup(arena: &Arena, d: u64, key: &[u8], h: u64) -> Result<Option<u64>> {
    Ok(lookup_meta(arena, d, key, h)?.map(|(e, _)| e))
}

/// [`lookup`], also returning the entry's meta.
#[inline]
pub(crate) fn lookup_meta(
    arena: &Arena,
    d: u64,
    key: &[u8],
    h: u64,
) -> Result<Option<(u64, EntryMeta)>> {
    match current_table(arena, d)? {
        None => Ok(None),
        Some((t, cap)) => Ok(probe(arena, t, cap, key, h)?
            .found
            .map(|(_, e, meta)| (e, meta))),
    }
}

/// The number of entries (the writer's counter).
pub(crate) fn len(arena: &Arena, d: u64) -> Result<u64> {
    Ok(arena.word(d, dict_hdr::LEN)?.load(Ordering::Acquire))
}

/// A consistent copy of the live entries of `d`, or `None` if writers kept
/// changing it (the caller then takes the writer lock and asks again).
/// The caller is pinned (or holds the lock), so the entries stay readable.
pub(crate) fn snapshot(arena: &Arena, d: u64, attempts: u32) -> Result<Option<Vec<u64>>> {
    let version = arena.word(d, dict_hdr::VERSION)?;
    for _ in 0..attempts {
        let v1 = version.load(Ordering::Acquire);
        if v1 % 2 == 1 {
            std::thread::yield_now();
            continue;
        }
        let mut out = Vec::new();
        if let Some((t, cap)) = current_table(arena, d)? {
            for s in arena.words(t, table::SLOTS, cap)? {
                let s = s.load(Ordering::Acquire);
                if s != 0 && s != table::TOMBSTONE {
                    out.push(s & REF_MASK);
                }
            }
        }
        fence(Ordering::Acquire);
        if version.load(Ordering::Relaxed) == v1 {
            return Ok(Some(out));
        }
    }
    Ok(None)
}

/// Every entry ref and the table ref of `d` (for recovery's mark phase).
pub(crate) fn reachable(arena: &Arena, d: u64) -> Result<(Option<u64>, Vec<u64>)> {
    match current_table(arena, d)? {
        None => Ok((None, Vec::new())),
        Some((t, cap)) => {
            let mut out = Vec::new();
            let mut used = 0;
            for s in arena.words(t, table::SLOTS, cap)? {
                let s = s.load(Ordering::Acquire);
                if s != 0 {
                    used += 1;
                }
                if s != 0 && s != table::TOMBSTONE {
                    out.push(s & REF_MASK);
                }
            }
            arena
                .word(d, dict_hdr::LEN)?
                .store(out.len() as u64, Ordering::Relaxed);
            arena
                .word(d, dict_hdr::USED)?
                .store(used, Ordering::Relaxed);
            Ok((Some(t), out))
        }
    }
}

// ----- writing (under the writer mutex) --------------------------------------

/// Writes a new, unpublished entry.
fn new_entry(w: &mut Writer<'_>, key: &[u8], value: &[u8], tag: u64) -> Result<u64> {
    let (kl, vl) = (key.len() as u64, value.len() as u64);
    let e = w.alloc(entry::data_len(kl, vl))?;
    w.arena
        .word(e, entry::LENS)?
        .store(kl | (vl << 32), Ordering::Relaxed);
    w.arena.word(e, entry::TAG)?.store(tag, Ordering::Relaxed);
    w.arena.write(e, entry::KEY, key)?;
    w.arena.write(e, entry::value_off(kl), value)?;
    Ok(e)
}

fn bump_version(w: &Writer<'_>, d: u64) -> Result<()> {
    w.arena
        .word(d, dict_hdr::VERSION)?
        .fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// Finds `key` in `d` (writer side).
pub(crate) fn find(w: &Writer<'_>, d: u64, key: &[u8], h: u64) -> Result<Option<u64>> {
    lookup(w.arena, d, key, h)
}

/// Inserts or overwrites `key`. Returns whether the key was new.
pub(crate) fn insert(
    w: &mut Writer<'_>,
    d: u64,
    key: &[u8],
    h: u64,
    value: &[u8],
    tag: u64,
) -> Result<bool> {
    let table = current_table(w.arena, d)?;
    let (found, vacant) = match table {
        Some((t, cap)) => {
            let p = probe(w.arena, t, cap, key, h)?;
            (p.found, p.vacant)
        }
        None => (None, None),
    };
    if let (Some((i, old, _)), Some((t, _))) = (found, table) {
        let e = new_entry(w, key, value, tag)?;
        bump_version(w, d)?;
        w.arena
            .word(t, table::SLOTS + i * 8)?
            .store((h >> 48) << 48 | e, Ordering::Release);
        bump_version(w, d)?;
        w.retire(old)?;
        return Ok(false);
    }
    // A new key: make room first (a separate publication), then insert.
    let len = w.arena.word(d, dict_hdr::LEN)?.load(Ordering::Relaxed);
    let used = w.arena.word(d, dict_hdr::USED)?.load(Ordering::Relaxed);
    let e = new_entry(w, key, value, tag)?;
    let needs_room = match (table, vacant) {
        (None, _) | (_, None) => true,
        (Some((t, cap)), Some(i)) => {
            let s = w
                .arena
                .word(t, table::SLOTS + i * 8)?
                .load(Ordering::Relaxed);
            s == 0 && used.saturating_add(1).saturating_mul(4) > cap * 3
        }
    };
    let (t, cap) = match (table, needs_room) {
        (Some(tc), false) => tc,
        _ => {
            let cap = table.map_or(0, |(_, c)| c);
            let new_cap = if len.saturating_add(1).saturating_mul(2) > cap {
                (cap * 2).max(table::MIN_CAP)
            } else {
                cap.max(table::MIN_CAP)
            };
            match rehash(w, d, new_cap) {
                Ok(tc) => tc,
                Err(err) => {
                    // Nothing was published: give the entry back.
                    w.heap().free_now(e)?;
                    return Err(err);
                }
            }
        }
    };
    let p = probe(w.arena, t, cap, key, h)?;
    let Some(i) = p.vacant else {
        w.heap().free_now(e)?;
        return Err(corrupted("no vacant slot after making room".to_owned()));
    };
    let slot = w.arena.word(t, table::SLOTS + i * 8)?;
    let was_empty = slot.load(Ordering::Relaxed) == 0;
    bump_version(w, d)?;
    slot.store((h >> 48) << 48 | e, Ordering::Release);
    bump_version(w, d)?;
    w.arena
        .word(d, dict_hdr::LEN)?
        .fetch_add(1, Ordering::Release);
    if was_empty {
        w.arena
            .word(d, dict_hdr::USED)?
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(true)
}

/// Builds a table of `cap` slots holding every entry of `d`, publishes
/// it, and retires the old one.
fn rehash(w: &mut Writer<'_>, d: u64, cap: u64) -> Result<(u64, u64)> {
    let seed = w.inner.seed;
    let old = current_table(w.arena, d)?;
    let t = w.alloc(BLOCK_HDR + cap * 8)?;
    let fill = |w: &mut Writer<'_>| -> Result<u64> {
        w.arena.word(t, table::CAP)?.store(cap, Ordering::Relaxed);
        w.heap().zero(t, table::SLOTS, cap * 8)?;
        let slots = w.arena.words(t, table::SLOTS, cap)?;
        let mut n = 0;
        if let Some((ot, ocap)) = old {
            for s in w.arena.words(ot, table::SLOTS, ocap)? {
                let s = s.load(Ordering::Relaxed);
                if s == 0 || s == table::TOMBSTONE {
                    continue;
                }
                let e = s & REF_MASK;
                let meta = entry_meta(w.arena, e)?;
                let h = crate::storage::hash::hash(seed, &read_key(w.arena, e, &meta)?);
                let mut i = h & (cap - 1);
                while slots[i as usize].load(Ordering::Relaxed) != 0 {
                    i = (i + 1) & (cap - 1);
                }
                slots[i as usize].store(s, Ordering::Relaxed);
                n += 1;
            }
        }
        Ok(n)
    };
    let n = match fill(w) {
        Ok(n) if n < cap => n,
        Ok(_) => {
            w.heap().free_now(t)?;
            return Err(corrupted("table overfull while rehashing".to_owned()));
        }
        Err(e) => {
            w.heap().free_now(t)?;
            return Err(e);
        }
    };
    bump_version(w, d)?;
    w.arena
        .word(d, dict_hdr::TABLE)?
        .store(t, Ordering::Release);
    bump_version(w, d)?;
    w.arena.word(d, dict_hdr::LEN)?.store(n, Ordering::Relaxed);
    w.arena.word(d, dict_hdr::USED)?.store(n, Ordering::Relaxed);
    if let Some((ot, _)) = old {
        w.retire(ot)?;
    }
    Ok((t, cap))
}

/// Removes `key`; returns its (retired, still readable until this write
/// ends) entry.
pub(crate) fn remove(w: &mut Writer<'_>, d: u64, key: &[u8], h: u64) -> Result<Option<u64>> {
    let Some((t, cap)) = current_table(w.arena, d)? else {
        return Ok(None);
    };
    let Some((i, e, _)) = probe(w.arena, t, cap, key, h)?.found else {
        return Ok(None);
    };
    bump_version(w, d)?;
    w.arena
        .word(t, table::SLOTS + i * 8)?
        .store(table::TOMBSTONE, Ordering::Release);
    bump_version(w, d)?;
    w.arena
        .word(d, dict_hdr::LEN)?
        .fetch_sub(1, Ordering::Release);
    w.retire(e)?;
    Ok(Some(e))
}

/// Empties `d`.
pub(crate) fn clear(w: &mut Writer<'_>, d: u64) -> Result<()> {
    let Some((t, cap)) = current_table(w.arena, d)? else {
        return Ok(());
    };
    bump_version(w, d)?;
    w.arena
        .word(d, dict_hdr::TABLE)?
        .store(0, Ordering::Release);
    bump_version(w, d)?;
    fault::pause(Point::Clear);
    w.arena.word(d, dict_hdr::LEN)?.store(0, Ordering::Release);
    w.arena.word(d, dict_hdr::USED)?.store(0, Ordering::Relaxed);
    for s in w.arena.words(t, table::SLOTS, cap)? {
        let s = s.load(Ordering::Relaxed);
        if s != 0 && s != table::TOMBSTONE {
            w.retire(s & REF_MASK)?;
        }
    }
    w.retire(t)
}

/// Makes the version of `d` even again (recovery: a writer died with it odd).
pub(crate) fn settle(w: &Writer<'_>, d: u64) -> Result<()> {
    let v = w.arena.word(d, dict_hdr::VERSION)?;
    if v.load(Ordering::Relaxed) % 2 == 1 {
        v.fetch_add(1, Ordering::Release);
    }
    // Every change is published before it is counted (an insert stores its
    // slot, then bumps `LEN`; a clear unlinks the table, then zeroes it), so
    // a writer killed in between leaves the counters stale: recount them
    // from the table, the published truth.
    let (len, used) = match current_table(w.arena, d)? {
        None => (0, 0),
        Some((t, cap)) => {
            let (mut len, mut used) = (0u64, 0u64);
            for s in w.arena.words(t, table::SLOTS, cap)? {
                match s.load(Ordering::Relaxed) {
                    0 => {}
                    table::TOMBSTONE => used += 1,
                    _ => {
                        used += 1;
                        len += 1;
                    }
                }
            }
            (len, used)
        }
    };
    w.arena
        .word(d, dict_hdr::LEN)?
        .store(len, Ordering::Release);
    w.arena
        .word(d, dict_hdr::USED)?
        .store(used, Ordering::Relaxed);
    Ok(())
}
