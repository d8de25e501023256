//! The release draw's order, as anyone can recompute it (`antrean-draw verify`).
//!
//! Inputs, all published: the seed (32 random bytes; its SHA-256 is published before the
//! window opens), the beacon's randomness for a round named in advance (the first round
//! after the window closes, unknown to everyone before then), and the frozen list of entry
//! ids (its SHA-256 is published at the close). Each entry's key is
//! `HMAC-SHA256(key = seed || beacon randomness, message = entry id)`; the order is the
//! entries sorted by key (ties, which need a SHA-256 collision, by id). An insider who knows
//! the seed still cannot choose entries that win, because the beacon's value is unknown
//! until after the list is frozen; the beacon's operator cannot either, without the seed.
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the seed: the commitment published before the window opens.
pub fn seed_sha256(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// Hex SHA-256 of the entry ids, sorted, each followed by a newline.
pub fn entries_sha256<S: AsRef<str>>(ids: &[S]) -> String {
    let mut sorted: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    for id in sorted {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The drawn order of `ids` (the first is admitted first).
pub fn order<S: AsRef<str>>(seed: &[u8], beacon: &[u8], ids: &[S]) -> Vec<String> {
    let mut key = Vec::with_capacity(seed.len() + beacon.len());
    key.extend_from_slice(seed);
    key.extend_from_slice(beacon);
    #[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
    let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    let mut keyed: Vec<([u8; 32], &str)> = ids
        .iter()
        .map(|id| {
            let mut m = mac.clone();
            m.update(id.as_ref().as_bytes());
            (m.finalize().into_bytes().into(), id.as_ref())
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, id)| id.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("entry-{i:05}")).collect()
    }

    #[test]
    fn the_order_is_a_permutation_fixed_by_seed_and_beacon() {
        let ids = ids(50);
        let a = order(b"seed-a", b"beacon-1", &ids);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "every entry exactly once");
        assert_eq!(a, order(b"seed-a", b"beacon-1", &ids), "recomputable");
        assert_ne!(
            a,
            order(b"seed-a", b"beacon-2", &ids),
            "the beacon changes it"
        );
        assert_ne!(
            a,
            order(b"seed-b", b"beacon-1", &ids),
            "the seed changes it"
        );
        // The list's order as given does not matter.
        let mut reversed = ids.clone();
        reversed.reverse();
        assert_eq!(a, order(b"seed-a", b"beacon-1", &reversed));
        assert_eq!(entries_sha256(&ids), entries_sha256(&reversed));
    }

    /// A bot holding 100 of 10,000 entries, over 200 draws with 150 winners each: its mean
    /// share of the winners stays within 0.7%-1.3% (the expected 1% is 1.5 winners a draw;
    /// the mean over 200 draws has a standard deviation of about 0.06 points, so this bound
    /// is more than five of them wide and fails only for a biased order).
    #[test]
    fn a_bot_with_one_percent_of_the_entries_wins_about_one_percent() {
        let ids = ids(10_000);
        let bot: std::collections::HashSet<&str> =
            ids.iter().step_by(100).map(String::as_str).collect();
        assert_eq!(bot.len(), 100);
        let mut won = 0usize;
        let draws = 200;
        for d in 0..draws {
            let seed = Sha256::digest(format!("seed {d}").as_bytes());
            let o = order(&seed, b"beacon", &ids);
            won += o[..150]
                .iter()
                .filter(|id| bot.contains(id.as_str()))
                .count();
        }
        let share = won as f64 / (150 * draws) as f64;
        assert!((0.007..=0.013).contains(&share), "bot share {share}");
    }
}
