//! Server frames (RFC 6455 §5.2): unmasked, unfragmented, shortest length encoding. Pure.

use super::OpCode;
use std::sync::Arc;

/// The header of a server frame carrying `len` payload bytes: the buffer and how many of
/// its bytes are the header. For callers that keep the payload in its own (shared) buffer
/// and send both with one vectored write.
pub fn frame_head(op: OpCode, len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = 0x80 | op.code();
    match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short < 126 => {
            head[1] = short;
            (head, 2)
        }
        (_, Ok(medium)) => {
            head[1] = 126;
            head[2..4].copy_from_slice(&medium.to_be_bytes());
            (head, 4)
        }
        _ => {
            head[1] = 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (head, 10)
        }
    }
}

/// Appends one unmasked, unfragmented server frame with the shortest length encoding.
pub fn encode_frame(op: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    let (head, n) = frame_head(op, payload.len());
    out.reserve(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
}

/// A whole server frame as shared bytes, encoded once for every recipient. Written in
/// place in its shared buffer: one allocation (the hub makes a frame per message it fans
/// out, and a `Vec` copied into the `Arc` was two).
pub fn shared_frame(op: OpCode, payload: &[u8]) -> Arc<[u8]> {
    let (head, n) = frame_head(op, payload.len());
    // Zeroed at its final size (a `TrustedLen` iterator: one allocation, a memset), then
    // filled; the `Arc` is this function's alone, so `get_mut` always gives its bytes.
    let mut frame: Arc<[u8]> = std::iter::repeat_n(0, n + payload.len()).collect();
    if let Some(bytes) = Arc::get_mut(&mut frame) {
        bytes[..n].copy_from_slice(&head[..n]);
        bytes[n..].copy_from_slice(payload);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_unmasked_hello_is_what_we_send() {
        // RFC 6455 §5.7: single-frame unmasked text message.
        let mut out = Vec::new();
        encode_frame(OpCode::Text, b"Hello", &mut out);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // RFC 6455 §5.7: unmasked pong "Hello" (the answer to the masked ping).
        assert_eq!(&*shared_frame(OpCode::Pong, b"Hello"), b"\x8a\x05Hello");
    }

    #[test]
    fn a_shared_frame_is_the_encoded_frame() {
        for len in [0, 1, 125, 126, 300, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            encode_frame(OpCode::Text, &payload, &mut out);
            assert_eq!(&*shared_frame(OpCode::Text, &payload), &out[..], "{len}");
        }
    }

    #[test]
    fn rfc_length_encodings_are_the_shortest() {
        // RFC 6455 §5.7: 256 bytes use 16 bits, 64 KiB use 64 bits.
        assert_eq!(
            frame_head(OpCode::Binary, 256).0[..4],
            [0x82, 0x7E, 0x01, 0x00]
        );
        assert_eq!(
            frame_head(OpCode::Binary, 65536).0,
            [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]
        );
        let cases = [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (usize::MAX, 10),
        ];
        for (len, head_len) in cases {
            assert_eq!(frame_head(OpCode::Text, len).1, head_len, "len {len}");
        }
        assert_eq!(frame_head(OpCode::Ping, 125).0[..2], [0x89, 125]);
        assert_eq!(frame_head(OpCode::Close, 126).0[..4], [0x88, 126, 0, 126]);
    }

    #[test]
    fn tungstenite_parses_our_frames_with_the_same_length_and_payload() {
        use std::io::Cursor;
        use tungstenite::protocol::frame::FrameHeader;
        for len in [0usize, 1, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut out = Vec::new();
            encode_frame(OpCode::Binary, &payload, &mut out);
            let mut cursor = Cursor::new(&out);
            let parsed = FrameHeader::parse(&mut cursor).expect("valid header");
            let (header, parsed_len) = parsed.expect("whole header");
            assert!(header.is_final && header.mask.is_none(), "len {len}");
            assert_eq!(parsed_len, len as u64, "len {len}");
            assert_eq!(
                &out[cursor.position() as usize..],
                &payload[..],
                "len {len}"
            );
        }
    }
}
