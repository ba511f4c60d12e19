#![no_main]
//! Invariant: `ws::MessageReader` gives the same events and the same error whether the
//! input arrives in one piece or split anywhere, `NeedMore` always absorbs the whole
//! input, and the reader never holds more than `max_message` + 125 + 14 bytes. Also
//! decode(encode(x)) == x: the events, re-sent as single masked frames, decode to
//! themselves.
//!
//! Input layout: byte 0-1 pick `max_message` (0..=65535, little endian), byte 2 the number
//! of piece sizes that follow (0..=7), then those sizes (cycled; 0 is an empty read), then
//! the client bytes. Seeds in `fuzz/seeds/ws_frames/` are real frame streams. The driver
//! (`run`) and the encoder (`event_frame`) are `ws::testing`, shared with the reader's
//! unit tests.
use channelstream::ws::testing::{event_frame, run};
use channelstream::ws::WsEvent;
use libfuzzer_sys::fuzz_target;

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
    let resent: Vec<u8> = whole.0.iter().flat_map(|e| event_frame(e, key)).collect();
    assert_eq!(
        run(max, &resent, &pieces),
        (whole.0.clone(), None),
        "re-encoded events"
    );
});
