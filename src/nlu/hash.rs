//! The hasher of the grammar's own names and words.

use std::collections::HashMap;

/// A grammar-wide FxHash-style hasher: compiling hashes thousands of short words, and
/// SipHash's flooding resistance buys nothing for the grammar's own words. Inputs under eight
/// bytes (most words) are read in one or two loads rather than byte by byte.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let n = rest.len();
        let tail = if n >= 4 {
            // Two overlapping 4-byte loads cover 4..=7 bytes.
            let load = |at: usize| {
                let mut w = [0u8; 4];
                w.copy_from_slice(&rest[at..at + 4]);
                u64::from(u32::from_le_bytes(w))
            };
            load(0) | load(n - 4) << 32
        } else if n > 0 {
            u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16
        } else {
            return;
        };
        self.mix(tail ^ (n as u64) << 59);
    }
    fn write_u8(&mut self, b: u8) {
        self.mix(u64::from(b));
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn finish(&self) -> u64 {
        // The product's low bits depend only on the input's low bits; hash tables index
        // buckets by the low bits, so bring the well-mixed middle bits down.
        self.0.rotate_left(26)
    }
}

pub(crate) type FastHash = std::hash::BuildHasherDefault<FastHasher>;

/// A map keyed by grammar names (lists, rules, slots).
pub(crate) type NameMap<V> = HashMap<String, V, FastHash>;
