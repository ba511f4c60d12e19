//! Close frame payloads (RFC 6455 §5.5.1, §7.4): validating the client's, building ours.
//! Pure.

use super::{encode_frame, OpCode, ProtocolError};

/// Whether a peer may put `code` in a close frame (RFC 6455 §7.4.1, §7.4.2). 1004-1006 and
/// 1015 are reserved for local use, 1016-2999 for future RFCs; 1012-1014 were registered
/// with IANA later and are sent by real servers, so they are accepted.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Decodes a client's close payload: empty, or a valid code and a UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::BadCloseCode),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(ProtocolError::BadCloseCode);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

/// A close frame with `code` and a UTF-8 `reason` (truncated to fit 125 bytes).
///
/// The reason is cut at a char boundary so the client never sees invalid UTF-8 (which it
/// would have to answer with 1007).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.get(..end).unwrap_or_default().as_bytes());
    let mut out = Vec::with_capacity(2 + payload.len());
    encode_frame(OpCode::Close, &payload, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_rfc_6455_section_7_4() {
        let ok = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 4999,
        ];
        let bad = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in ok {
            assert!(is_valid_close_code(code), "{code} should be accepted");
        }
        for code in bad {
            assert!(!is_valid_close_code(code), "{code} should be refused");
        }
    }

    #[test]
    fn close_payloads_decode_or_fail_with_the_right_error() {
        assert_eq!(parse_close(b""), Ok(None));
        assert_eq!(parse_close(b"\x03"), Err(ProtocolError::BadCloseCode));
        assert_eq!(parse_close(b"\x03\xe8"), Ok(Some((1000, String::new()))));
        assert_eq!(parse_close(b"\x03\xe8bye"), Ok(Some((1000, "bye".into()))));
        assert_eq!(
            parse_close(b"\x03\xedbye"),
            Err(ProtocolError::BadCloseCode)
        );
        assert_eq!(
            parse_close(b"\x03\xe8\xff"),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn close_frame_truncates_the_reason_on_a_char_boundary() {
        let reason = "é".repeat(100); // 200 bytes, 2 per char
        let frame = close_frame(1001, &reason);
        assert_eq!(frame[0], 0x88);
        assert_eq!(usize::from(frame[1]), frame.len() - 2);
        assert!(frame.len() - 2 <= 125);
        assert_eq!(&frame[2..4], &1001u16.to_be_bytes());
        let sent = std::str::from_utf8(&frame[4..]).expect("reason stays UTF-8");
        assert_eq!(
            sent,
            "é".repeat(61),
            "122 bytes: the 62nd char would not fit"
        );
        assert_eq!(close_frame(1000, "bye"), b"\x88\x05\x03\xe8bye");
    }
}
