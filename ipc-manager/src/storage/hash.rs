//! The key hash: a small multiply-fold hash (in the style of wyhash and
//! foldhash) with a per-manager random seed, fast on short keys.
//!
//! Every process must compute the same hash for the same key, so the seed
//! lives in the root and the function is fixed by the layout version.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Up to 8 bytes, zero-padded, as a little-endian word.
#[inline(always)]
fn partial(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// Hashes `key` with `seed`.
#[inline]
pub(crate) fn hash(seed: [u64; 2], key: &[u8]) -> u64 {
    let len = key.len();
    let mut h = seed[0] ^ (len as u64).wrapping_mul(P0);
    let mut rest = key;
    while rest.len() > 16 {
        h = fold(word(rest, 0) ^ P1 ^ h, word(rest, 8) ^ seed[1]);
        rest = &rest[16..];
    }
    let (a, b) = if rest.len() > 8 {
        (word(rest, 0), partial(&rest[8..]))
    } else {
        (partial(rest), 0)
    };
    h = fold(a ^ P1 ^ h, b ^ seed[1] ^ P2);
    fold(h ^ P0, (len as u64) ^ P2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_seeds_differ() {
        let s = [1, 2];
        assert_ne!(hash(s, b""), hash(s, b"\0"));
        assert_ne!(hash(s, b"a"), hash(s, b"a\0"));
        assert_ne!(hash(s, &[0; 16]), hash(s, &[0; 17]));
        assert_ne!(hash(s, b"abc"), hash([3, 2], b"abc"));
    }

    #[test]
    fn top_bits_spread() {
        // Sequential 16-byte keys must not collide in the 16 tag bits much.
        let mut tags = std::collections::HashSet::new();
        for i in 0u64..4096 {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_le_bytes());
            tags.insert(hash([7, 9], &k) >> 48);
        }
        assert!(tags.len() > 3900, "{}", tags.len());
    }
}
