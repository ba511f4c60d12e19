//! Random identifiers for the load generator: conn_id UUIDs, websocket keys and masks.
//! Not cryptographic: the values only have to be unique within a run and unpredictable
//! enough that two runs do not collide, so a xorshift generator seeded from
//! `/dev/urandom` (or the clock when that is missing) is enough.

use std::io::Read;

/// xorshift64* (Vigna): small state, good enough spread for ids and masks.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the operating system, mixed with `salt` so that threads
    /// started in the same nanosecond still differ.
    pub fn from_os(salt: u64) -> Self {
        let mut seed = [0u8; 8];
        let from_os = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .is_ok();
        let mut s = u64::from_le_bytes(seed);
        if !from_os {
            s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9e37_79b9_7f4a_7c15);
        }
        Self::seeded(s ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// A generator with a fixed seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Self(if seed == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A websocket masking key (RFC 6455 §5.3).
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_le_bytes()
    }

    /// 16 random bytes, for a `Sec-WebSocket-Key` nonce.
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }

    /// A version 4 UUID, lower-case and hyphenated as channelstream renders them.
    pub fn uuid4(&mut self) -> String {
        let mut b = self.bytes16();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_has_the_canonical_shape_version_and_variant() {
        let mut rng = Rng::seeded(7);
        let id = rng.uuid4();
        assert_eq!(id.len(), 36);
        let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, vec![8, 13, 18, 23]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(rng.uuid4(), id);
    }
}
