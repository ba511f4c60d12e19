//! Request heads: where a head ends, what it says (via httparse), and how the body that
//! follows is framed (RFC 9112 §6.3). Pure functions of the head bytes; no body handling.

use super::{HttpError, HttpLimits, Request, Version};

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// Exactly this many bytes follow; 0 for a request without a body.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed head: the request with an empty body, and how to read that body.
#[derive(Debug)]
pub(super) struct Head {
    pub request: Request,
    pub framing: Framing,
    /// `Expect: 100-continue` on an HTTP/1.1 request that has a body to send.
    pub expects_continue: bool,
}

/// Number of bytes at the front of `buf` that are whole empty lines. RFC 9112 §2.2 lets a
/// server skip them before a request line; clients send a stray CRLF after a POST body.
pub(super) fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match buf.get(n..) {
            Some([b'\r', b'\n', ..]) => n += 2,
            Some([b'\n', ..]) => n += 1,
            _ => return n,
        }
    }
}

/// Whether the request line at the front of `head` (a head, whole or not, with no empty
/// lines before it) is a `HEAD` request line of HTTP/1.x: `Some` once the line is whole,
/// `None` while it is not. `from`: the bytes before it are known to hold no `\n` (they
/// were looked at by an earlier call), so a line trickling in costs linear time.
///
/// Read apart from [`parse`] so that a refusal can know the method before the rest of
/// the head is parsed, or when it never will be (a timeout, a head too large, a bad
/// header): an answer to `HEAD` has no body (RFC 9110 §9.3.2). Only the shape of the
/// line counts; a target httparse would refuse is still a `HEAD`'s.
pub(super) fn head_line(head: &[u8], from: usize) -> Option<bool> {
    let end = from + head.get(from..)?.iter().position(|&b| b == b'\n')?;
    let line = head.get(..end)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(rest) = line.strip_prefix(b"HEAD ") else {
        return Some(false);
    };
    let mut words = rest.split(|&b| b == b' ');
    Some(matches!(
        (words.next(), words.next(), words.next()),
        (Some([_, ..]), Some(b"HTTP/1.1" | b"HTTP/1.0"), None)
    ))
}

/// The index just past the first empty line in `buf` (`\n\n` or `\n\r\n`, so CRLF, bare LF
/// and mixes all end a head, as httparse accepts them), searching from index `from`.
/// Used on the growing head so each call only scans new bytes plus a small overlap.
pub(super) fn find_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(rest) = buf.get(i..) {
        let at = rest.iter().position(|&b| b == b'\n')?;
        let lf = i + at;
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

/// Parses a complete head (`bytes` ends with its empty line) and decides the framing.
///
/// Order of checks, so every input has exactly one answer: syntax (400/431/505), then
/// `Content-Length` with `Transfer-Encoding` (400), the transfer coding (501), the
/// `Content-Length` syntax (400) and agreement (400), and last its size (413).
pub(super) fn parse(bytes: &[u8], limits: &HttpLimits) -> Result<Head, HttpError> {
    // A header line takes at least 3 bytes (`a:\n`), so more slots than that could never
    // be filled; the cap keeps a huge configured `max_headers` from costing memory.
    let slots = limits.max_headers.min(bytes.len() / 3 + 1);
    let mut fields = vec![httparse::EMPTY_HEADER; slots];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(n)) if n == bytes.len() => {}
        Ok(_) => return Err(HttpError::Malformed),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(bytes)),
        Err(_) => return Err(HttpError::Malformed),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HttpError::Malformed);
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
        .collect();

    let mut lengths: Vec<&[u8]> = Vec::new();
    let mut codings: Vec<&[u8]> = Vec::new();
    let (mut close, mut keep_alive_token, mut expect_continue) = (false, false, false);
    for (name, value) in &headers {
        match name.as_str() {
            "content-length" => lengths.push(value),
            "transfer-encoding" => codings.push(value),
            "connection" => {
                for token in list_items(value) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            "expect" => expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue"),
            _ => {}
        }
    }

    let framing = framing(&lengths, &codings, limits)?;
    let keep_alive = match version {
        Version::Http11 => !close,
        // RFC 9112 §6.1: chunked in HTTP/1.0 is treated as faulty framing: close after it.
        Version::Http10 => keep_alive_token && !close && codings.is_empty(),
    };
    let body_expected = framing != Framing::Length(0);
    Ok(Head {
        // RFC 9110 §10.1.1: a server ignores 100-continue from an HTTP/1.0 client.
        expects_continue: expect_continue && body_expected && version == Version::Http11,
        framing,
        request: Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version,
            headers,
            body: Vec::new(),
            keep_alive,
        },
    })
}

