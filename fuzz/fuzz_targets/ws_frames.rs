#![no_main]
//! Invariant: `ws::MessageReader` gives the same events and the same error whether the
//! input arrives in one piece or split anywhere, `NeedMore` always absorbs the whole
//! input, and the reader never holds more than `max_message` + 125 + 14 bytes. Also
//! decode(encode(x)) == x: the events, re-sent as single masked frames, decode to
//! themselves.
//!
//! Input layout: byte 0-1 pick `max_message` (0..=65535, little endian), byte 2 the number
//! of piece sizes that follow (0..=7), then those sizes (cycled; 0 is an empty read), then
//! the client bytes. Seeds in `fuzz/seeds/ws_frames/` are real frame streams.
use channelstream::decoded::Decoded;
use channelstream::ws::{frame_head, MessageReader, OpCode, ProtocolError, WsEvent};
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<WsEvent>, Option<ProtocolError>);

/// The event as one masked client frame: the server encoder's frame plus mask bit and key.
fn client_frame(event: &WsEvent, key: [u8; 4]) -> Vec<u8> {
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
    let (head, n) = frame_head(op, payload.len());
    let mut out = head[..n].to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&key);
    out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// Feeds `bytes` in pieces the way the engine does: append, decode until `NeedMore`,
/// drop `consumed` after every answer.
fn run(max: usize, bytes: &[u8], pieces: &[usize]) -> Outcome {
    let mut reader = MessageReader::new(max);
    let mut events = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut offset = 0;
    let mut sizes = pieces.iter().cycle();
    loop {
        loop {
            match reader.decode(&pending) {
                Ok(Decoded::Done { value, consumed }) => {
                    assert!(consumed <= pending.len());
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
            assert!(reader.buffered_len() <= max + 125 + 14, "memory bound");
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

fuzz_target!(|data: &[u8]| {
    let [lo, hi, count, rest @ ..] = data else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([*lo, *hi]));
    let count = usize::from(count % 8).min(rest.len());
    let (sizes, bytes) = rest.split_at(count);
    let mut pieces: Vec<usize> = sizes.iter().map(|&s| usize::from(s)).collect();
    if pieces.iter().all(|&p| p == 0) {
        pieces.push(1); // keep making progress
    }
    let whole = run(max, bytes, &[bytes.len().max(1)]);
    assert_eq!(run(max, bytes, &pieces), whole, "split into {pieces:?}");
    assert_eq!(run(max, bytes, &[1]), whole, "byte at a time");
    for event in &whole.0 {
        match event {
            WsEvent::Ping(p) | WsEvent::Pong(p) => assert!(p.len() <= 125),
            WsEvent::Text(t) => assert!(t.len() <= max),
            WsEvent::Binary(b) => assert!(b.len() <= max),
            WsEvent::Close(_) => {}
        }
    }
    let key = [*lo, *hi, 0xa5, 0x5a];
    let resent: Vec<u8> = whole.0.iter().flat_map(|e| client_frame(e, key)).collect();
    assert_eq!(
        run(max, &resent, &pieces),
        (whole.0.clone(), None),
        "re-encoded events"
    );
});
