//! HTTP/1.1 client codec for the REST calls and the websocket upgrade: requests out,
//! responses in (Content-Length, chunked, or a bodiless 101). Pure: no sockets, no clock.

use channelstream::decoded::Decoded;

/// A complete response. The body is copied out because responses are small and rare
/// next to websocket frames.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Sec-WebSocket-Accept`, when present (upgrade responses).
    pub accept: Option<String>,
    /// False when the server said `Connection: close` (or spoke HTTP/1.0).
    pub keep_alive: bool,
    /// The decoded body (de-chunked).
    pub body: Vec<u8>,
}

/// Why a response could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// httparse refused the head.
    BadHead,
    /// A `Content-Length` or chunk size that is not a number.
    BadLength,
    /// Head or body over the caller's limit.
    TooBig,
}

impl HttpError {
    /// Short description for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadHead => "malformed response head",
            Self::BadLength => "malformed body length",
            Self::TooBig => "response too big",
        }
    }
}

/// Appends a request. `secret` goes into `X-Channelstream-Secret` when given.
pub fn encode_request(
    method: &str,
    path: &str,
    host: &str,
    secret: Option<&str>,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n").as_bytes());
    if let Some(secret) = secret {
        out.extend_from_slice(format!("X-Channelstream-Secret: {secret}\r\n").as_bytes());
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Decodes one response from the front of `buf`. A 101 ends at its head: what follows
/// belongs to the websocket.
pub fn decode_response(buf: &[u8], max: usize) -> Result<Decoded<Response>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > max => return Err(HttpError::TooBig),
        Ok(httparse::Status::Partial) => return Ok(Decoded::NeedMore { consumed: 0 }),
        Err(_) => return Err(HttpError::BadHead),
    };
    let status = parsed.code.unwrap_or(0);
    let mut keep_alive = parsed.version == Some(1);
    let (mut length, mut chunked, mut accept) = (None, false, None);
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| HttpError::BadLength)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        } else if h.name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value.to_string());
        }
    }
    let rest = &buf[head_len..];
    let (body, body_len) = if status == 101 || status == 204 || status == 304 {
        (Vec::new(), 0)
    } else if chunked {
        match dechunk(rest, max)? {
            Some(done) => done,
            None => return Ok(Decoded::NeedMore { consumed: 0 }),
        }
    } else {
        let Some(len) = length else {
            // Without a length the body runs to EOF; the servers we measure always send
            // one, so treat it as empty and drop keep-alive.
            keep_alive = false;
            return Ok(done(status, accept, keep_alive, Vec::new(), head_len));
        };
        if len > max {
            return Err(HttpError::TooBig);
        }
        match rest.get(..len) {
            Some(b) => (b.to_vec(), len),
            None => return Ok(Decoded::NeedMore { consumed: 0 }),
        }
    };
    Ok(done(status, accept, keep_alive, body, head_len + body_len))
}

fn done(
    status: u16,
    accept: Option<String>,
    keep_alive: bool,
    body: Vec<u8>,
    consumed: usize,
) -> Decoded<Response> {
    Decoded::Done {
        value: Response {
            status,
            accept,
            keep_alive,
            body,
        },
        consumed,
    }
}

/// A whole chunked body (RFC 9112 §7.1) and the bytes it took, or `None` if incomplete.
fn dechunk(buf: &[u8], max: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = find_crlf(&buf[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + eol]).map_err(|_| HttpError::BadLength)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::BadLength)?;
        at += eol + 2;
        if size == 0 {
            // Trailers are not expected; take the final CRLF.
            return match buf.get(at..at + 2) {
                Some(b"\r\n") => Ok(Some((body, at + 2))),
                Some(_) => Err(HttpError::BadLength),
                None => Ok(None),
            };
        }
        if size > max - body.len().min(max) {
            return Err(HttpError::TooBig);
        }
        let Some(chunk) = buf.get(at..at + size) else {
            return Ok(None);
        };
        body.extend_from_slice(chunk);
        at += size;
        match buf.get(at..at + 2) {
            Some(b"\r\n") => at += 2,
            Some(_) => return Err(HttpError::BadLength),
            None => return Ok(None),
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(buf: &[u8]) -> Response {
        match decode_response(buf, 1 << 20) {
            Ok(Decoded::Done { value, consumed }) => {
                assert_eq!(consumed, buf.len());
                value
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_length_and_chunked_bodies_decode_the_same_at_every_split() {
        let cases: [&[u8]; 2] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[1,2]",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[1\r\n3;x=y\r\n,2]\r\n0\r\n\r\n",
        ];
        for wire in cases {
            let whole = decode_all(wire);
            assert_eq!((whole.status, &whole.body[..]), (200, &b"[1,2]"[..]));
            assert!(whole.keep_alive);
            for split in 0..wire.len() {
                assert_eq!(
                    decode_response(&wire[..split], 1 << 20),
                    Ok(Decoded::NeedMore { consumed: 0 }),
                    "split {split}"
                );
            }
        }
    }

    #[test]
    fn upgrade_ends_at_the_head_and_keeps_the_accept_key() {
        let wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\n\r\n\x81\x02[]";
        let Ok(Decoded::Done { value, consumed }) = decode_response(wire, 1024) else {
            panic!("101 did not decode");
        };
        assert_eq!(value.status, 101);
        assert_eq!(value.accept.as_deref(), Some("abc="));
        assert_eq!(&wire[consumed..], b"\x81\x02[]");
    }

    #[test]
    fn connection_close_and_oversized_bodies_are_reported() {
        let close =
            decode_all(b"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(!close.keep_alive);
        assert_eq!(
            decode_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 10),
            Err(HttpError::TooBig)
        );
    }

    #[test]
    fn requests_carry_the_signature_and_length() {
        let mut out = Vec::new();
        encode_request("POST", "/message", "h:1", Some("sig"), b"[]", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /message HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(text.contains("X-Channelstream-Secret: sig\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\n\r\n[]"));
    }
}
