//! Deterministic values derived from SHA-256 hashes of request data.
//!
//! Every generated id, score and amount goes through these helpers so that the same request
//! always produces the same response, across runs and machines.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Namespace of the sandbox's UUID v5 ids.
const SANDBOX_NAMESPACE: Uuid = Uuid::from_u128(0x6a0c_2f4e_81d3_4b7a_9e15_d0c4_7b2a_91f3);

/// The day generated data ends on: credit reports are as of this date and bank transactions
/// run up to it, so responses do not change from one day to the next.
pub(crate) const AS_OF: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 30) {
    Some(date) => date,
    None => panic!("2026-11-30 is a valid date"),
};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Hashes `parts` with a separator byte between them, so `["ab", "c"]` and `["a", "bc"]`
/// hash differently.
pub(crate) fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update([0x1f]);
    }
    let mut output = [0u8; 32];
    output.copy_from_slice(&hasher.finalize());
    output
}

/// Derives a UUID v5 in the sandbox namespace from `parts`.
pub(crate) fn uuid_from(parts: &[&[u8]]) -> Uuid {
    Uuid::new_v5(&SANDBOX_NAMESPACE, &sha256_parts(parts))
}

/// Pseudo-random numbers seeded from a hash (SplitMix64). Not for cryptographic use.
pub(crate) struct SeededRng {
    state: u64,
}

impl SeededRng {
    pub(crate) fn from_parts(parts: &[&[u8]]) -> Self {
        let digest = sha256_parts(parts);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        SeededRng {
            state: u64::from_le_bytes(seed),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a number in `low..=high`. Returns `low` when `high < low`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        match (high - low).checked_add(1) {
            Some(span) => low + self.next_u64() % span,
            None => self.next_u64(),
        }
    }

    /// Picks one element. `items` must not be empty, so pass only constant tables.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let index = self.next_u64() % items.len() as u64;
        &items[index as usize]
    }

    /// Returns `count` decimal digits.
    pub(crate) fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.range(0, 9) as u8))
            .collect()
    }

    /// Returns `count` characters from `A-Z`, `a-z` and `0-9`, the alphabet of Plaid ids.
    pub(crate) fn alphanumeric(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(*self.pick(ALPHANUMERIC)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_keeps_parts_apart() {
        assert_ne!(sha256_parts(&[b"ab", b"c"]), sha256_parts(&[b"a", b"bc"]));
    }

    #[test]
    fn rng_repeats_for_same_seed() {
        let mut first = SeededRng::from_parts(&[b"seed"]);
        let mut second = SeededRng::from_parts(&[b"seed"]);
        for _ in 0..100 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
    }

    #[test]
    fn range_stays_inside_bounds() {
        let mut rng = SeededRng::from_parts(&[b"bounds"]);
        for _ in 0..1000 {
            let value = rng.range(25, 95);
            assert!((25..=95).contains(&value), "{value} outside 25..=95");
        }
        assert_eq!(rng.range(7, 3), 7);
        rng.range(0, u64::MAX);
    }

    #[test]
    fn digits_have_requested_length() {
        let mut rng = SeededRng::from_parts(&[b"digits"]);
        let digits = rng.digits(9);
        assert_eq!(digits.len(), 9);
        assert!(digits.bytes().all(|byte| byte.is_ascii_digit()));
    }
}
