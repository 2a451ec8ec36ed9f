//! The cheap hasher and the packed short-outcome key the distributions count with.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's hasher): a few instructions per 8 bytes, far cheaper than SipHash for the
/// short keys counted here. Outcomes come from the user's own files, so flooding is no concern.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(super) type FxBuild = BuildHasherDefault<FxHasher>;

/// A line of at most 16 bytes as two little-endian words plus its length (so that `"a"` and
/// `"a\0"` differ).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct ShortKey([u64; 2], u8);

impl std::hash::Hash for ShortKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0]);
        state.write_u64(self.0[1] ^ (u64::from(self.1) << 56));
    }
}

impl ShortKey {
    #[inline]
    pub(super) fn new(bytes: &[u8]) -> Option<Self> {
        let n = bytes.len();
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let words = match n {
            // Two overlapping loads, the second shifted so that no byte is counted twice.
            9..=16 => [word(0), word(n - 8) >> (8 * (16 - n))],
            8 => [word(0), 0],
            0..=7 => {
                let mut lo = 0u64;
                for (i, &b) in bytes.iter().enumerate() {
                    lo |= u64::from(b) << (8 * i);
                }
                [lo, 0]
            }
            _ => return None,
        };
        Some(ShortKey(words, n as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_pack_bytes_exactly() {
        for n in 0..=16usize {
            let bytes: Vec<u8> = (1..=n as u8).collect();
            let mut expected = [0u8; 16];
            expected[..n].copy_from_slice(&bytes);
            let key = ShortKey::new(&bytes).unwrap();
            let lo = u64::from_le_bytes(expected[..8].try_into().unwrap());
            let hi = u64::from_le_bytes(expected[8..].try_into().unwrap());
            assert_eq!(key, ShortKey([lo, hi], n as u8), "length {n}");
        }
        assert!(ShortKey::new(&[0; 17]).is_none());
        assert_ne!(ShortKey::new(b"a"), ShortKey::new(b"a\0"));
    }
}
