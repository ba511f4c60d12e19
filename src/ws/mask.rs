//! Payload unmasking (RFC 6455 §5.3). Pure, in place, safe code.

/// XORs `buf` with the masking `key`, starting at byte `phase` of the key, so a payload
/// that arrives in pieces is unmasked with the right key byte for each piece. Works on 8
/// bytes at a time because masking sits on the path of every byte a client sends.
pub fn unmask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let mut k = key;
    k.rotate_left(phase % 4);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The remainder starts a multiple of 8 (hence of 4) bytes in: key byte 0 again.
    for (b, m) in chunks.into_remainder().iter_mut().zip(k.iter().cycle()) {
        *b ^= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition in RFC 6455 §5.3, one byte at a time.
    fn unmask_bytewise(buf: &mut [u8], key: [u8; 4], phase: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(phase + i) % 4];
        }
    }

    #[test]
    fn fast_unmask_matches_bytewise_at_every_offset_length_and_phase() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let data: Vec<u8> = (0..80u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for offset in 0..8 {
            for len in 0..=64 {
                for phase in 0..4 {
                    let mut fast = data.clone();
                    let mut slow = data.clone();
                    unmask(&mut fast[offset..offset + len], key, phase);
                    unmask_bytewise(&mut slow[offset..offset + len], key, phase);
                    assert_eq!(fast, slow, "offset {offset} len {len} phase {phase}");
                }
            }
        }
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        // RFC 6455 §5.7: masked "Hello".
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let masked = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        for cut in 0..=masked.len() {
            let mut buf = masked;
            let (a, b) = buf.split_at_mut(cut);
            unmask(a, key, 0);
            unmask(b, key, cut);
            assert_eq!(&buf, b"Hello", "cut at {cut}");
        }
    }
}
