//! The per-connection request decoder: finds heads, reads bodies, yields requests one at a
//! time (keep-alive, pipelining) and refuses what [`super::head`] and [`super::chunked`]
//! refuse. Owns the decode state machine; knows nothing of sockets or responses.

use super::chunked::ChunkedDecoder;
use super::head::{self, Framing};
use super::{HttpError, HttpEvent, HttpLimits, Request};
use crate::decoded::Decoded;
use std::mem;

/// Incremental request decoder for one connection.
///
/// Head bytes stay in the caller's buffer until the whole head is there (it is bounded by
/// `max_head`); body bytes are taken into the decoder as they arrive (`NeedMore { consumed }`
/// with `consumed > 0`), so the caller's buffer stays small while a body streams in.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: HttpLimits,
    state: State,
    /// Whether the request being read is a `HEAD` ([`head::head_line`]): `None` until its
    /// request line is whole. Kept through its body and through a refusal, so that the
    /// engine's answer to it has no body; cleared when the request is done.
    head_line: Option<bool>,
}

/// Where the decoder is. [`RequestDecoder::decode`] is the one place that moves it on.
#[derive(Debug)]
enum State {
    /// Waiting for a whole head at the front of the caller's buffer. `scanned` bytes of it
    /// were searched for the empty line already, so a head trickling in one byte at a time
    /// costs linear, not quadratic, time. Next: `Body`, `Head` (request without a body),
    /// `Failed`.
    Head { scanned: usize },
    /// The head is parsed; body bytes are absorbed as they arrive. Next: `Head`, `Failed`.
    Body { request: Request, body: Body },
    /// A request was refused; every later call repeats the error.
    Failed(HttpError),
}

/// How the rest of the current body is read.
#[derive(Debug)]
enum Body {
    /// `remaining` bytes of a `Content-Length` body are still to come.
    Length { remaining: usize },
    /// A chunked body.
    Chunked(ChunkedDecoder),
}

/// The next state and what this call returns.
type Step = Result<(State, Decoded<HttpEvent>), HttpError>;

impl RequestDecoder {
    /// A decoder waiting for the first request head.
    pub fn new(limits: HttpLimits) -> Self {
        RequestDecoder {
            limits,
            state: State::Head { scanned: 0 },
            head_line: None,
        }
    }

    /// Whether the request being read (or just refused) is known to be a `HEAD`: its
    /// request line is whole and says so. False while the method is unknown: before the
    /// line is whole, or when it is not an HTTP/1.x request line at all.
    pub fn is_head(&self) -> bool {
        self.head_line == Some(true)
    }

