#![no_main]
//! Invariant: a connection's bytes fed in arbitrary pieces give the same events, the same
//! error after the same number of events, and the same bytes left over, as the same bytes
//! fed in one piece. Also: no request body is ever longer than `max_body`.
//!
//! Input layout: byte 0 picks the mode (bit 0: tiny limits, so 431 and 413 are reachable;
//! bit 1: one byte at a time instead of seeded piece sizes), byte 1 seeds the piece sizes
//! (0..=16 bytes, zero meaning "call again with nothing new"), the rest is the stream.

use channelstream::decoded::Decoded;
use channelstream::http::{HttpError, HttpEvent, HttpLimits, RequestDecoder};
use libfuzzer_sys::fuzz_target;

/// Everything a caller observes from feeding a stream.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<HttpEvent>,
    /// The refusal, if any. Only events before it count: an error at request `i` in one
    /// feeding must be the same error at request `i` in the other.
    error: Option<HttpError>,
    /// Bytes still in the caller's buffer at the end (0 after an error).
    left: usize,
}

/// Feeds `bytes` as an engine would: pieces of the given sizes, `decode` called until it
/// needs more, consumed bytes dropped.
fn feed(bytes: &[u8], pieces: impl Iterator<Item = usize>, limits: HttpLimits) -> Outcome {
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut rest = bytes;
    for size in pieces {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        buf.extend_from_slice(piece);
        rest = tail;
        loop {
            match decoder.decode(&buf) {
                Ok(Decoded::Done { value, consumed }) => {
                    assert!(consumed <= buf.len(), "consumed past the input");
                    buf.drain(..consumed);
                    events.push(value);
                }
                Ok(Decoded::NeedMore { consumed }) => {
                    assert!(consumed <= buf.len(), "consumed past the input");
                    buf.drain(..consumed);
                    break;
                }
                Err(error) => {
                    return Outcome {
                        events,
                        error: Some(error),
                        left: 0,
                    }
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    Outcome {
        events,
        error: None,
        left: buf.len(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, seed, bytes @ ..] = data else {
        return;
    };
    let limits = if mode & 1 == 1 {
        HttpLimits {
            max_head: 96,
            max_body: 24,
            max_headers: 3,
        }
    } else {
        HttpLimits::default()
    };

    let whole = feed(bytes, std::iter::once(bytes.len()), limits);

    let mut state = *seed;
    let seeded = std::iter::from_fn(move || {
        // Full-period LCG mod 256, so zero-size pieces never repeat forever.
        state = state.wrapping_mul(37).wrapping_add(11);
        Some(usize::from(state % 17))
    });
    let pieces: Box<dyn Iterator<Item = usize>> = if mode & 2 == 2 {
        Box::new(std::iter::repeat(1))
    } else {
        Box::new(seeded)
    };
    let split = feed(bytes, pieces, limits);

    assert_eq!(
        split, whole,
        "piecewise decoding differs from one-shot decoding"
    );
    for event in &whole.events {
        if let HttpEvent::Request(request) = event {
            assert!(request.body.len() <= limits.max_body, "body past max_body");
        }
    }
});
