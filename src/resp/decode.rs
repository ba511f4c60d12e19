//! [`ReplyDecoder`]: RESP2 replies from a byte stream, one at a time, with every length
//! checked against [`RespLimits`] before it is believed.
//!
//! Each call scans the caller's buffer from its start without allocating; only when a
//! whole reply is there does a second pass build the [`Reply`]. A partial reply is
//! therefore left in the caller's buffer (`NeedMore { consumed: 0 }`), which `max_reply`
//! bounds. Re-scanning skips bulk payloads by their length, so a call costs O(elements),
//! not O(bytes), and one reply never has more than `max_reply / 3` elements.

use super::Reply;
use crate::decoded::Decoded;
use std::fmt;

/// How much of a reply we believe. Past any of them the decoder fails with a
/// [`RespError`] and the connection is dropped: a reply we cannot take whole would leave
/// the pipeline out of step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RespLimits {
    /// Longest bulk string. Default 64 MiB.
    pub max_bulk: usize,
    /// Most elements in one array. Default 1 Mi.
    pub max_array: usize,
    /// Deepest nesting of arrays (a top-level array is depth 1). Default 8: our scripts
    /// return at most 2.
    pub max_depth: usize,
    /// Longest simple string, error or number line, without CR LF. Default 64 KiB.
    pub max_line: usize,
    /// Most bytes one whole reply may take on the wire: what a broken server can make us
    /// buffer. Default 128 MiB.
    pub max_reply: usize,
}

impl Default for RespLimits {
    fn default() -> Self {
        RespLimits {
            max_bulk: 64 << 20,
            max_array: 1 << 20,
            max_depth: 8,
            max_line: 64 << 10,
            max_reply: 128 << 20,
        }
    }
}

/// Why the bytes from the server are not a reply we accept. Each names a fact about the
/// input; after one the stream cannot be trusted and the connection is reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespError {
    /// The first byte of a reply is not one of `+ - : $ *` (RESP3 types included).
    UnknownType(u8),
    /// A line ends in CR without LF, or a bulk string is not followed by CR LF.
    BadLineEnd,
    /// A line is longer than `max_line`.
    LineTooLong,
    /// An integer or length is not `-?[0-9]+` within `i64`, or a length is below -1.
    BadNumber,
    /// A bulk string is longer than `max_bulk`.
    BulkTooLong,
    /// An array has more than `max_array` elements.
    ArrayTooLong,
    /// Arrays nest deeper than `max_depth`.
    TooDeep,
    /// The reply would take more than `max_reply` bytes.
    ReplyTooBig,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownType(_) => "unknown RESP type byte",
            Self::BadLineEnd => "RESP line not ended by CR LF",
            Self::LineTooLong => "RESP line too long",
            Self::BadNumber => "bad RESP integer or length",
            Self::BulkTooLong => "RESP bulk string too long",
            Self::ArrayTooLong => "RESP array too long",
            Self::TooDeep => "RESP arrays nested too deep",
            Self::ReplyTooBig => "RESP reply too big",
        })
    }
}

impl std::error::Error for RespError {}

/// Incremental decoder of server replies. Holds only its limits and whether it failed.
#[derive(Debug)]
pub struct ReplyDecoder {
    limits: RespLimits,
    failed: Option<RespError>,
}

/// Where a scan stopped: the end of a whole value, or "the input ends first".
type Scan = Result<Option<usize>, RespError>;

impl ReplyDecoder {
    /// A decoder that refuses what is past `limits`.
    pub fn new(limits: RespLimits) -> Self {
        ReplyDecoder {
            limits,
            failed: None,
        }
    }

