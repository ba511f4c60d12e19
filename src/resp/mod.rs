//! RESP2, the Redis wire protocol (<https://redis.io/docs/latest/develop/reference/protocol-spec/>):
//! commands out as arrays of bulk strings ([`encode_command`]), replies in
//! ([`ReplyDecoder`]). Pure: no sockets, no clock. Every length from the wire is checked
//! against [`RespLimits`] before anything is allocated, so a broken or hostile server
//! cannot make us allocate more than `max_reply` bytes for one reply.
//!
//! RESP3 is never asked for (we send no `HELLO 3`), so its type bytes are an error like
//! any other unknown byte. RESP2 carries everything our pub/sub needs: a subscribed
//! connection gets `message` pushes as ordinary arrays.
//!
//! - `decode`: the incremental reply decoder and its limits.
//! - `encode`: commands (and replies, for tests and the fuzz target's round trip).
//! - `reply`: the decoded value and typed accessors that turn an unexpected reply type
//!   into an error.
//! - `testing`: a piece-by-piece decoder driver for unit tests and the fuzz target.

mod decode;
mod encode;
mod reply;

#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;

pub use decode::{ReplyDecoder, RespError, RespLimits};
pub use encode::{encode_command, encode_reply};
pub use reply::{Reply, UnexpectedReply};
