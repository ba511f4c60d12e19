//! A tiny HTTP/1.1 client over `std::net::TcpStream`, independent of the server's own
//! codec: one request per connection (`Connection: close`), response read by
//! `Content-Length`, chunked coding, or until EOF. Parsing is a pure function of bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A parsed HTTP response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Builds the request bytes. A `Content-Length` is sent when there is a body or the
/// method normally has one (as Python's recorder does for bodiless POSTs).
pub fn encode_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_body_method = matches!(method, "POST" | "PATCH" | "DELETE" | "PUT");
    if body.is_some() || has_body_method {
        out.push_str(&format!(
            "Content-Length: {}\r\n",
            body.map_or(0, <[u8]>::len)
        ));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    bytes
}

/// Sends one request and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Response, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let bytes = encode_request(method, path, &addr.to_string(), headers, body);
    stream
        .write_all(&bytes)
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(resp) = parse_response(&buf, false)? {
            return Ok(resp);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return parse_response(&buf, true)?.ok_or_else(|| "truncated response".to_string())
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Parses a complete response from `buf`; `Ok(None)` = need more bytes. With `eof`, a
/// response without length or chunking ends at the end of `buf`.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<Response>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if eof {
            Err("no end of head".into())
        } else {
            Ok(None)
        };
    };
    let head =
        std::str::from_utf8(&buf[..head_end]).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let rest = &buf[head_end + 4..];
    let find_header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let chunked = find_header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        match decode_chunked(rest)? {
            Some(body) => body,
            None if eof => return Err("truncated chunked body".into()),
            None => return Ok(None),
        }
    } else if let Some(len) = find_header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad content-length {len:?}"))?;
        if rest.len() < len {
            return if eof {
                Err("truncated body".into())
            } else {
                Ok(None)
            };
        }
        rest[..len].to_vec()
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if eof {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(Response {
        status,
        headers,
        body,
    }))
}

/// Decodes a whole chunked body; `Ok(None)` = incomplete.
fn decode_chunked(mut buf: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(buf, b"\r\n") else {
            return Ok(None);
        };
        let line =
            std::str::from_utf8(&buf[..line_end]).map_err(|_| "bad chunk size".to_string())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        buf = &buf[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line; with none, "\r\n" follows at once.
            return Ok(find(buf, b"\r\n").map(|_| body));
        }
        if buf.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[..size]);
        buf = &buf[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON_RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";

    #[test]
    fn response_with_content_length_parses_only_when_complete() {
        for split in 0..JSON_RESPONSE.len() {
            assert_eq!(
                parse_response(&JSON_RESPONSE[..split], false),
                Ok(None),
                "split {split}"
            );
        }
        let resp = parse_response(JSON_RESPONSE, false).unwrap().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.body, b"{\"a\":1}");
    }

    #[test]
    fn chunked_body_is_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2;x=y\r\n2]\r\n0\r\n\r\n";
        let resp = parse_response(raw, false).unwrap().unwrap();
        assert_eq!(resp.body, b"[1,2]");
        assert_eq!(parse_response(&raw[..raw.len() - 2], false), Ok(None));
    }

    #[test]
    fn body_without_length_ends_at_eof() {
        let raw = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nInternal Server Error";
        assert_eq!(parse_response(raw, false), Ok(None));
        let resp = parse_response(raw, true).unwrap().unwrap();
        assert_eq!(
            (resp.status, resp.body.as_slice()),
            (500, &b"Internal Server Error"[..])
        );
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n", false).is_err());
        assert!(parse_response(&JSON_RESPONSE[..JSON_RESPONSE.len() - 1], true).is_err());
    }

    #[test]
    fn request_carries_length_for_post_even_without_body() {
        let bytes = encode_request("POST", "/info", "127.0.0.1:1", &[], None);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("POST /info HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
        let get = String::from_utf8(encode_request("GET", "/listen", "h", &[], None)).unwrap();
        assert!(!get.contains("Content-Length"), "{get}");
        let with_body = encode_request(
            "PATCH",
            "/message",
            "h",
            &[("X-A".into(), "1".into())],
            Some(b"[]"),
        );
        assert!(with_body.ends_with(b"X-A: 1\r\nContent-Length: 2\r\n\r\n[]"));
    }
}