    /// Decodes the reply at the front of `buf`. `Done` says how many bytes it took; call
    /// again with the rest (pipelined replies may be there already). `NeedMore` takes
    /// nothing: keep the bytes and call again when more have arrived. Any split of the
    /// same bytes gives the same replies. After an error the decoder is spent.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded<Reply>, RespError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let scanned = Scanner {
            buf,
            limits: &self.limits,
            end: self.limits.max_reply.min(buf.len()),
        }
        .value(0, 1);
        match scanned {
            Ok(None) if buf.len() > self.limits.max_reply => self.fail(RespError::ReplyTooBig),
            Ok(None) => Ok(Decoded::NeedMore { consumed: 0 }),
            Ok(Some(_)) => {
                let (value, consumed) = build(buf, 0);
                Ok(Decoded::Done { value, consumed })
            }
            Err(err) => self.fail(err),
        }
    }

    fn fail(&mut self, err: RespError) -> Result<Decoded<Reply>, RespError> {
        self.failed = Some(err);
        Err(err)
    }
}

/// The checking pass: finds where the value at `pos` ends, allocating nothing. Bytes at
/// or past `end` (the buffer's end, or `max_reply`) count as not arrived yet.
struct Scanner<'a> {
    buf: &'a [u8],
    limits: &'a RespLimits,
    end: usize,
}

impl Scanner<'_> {
    fn value(&self, pos: usize, depth: usize) -> Scan {
        let Some(&kind) = self.buf.get(pos).filter(|_| pos < self.end) else {
            return Ok(None);
        };
        let Some((line, next)) = self.line(pos + 1)? else {
            return Ok(None);
        };
        match kind {
            b'+' | b'-' => Ok(Some(next)),
            b':' => number(line).map(|_| Some(next)),
            b'$' => match length(line)? {
                None => Ok(Some(next)),
                Some(n) if n > self.limits.max_bulk => Err(RespError::BulkTooLong),
                Some(n) => {
                    // n <= max_bulk, far below usize::MAX: no overflow.
                    let after = next + n + 2;
                    if after > self.limits.max_reply {
                        return Err(RespError::ReplyTooBig);
                    }
                    if after > self.end {
                        return Ok(None);
                    }
                    match self.buf.get(next + n..after) {
                        Some(b"\r\n") => Ok(Some(after)),
                        _ => Err(RespError::BadLineEnd),
                    }
                }
            },
            b'*' => match length(line)? {
                None => Ok(Some(next)),
                Some(n) if n > self.limits.max_array => Err(RespError::ArrayTooLong),
                Some(_) if depth > self.limits.max_depth => Err(RespError::TooDeep),
                Some(n) => {
                    let mut at = next;
                    for _ in 0..n {
                        match self.value(at, depth + 1)? {
                            Some(after) => at = after,
                            None => return Ok(None),
                        }
                    }
                    Ok(Some(at))
                }
            },
            other => Err(RespError::UnknownType(other)),
        }
    }

    /// The line starting at `pos` (without CR LF) and where the next one starts.
    fn line(&self, pos: usize) -> Result<Option<(&[u8], usize)>, RespError> {
        let avail = self.buf.get(pos..self.end).unwrap_or(&[]);
        let window = &avail[..avail.len().min(self.limits.max_line + 2)];
        match window.iter().position(|&b| b == b'\r') {
            Some(cr) => match window.get(cr + 1) {
                Some(b'\n') if cr <= self.limits.max_line => {
                    Ok(Some((&window[..cr], pos + cr + 2)))
                }
                Some(b'\n') => Err(RespError::LineTooLong),
                Some(_) => Err(RespError::BadLineEnd),
                None if cr > self.limits.max_line => Err(RespError::LineTooLong),
                None => Ok(None),
            },
            None if window.len() > self.limits.max_line => Err(RespError::LineTooLong),
            None => Ok(None),
        }
    }
}

/// `-?[0-9]+` within `i64`.
fn number(line: &[u8]) -> Result<i64, RespError> {
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(RespError::BadNumber);
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or(RespError::BadNumber)?;
    }
    Ok(n)
}

/// A bulk or array length: `None` for -1 (nil), an error below -1.
fn length(line: &[u8]) -> Result<Option<usize>, RespError> {
    match number(line)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .map(Some)
            .map_err(|_| RespError::BadNumber),
    }
}

