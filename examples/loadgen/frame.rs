//! Client side of RFC 6455: the opening handshake's key and accept check, masked
//! client frames out, unmasked server frames in. Pure: no sockets, no clock; the
//! caller supplies masks and nonces.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use channelstream::decoded::Decoded;
use sha1::{Digest, Sha1};

/// Opcodes (RFC 6455 §5.2).
pub const OP_CONTINUATION: u8 = 0x0;
/// A text frame.
pub const OP_TEXT: u8 = 0x1;
/// A binary frame.
pub const OP_BINARY: u8 = 0x2;
/// A close frame.
pub const OP_CLOSE: u8 = 0x8;
/// A ping frame.
pub const OP_PING: u8 = 0x9;
/// A pong frame.
pub const OP_PONG: u8 = 0xA;

/// A server frame header; the payload is `buf[start..start + len]` of the decoded input,
/// so a frame is read without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerFrame {
    /// Last fragment of a message.
    pub fin: bool,
    /// One of the `OP_*` values.
    pub opcode: u8,
    /// Offset of the payload in the decoded buffer.
    pub start: usize,
    /// Payload length.
    pub len: usize,
}

/// Why a server's frames were refused. Each variant names a fact about the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// RFC 6455 §5.1: a server must not mask.
    MaskedServerFrame,
    /// RSV bits set without a negotiated extension (§5.2).
    ReservedBitsSet,
    /// An opcode §5.2 reserves.
    UnknownOpcode,
    /// A control frame fragmented or longer than 125 bytes (§5.5).
    BadControlFrame,
    /// Longer than the caller's limit.
    TooBig,
}

impl FrameError {
    /// Short description for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaskedServerFrame => "masked server frame",
            Self::ReservedBitsSet => "reserved bits set",
            Self::UnknownOpcode => "unknown opcode",
            Self::BadControlFrame => "bad control frame",
            Self::TooBig => "frame too big",
        }
    }
}

/// Decodes one server frame header from the front of `buf`; `Done` only once the whole
/// payload is in `buf` too, so the caller can hand out `buf[start..start + len]`.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Decoded<ServerFrame>, FrameError> {
    let need = Decoded::NeedMore { consumed: 0 };
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(need);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBitsSet);
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::MaskedServerFrame);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG if fin && b1 & 0x7f <= 125 => {}
        OP_CLOSE | OP_PING | OP_PONG => return Err(FrameError::BadControlFrame),
        _ => return Err(FrameError::UnknownOpcode),
    }
    let (len, start) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(need),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                (u64::from_be_bytes(be), 10)
            }
            None => return Ok(need),
        },
        n => (u64::from(n), 2),
    };
    let len = match usize::try_from(len) {
        Ok(len) if len <= max_payload => len,
        _ => return Err(FrameError::TooBig),
    };
    if len > buf.len() - start.min(buf.len()) {
        return Ok(need);
    }
    Ok(Decoded::Done {
        value: ServerFrame {
            fin,
            opcode,
            start,
            len,
        },
        consumed: start + len,
    })
}

/// Appends a final, masked client frame (RFC 6455 §5.2, §5.3) to `out`.
pub fn encode_client(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | (opcode & 0x0f));
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// Appends an unmasked server frame (the sink's side; tests).
pub fn encode_server(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | (opcode & 0x0f));
    match payload.len() {
        n @ 0..=125 => out.push(n as u8),
        n @ 126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// The `Sec-WebSocket-Accept` value the server must answer for `key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(sha.finalize())
}

/// A `Sec-WebSocket-Key` made from a 16-byte nonce (RFC 6455 §4.1).
pub fn client_key(nonce: [u8; 16]) -> String {
    STANDARD.encode(nonce)
}

/// The opening handshake request for `path` (RFC 6455 §4.1).
pub fn encode_handshake(path: &str, host: &str, key: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let b1 = frame[1] & 0x7f;
        let (len, at) = match b1 {
            126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let mask = &frame[at..at + 4];
        let data = frame[at + 4..at + 4 + len]
            .iter()
            .zip(mask.iter().cycle())
            .map(|(b, m)| b ^ m)
            .collect();
        (frame[0], data)
    }

    #[test]
    fn rfc_accept_key_vector() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_masked_hello_is_what_we_encode() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        let mut out = Vec::new();
        encode_client(OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn client_frames_unmask_to_the_payload_at_every_length_class() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = Vec::new();
            encode_client(OP_BINARY, &payload, [1, 2, 3, 4], &mut out);
            let (b0, data) = unmask(&out);
            assert_eq!(b0, 0x82, "len {len}");
            assert_eq!(data, payload, "len {len}");
        }
    }

    #[test]
    fn server_frames_round_trip_at_every_length_class_and_split() {
        for len in [0usize, 5, 125, 126, 300, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
            let mut wire = Vec::new();
            encode_server(OP_TEXT, &payload, &mut wire);
            let Ok(Decoded::Done { value, consumed }) = decode(&wire, 1 << 20) else {
                panic!("len {len} did not decode");
            };
            assert_eq!(consumed, wire.len(), "len {len}");
            assert_eq!(&wire[value.start..value.start + value.len], &payload[..]);
            assert!(value.fin && value.opcode == OP_TEXT);
            for split in [0, 1, 2, 3, 9, wire.len().saturating_sub(1)] {
                if split < wire.len() {
                    assert_eq!(
                        decode(&wire[..split], 1 << 20),
                        Ok(Decoded::NeedMore { consumed: 0 }),
                        "len {len} split {split}"
                    );
                }
            }
        }
    }

    #[test]
    fn refused_server_frames_name_the_reason() {
        const CASES: &[(&str, &[u8], FrameError)] = &[
            (
                "masked",
                &[0x81, 0x81, 0, 0, 0, 0, b'a'],
                FrameError::MaskedServerFrame,
            ),
            ("rsv1", &[0xc1, 0x00], FrameError::ReservedBitsSet),
            ("opcode 3", &[0x83, 0x00], FrameError::UnknownOpcode),
            (
                "fragmented ping",
                &[0x09, 0x00],
                FrameError::BadControlFrame,
            ),
            (
                "long close",
                &[0x88, 126, 0, 200],
                FrameError::BadControlFrame,
            ),
            (
                "over limit",
                &[0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0],
                FrameError::TooBig,
            ),
        ];
        for (name, bytes, want) in CASES {
            assert_eq!(decode(bytes, 1 << 20), Err(*want), "{name}");
        }
    }

    #[test]
    fn continuation_frames_decode_with_their_fin_bit() {
        let wire = [0x01, 0x02, b'[', b']', 0x80, 0x01, b' '];
        let Ok(Decoded::Done { value, consumed }) = decode(&wire, 100) else {
            panic!("first fragment");
        };
        assert_eq!((value.fin, value.opcode, consumed), (false, OP_TEXT, 4));
        let Ok(Decoded::Done { value, .. }) = decode(&wire[4..], 100) else {
            panic!("continuation");
        };
        assert_eq!((value.fin, value.opcode), (true, OP_CONTINUATION));
    }
}
