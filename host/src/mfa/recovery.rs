//! Recovery codes: [`COUNT`] per user, each 120 random bits written as 24 base32 letters in
//! groups of four (`abcd-efgh-…`), shown once and stored as SHA-256 (their entropy makes a
//! slow hash unnecessary). What a user types is normalised first: case, spaces and dashes do
//! not matter.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Codes in a set.
pub const COUNT: usize = 10;
/// Random bytes per code: 15 bytes, 120 bits.
const CODE_BYTES: usize = 15;
/// Base32 letters per code.
const CODE_CHARS: usize = 24;
/// RFC 4648 base32, lower case (read aloud and typed more easily).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh set of codes, as shown to the user.
pub fn generate() -> Vec<String> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> String {
    let mut bytes = [0u8; CODE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut letters = String::with_capacity(CODE_CHARS + CODE_CHARS / 4);
    // 15 bytes are exactly 24 groups of 5 bits.
    let (mut acc, mut bits, mut written) = (0u32, 0, 0);
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            if written > 0 && written % 4 == 0 {
                letters.push('-');
            }
            letters.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
            written += 1;
        }
    }
    letters
}

/// What a user typed, reduced to the code's letters; `None` when it cannot be a code.
pub fn normalise(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ok = letters.len() == CODE_CHARS && letters.bytes().all(|b| ALPHABET.contains(&b));
    ok.then_some(letters)
}

/// The stored form of a (normalised) code.
pub fn hash(normalised: &str) -> [u8; 32] {
    Sha256::digest(normalised.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_120_bits_and_read_back_however_typed() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut seen = std::collections::HashSet::new();
        for code in &codes {
            assert_eq!(code.len(), 29, "{code}");
            assert_eq!(code.split('-').count(), 6, "{code}");
            let n = normalise(code).unwrap();
            assert_eq!(n.len() * 5, 120);
            assert_eq!(
                normalise(&code.to_uppercase().replace('-', " ")),
                Some(n.clone())
            );
            assert!(seen.insert(n));
        }
        assert_eq!(normalise("too-short"), None);
        assert_eq!(normalise(&"1".repeat(24)), None, "1 is not base32");
    }
}
