//! Feeds a [`ReplyDecoder`] in pieces the way the Redis link does (append what was read,
//! decode until `NeedMore`, drop what was consumed), for unit tests and the `resp_reply`
//! fuzz target. Compiled only for tests or with the `testing` feature. Pure.

use super::{Reply, ReplyDecoder, RespError, RespLimits};
use crate::decoded::Decoded;

/// The replies decoded, and the error that stopped the decoder, if any.
pub type Outcome = (Vec<Reply>, Option<RespError>);

/// Decodes `bytes` arriving in pieces of the sizes in `pieces` (cycled; a 0 is an empty
/// read; all zeros are read as 1).
pub fn decode_pieces(limits: RespLimits, bytes: &[u8], pieces: &[usize]) -> Outcome {
    let mut decoder = ReplyDecoder::new(limits);
    let mut buffer: Vec<u8> = Vec::new();
    let mut replies = Vec::new();
    let mut fed = 0;
    let mut sizes = pieces.iter().copied().cycle();
    let all_zero = pieces.iter().all(|&p| p == 0);
    loop {
        loop {
            match decoder.decode(&buffer) {
                Ok(Decoded::Done { value, consumed }) => {
                    assert!(
                        consumed > 0 && consumed <= buffer.len(),
                        "consumed {consumed}"
                    );
                    replies.push(value);
                    buffer.drain(..consumed);
                }
                Ok(Decoded::NeedMore { consumed }) => {
                    buffer.drain(..consumed.min(buffer.len()));
                    break;
                }
                Err(err) => return (replies, Some(err)),
            }
        }
        if fed == bytes.len() {
            return (replies, None);
        }
        let size = if all_zero {
            1
        } else {
            sizes.next().unwrap_or(1)
        };
        let take = size.min(bytes.len() - fed);
        buffer.extend_from_slice(&bytes[fed..fed + take]);
        fed += take;
    }
}
