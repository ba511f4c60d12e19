//! Client frame headers (RFC 6455 §5.2), decoded from however many header bytes have
//! arrived. Every rule is checked as soon as the byte it depends on is there, in byte
//! order, so any split of the input meets the same first error. Pure; no allocation.

use super::ProtocolError;

/// The longest header: 2 fixed bytes, 8 bytes of extended length, 4 bytes of mask key.
pub const MAX_HEADER: usize = 14;

/// What a frame carries, from its opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// 0x0: the next fragment of the message in progress.
    Continuation,
    /// 0x1
    Text,
    /// 0x2
    Binary,
    /// 0x8
    Close,
    /// 0x9
    Ping,
    /// 0xA
    Pong,
}

impl FrameKind {
    /// The kind for a 4-bit opcode; `None` for the reserved ones (RFC 6455 §5.2).
    fn from_opcode(op: u8) -> Option<Self> {
        match op {
            0x0 => Some(FrameKind::Continuation),
            0x1 => Some(FrameKind::Text),
            0x2 => Some(FrameKind::Binary),
            0x8 => Some(FrameKind::Close),
            0x9 => Some(FrameKind::Ping),
            0xA => Some(FrameKind::Pong),
            _ => None,
        }
    }

    /// Control frames (RFC 6455 §5.5) may interleave with fragments of a message.
    pub fn is_control(self) -> bool {
        matches!(self, FrameKind::Close | FrameKind::Ping | FrameKind::Pong)
    }
}

/// A whole, checked client frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// From the opcode.
    pub kind: FrameKind,
    /// Payload length; at most 125 for control frames, at most the room left in the
    /// message for data frames.
    pub len: usize,
    /// Masking key (RFC 6455 §5.3).
    pub mask: [u8; 4],
}

/// What the header rules need to know about the reader.
#[derive(Clone, Copy, Debug)]
pub struct HeaderContext {
    /// A fragmented data message has started and not finished.
    pub in_message: bool,
    /// Bytes the data message may still grow by before it passes the limit.
    pub room: usize,
}

/// Result of looking at the header bytes that have arrived so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderStatus {
    /// The header is whole.
    Complete(FrameHeader),
    /// Everything present is valid; the header is this many bytes long in total (a lower
    /// bound until the second byte has arrived).
    Need(usize),
}

/// Checks the header bytes in `b` (a prefix of a header, maybe all of it). The message
/// limit is checked as soon as the length is known, before any payload is buffered.
pub fn decode_header(b: &[u8], ctx: HeaderContext) -> Result<HeaderStatus, ProtocolError> {
    let Some(&b0) = b.first() else {
        return Ok(HeaderStatus::Need(2));
    };
    if b0 & 0x70 != 0 {
        return Err(ProtocolError::ReservedBitsSet); // no extension is ever negotiated
    }
    let fin = b0 & 0x80 != 0;
    let kind = FrameKind::from_opcode(b0 & 0x0F).ok_or(ProtocolError::UnknownOpcode)?;
    if kind.is_control() && !fin {
        return Err(ProtocolError::BadControlFrame); // RFC 6455 §5.5
    }
    match kind {
        FrameKind::Continuation if !ctx.in_message => {
            return Err(ProtocolError::BadFragmentation); // RFC 6455 §5.4
        }
        FrameKind::Text | FrameKind::Binary if ctx.in_message => {
            return Err(ProtocolError::BadFragmentation);
        }
        _ => {}
    }

    let Some(&b1) = b.get(1) else {
        return Ok(HeaderStatus::Need(2));
    };
    if b1 & 0x80 == 0 {
        return Err(ProtocolError::UnmaskedClientFrame); // RFC 6455 §5.1
    }
    let len7 = b1 & 0x7F;
    if kind.is_control() && len7 > 125 {
        return Err(ProtocolError::BadControlFrame);
    }
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let total = 2 + ext + 4;

    let Some(ext_bytes) = b.get(2..2 + ext) else {
        return Ok(HeaderStatus::Need(total));
    };
    let len = match ext {
        0 => u64::from(len7),
        _ => ext_bytes
            .iter()
            .fold(0u64, |acc, &x| acc << 8 | u64::from(x)),
    };
    if len >> 63 != 0 {
        return Err(ProtocolError::BadLength); // RFC 6455 §5.2: the MSB must be 0
    }
    // Control lengths are at most 125 here; data lengths are checked against the room.
    let len = match usize::try_from(len) {
        Ok(len) if kind.is_control() || len <= ctx.room => len,
        _ => return Err(ProtocolError::MessageTooBig),
    };

    let Some(key) = b.get(2 + ext..total) else {
        return Ok(HeaderStatus::Need(total));
    };
    let mut mask = [0u8; 4];
    mask.copy_from_slice(key);
    Ok(HeaderStatus::Complete(FrameHeader {
        fin,
        kind,
        len,
        mask,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: HeaderContext = HeaderContext {
        in_message: false,
        room: 1 << 20,
    };

    #[test]
    fn rfc_masked_hello_header_decodes() {
        let b = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
        let want = FrameHeader {
            fin: true,
            kind: FrameKind::Text,
            len: 5,
            mask: [0x37, 0xfa, 0x21, 0x3d],
        };
        assert_eq!(decode_header(&b, FRESH), Ok(HeaderStatus::Complete(want)));
        assert_eq!(decode_header(&b[..1], FRESH), Ok(HeaderStatus::Need(2)));
        assert_eq!(decode_header(&b[..3], FRESH), Ok(HeaderStatus::Need(6)));
    }

    #[test]
    fn extended_lengths_need_their_bytes_and_decode_big_endian() {
        let b16 = [0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
        assert_eq!(decode_header(&b16[..3], FRESH), Ok(HeaderStatus::Need(8)));
        let Ok(HeaderStatus::Complete(h)) = decode_header(&b16, FRESH) else {
            panic!("16-bit header incomplete");
        };
        assert_eq!(h.len, 256);
        let b64 = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        let Ok(HeaderStatus::Complete(h)) = decode_header(&b64, FRESH) else {
            panic!("64-bit header incomplete");
        };
        assert_eq!(h.len, 65536);
    }

    #[test]
    fn limit_is_checked_before_the_mask_key_arrives() {
        let tight = HeaderContext {
            in_message: false,
            room: 255,
        };
        let b16 = [0x82, 0xFE, 0x01, 0x00];
        assert_eq!(
            decode_header(&b16, tight),
            Err(ProtocolError::MessageTooBig)
        );
        let exact = HeaderContext {
            in_message: false,
            room: 256,
        };
        assert_eq!(decode_header(&b16, exact), Ok(HeaderStatus::Need(8)));
    }

    #[test]
    fn control_frames_ignore_the_message_room() {
        let full = HeaderContext {
            in_message: true,
            room: 0,
        };
        let ping = [0x89, 0xFD, 1, 2, 3, 4]; // 125-byte ping inside a full message
        assert!(matches!(
            decode_header(&ping, full),
            Ok(HeaderStatus::Complete(_))
        ));
    }
}
