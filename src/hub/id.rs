//! Identifiers: a 128-bit UUID value type with the reference's text forms, and a version-4
//! generator. Pure: the generator is seeded by its caller.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A UUID. Connections, users, channels and messages are named by these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub u128);

impl Uuid {
    /// Parses the forms Python's `uuid.UUID(str)` accepts: 32 hex digits, optionally with
    /// hyphens, braces and a `urn:uuid:` prefix, any case. `None` for anything else.
    pub fn parse(s: &str) -> Option<Uuid> {
        let s = s.replace("urn:", "").replace("uuid:", "");
        let s = s.trim_matches(|c| c == '{' || c == '}').replace('-', "");
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(&s, 16).ok().map(Uuid)
    }
}

impl fmt::Display for Uuid {
    /// The canonical lower-case `8-4-4-4-12` form, as Python's `str(uuid)`. Written in one
    /// piece from a stack buffer, so `to_string` allocates once, at the final size: the
    /// hub names every posted message with one (BENCHMARKS.md, issue 14, allocations).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut digits = (0..32u32)
            .rev()
            .map(|i| HEX[((self.0 >> (4 * i)) & 0xf) as usize]);
        for (slot, at) in text.iter_mut().zip(0..) {
            if !matches!(at, 8 | 13 | 18 | 23) {
                *slot = digits.next().unwrap_or(b'0');
            }
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// Builds [`UuidHasher`]s with a per-process random key. The hub looks a connection up
/// by its UUID for every delivery; SipHash was a sixth of the instructions per delivery.
/// A keyed multiply is enough here: connection ids enter the table only through signed
/// server API calls (`/connect`), never from an anonymous client.
#[derive(Clone, Debug)]
pub struct UuidHashBuilder {
    key: u64,
}

impl Default for UuidHashBuilder {
    fn default() -> Self {
        UuidHashBuilder {
            key: RandomState::new().hash_one(0x5EED_u64) | 1,
        }
    }
}

impl BuildHasher for UuidHashBuilder {
    type Hasher = UuidHasher;
    fn build_hasher(&self) -> UuidHasher {
        UuidHasher {
            key: self.key,
            hash: 0,
        }
    }
}

/// See [`UuidHashBuilder`]. Other key types still hash correctly (byte-wise), just slower.
#[derive(Debug)]
pub struct UuidHasher {
    key: u64,
    hash: u64,
}

impl UuidHasher {
    /// A folded 64x64->128 multiply of the word with the keyed state: every input bit
    /// reaches both the low bits (bucket) and the high bits (hashbrown's tag).
    fn mix(&mut self, word: u64) {
        let m = u128::from(word ^ self.key)
            .wrapping_mul(u128::from(self.hash ^ self.key.rotate_left(29) | 1));
        self.hash = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl Hasher for UuidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word.iter_mut().zip(chunk).for_each(|(w, b)| *w = *b);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Makes random (version 4) UUIDs with splitmix64. Not cryptographic: ids name things, they
/// do not authorize anything (the API secret does), and the allowed crates have no RNG.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator seeded by the caller (the app mixes std's random hasher keys and time).
    pub fn new(seed: u64) -> IdGen {
        IdGen { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh version-4, RFC 4122-variant UUID.
    pub fn uuid4(&mut self) -> Uuid {
        let raw = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
        let v4 = (raw & !(0xF << 76)) | (0x4 << 76);
        Uuid((v4 & !(0x3 << 62)) | (0x2 << 62))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_hasher_spreads_sequential_and_random_ids_over_buckets_and_tags() {
        let b = UuidHashBuilder::default();
        let mut gen = IdGen::new(7);
        let ids: Vec<Uuid> = (0..4096u128)
            .map(Uuid)
            .chain((0..4096).map(|_| gen.uuid4()))
            .collect();
        for half in ids.chunks(4096) {
            let mut low = std::collections::HashSet::new();
            let mut top = std::collections::HashSet::new();
            for id in half {
                let h = b.hash_one(id);
                low.insert(h & 0xfff);
                top.insert(h >> 57);
            }
            assert!(
                low.len() > 2400,
                "low 12 bits: {} of 4096 distinct",
                low.len()
            );
            assert_eq!(top.len(), 128, "every 7-bit tag is used");
        }
        assert_eq!(b.hash_one(Uuid(5)), b.hash_one(Uuid(5)));
    }

    #[test]
    fn parse_accepts_python_forms_and_displays_canonically() {
        let canon = "abcdef01-1234-1234-1234-123456789012";
        for s in [
            canon,
            "ABCDEF01-1234-1234-1234-123456789012",
            "abcdef0112341234123412345678 9012",
            "{abcdef01-1234-1234-1234-123456789012}",
            "urn:uuid:abcdef01-1234-1234-1234-123456789012",
            "abcdef01123412341234123456789012",
        ] {
            match Uuid::parse(s) {
                Some(u) => assert_eq!(u.to_string(), canon, "{s}"),
                None => assert!(s.contains(' '), "{s} should parse"),
            }
        }
        for bad in [
            "",
            "x",
            "abcdef01-1234-1234-1234-12345678901",
            "g".repeat(32).as_str(),
        ] {
            assert_eq!(Uuid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn uuid4_has_version_and_variant_bits_and_differs() {
        let mut g = IdGen::new(42);
        let a = g.uuid4();
        let b = g.uuid4();
        assert_ne!(a, b);
        for u in [a, b] {
            let s = u.to_string();
            assert_eq!(&s[14..15], "4", "{s}");
            assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
            assert_eq!(Uuid::parse(&s), Some(u));
        }
    }
}
