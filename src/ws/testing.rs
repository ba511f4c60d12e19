//! What a websocket *client* does, for the reader's unit tests and the `ws_frames` fuzz
//! target: encode masked client frames, and feed a [`MessageReader`] in pieces the way the
//! engine does. The server never calls it. It is public (and hidden from the docs) only
//! because integration tests and the fuzz crate cannot see `#[cfg(test)]` code, and it is
//! compiled only for tests or with the `testing` feature. Pure: no sockets, no clock.

use super::frame::MAX_HEADER;
use super::{encode_frame, MessageReader, OpCode, ProtocolError, WsEvent};
use crate::decoded::Decoded;

/// The events a reader gave, and the error that stopped it, if any.
pub type Outcome = (Vec<WsEvent>, Option<ProtocolError>);

/// The mask key of the RFC 6455 §5.7 examples.
pub const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame (RFC 6455 §5.2) masked with `key` (§5.3), with the shortest length
/// encoding. `first` (FIN, RSV1-3, opcode) is sent as given, so a test can also build
/// frames the server must refuse. Written apart from the server's encoder, so the two can
/// check each other.
pub fn client_frame(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// A server frame as a client would send it: the mask bit set, `key` after the length,
/// the payload masked. Bytes too short to hold a frame header come back unchanged.
pub fn masked(server_frame: &[u8], key: [u8; 4]) -> Vec<u8> {
    let head_len = match server_frame.get(1) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => return server_frame.to_vec(),
    };
    let Some((head, payload)) = server_frame.split_at_checked(head_len) else {
        return server_frame.to_vec();
    };
    let mut out = head.to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// `event` as one client frame: encoded by the server's own encoder (FIN set), then
/// masked with `key`, so `decode(event_frame(e)) == e` checks encoder and reader together.
pub fn event_frame(event: &WsEvent, key: [u8; 4]) -> Vec<u8> {
    let (op, payload) = match event {
        WsEvent::Text(t) => (OpCode::Text, t.as_bytes().to_vec()),
        WsEvent::Binary(b) => (OpCode::Binary, b.clone()),
        WsEvent::Ping(p) => (OpCode::Ping, p.clone()),
        WsEvent::Pong(p) => (OpCode::Pong, p.clone()),
        WsEvent::Close(None) => (OpCode::Close, Vec::new()),
        WsEvent::Close(Some((code, reason))) => (
            OpCode::Close,
            [&code.to_be_bytes()[..], reason.as_bytes()].concat(),
        ),
    };
    let mut server = Vec::new();
    encode_frame(op, &payload, &mut server);
    masked(&server, key)
}

/// Feeds `bytes` to `MessageReader::new(max)` in pieces of the sizes in `pieces` (cycled;
/// 0 is an empty read) the way the engine does: append to a buffer, decode until
/// `NeedMore`, drop `consumed` after every answer. Panics if the reader breaks a promise:
/// `NeedMore` must absorb all input, an error must repeat on the next call, and the reader
/// may hold at most `max` + 125 + 14 (the longest frame header) bytes.
pub fn run(max: usize, bytes: &[u8], pieces: &[usize]) -> Outcome {
    let mut reader = MessageReader::new(max);
    let mut events = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut offset = 0;
    let mut sizes = pieces.iter().cycle();
    loop {
        loop {
            match reader.decode(&pending) {
                Ok(Decoded::Done { value, consumed }) => {
                    assert!(consumed <= pending.len(), "consumed more than given");
                    events.push(value);
                    pending.drain(..consumed);
                }
                Ok(Decoded::NeedMore { consumed }) => {
                    assert_eq!(consumed, pending.len(), "NeedMore absorbs all input");
                    pending.clear();
                    break;
                }
                Err(e) => {
                    assert_eq!(reader.decode(&pending), Err(e), "the reader stays failed");
                    return (events, Some(e));
                }
            }
            assert!(
                reader.buffered_len() <= max + 125 + MAX_HEADER,
                "memory bound"
            );
        }
        if offset == bytes.len() {
            return (events, None);
        }
        let n = sizes
            .next()
            .copied()
            .unwrap_or(bytes.len())
            .min(bytes.len() - offset);
        pending.extend_from_slice(&bytes[offset..offset + n]);
        offset += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_masked_hello_is_what_client_frame_and_masked_encoder_give() {
        // RFC 6455 §5.7: single-frame masked text message containing "Hello".
        let rfc = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(client_frame(0x81, b"Hello", RFC_KEY), rfc);
        assert_eq!(event_frame(&WsEvent::Text("Hello".into()), RFC_KEY), rfc);
        assert_eq!(masked(&[0x81], RFC_KEY), [0x81], "too short: unchanged");
    }

    #[test]
    fn event_frames_decode_to_their_events_in_any_pieces() {
        let events = vec![
            WsEvent::Text("héllo".into()),
            WsEvent::Binary(vec![7; 300]),
            WsEvent::Ping(b"p".to_vec()),
            WsEvent::Pong(vec![]),
            WsEvent::Binary(vec![1; 70_000]),
            WsEvent::Close(Some((1000, "bye".into()))),
        ];
        let bytes: Vec<u8> = events
            .iter()
            .flat_map(|e| event_frame(e, [1, 2, 3, 4]))
            .collect();
        for pieces in [&[bytes.len()][..], &[1], &[0, 7, 4096]] {
            assert_eq!(
                run(70_000, &bytes, pieces),
                (events.clone(), None),
                "{pieces:?}"
            );
        }
    }
}