    /// Decodes from `buf` (the caller's unconsumed bytes).
    ///
    /// Any split of the same bytes yields the same events. After `Done`, call again with the
    /// bytes after `consumed` (the next pipelined request may be there already). After
    /// `NeedMore`, drop `consumed` bytes and call again once more have arrived; the bytes
    /// not consumed must still be at the front of `buf` then. After an error the decoder is
    /// spent; the caller answers `err.status()` and closes.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded<HttpEvent>, HttpError> {
        let step = match mem::replace(&mut self.state, State::Head { scanned: 0 }) {
            State::Failed(e) => Err(e),
            State::Head { scanned } => self.on_head_bytes(scanned, buf),
            State::Body { request, body } => self.on_body_bytes(request, body, buf, 0),
        };
        match step {
            Ok((next, decoded)) => {
                if let Decoded::Done {
                    value: HttpEvent::Request(_),
                    ..
                } = decoded
                {
                    self.head_line = None;
                }
                self.state = next;
                Ok(decoded)
            }
            Err(e) => {
                self.state = State::Failed(e);
                Err(e)
            }
        }
    }

    /// Looks for a complete head; refuses one that passes `max_head` as soon as the bytes
    /// buffered without an end do, rather than waiting for an end that may never come.
    fn on_head_bytes(&mut self, scanned: usize, buf: &[u8]) -> Step {
        let skipped = head::leading_empty_lines(buf);
        let rest = buf.get(skipped..).unwrap_or_default();
        let scanned = if skipped > 0 { 0 } else { scanned };
        // Only an end within the first `max_head` bytes counts, so a one-shot buffer and
        // one fed byte by byte reach the same verdict.
        let window = rest.get(..self.limits.max_head).unwrap_or(rest);
        if self.head_line.is_none() {
            self.head_line = head::head_line(window, scanned);
        }
        // 3 bytes of overlap: an end (`\n\r\n`) may straddle the previous scan's edge.
        match head::find_end(window, scanned.saturating_sub(3)) {
            None if rest.len() > self.limits.max_head => Err(HttpError::HeadTooLarge),
            None => Ok((
                State::Head {
                    scanned: window.len(),
                },
                Decoded::NeedMore { consumed: skipped },
            )),
            Some(end) => {
                let head = head::parse(window.get(..end).unwrap_or_default(), &self.limits)?;
                let consumed = skipped + end;
                let body = match head.framing {
                    Framing::Length(0) => {
                        let value = HttpEvent::Request(head.request);
                        return Ok((
                            State::Head { scanned: 0 },
                            Decoded::Done { value, consumed },
                        ));
                    }
                    Framing::Length(remaining) => Body::Length { remaining },
                    Framing::Chunked => Body::Chunked(ChunkedDecoder::new()),
                };
                if head.expects_continue {
                    let value = HttpEvent::ContinueExpected;
                    let next = State::Body {
                        request: head.request,
                        body,
                    };
                    return Ok((next, Decoded::Done { value, consumed }));
                }
                let after_head = buf.get(consumed..).unwrap_or_default();
                self.on_body_bytes(head.request, body, after_head, consumed)
            }
        }
    }

    /// Absorbs body bytes; `already` bytes of the caller's buffer were taken earlier in
    /// this call (the head).
    fn on_body_bytes(&self, mut request: Request, body: Body, buf: &[u8], already: usize) -> Step {
        let (taken, next) = match body {
            Body::Length { remaining } => {
                let data = buf.get(..remaining).unwrap_or(buf);
                request.body.extend_from_slice(data);
                let remaining = remaining - data.len();
                (
                    data.len(),
                    (remaining > 0).then_some(Body::Length { remaining }),
                )
            }
            Body::Chunked(mut chunked) => {
                let (taken, done) = chunked.decode(buf, &mut request.body, &self.limits)?;
                (taken, (!done).then_some(Body::Chunked(chunked)))
            }
        };
        let consumed = already + taken;
        Ok(match next {
            Some(body) => (
                State::Body { request, body },
                Decoded::NeedMore { consumed },
            ),
            None => {
                let value = HttpEvent::Request(request);
                (
                    State::Head { scanned: 0 },
                    Decoded::Done { value, consumed },
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    /// Small limits, so that every limit can be reached by a readable literal.
    const LIMITS: HttpLimits = HttpLimits {
        max_head: 128,
        max_body: 16,
        max_headers: 4,
    };

    /// Everything a caller observes from feeding some bytes.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        events: Vec<HttpEvent>,
        error: Option<HttpError>,
        /// Bytes still in the caller's buffer at the end (0 after an error).
        left: usize,
    }

    /// Feeds `bytes` as an engine would: in pieces ending at each of `cuts` (ascending) and
    /// at the end, calling `decode` until it needs more and dropping what it consumed.
    fn feed(bytes: &[u8], cuts: &[usize], limits: HttpLimits) -> Outcome {
        let mut decoder = RequestDecoder::new(limits);
        let mut buf = Vec::new();
        let mut events = Vec::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([bytes.len()]) {
            buf.extend_from_slice(&bytes[start..end]);
            start = end;
            loop {
                match decoder.decode(&buf) {
                    Ok(Decoded::Done { value, consumed }) => {
                        buf.drain(..consumed);
                        events.push(value);
                    }
                    Ok(Decoded::NeedMore { consumed }) => {
                        buf.drain(..consumed);
                        break;
                    }
                    Err(e) => {
                        return Outcome {
                            events,
                            error: Some(e),
                            left: 0,
                        }
                    }
                }
            }
        }
        Outcome {
            events,
            error: None,
            left: buf.len(),
        }
    }

    fn assert_same_at_every_split(name: &str, bytes: &[u8], limits: HttpLimits) -> Outcome {
        let whole = feed(bytes, &[], limits);
        for split in 0..=bytes.len() {
            assert_eq!(
                feed(bytes, &[split], limits),
                whole,
                "{name}: split at {split}"
            );
        }
        let every_byte: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(
            feed(bytes, &every_byte, limits),
            whole,
            "{name}: one byte at a time"
        );
        whole
    }

    fn requests(outcome: &Outcome) -> Vec<&Request> {
        let requests = outcome.events.iter().filter_map(|e| match e {
            HttpEvent::Request(r) => Some(r),
            HttpEvent::ContinueExpected => None,
        });
        requests.collect()
    }

    #[derive(Debug)]
    enum Expect {
        /// The only event is a request like this.
        Req {
            method: &'static str,
            target: &'static str,
            version: Version,
            body: &'static [u8],
            keep_alive: bool,
        },
        /// `ContinueExpected`, then a request with this body.
        Continue { body: &'static [u8] },
        /// No event: the decoder waits for more bytes.
        Incomplete,
        /// Refused before any event, with this error and status.
        Fail(HttpError, u16),
    }

    use Expect::{Continue, Fail, Incomplete, Req};
    use HttpError::*;
    use Version::{Http10, Http11};

    #[rustfmt::skip] // one case per line or two; rustfmt would spread each over eight
    const CASES: &[(&str, &[u8], Expect)] = &[
        ("get 1.1 keeps alive", b"GET /p?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
            Req { method: "GET", target: "/p?x=1", version: Http11, body: b"", keep_alive: true }),
        ("get 1.1 connection close", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: false }),
        ("connection is a case-insensitive token list", b"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: false }),
        ("connection split over fields", b"GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: false }),
        ("close inside another token is not close", b"GET / HTTP/1.1\r\nConnection: xclose\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: true }),
        ("get 1.0 closes", b"GET / HTTP/1.0\r\n\r\n",
            Req { method: "GET", target: "/", version: Http10, body: b"", keep_alive: false }),
        ("get 1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            Req { method: "GET", target: "/", version: Http10, body: b"", keep_alive: true }),
        ("1.0 keep-alive and close closes", b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            Req { method: "GET", target: "/", version: Http10, body: b"", keep_alive: false }),
        ("bare lf line endings", b"GET /lf HTTP/1.1\nHost: a\n\n",
            Req { method: "GET", target: "/lf", version: Http11, body: b"", keep_alive: true }),
        ("leading empty lines skipped", b"\r\n\n\r\nGET / HTTP/1.1\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: true }),
        ("post with content-length", b"POST /m HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            Req { method: "POST", target: "/m", version: Http11, body: b"hello", keep_alive: true }),
        ("equal content-length fields", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            Req { method: "POST", target: "/", version: Http11, body: b"abc", keep_alive: true }),
        ("equal content-length list", b"POST / HTTP/1.1\r\nContent-Length: 3 , 3\r\n\r\nabc",
            Req { method: "POST", target: "/", version: Http11, body: b"abc", keep_alive: true }),
        ("content-length zero", b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            Req { method: "POST", target: "/", version: Http11, body: b"", keep_alive: true }),
        ("body exactly max_body", b"PUT / HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef",
            Req { method: "PUT", target: "/", version: Http11, body: b"0123456789abcdef", keep_alive: true }),
        ("chunked post", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;e=1\r\nde\r\n0\r\n\r\n",
            Req { method: "POST", target: "/", version: Http11, body: b"abcde", keep_alive: true }),
        ("chunked is case-insensitive", b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            Req { method: "POST", target: "/", version: Http11, body: b"x", keep_alive: true }),
        ("chunked trailers dropped", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n",
            Req { method: "POST", target: "/", version: Http11, body: b"x", keep_alive: true }),
        ("chunked in 1.0 closes", b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Req { method: "POST", target: "/", version: Http10, body: b"", keep_alive: false }),
        ("max_headers headers", b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: true }),
        ("100-continue with length", b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
            Continue { body: b"ok" }),
        ("100-continue chunked", b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            Continue { body: b"ok" }),
        ("100-continue without a body", b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            Req { method: "GET", target: "/", version: Http11, body: b"", keep_alive: true }),
        ("100-continue from 1.0 ignored", b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
            Req { method: "POST", target: "/", version: Http10, body: b"ok", keep_alive: false }),
        ("incomplete head", b"GET / HTTP/1.1\r\nHost: a\r\n", Incomplete),
        ("incomplete body", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", Incomplete),
        ("incomplete chunked body", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", Incomplete),
        ("binary garbage", b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", Fail(Malformed, 400)),
        ("http/0.9 request line", b"GET /\r\n\r\n", Fail(Malformed, 400)),
        ("extra word in request line", b"GET / x HTTP/1.1\r\n\r\n", Fail(Malformed, 400)),
        ("space in header name", b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", Fail(Malformed, 400)),
        ("obsolete line folding", b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", Fail(Malformed, 400)),
        ("invalid utf-8 target", b"GET /\xff HTTP/1.1\r\n\r\n", Fail(Malformed, 400)),
        ("content-length and transfer-encoding", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Fail(AmbiguousLength, 400)),
        ("transfer-encoding and content-length", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", Fail(AmbiguousLength, 400)),
        ("differing content-lengths", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", Fail(AmbiguousLength, 400)),
        ("differing content-length list", b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", Fail(AmbiguousLength, 400)),
        ("non-numeric content-length", b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", Fail(Malformed, 400)),
        ("plus-signed content-length", b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", Fail(Malformed, 400)),
        ("negative content-length", b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Fail(Malformed, 400)),
        ("hex content-length", b"POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n", Fail(Malformed, 400)),
        ("empty content-length", b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", Fail(Malformed, 400)),
        ("empty content-length list item", b"POST / HTTP/1.1\r\nContent-Length: 3,\r\n\r\nabc", Fail(Malformed, 400)),
        ("overflowing content-length", b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", Fail(Malformed, 400)),
        ("content-length past max_body", b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", Fail(BodyTooLarge, 413)),
        ("u64::MAX content-length", b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", Fail(BodyTooLarge, 413)),
        ("100-continue past max_body", b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 17\r\n\r\n", Fail(BodyTooLarge, 413)),
        ("chunked past max_body", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\n", Fail(BodyTooLarge, 413)),
        ("bad chunk size", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Fail(Malformed, 400)),
        ("gzip coding", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", Fail(UnsupportedTransferEncoding, 501)),
        ("gzip then chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Fail(UnsupportedTransferEncoding, 501)),
        ("chunked twice", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Fail(UnsupportedTransferEncoding, 501)),
        ("http/2.0 request line", b"GET / HTTP/2.0\r\n\r\n", Fail(UnsupportedVersion, 505)),
        ("http/1.2 request line", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Fail(UnsupportedVersion, 505)),
        ("http/2 connection preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Fail(UnsupportedVersion, 505)),
        ("too many headers", b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", Fail(HeadTooLarge, 431)),
        ("complete head past max_head", b"GET / HTTP/1.1\r\nX: 01234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n", Fail(HeadTooLarge, 431)),
        ("endless head past max_head", b"GET /0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", Fail(HeadTooLarge, 431)),
    ];

    /// What `is_head` says after `bytes` were fed in two pieces split at `split`, the way
    /// [`feed`] feeds them, and the error if the request was refused.
    fn head_known_after(bytes: &[u8], split: usize) -> (bool, Option<HttpError>) {
        let mut decoder = RequestDecoder::new(LIMITS);
        let mut buf = Vec::new();
        for piece in [&bytes[..split], &bytes[split..]] {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&buf) {
                    Ok(Decoded::Done { consumed, .. }) => drop(buf.drain(..consumed)),
                    Ok(Decoded::NeedMore { consumed }) => {
                        buf.drain(..consumed);
                        break;
                    }
                    Err(e) => return (decoder.is_head(), Some(e)),
                }
            }
        }
        (decoder.is_head(), None)
    }

    #[rustfmt::skip] // one case per line
    const HEAD_CASES: &[(&str, &[u8], bool, Option<HttpError>)] = &[
        ("head line whole, headers not", b"HEAD /p HTTP/1.1\r\nHost: a", true, None),
        ("head line with bare lf", b"HEAD /p HTTP/1.0\nHo", true, None),
        ("after empty lines", b"\r\n\nHEAD / HTTP/1.1\r\n", true, None),
        ("head line not whole yet", b"HEAD /p HTTP/1.1", false, None),
        ("get", b"GET /p HTTP/1.1\r\nHost: a", false, None),
        ("head of another version", b"HEAD / HTTP/2.0\r\n\r\n", false, Some(UnsupportedVersion)),
        ("not a request line", b"HEAD /a b HTTP/1.1\r\n\r\n", false, Some(Malformed)),
        ("head with a body past max_body", b"HEAD / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", true, Some(BodyTooLarge)),
        ("head with a chunked body past max_body", b"HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\n", true, Some(BodyTooLarge)),
        ("head with a bad header", b"HEAD / HTTP/1.1\r\nBad Name: x\r\n\r\n", true, Some(Malformed)),
        ("head with a body still coming", b"HEAD / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", true, None),
        ("head done, get begun", b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHo", false, None),
        ("get done, head begun", b"GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\nHo", true, None),
        ("head done, nothing more", b"HEAD / HTTP/1.1\r\n\r\n", false, None),
    ];

    #[test]
    fn a_head_request_is_known_once_its_request_line_is_whole_at_every_split() {
        for (name, bytes, head, error) in HEAD_CASES {
            for split in 0..=bytes.len() {
                assert_eq!(
                    head_known_after(bytes, split),
                    (*head, *error),
                    "{name}: split at {split}"
                );
            }
        }
    }

    #[test]
    fn request_cases_decode_as_expected_at_every_split() {
        for (name, bytes, expect) in CASES {
            let outcome = assert_same_at_every_split(name, bytes, LIMITS);
            match expect {
                Req {
                    method,
                    target,
                    version,
                    body,
                    keep_alive,
                } => {
                    assert_eq!(outcome.error, None, "{name}");
                    assert_eq!(outcome.left, 0, "{name}");
                    let [HttpEvent::Request(req)] = &outcome.events[..] else {
                        panic!("{name}: want one request, got {:?}", outcome.events);
                    };
                    assert_eq!(
                        (req.method.as_str(), req.target.as_str(), req.version),
                        (*method, *target, *version),
                        "{name}"
                    );
                    assert_eq!(req.body, *body, "{name}");
                    assert_eq!(req.keep_alive, *keep_alive, "{name}");
                }
                Continue { body } => {
                    assert_eq!(outcome.error, None, "{name}");
                    let [HttpEvent::ContinueExpected, HttpEvent::Request(req)] =
                        &outcome.events[..]
                    else {
                        panic!("{name}: want continue + request, got {:?}", outcome.events);
                    };
                    assert_eq!(req.body, *body, "{name}");
                }
                Incomplete => {
                    assert_eq!((outcome.events.len(), outcome.error), (0, None), "{name}");
                }
                Fail(error, status) => {
                    assert_eq!(outcome.events, [], "{name}");
                    assert_eq!(outcome.error, Some(*error), "{name}");
                    assert_eq!(error.status(), *status, "{name}");
                }
            }
        }
    }

    #[test]
    fn every_error_kind_and_status_appears_in_the_cases() {
        for error in [
            Malformed,
            HeadTooLarge,
            BodyTooLarge,
            AmbiguousLength,
            UnsupportedTransferEncoding,
            UnsupportedVersion,
        ] {
            let found = CASES
                .iter()
                .any(|(_, _, e)| matches!(e, Fail(f, _) if *f == error));
            assert!(found, "no case for {error:?}");
        }
    }

    /// GET, POST with a length, chunked POST with a trailer, 100-continue POST, GET closing.
    const PIPELINE: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
        POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
        POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n\
        POST /d HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi\
        \r\nGET /e HTTP/1.1\r\nConnection: close\r\n\r\n";

    #[test]
    fn pipelined_requests_decode_the_same_at_every_split() {
        let limits = HttpLimits::default();
        let outcome = assert_same_at_every_split("pipeline", PIPELINE, limits);
        assert_eq!((outcome.error, outcome.left), (None, 0));
        let got: Vec<(&str, &[u8], bool)> = requests(&outcome)
            .iter()
            .map(|r| (r.target.as_str(), r.body.as_slice(), r.keep_alive))
            .collect();
        let want: Vec<(&str, &[u8], bool)> = vec![
            ("/a", b"", true),
            ("/b", b"hello", true),
            ("/c", b"wikipedia", true),
            ("/d", b"hi", true),
            ("/e", b"", false),
        ];
        assert_eq!(got, want);
        let continues = outcome
            .events
            .iter()
            .position(|e| *e == HttpEvent::ContinueExpected);
        assert_eq!(
            continues,
            Some(3),
            "100-continue comes right before request /d"
        );
        assert_eq!(outcome.events.len(), 6);
    }

    #[test]
    fn pipeline_decodes_the_same_for_seeded_piece_sizes_including_empty_calls() {
        let whole = feed(PIPELINE, &[], HttpLimits::default());
        for seed in 0..=u8::MAX {
            // Piece sizes 0..=16 from a full-period LCG, as the fuzz target draws them.
            let mut state = seed;
            let mut cuts = vec![0];
            while cuts.last() < Some(&PIPELINE.len()) {
                state = state.wrapping_mul(37).wrapping_add(11);
                let last = cuts.last().copied().unwrap_or(0);
                cuts.push((last + usize::from(state % 17)).min(PIPELINE.len()));
            }
            assert_eq!(
                feed(PIPELINE, &cuts, HttpLimits::default()),
                whole,
                "seed {seed}"
            );
        }
    }

    #[test]
    fn error_after_good_requests_is_reported_at_the_same_request_at_every_split() {
        let mut bytes = PIPELINE.to_vec();
        bytes.extend_from_slice(b"GET / HTTP/2.0\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
        let outcome =
            assert_same_at_every_split("pipeline then 505", &bytes, HttpLimits::default());
        assert_eq!(outcome.error, Some(UnsupportedVersion));
        assert_eq!(requests(&outcome).len(), 5);

        let mut bytes = b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec();
        bytes.extend_from_slice(b"POST /b HTTP/1.1\r\nContent-Length: 99\r\n\r\n");
        let outcome = assert_same_at_every_split("1.0 keep-alive then 413", &bytes, LIMITS);
        assert_eq!(outcome.error, Some(BodyTooLarge));
        assert_eq!(requests(&outcome).len(), 1);
    }

    #[test]
    fn trailing_partial_request_waits_at_every_split() {
        let mut bytes = PIPELINE.to_vec();
        bytes.extend_from_slice(b"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nabc");
        let outcome =
            assert_same_at_every_split("pipeline then partial", &bytes, HttpLimits::default());
        assert_eq!((outcome.error, requests(&outcome).len()), (None, 5));
        assert_eq!(
            outcome.left, 0,
            "a partial chunked body is absorbed, not left in the buffer"
        );

        let mut bytes = PIPELINE.to_vec();
        bytes.extend_from_slice(b"GET /g HTTP/1.1\r\nHo");
        let outcome =
            assert_same_at_every_split("pipeline then partial head", &bytes, HttpLimits::default());
        assert_eq!((outcome.error, requests(&outcome).len()), (None, 5));
        assert_eq!(
            outcome.left, 19,
            "a partial head stays in the caller's buffer"
        );
    }

    #[test]
    fn done_consumes_exactly_one_request_and_leaves_the_next() {
        let mut decoder = RequestDecoder::new(LIMITS);
        let bytes = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET";
        match decoder.decode(bytes) {
            Ok(Decoded::Done {
                value: HttpEvent::Request(req),
                consumed,
            }) => {
                assert_eq!(consumed, bytes.len() - 3);
                assert_eq!(req.body, b"ok");
            }
            other => panic!("want a request, got {other:?}"),
        }
        assert_eq!(
            decoder.decode(b"GET"),
            Ok(Decoded::NeedMore { consumed: 0 })
        );
    }

    #[test]
    fn continue_expected_comes_once_before_the_body_is_read() {
        let mut decoder = RequestDecoder::new(LIMITS);
        let head = b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        let got = decoder.decode(head);
        assert_eq!(
            got,
            Ok(Decoded::Done {
                value: HttpEvent::ContinueExpected,
                consumed: head.len()
            })
        );
        assert_eq!(decoder.decode(b""), Ok(Decoded::NeedMore { consumed: 0 }));
        assert_eq!(decoder.decode(b"ab"), Ok(Decoded::NeedMore { consumed: 2 }));
        match decoder.decode(b"c") {
            Ok(Decoded::Done {
                value: HttpEvent::Request(req),
                consumed: 1,
            }) => assert_eq!(req.body, b"abc"),
            other => panic!("want the request, got {other:?}"),
        }
    }

    #[test]
    fn oversized_head_gets_431_before_the_head_ends() {
        let mut decoder = RequestDecoder::new(LIMITS);
        let mut buf = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        buf.resize(LIMITS.max_head, b'a');
        assert_eq!(
            decoder.decode(&buf),
            Ok(Decoded::NeedMore { consumed: 0 }),
            "at the limit"
        );
        buf.push(b'a');
        assert_eq!(
            decoder.decode(&buf),
            Err(HeadTooLarge),
            "one byte past, no end yet"
        );
        assert_eq!(
            decoder.decode(b"\r\n\r\n"),
            Err(HeadTooLarge),
            "the decoder is spent"
        );
    }

    #[test]
    fn head_ending_exactly_at_max_head_is_accepted() {
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.resize(LIMITS.max_head - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        let outcome = feed(&head, &[], LIMITS);
        assert_eq!((outcome.error, requests(&outcome).len()), (None, 1));
        head.insert(20, b'a');
        assert_eq!(feed(&head, &[], LIMITS).error, Some(HeadTooLarge));
    }

    #[test]
    fn content_length_past_max_body_gets_413_without_any_body_bytes() {
        let mut decoder = RequestDecoder::new(HttpLimits::default());
        let head = b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n";
        assert_eq!(decoder.decode(head), Err(BodyTooLarge));
    }

    #[test]
    fn chunked_body_is_absorbed_as_it_arrives() {
        let mut decoder = RequestDecoder::new(HttpLimits::default());
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n";
        assert_eq!(
            decoder.decode(head),
            Ok(Decoded::NeedMore {
                consumed: head.len()
            })
        );
        for _ in 0..4 {
            assert_eq!(
                decoder.decode(&[b'x'; 64]),
                Ok(Decoded::NeedMore { consumed: 64 })
            );
        }
        match decoder.decode(b"\r\n0\r\n\r\n") {
            Ok(Decoded::Done {
                value: HttpEvent::Request(req),
                consumed: 7,
            }) => assert_eq!(req.body.len(), 256),
            other => panic!("want the request, got {other:?}"),
        }
    }

    #[test]
    fn long_head_fed_one_byte_at_a_time_is_accepted() {
        // 60 KiB trickling in: rescanning the whole head on every byte would be ~2e9 steps.
        let limits = HttpLimits {
            max_head: 64 * 1024,
            ..HttpLimits::default()
        };
        let mut head = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        head.resize(60 * 1024, b'b');
        head.extend_from_slice(b"\r\n\r\n");
        let mut decoder = RequestDecoder::new(limits);
        for end in 1..head.len() {
            assert_eq!(
                decoder.decode(&head[..end]),
                Ok(Decoded::NeedMore { consumed: 0 })
            );
        }
        match decoder.decode(&head) {
            Ok(Decoded::Done {
                value: HttpEvent::Request(req),
                consumed,
            }) => {
                assert_eq!(consumed, head.len());
                assert_eq!(req.header("x-big").map(<[u8]>::len), Some(60 * 1024 - 23));
            }
            other => panic!("want the request, got {other:?}"),
        }
    }

    #[test]
    fn header_names_are_lower_cased_and_values_kept_raw() {
        let bytes = b"GET /p/q?a=1&b=%20 HTTP/1.1\r\nX-Mixed-Case: Val\xe9 ue\r\nHOST: h\r\n\r\n";
        let outcome = feed(bytes, &[], LIMITS);
        let [req] = requests(&outcome)[..] else {
            panic!("want one request: {outcome:?}")
        };
        assert_eq!(
            req.headers,
            [
                ("x-mixed-case".to_string(), b"Val\xe9 ue".to_vec()),
                ("host".to_string(), b"h".to_vec())
            ]
        );
        assert_eq!(req.header("host"), Some(&b"h"[..]));
        assert_eq!(req.header("HOST"), None, "header() takes lower-case names");
        assert_eq!((req.path(), req.query()), ("/p/q", "a=1&b=%20"));
    }
}
