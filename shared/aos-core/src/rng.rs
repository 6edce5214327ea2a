//! Seeded randomness for skills and backoff jitter. Specified in `docs/determinism.md` so the
//! SDKs reproduce it: state = first 8 bytes (big-endian) of SHA-256(JCS([seed, step_id, attempt, stream])),
//! then SplitMix64.

use crate::canonical::to_canonical_string;
use serde_json::json;
use sha2::{Digest, Sha256};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and trivially portable to Python and TypeScript.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    pub fn from_state(state: u64) -> Self {
        Self { state }
    }

    /// The generator for one (run seed, step, attempt, stream). Streams keep skill randomness and
    /// backoff jitter independent: skills use `"skill"`, backoff uses `"backoff"`.
    pub fn derive(seed: u64, step_id: &str, attempt: u32, stream: &str) -> Self {
        let key = to_canonical_string(&json!([seed, step_id, attempt, stream]));
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self::from_state(u64::from_be_bytes(first))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (from the original paper's C code).
        let mut r = SeededRng::from_state(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }
}