/// RFC 9112 §6.3 rules 3-5, strict: no guessing when a request could be read two ways,
/// because a proxy in front of us may have guessed the other way (request smuggling).
fn framing(
    lengths: &[&[u8]],
    codings: &[&[u8]],
    limits: &HttpLimits,
) -> Result<Framing, HttpError> {
    if !lengths.is_empty() && !codings.is_empty() {
        return Err(HttpError::AmbiguousLength);
    }
    if let Some(first) = codings.first() {
        if codings.len() > 1 || !trim(first).eq_ignore_ascii_case(b"chunked") {
            return Err(HttpError::UnsupportedTransferEncoding);
        }
        return Ok(Framing::Chunked);
    }
    // RFC 9110 §8.6: `Content-Length: 5, 5` or two equal fields are one length.
    let mut length = None;
    for item in lengths.iter().flat_map(|v| v.split(|&b| b == b',')) {
        let n = parse_decimal(trim(item)).ok_or(HttpError::Malformed)?;
        if length.is_some_and(|prev| prev != n) {
            return Err(HttpError::AmbiguousLength);
        }
        length = Some(n);
    }
    match length {
        None => Ok(Framing::Length(0)),
        Some(n) => match usize::try_from(n) {
            Ok(n) if n <= limits.max_body => Ok(Framing::Length(n)),
            _ => Err(HttpError::BodyTooLarge),
        },
    }
}

/// `1*DIGIT` as a `u64`; `None` if empty, signed, non-digit or overflowing.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// httparse reports any version other than 1.0/1.1 the same way. A well-formed request line
/// naming another version (`HTTP/2.0`, `HTTP/1.2`) gets 505; anything else is just broken.
fn version_error(bytes: &[u8]) -> HttpError {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]), None)
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::UnsupportedVersion
        }
        _ => HttpError::Malformed,
    }
}

/// The items of a comma-separated field value (RFC 9110 §5.6.1), trimmed, empties skipped.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// `value` without optional whitespace (SP, HTAB) at either end.
fn trim(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_for_crlf_lf_and_mixed_line_endings() {
        assert_eq!(find_end(b"GET / HTTP/1.1\r\n\r\nbody", 0), Some(18));
        assert_eq!(find_end(b"GET / HTTP/1.1\n\nbody", 0), Some(16));
        assert_eq!(find_end(b"GET / HTTP/1.1\r\n\nbody", 0), Some(17));
        assert_eq!(find_end(b"GET / HTTP/1.1\n\r\nbody", 0), Some(17));
        assert_eq!(find_end(b"GET / HTTP/1.1\r\nA: b\r\n\r", 0), None);
        assert_eq!(find_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
    }

    #[test]
    fn resumed_head_scan_with_overlap_finds_the_same_end_as_a_full_scan() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for len in 0..=head.len() {
            let mut scanned: usize = 0;
            let mut found = None;
            for end in len..=head.len() {
                let window = &head[..end];
                found = find_end(window, scanned.saturating_sub(3));
                if found.is_some() {
                    break;
                }
                scanned = window.len();
            }
            assert_eq!(found, find_end(head, 0), "first window {len}");
        }
    }

    #[test]
    fn leading_empty_lines_are_counted_only_when_whole() {
        assert_eq!(leading_empty_lines(b"\r\n\nGET"), 3);
        assert_eq!(leading_empty_lines(b"\r\n\r"), 2);
        assert_eq!(leading_empty_lines(b"\rGET"), 0);
        assert_eq!(leading_empty_lines(b"GET"), 0);
    }

    #[test]
    fn decimal_lengths_reject_signs_spaces_and_overflow() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"0012"), Some(12));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b"-1",
            b"1 2",
            b"0x10",
            b"18446744073709551616",
        ] {
            assert_eq!(
                parse_decimal(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn trim_removes_only_optional_whitespace() {
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b""), b"");
    }

    #[test]
    fn only_a_well_formed_request_line_gets_505() {
        assert_eq!(
            version_error(b"GET / HTTP/2.0\r\n\r\n"),
            HttpError::UnsupportedVersion
        );
        assert_eq!(
            version_error(b"GET / HTTP/1.2\n\n"),
            HttpError::UnsupportedVersion
        );
        assert_eq!(version_error(b"GET / HTTP/2\r\n\r\n"), HttpError::Malformed);
        assert_eq!(
            version_error(b"GET / x HTTP/1.1\r\n\r\n"),
            HttpError::Malformed
        );
        assert_eq!(
            version_error(b"GET / FTP/1.1\r\n\r\n"),
            HttpError::Malformed
        );
    }
}
