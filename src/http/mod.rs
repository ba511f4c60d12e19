//! HTTP/1.1 server-side codec on httparse (RFC 9112). Sans-IO: bytes in, [`Request`]s out;
//! responses are encoded into a buffer the caller owns. Owns request framing, the smuggling
//! rules (RFC 9112 §6.3) and the limits in [`HttpLimits`]. No sockets, no clock, no routing.
//!
//! Driving the decoder, once per readable event:
//!
//! ```
//! use channelstream::decoded::Decoded;
//! use channelstream::http::{HttpEvent, HttpLimits, RequestDecoder, CONTINUE_100};
//!
//! let mut decoder = RequestDecoder::new(HttpLimits::default());
//! let mut inbuf = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n".to_vec();
//! let mut out = Vec::new();
//! let mut paths = Vec::new();
//! loop {
//!     match decoder.decode(&inbuf) {
//!         Ok(Decoded::Done { value, consumed }) => {
//!             inbuf.drain(..consumed);
//!             match value {
//!                 HttpEvent::ContinueExpected => out.extend_from_slice(CONTINUE_100),
//!                 HttpEvent::Request(req) => paths.push(req.target),
//!             }
//!         }
//!         Ok(Decoded::NeedMore { consumed }) => {
//!             inbuf.drain(..consumed);
//!             break; // read more bytes, then call again
//!         }
//!         Err(e) => {
//!             let _status = e.status(); // answer it (the engine's `Refusal`), then close
//!             break;
//!         }
//!     }
//! }
//! assert_eq!(paths, ["/a", "/b"]);
//! ```

mod chunked;
mod decoder;
mod error;
mod head;
mod query;
mod response;

pub use decoder::RequestDecoder;
pub use error::HttpError;
pub use query::{percent_decode, query_param};
pub use response::Response;

/// Limits the request decoder enforces as soon as a length is known, so a hostile peer
/// costs at most `max_head + max_body` bytes of memory per connection.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Request line plus headers, in bytes. Past it: [`HttpError::HeadTooLarge`] (431), as
    /// soon as that many bytes are buffered without the end of the head. A chunked body's
    /// trailer section is held to the same limit.
    pub max_head: usize,
    /// Decoded body bytes. Past it: [`HttpError::BodyTooLarge`] (413), before buffering it.
    pub max_body: usize,
    /// Number of header lines. Past it: [`HttpError::HeadTooLarge`] (431).
    pub max_headers: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head: 8 * 1024,
            max_body: 1024 * 1024,
            max_headers: 64,
        }
    }
}

/// HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close after the response unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: keep-alive unless `Connection: close`.
    Http11,
}

/// One complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method token as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The raw request-target (`/path?query`).
    pub target: String,
    /// Protocol version.
    pub version: Version,
    /// Header fields in order; names lower-cased, values raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// Whether the connection stays open after the response (version + `Connection`).
    pub keep_alive: bool,
}

impl Request {
    /// First value of header `name` (give it lower-case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
    /// The path part of the target, before `?`.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    /// The query part of the target, after `?` (empty if none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }
}

/// What the decoder yields.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpEvent {
    /// The head carried `Expect: 100-continue` and the body is still to come: the caller
    /// writes [`CONTINUE_100`] and keeps feeding bytes.
    ContinueExpected,
    /// A whole request.
    Request(Request),
}

/// The interim response for `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
