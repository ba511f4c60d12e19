//! Responses: status line, headers and body encoded into the caller's buffer in one piece.
//! Owns the framing headers (`Content-Length`, `Connection`); the caller owns the rest.

use super::Version;

/// A response to encode.
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
    /// A response with a JSON body (`Content-Type: application/json`).
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        }
    }

    /// Appends head and body to `out`, so both leave in one write. Always sets a correct
    /// `Content-Length`, and `Connection: close` when `keep_alive` is false.
    ///
    /// Same as [`Response::encode_for`] with an HTTP/1.1 request.
    pub fn encode(&self, keep_alive: bool, out: &mut Vec<u8>) {
        self.encode_for(Version::Http11, keep_alive, out);
    }

    /// Appends head and body to `out` as the answer to a request of `version`.
    ///
    /// The caller's `Content-Length`, `Transfer-Encoding` and `Connection` fields are
    /// dropped, because framing is computed here and two framings would let a client
    /// misread where the response ends. So are fields with CR or LF in them (response
    /// splitting). 1xx and 204 responses carry neither `Content-Length` nor a body
    /// (RFC 9110 §8.6, §15.3.5). An HTTP/1.0 client that is kept alive is told so with
    /// `Connection: keep-alive`, since it assumes close otherwise (RFC 9112 §9.3). A
    /// status outside 100..=999 cannot be written (RFC 9112 §4) and is sent as 500.
    /// Every response says `X-Content-Type-Options: nosniff`, so that no browser ever
    /// reads an answer as anything other than its declared type (a JSON or text body
    /// echoing request text must never be sniffed into HTML or script).
    pub fn encode_for(&self, version: Version, keep_alive: bool, out: &mut Vec<u8>) {
        self.encode_parts(version, keep_alive, true, out);
    }

    /// Appends the answer to a `HEAD` request: exactly the head [`Response::encode_for`]
    /// would write for the same response (so `Content-Length` is the length of the body
    /// a `GET` would get, RFC 9110 §8.6, §9.3.2), and no body. Handlers build the `GET`
    /// answer for a `HEAD` and the engine calls this, so the two heads cannot differ and
    /// the next request on a kept-alive connection starts right after the head.
    pub fn encode_head_for(&self, version: Version, keep_alive: bool, out: &mut Vec<u8>) {
        self.encode_parts(version, keep_alive, false, out);
    }

    /// The head, then the body if `with_body` (and the status allows one).
    fn encode_parts(&self, version: Version, keep_alive: bool, with_body: bool, out: &mut Vec<u8>) {
        let status = if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        };
        let has_body = !(status < 200 || status == 204);
        let headers_len: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let sends_body = has_body && with_body;
        out.reserve(64 + headers_len + if sends_body { self.body.len() } else { 0 });

        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            let framing = [
                "content-length",
                "transfer-encoding",
                "connection",
                "x-content-type-options",
            ]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
            let splits = [name, value].iter().any(|s| s.contains(['\r', '\n']));
            if framing || splits {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(NOSNIFF);
        if has_body {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(self.body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if sends_body {
            out.extend_from_slice(&self.body);
        }
    }
}

/// Sent with every response; the caller's own field of that name is dropped.
pub const NOSNIFF: &[u8] = b"X-Content-Type-Options: nosniff\r\n";

/// The reason phrase for the codes this server sends (RFC 9110 §15); clients ignore it.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(r: &Response, keep_alive: bool) -> String {
        let mut out = Vec::new();
        r.encode(keep_alive, &mut out);
        String::from_utf8(out).expect("test responses are UTF-8")
    }

    #[test]
    fn json_response_encodes_to_exact_bytes() {
        let r = Response::json(200, b"{\"ok\": true}".to_vec());
        assert_eq!(
            encoded(&r, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 12\r\n\r\n{\"ok\": true}"
        );
    }

    #[test]
    fn closing_response_says_connection_close_after_the_length() {
        let r = Response {
            status: 404,
            headers: vec![],
            body: b"nope".to_vec(),
        };
        assert_eq!(
            encoded(&r, false),
            "HTTP/1.1 404 Not Found\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
        );
    }

    #[test]
    fn encode_appends_to_what_is_already_in_the_buffer() {
        let mut out = b"earlier".to_vec();
        Response {
            status: 200,
            headers: vec![],
            body: vec![],
        }
        .encode(true, &mut out);
        assert_eq!(out, b"earlierHTTP/1.1 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn caller_framing_headers_are_replaced_not_duplicated() {
        let r = Response {
            status: 200,
            headers: vec![
                ("content-length".into(), "999".into()),
                ("Connection".into(), "keep-alive".into()),
                ("Transfer-Encoding".into(), "chunked".into()),
                ("X-A".into(), "1".into()),
            ],
            body: b"abc".to_vec(),
        };
        assert_eq!(
            encoded(&r, false),
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        );
    }

    #[test]
    fn header_with_line_break_is_dropped_to_prevent_response_splitting() {
        let r = Response {
            status: 200,
            headers: vec![
                ("X-A".into(), "1\r\nSet-Cookie: evil".into()),
                ("X-B".into(), "2".into()),
            ],
            body: vec![],
        };
        assert_eq!(
            encoded(&r, true),
            "HTTP/1.1 200 OK\r\nX-B: 2\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn no_content_and_informational_responses_have_no_length_or_body() {
        let r = Response {
            status: 204,
            headers: vec![],
            body: b"dropped".to_vec(),
        };
        assert_eq!(
            encoded(&r, true),
            "HTTP/1.1 204 No Content\r\nX-Content-Type-Options: nosniff\r\n\r\n"
        );
        let r = Response {
            status: 101,
            headers: vec![("Upgrade".into(), "x".into())],
            body: vec![],
        };
        assert_eq!(
            encoded(&r, true),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nX-Content-Type-Options: nosniff\r\n\r\n"
        );
    }

    #[test]
    fn kept_alive_http10_client_is_told_keep_alive() {
        let r = Response {
            status: 200,
            headers: vec![],
            body: vec![],
        };
        let mut out = Vec::new();
        r.encode_for(Version::Http10, true, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
        out.clear();
        r.encode_for(Version::Http10, false, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn every_response_says_nosniff_once_even_if_the_caller_set_its_own() {
        for status in [101, 200, 204, 302, 404, 500] {
            let r = Response {
                status,
                headers: vec![("x-content-type-options".into(), "sniff-away".into())],
                body: b"<b>x</b>".to_vec(),
            };
            let text = encoded(&r, true);
            assert_eq!(
                text.matches("X-Content-Type-Options: nosniff\r\n").count(),
                1,
                "{text}"
            );
            assert!(!text.contains("sniff-away"), "{text}");
        }
    }

    #[test]
    fn head_answer_has_the_get_length_and_no_body() {
        let r = Response::json(200, b"{\"ok\": true}".to_vec());
        let mut out = b"earlier".to_vec();
        r.encode_head_for(Version::Http11, true, &mut out);
        assert_eq!(
            out,
            b"earlierHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 12\r\n\r\n"
        );
        out.clear();
        r.encode_head_for(Version::Http10, true, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn head_answer_is_the_get_answer_without_its_body() {
        for (status, body) in [
            (200, &b"<p>page</p>"[..]),
            (200, b""),
            (304, b""),
            (404, b"{\"error\": \"x\"}"),
            (503, b"shutting down\n"),
            (204, b"dropped"),
            (101, b""),
        ] {
            let r = Response {
                status,
                headers: vec![
                    ("ETag".into(), "\"1\"".into()),
                    ("Content-Length".into(), "0".into()),
                ],
                body: body.to_vec(),
            };
            for version in [Version::Http10, Version::Http11] {
                for keep_alive in [true, false] {
                    let (mut get, mut head) = (Vec::new(), Vec::new());
                    r.encode_for(version, keep_alive, &mut get);
                    r.encode_head_for(version, keep_alive, &mut head);
                    let sent_body = if status == 204 || status < 200 {
                        &b""[..]
                    } else {
                        body
                    };
                    assert_eq!([&head[..], sent_body].concat(), get, "{status}");
                    assert!(head.ends_with(b"\r\n\r\n"), "{status}");
                }
            }
        }
    }

    #[test]
    fn status_lines_carry_reason_phrases() {
        let cases: &[(u16, &str)] = &[
            (200, "200 OK"),
            (400, "400 Bad Request"),
            (401, "401 Unauthorized"),
            (403, "403 Forbidden"),
            (405, "405 Method Not Allowed"),
            (408, "408 Request Timeout"),
            (413, "413 Content Too Large"),
            (422, "422 Unprocessable Content"),
            (426, "426 Upgrade Required"),
            (431, "431 Request Header Fields Too Large"),
            (500, "500 Internal Server Error"),
            (501, "501 Not Implemented"),
            (503, "503 Service Unavailable"),
            (505, "505 HTTP Version Not Supported"),
            (299, "299 Unknown"),
            (7, "500 Internal Server Error"),
            (1000, "500 Internal Server Error"),
        ];
        for &(status, line) in cases {
            let r = Response {
                status,
                headers: vec![],
                body: vec![],
            };
            let text = encoded(&r, true);
            assert!(
                text.starts_with(&format!("HTTP/1.1 {line}\r\n")),
                "{status}: {text:?}"
            );
        }
    }
}