/// The building pass, run only over bytes [`Scanner::value`] accepted: every length and
/// line end is known good, so it allocates exactly what the reply holds. It still uses
/// no indexing that could panic: an impossible shape yields `Nil` rather than a crash.
fn build(buf: &[u8], pos: usize) -> (Reply, usize) {
    let rest = buf.get(pos + 1..).unwrap_or(&[]);
    let cr = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
    let line = &rest[..cr];
    let next = pos + 1 + cr + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    match buf.get(pos) {
        Some(b'+') => (Reply::Simple(text()), next),
        Some(b'-') => (Reply::Error(text()), next),
        Some(b':') => (number(line).map_or(Reply::Nil, Reply::Integer), next),
        Some(b'$') => match length(line) {
            Ok(Some(n)) => {
                let bytes = buf.get(next..next + n).unwrap_or(&[]).to_vec();
                (Reply::Bulk(bytes), next + n + 2)
            }
            _ => (Reply::Nil, next),
        },
        Some(b'*') => match length(line) {
            Ok(Some(n)) => {
                let mut items = Vec::with_capacity(n);
                let mut at = next;
                for _ in 0..n {
                    let (item, after) = build(buf, at);
                    items.push(item);
                    at = after;
                }
                (Reply::Array(items), at)
            }
            _ => (Reply::Nil, next),
        },
        _ => (Reply::Nil, next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::testing::{decode_pieces, Outcome};
    use crate::resp::{encode_reply, Reply};

    fn whole(limits: RespLimits, bytes: &[u8]) -> Outcome {
        decode_pieces(limits, bytes, &[bytes.len().max(1)])
    }

    /// Every split position in two pieces, and a byte at a time, gives the one-shot result.
    fn check_splits(limits: RespLimits, bytes: &[u8]) -> Outcome {
        let one = whole(limits, bytes);
        for split in 0..=bytes.len() {
            let pieces = [split, bytes.len() - split];
            assert_eq!(
                decode_pieces(limits, bytes, &pieces),
                one,
                "split at {split}"
            );
        }
        assert_eq!(decode_pieces(limits, bytes, &[1]), one, "byte at a time");
        one
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn spec_examples_decode_at_every_split() {
        // The protocol spec's examples, one after another as a pipeline would bring them.
        let bytes = b"+OK\r\n-Error message\r\n:1000\r\n:-42\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n\
*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n*3\r\n:1\r\n:2\r\n:3\r\n*0\r\n*-1\r\n\
*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n*3\r\n$5\r\nhello\r\n$-1\r\n$5\r\nworld\r\n";
        let (replies, err) = check_splits(RespLimits::default(), bytes);
        assert_eq!(err, None);
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&n| Reply::Integer(n)).collect());
        assert_eq!(
            replies,
            vec![
                Reply::Simple("OK".into()),
                Reply::Error("Error message".into()),
                Reply::Integer(1000),
                Reply::Integer(-42),
                bulk("hello"),
                bulk(""),
                Reply::Nil,
                Reply::Array(vec![bulk("hello"), bulk("world")]),
                ints(&[1, 2, 3]),
                Reply::Array(vec![]),
                Reply::Nil,
                Reply::Array(vec![
                    ints(&[1, 2, 3]),
                    Reply::Array(vec![
                        Reply::Simple("Hello".into()),
                        Reply::Error("World".into())
                    ]),
                ]),
                Reply::Array(vec![bulk("hello"), Reply::Nil, bulk("world")]),
            ]
        );
    }

    #[test]
    fn a_pubsub_message_with_binary_payload_decodes_at_every_split() {
        let bytes = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\n\r\n\x00\xff\r\n";
        let (replies, err) = check_splits(RespLimits::default(), bytes);
        assert_eq!(err, None);
        assert_eq!(
            replies,
            vec![Reply::Array(vec![
                bulk("message"),
                bulk("ch"),
                Reply::Bulk(b"\r\n\x00\xff".to_vec())
            ])]
        );
    }

    #[test]
    fn bad_input_fails_with_the_fact_at_every_split() {
        let small = RespLimits {
            max_bulk: 4,
            max_array: 3,
            max_depth: 2,
            max_line: 8,
            max_reply: 64,
        };
        const CASES: &[(&str, &[u8], RespError)] = &[
            ("resp3 double", b",1.5\r\n", RespError::UnknownType(b',')),
            ("resp3 push", b">2\r\n", RespError::UnknownType(b'>')),
            ("space first", b" OK\r\n", RespError::UnknownType(b' ')),
            ("cr without lf", b"+OK\rX\n", RespError::BadLineEnd),
            ("bulk without crlf", b"$2\r\nabXY", RespError::BadLineEnd),
            (
                "bulk too short",
                b"$3\r\nab\r\n:1\r\n",
                RespError::BadLineEnd,
            ),
            ("long status", b"+123456789\r\n", RespError::LineTooLong),
            ("endless status", b"+123456789", RespError::LineTooLong),
            ("long length", b"$000000000004\r\n", RespError::LineTooLong),
            ("plus sign", b":+1\r\n", RespError::BadNumber),
            ("empty integer", b":\r\n", RespError::BadNumber),
            (
                "overflow",
                b":9223372036854775808\r\n",
                RespError::LineTooLong,
            ),
            ("letters", b"$1x\r\n", RespError::BadNumber),
            ("minus two", b"$-2\r\n", RespError::BadNumber),
            ("array minus two", b"*-2\r\n", RespError::BadNumber),
            ("bulk past max", b"$5\r\nhello\r\n", RespError::BulkTooLong),
            ("array past max", b"*4\r\n", RespError::ArrayTooLong),
            ("too deep", b"*1\r\n*1\r\n*1\r\n:1\r\n", RespError::TooDeep),
            (
                "nested error",
                b"*2\r\n:1\r\n?\r\n",
                RespError::UnknownType(b'?'),
            ),
        ];
        for (name, bytes, want) in CASES {
            let mut outcome = (Vec::new(), None);
            for split in 0..=bytes.len() {
                outcome = decode_pieces(small, bytes, &[split, bytes.len() - split]);
                assert_eq!(outcome.1, Some(*want), "{name}: split at {split}");
            }
            assert_eq!(outcome, whole(small, bytes), "{name}");
        }
    }

    #[test]
    fn limits_are_checked_from_the_header_before_the_bytes_arrive() {
        let limits = RespLimits {
            max_reply: 100,
            ..RespLimits::default()
        };
        let mut decoder = ReplyDecoder::new(limits);
        assert_eq!(decoder.decode(b"$1000000\r\n"), Err(RespError::ReplyTooBig));
        let mut decoder = ReplyDecoder::new(RespLimits::default());
        assert_eq!(
            decoder.decode(b"$999999999999\r\n"),
            Err(RespError::BulkTooLong)
        );
        assert_eq!(
            decoder.decode(b"+OK\r\n"),
            Err(RespError::BulkTooLong),
            "spent"
        );
        let mut decoder = ReplyDecoder::new(RespLimits::default());
        assert_eq!(
            decoder.decode(b"*99999999999\r\n"),
            Err(RespError::ArrayTooLong)
        );
        // A reply that never ends is refused once it passes max_reply.
        let mut decoder = ReplyDecoder::new(limits);
        let many = b"*50\r\n"
            .iter()
            .chain(b":1\r\n".repeat(30).iter())
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(decoder.decode(&many), Err(RespError::ReplyTooBig));
    }

    #[test]
    fn integers_cover_the_i64_range_exactly() {
        const CASES: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"-0", Some(0)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"99999999999999999999", None),
            (b"-", None),
            (b"1-", None),
        ];
        for (text, want) in CASES {
            assert_eq!(
                number(text).ok(),
                *want,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn encoded_replies_decode_to_themselves() {
        let reply = Reply::Array(vec![
            Reply::Integer(i64::MIN),
            Reply::Array(vec![
                bulk("a\r\nb"),
                Reply::Nil,
                Reply::Simple("x y".into()),
            ]),
            Reply::Error("WRONGTYPE Operation".into()),
            Reply::Array(vec![]),
        ]);
        let mut bytes = Vec::new();
        encode_reply(&reply, &mut bytes);
        encode_reply(&bulk("tail"), &mut bytes);
        let (replies, err) = check_splits(RespLimits::default(), &bytes);
        assert_eq!((replies, err), (vec![reply, bulk("tail")], None));
    }
}
