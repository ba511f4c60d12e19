//! Shared texts written through one reusable buffer per thread. Pure (the buffer is
//! never observable: it is emptied after each use).
//!
//! Why: a JSON text is written before its length is known, and the shared `Arc<str>`
//! every recipient holds must then be allocated at that length and the text copied in.
//! Writing into a fresh `Vec` for each text made two allocations per text; the hub
//! thread writes two per message it passes on (the stored text and the websocket
//! frame's), so it was four of its ~25 allocations per message.

use std::cell::RefCell;
use std::sync::Arc;

/// Past this capacity the buffer is given back after use rather than kept (a message
/// near the body limit must not pin that much memory for the thread's life).
const KEEP_BYTES: usize = 64 * 1024;

/// Bytes reserved the first time (or after a large text was given back): a chat message
/// with its delivery keys is 300 to 400 bytes.
const FIRST_BYTES: usize = 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The text `write` appends to an empty buffer, as one exactly sized shared string.
/// `write` must append valid UTF-8 (serde_json's writers do); were it not, the text is
/// `{}`.
pub fn shared_text(write: impl FnOnce(&mut Vec<u8>)) -> Arc<str> {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.capacity() == 0 {
                buf.reserve(FIRST_BYTES);
            }
            write(&mut buf);
            let text = as_text(&buf);
            buf.clear();
            if buf.capacity() > KEEP_BYTES {
                *buf = Vec::new();
            }
            text
        }
        // Only if `write` itself made a shared text: then it gets a buffer of its own.
        Err(_) => {
            let mut buf = Vec::with_capacity(FIRST_BYTES);
            write(&mut buf);
            as_text(&buf)
        }
    })
}

/// `bytes` as a shared string (`{}` if they are not UTF-8).
fn as_text(bytes: &[u8]) -> Arc<str> {
    std::str::from_utf8(bytes).unwrap_or("{}").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_text_is_what_its_writer_wrote_alone() {
        let a = shared_text(|b| b.extend_from_slice(b"[1,2]"));
        let b = shared_text(|b| b.extend_from_slice(b"{}"));
        assert_eq!((&*a, &*b), ("[1,2]", "{}"));
        let big = "x".repeat(KEEP_BYTES * 2);
        assert_eq!(&*shared_text(|b| b.extend_from_slice(big.as_bytes())), big);
        assert_eq!(&*shared_text(|b| b.push(b'7')), "7");
    }

    #[test]
    fn a_writer_may_make_a_text_of_its_own() {
        let outer = shared_text(|b| {
            let inner = shared_text(|b| b.extend_from_slice(b"in"));
            b.extend_from_slice(b"out:");
            b.extend_from_slice(inner.as_bytes());
        });
        assert_eq!(&*outer, "out:in");
    }

    #[test]
    fn bytes_that_are_not_utf8_give_an_empty_object() {
        assert_eq!(&*shared_text(|b| b.push(0xff)), "{}");
    }
}
