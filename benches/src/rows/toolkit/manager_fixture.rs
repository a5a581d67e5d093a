//! The manager rows' fixture: a populated dictionary and the timed loops,
//! through the public API, so that a row only forks, times and reports.
//!
//! The fixture's keys are 16 bytes ([`key`]), its values either 8-byte
//! `u64`s ([`Fixture::small`]) or byte blobs ([`Fixture::blobs`]). Every loop
//! returns a checksum of what it read, so the compiler cannot drop the
//! reads; loops never allocate.

use ipc_core::segment::SegmentOptions;

use ipc_manager::{Dict, Manager, ManagerConfig, Result, TypedDict};

pub use crate::rows::kit::keys::{key, pick};

/// A populated dictionary in an anonymous manager (shared with children
/// forked after it is made). Cloning is cheap and shares the dictionary.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The dictionary `"bench"`, untyped.
    pub dict: Dict,
    /// The same dictionary viewed as `[u8; 16] -> u64`.
    pub typed: TypedDict<[u8; 16], u64>,
    /// Number of keys (`key(0)` .. `key(keys - 1)`).
    pub keys: u64,
}

impl Fixture {
    fn manager_for(bytes: u64) -> Result<Manager> {
        let config = ManagerConfig {
            initial_size: bytes.max(1 << 20),
            anonymous_capacity: (bytes * 4).max(1 << 30),
            ..ManagerConfig::default()
        };
        Manager::builder()
            .options(SegmentOptions::anonymous())
            .config(config.clone())
            .create()
    }

    /// `n` keys with `u64` values (`manager_get_8B`, `manager_set_8B`,
    /// `manager_mixed_2proc`).
    pub fn small(n: u64) -> Result<Self> {
        let manager = Self::manager_for(n * 160 + (1 << 20))?;
        let dict = manager.dict("bench")?;
        let typed = dict.typed::<[u8; 16], u64>()?;
        typed.update((0..n).map(|i| (key(i), i)))?;
        // What the manager commits (an anonymous one reserves address
        // space beyond it, but no memory).
        crate::harness::footprint::record(manager.stats()?.committed_bytes as usize);
        Ok(Self {
            dict,
            typed,
            keys: n,
        })
    }

    /// `n` keys with `len`-byte values (`manager_get_4KiB_inplace`).
    pub fn blobs(n: u64, len: usize) -> Result<Self> {
        let manager = Self::manager_for(n * (len as u64 + 128) + (1 << 20))?;
        let dict = manager.dict("bench")?;
        let typed = dict.typed::<[u8; 16], u64>()?;
        let blob: Vec<u8> = (0..len).map(|i| i as u8).collect();
        dict.update((0..n).map(|i| (key(i), blob.as_slice())))?;
        crate::harness::footprint::record(manager.stats()?.committed_bytes as usize);
        Ok(Self {
            dict,
            typed,
            keys: n,
        })
    }

    /// `iters` copying gets of existing keys; returns a checksum.
    pub fn get_loop(&self, iters: u64) -> Result<u64> {
        let mut sum = 0u64;
        for i in 0..iters {
            let k = key(pick(i, self.keys));
            sum = sum.wrapping_add(self.typed.get(&k)?.unwrap_or(0) + 1);
        }
        Ok(sum)
    }

    /// `iters` overwrites of existing keys with new `u64` values.
    pub fn set_loop(&self, iters: u64) -> Result<()> {
        for i in 0..iters {
            let k = key(pick(i, self.keys));
            self.typed.insert(&k, &i)?;
        }
        Ok(())
    }

    /// `iters` operations, one in `write_every` an overwrite, the rest
    /// copying gets (10 for 90% reads); returns a checksum.
    pub fn mixed_loop(&self, iters: u64, write_every: u64) -> Result<u64> {
        let mut sum = 0u64;
        let write_every = write_every.max(1);
        for i in 0..iters {
            let k = key(pick(i, self.keys));
            if i % write_every == 0 {
                self.typed.insert(&k, &i)?;
            } else {
                sum = sum.wrapping_add(self.typed.get(&k)?.unwrap_or(0) + 1);
            }
        }
        Ok(sum)
    }

    /// `iters` zero-copy reads of whole values in place (through the
    /// guard); returns the number of bytes looked at, for GB/s. Each read
    /// sums the value's bytes as 64-bit words, so every byte is touched.
    pub fn get_inplace_loop(&self, iters: u64) -> Result<u64> {
        let mut bytes = 0u64;
        let mut sum = 0u64;
        for i in 0..iters {
            let k = key(pick(i, self.keys));
            if let Some(v) = self.dict.get_ref(&k)? {
                for c in v.chunks_exact(8) {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(c);
                    sum = sum.wrapping_add(u64::from_ne_bytes(w));
                }
                bytes += v.len() as u64;
            }
        }
        std::hint::black_box(sum);
        Ok(bytes)
    }
}
