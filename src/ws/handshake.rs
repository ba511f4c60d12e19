//! The websocket opening handshake, server side (RFC 6455 §4.2): checking an upgrade
//! request, computing the accept key, writing the 101. Pure: the engine decides when to
//! call these, owns the socket, and turns a [`HandshakeError`] into its refusal.
//!
//! No extension or subprotocol is ever negotiated: offers are ignored, so every frame's
//! RSV bits must be clear and no `Sec-WebSocket-Protocol` is sent back.

use crate::http::{Request, Version};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::fmt;

/// The GUID of RFC 6455 §1.3, appended to the client key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(client_key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(client_key);
    sha.update(GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Why an upgrade request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Not a GET request: 405... sent as 400 with an explanation.
    NotGet,
    /// `Upgrade: websocket` or the `upgrade` token in `Connection` is missing: 400.
    NotUpgrade,
    /// `Sec-WebSocket-Version` is not 13: 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes of base64: 400.
    BadKey,
    /// An HTTP/1.0 request: RFC 6455 §4.1 requires HTTP/1.1 or higher: 400.
    NotHttp11,
}

impl HandshakeError {
    /// The status code of the refusal.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// The explanation sent in the refusal's JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeError::NotGet => "websocket upgrade must be a GET request",
            HandshakeError::NotUpgrade => {
                "missing 'Upgrade: websocket' or 'Connection: upgrade' header"
            }
            HandshakeError::UnsupportedVersion => "unsupported websocket version, use 13",
            HandshakeError::BadKey => "Sec-WebSocket-Key must be 16 bytes in base64",
            HandshakeError::NotHttp11 => "websocket upgrade needs HTTP/1.1",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for HandshakeError {}

/// Whether the comma-separated header value `list` holds `token`, ignoring ASCII case and
/// the whitespace around list elements (RFC 9110 §5.6.1).
fn has_token(list: Option<&[u8]>, token: &str) -> bool {
    list.is_some_and(|list| {
        list.split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Checks an upgrade request (RFC 6455 §4.2.1) and returns the accept key.
pub fn validate_handshake(req: &Request) -> Result<String, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    if req.version != Version::Http11 {
        return Err(HandshakeError::NotHttp11);
    }
    if !is_upgrade_request(req) || !has_token(req.header("connection"), "upgrade") {
        return Err(HandshakeError::NotUpgrade);
    }
    if req.header("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = req
        .header("sec-websocket-key")
        .ok_or(HandshakeError::BadKey)?
        .trim_ascii();
    match BASE64.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(accept_key(key)),
        _ => Err(HandshakeError::BadKey),
    }
}

/// Whether a request asks for a websocket upgrade at all (has `Upgrade: websocket`), so the
/// engine knows to call [`validate_handshake`].
pub fn is_upgrade_request(req: &Request) -> bool {
    has_token(req.header("upgrade"), "websocket")
}

/// The complete `101 Switching Protocols` response for an accept key.
pub fn handshake_response(accept: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          X-Content-Type-Options: nosniff\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(method: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            target: "/ws?conn_id=abc".into(),
            version: Version::Http11,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
            keep_alive: true,
        }
    }

    #[test]
    fn rfc_accept_key_vector() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key(RFC_KEY.as_bytes()),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn handshake_table() {
        use HandshakeError::*;
        const GOOD: &[(&str, &str)] = &[
            ("host", "example.com"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", RFC_KEY),
            ("sec-websocket-version", "13"),
        ];
        const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        // (case, method, header to change, its new value or None to drop it, expected)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        );
        const CASES: &[(Case, Result<&str, HandshakeError>)] = &[
            (("rfc request", "GET", "", None), Ok(ACCEPT)),
            (("post", "POST", "", None), Err(NotGet)),
            (
                ("upgrade any case", "GET", "upgrade", Some("WebSocket")),
                Ok(ACCEPT),
            ),
            (
                (
                    "upgrade in a list",
                    "GET",
                    "upgrade",
                    Some("foo/2, websocket"),
                ),
                Ok(ACCEPT),
            ),
            (
                ("upgrade h2c", "GET", "upgrade", Some("h2c")),
                Err(NotUpgrade),
            ),
            (("no upgrade", "GET", "upgrade", None), Err(NotUpgrade)),
            (
                (
                    "connection list",
                    "GET",
                    "connection",
                    Some("keep-alive, UPGRADE"),
                ),
                Ok(ACCEPT),
            ),
            (
                (
                    "connection tight",
                    "GET",
                    "connection",
                    Some("keep-alive,upgrade "),
                ),
                Ok(ACCEPT),
            ),
            (
                (
                    "connection keep-alive",
                    "GET",
                    "connection",
                    Some("keep-alive"),
                ),
                Err(NotUpgrade),
            ),
            (
                (
                    "connection substring",
                    "GET",
                    "connection",
                    Some("upgrades"),
                ),
                Err(NotUpgrade),
            ),
            (
                ("no connection", "GET", "connection", None),
                Err(NotUpgrade),
            ),
            (
                ("version 8", "GET", "sec-websocket-version", Some("8")),
                Err(UnsupportedVersion),
            ),
            (
                (
                    "version 13 padded",
                    "GET",
                    "sec-websocket-version",
                    Some(" 13 "),
                ),
                Ok(ACCEPT),
            ),
            (
                ("no version", "GET", "sec-websocket-version", None),
                Err(UnsupportedVersion),
            ),
            (("no key", "GET", "sec-websocket-key", None), Err(BadKey)),
            (
                (
                    "key not base64",
                    "GET",
                    "sec-websocket-key",
                    Some("not base64!!"),
                ),
                Err(BadKey),
            ),
            (
                (
                    "key 15 bytes",
                    "GET",
                    "sec-websocket-key",
                    Some("dGhlIHNhbXBsZSBub25j"),
                ),
                Err(BadKey),
            ),
            (
                (
                    "key 17 bytes",
                    "GET",
                    "sec-websocket-key",
                    Some("dGhlIHNhbXBsZSBub25jZSE="),
                ),
                Err(BadKey),
            ),
            (
                (
                    "extensions ignored",
                    "GET",
                    "sec-websocket-extensions",
                    Some("permessage-deflate"),
                ),
                Ok(ACCEPT),
            ),
            (
                (
                    "subprotocol ignored",
                    "GET",
                    "sec-websocket-protocol",
                    Some("chat"),
                ),
                Ok(ACCEPT),
            ),
        ];
        for ((name, method, changed, value), expect) in CASES {
            let mut headers: Vec<(&str, &str)> =
                GOOD.iter().filter(|(n, _)| n != changed).copied().collect();
            if let Some(v) = value {
                headers.push((changed, v));
            }
            let got = validate_handshake(&request(method, &headers));
            assert_eq!(got.as_deref().map_err(|e| *e), *expect, "{name}");
        }
    }

    #[test]
    fn http_1_0_upgrade_is_refused() {
        let mut req = request(
            "GET",
            &[
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("sec-websocket-key", RFC_KEY),
                ("sec-websocket-version", "13"),
            ],
        );
        req.version = Version::Http10;
        assert_eq!(validate_handshake(&req), Err(HandshakeError::NotHttp11));
    }

    #[test]
    fn is_upgrade_request_looks_only_at_the_upgrade_header() {
        assert!(is_upgrade_request(&request(
            "POST",
            &[("upgrade", "websocket")]
        )));
        assert!(!is_upgrade_request(&request(
            "GET",
            &[("connection", "upgrade")]
        )));
    }

    #[test]
    fn handshake_response_is_the_rfc_101() {
        let mut out = Vec::new();
        handshake_response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              X-Content-Type-Options: nosniff\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }
}
