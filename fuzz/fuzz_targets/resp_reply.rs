#![no_main]
//! Invariant: `resp::ReplyDecoder` gives the same replies and the same error whether the
//! server's bytes arrive in one piece, split anywhere, or a byte at a time; it never
//! panics; and decode(encode(x)) == x for every reply it decodes (status and error lines
//! hold no CR or LF, so they re-encode to themselves).
//!
//! Input layout: byte 0 picks the limits (bit 0: tiny limits so they are reached; bits
//! 1-3: max depth 1..=8), byte 1 the number of piece sizes that follow (0..=7), then
//! those sizes (cycled; 0 is an empty read), then the server bytes. Seeds in
//! `fuzz/seeds/resp_reply/` are real reply streams.
use channelstream::resp::testing::decode_pieces;
use channelstream::resp::{encode_reply, RespLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [mode, count, rest @ ..] = data else {
        return;
    };
    let depth = usize::from((mode >> 1) & 7) + 1;
    let limits = if mode & 1 == 1 {
        RespLimits {
            max_bulk: 16,
            max_array: 4,
            max_depth: depth,
            max_line: 12,
            max_reply: 96,
        }
    } else {
        RespLimits {
            max_depth: depth,
            ..RespLimits::default()
        }
    };
    let count = usize::from(count % 8).min(rest.len());
    let (sizes, bytes) = rest.split_at(count);
    let pieces: Vec<usize> = sizes.iter().map(|&s| usize::from(s)).collect();
    let whole = decode_pieces(limits, bytes, &[bytes.len().max(1)]);
    assert_eq!(
        decode_pieces(limits, bytes, &pieces),
        whole,
        "split into {pieces:?}"
    );
    assert_eq!(decode_pieces(limits, bytes, &[1]), whole, "byte at a time");
    let mut again = Vec::new();
    for reply in &whole.0 {
        encode_reply(reply, &mut again);
    }
    let roundtrip = decode_pieces(RespLimits::default(), &again, &[again.len().max(1)]);
    let decoded_again = roundtrip.0;
    // Lossy UTF-8 in status lines may change their bytes but not the decoded value.
    assert_eq!(decoded_again, whole.0, "re-encoded replies");
});
