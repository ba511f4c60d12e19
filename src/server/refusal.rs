//! The one way the engine refuses: every answer it gives on its own (codec errors, a bad
//! websocket handshake, timeouts, a full server, a panicking app) is a [`Refusal`], and
//! [`Refusal::response`] is the one mapping from it to the wire: the status and a JSON
//! body `{"error": "..."}`, never app content. The hub thread's 500 reuses it.

use crate::http::{HttpError, Response, Version};
use crate::ws::HandshakeError;

/// Why the engine answers a request itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The HTTP codec refused the request (400, 413, 431, 501, 505).
    Http(HttpError),
    /// A websocket upgrade that RFC 6455 §4.2.1 refuses (400, or 426 for the version).
    Handshake(HandshakeError),
    /// The request did not arrive within `header_timeout`: 408.
    Timeout,
    /// No room for the connection (`max_connections`), or the server is stopping: 503.
    Busy,
    /// The application failed (panicked) while answering: 500.
    Internal,
}

impl Refusal {
    /// The status code sent.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Http(e) => e.status(),
            Refusal::Handshake(e) => e.status(),
            Refusal::Timeout => 408,
            Refusal::Busy => 503,
            Refusal::Internal => 500,
        }
    }

    /// The text of the JSON body's `error` field: the codec's own message for a codec
    /// error, so a client reads the same words the codec's `Display` gives.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Http(e) => e.message(),
            Refusal::Handshake(e) => e.as_str(),
            Refusal::Timeout => "request timeout",
            Refusal::Busy => "server busy",
            Refusal::Internal => "internal server error",
        }
    }

    /// `{"error": message}` with the status; the engine sends it with `Connection: close`.
    /// A 426 names the version we speak (RFC 6455 §4.4).
    pub fn response(self) -> Response {
        let body = serde_json::json!({ "error": self.message() });
        let mut response = Response::json(self.status(), body.to_string().into_bytes());
        if self == Refusal::Handshake(HandshakeError::UnsupportedVersion) {
            response
                .headers
                .push(("Sec-WebSocket-Version".into(), "13".into()));
        }
        response
    }

    /// The whole answer, encoded to close the connection after it.
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(160);
        self.response().encode(false, &mut bytes);
        bytes
    }

    /// The answer to a request known to be a `HEAD`: the head of [`Refusal::encode`],
    /// `Content-Length` included, and no body (RFC 9110 §9.3.2).
    pub(crate) fn encode_head(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(160);
        self.response()
            .encode_head_for(Version::Http11, false, &mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_body_is_the_documented_json() {
        let r = Refusal::Busy.response();
        assert_eq!(r.status, 503);
        assert_eq!(r.body, br#"{"error":"server busy"}"#);
    }

    #[test]
    fn codec_errors_keep_their_status_and_their_own_message() {
        const CASES: &[(Refusal, u16, &str)] = &[
            (
                Refusal::Http(HttpError::HeadTooLarge),
                431,
                r#"{"error":"request header fields too large"}"#,
            ),
            (
                Refusal::Http(HttpError::Malformed),
                400,
                r#"{"error":"bad request"}"#,
            ),
            (
                Refusal::Handshake(HandshakeError::BadKey),
                400,
                r#"{"error":"Sec-WebSocket-Key must be 16 bytes in base64"}"#,
            ),
            (Refusal::Timeout, 408, r#"{"error":"request timeout"}"#),
            (
                Refusal::Internal,
                500,
                r#"{"error":"internal server error"}"#,
            ),
        ];
        for (refusal, status, body) in CASES {
            let r = refusal.response();
            assert_eq!(r.status, *status, "{refusal:?}");
            assert_eq!(String::from_utf8_lossy(&r.body), *body, "{refusal:?}");
            assert!(r
                .headers
                .contains(&("Content-Type".into(), "application/json".into())));
        }
    }

    #[test]
    fn upgrade_required_names_version_13_and_closes() {
        let refusal = Refusal::Handshake(HandshakeError::UnsupportedVersion);
        let r = refusal.response();
        assert_eq!(r.status, 426);
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| n == "Sec-WebSocket-Version" && v == "13"));
        let wire = String::from_utf8(refusal.encode()).unwrap();
        assert!(wire.starts_with("HTTP/1.1 426 "), "{wire}");
        assert!(wire.contains("Connection: close\r\n"), "{wire}");
    }
}
