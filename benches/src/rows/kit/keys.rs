//! The keys of the dictionary rows, shared by the manager rows and their
//! peers (an in-process map, Redis), so that every row reads the same keys
//! in the same order.

/// The 16-byte key number `i` (little-endian `i`, then a fixed tail).
pub fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k[8..].copy_from_slice(&0x5eed_5eed_5eed_5eedu64.to_le_bytes());
    k
}

/// The key number the loops use at iteration `i` of `n` keys: a cheap,
/// well-spread sequence (use it for baselines, so they read the same keys in
/// the same order).
#[inline]
pub fn pick(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n
}
