//! HTTP/1.1 server-side codec on httparse. Sans-IO: bytes in, [`Request`]s out; responses
//! are encoded into a buffer the caller owns. No sockets, no clock.
//!
//! STUB: the public interface below is the contract the engine codes against. The owner of
//! this module fills in the bodies (and may split it into files) without changing the
//! signatures marked CONTRACT.

use crate::decoded::Decoded;

/// Limits the request decoder enforces as soon as a length is known.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Request line plus headers, in bytes. Past it: [`HttpError::HeadTooLarge`] (431).
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

/// One complete request. CONTRACT.
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
    /// First value of header `name` (give it lower-case). CONTRACT.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
    /// The path part of the target, before `?`. CONTRACT.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    /// The query part of the target, after `?` (empty if none). CONTRACT.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }
}

/// What the decoder yields. CONTRACT.
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

/// Why a request was refused. Every variant ends the connection after its response.
/// CONTRACT (variants may be added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// Syntax error in the request line, headers or chunked framing: 400.
    Malformed,
    /// Head longer than `max_head` or too many headers: 431.
    HeadTooLarge,
    /// Body longer than `max_body`: 413.
    BodyTooLarge,
    /// Both `Content-Length` and `Transfer-Encoding`, or conflicting lengths: 400.
    AmbiguousLength,
    /// A transfer coding other than chunked: 501.
    UnsupportedTransferEncoding,
    /// An HTTP version other than 1.0/1.1: 505.
    UnsupportedVersion,
}

impl HttpError {
    /// The status code sent before closing. CONTRACT.
    pub fn status(self) -> u16 {
        match self {
            HttpError::Malformed | HttpError::AmbiguousLength => 400,
            HttpError::HeadTooLarge => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::UnsupportedTransferEncoding => 501,
            HttpError::UnsupportedVersion => 505,
        }
    }
}

/// Incremental request decoder for one connection. CONTRACT.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: HttpLimits,
}

impl RequestDecoder {
    /// A decoder waiting for the first request head. CONTRACT.
    pub fn new(limits: HttpLimits) -> Self {
        RequestDecoder { limits }
    }

    /// Decodes from `buf` (the caller's unconsumed bytes). CONTRACT.
    ///
    /// Any split of the same bytes yields the same events. After an error the decoder is
    /// spent; the caller answers `err.status()` and closes.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded<HttpEvent>, HttpError> {
        let _ = (buf, self.limits);
        todo!("http::RequestDecoder::decode")
    }
}

/// A response to encode. CONTRACT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra header fields; `Content-Length` and `Connection` are added by [`Response::encode`].
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a JSON body (`Content-Type: application/json`). CONTRACT.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        }
    }

    /// Appends head and body to `out`, so both leave in one write. Always sets a correct
    /// `Content-Length`, and `Connection: close` when `keep_alive` is false. CONTRACT.
    pub fn encode(&self, keep_alive: bool, out: &mut Vec<u8>) {
        let _ = (keep_alive, out);
        todo!("http::Response::encode")
    }
}

/// Percent-decodes `s` (`+` as space, as HTML forms send it). `None` on a malformed escape
/// or invalid UTF-8. CONTRACT.
pub fn percent_decode(s: &str) -> Option<String> {
    let _ = s;
    todo!("http::percent_decode")
}

/// The first value of `name` in a query string, percent-decoded. CONTRACT.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let _ = (query, name);
    todo!("http::query_param")
}
