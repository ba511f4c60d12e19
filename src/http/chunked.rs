//! Chunked request bodies (RFC 9112 §7.1): framing removed, extensions ignored, trailers
//! read and dropped. A byte-at-a-time state machine (data is copied in bulk), so it absorbs
//! every byte it is given and any split of the input gives the same answer.

use super::{HttpError, HttpLimits};

/// A chunk-size line, extensions included, longer than this is refused (400). Real
/// clients send a few hex digits; the cap stops a peer streaming an endless extension.
pub(super) const MAX_SIZE_LINE: usize = 1024;

/// Where in the chunked framing the next byte falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Hex digits of a chunk size. Next: `SizeSpace`, `Extension`, `SizeLf`.
    Digits,
    /// Whitespace after the size, before `;` or CR (RFC 9112 §7.1.1 BWS). Next: `Extension`,
    /// `SizeLf`.
    SizeSpace,
    /// A chunk extension, ignored up to the CR. Next: `SizeLf`.
    Extension,
    /// The size line's CR was seen. Next: `Data`, or `Trailer` after the last chunk.
    SizeLf,
    /// `size` bytes of chunk data remain. Next: `DataCr`.
    Data,
    /// Next: `DataLf`.
    DataCr,
    /// Next: `Digits` of the following chunk.
    DataLf,
    /// Inside a trailer field line, or at the start of the empty line. Next: `TrailerLf`.
    Trailer,
    /// A trailer line's CR was seen. Next: `Trailer`, or `Done` after the empty line.
    TrailerLf,
    /// The body is complete; bytes after it belong to the next request.
    Done,
}

/// Decoder state for one chunked body.
#[derive(Debug)]
pub(super) struct ChunkedDecoder {
    step: Step,
    /// The chunk size being read, then the data bytes still to come.
    size: usize,
    /// Bytes of the current size line or trailer line so far.
    line: usize,
    /// Bytes of the trailer section so far, held to `max_head` like the head itself.
    trailer: usize,
}

impl ChunkedDecoder {
    /// A decoder at the first chunk-size line.
    pub(super) fn new() -> Self {
        ChunkedDecoder {
            step: Step::Digits,
            size: 0,
            line: 0,
            trailer: 0,
        }
    }

    /// Decodes from `buf`, appending chunk data to `body`. Returns the bytes taken and
    /// whether the body is complete; bytes after a complete body are not taken.
    ///
    /// A chunk size is checked against `max_body` digit by digit, so a body that would pass
    /// the limit is refused (413) before any of its data arrives.
    pub(super) fn decode(
        &mut self,
        buf: &[u8],
        body: &mut Vec<u8>,
        limits: &HttpLimits,
    ) -> Result<(usize, bool), HttpError> {
        let mut pos = 0;
        while self.step != Step::Done {
            let Some(rest) = buf.get(pos..).filter(|r| !r.is_empty()) else {
                break;
            };
            if self.step == Step::Data {
                let data = rest.get(..self.size).unwrap_or(rest);
                body.extend_from_slice(data);
                pos += data.len();
                self.size -= data.len();
                if self.size == 0 {
                    self.step = Step::DataCr;
                }
                continue;
            }
            let Some(&b) = rest.first() else {
                break;
            };
            pos += 1;
            self.step = self.on_byte(b, body.len(), limits)?;
        }
        Ok((pos, self.step == Step::Done))
    }

    /// The framing transition for one byte outside chunk data.
    fn on_byte(&mut self, b: u8, have: usize, limits: &HttpLimits) -> Result<Step, HttpError> {
        // In `Digits`, `line` counts the digits read so far.
        let no_digits = self.step == Step::Digits && self.line == 0;
        if matches!(self.step, Step::Digits | Step::SizeSpace | Step::Extension) && b != b'\r' {
            self.line += 1;
            if self.line > MAX_SIZE_LINE {
                return Err(HttpError::Malformed);
            }
        }
        if matches!(self.step, Step::Trailer | Step::TrailerLf) {
            self.trailer += 1;
            if self.trailer > limits.max_head {
                return Err(HttpError::HeadTooLarge);
            }
        }
        let next = match (self.step, b) {
            (Step::Digits, _) if b.is_ascii_hexdigit() => {
                let digit = char::from(b).to_digit(16).unwrap_or(0) as usize;
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .filter(|&s| s <= limits.max_body.saturating_sub(have))
                    .ok_or(HttpError::BodyTooLarge)?;
                Step::Digits
            }
            (Step::Digits, _) if no_digits => return Err(HttpError::Malformed),
            (Step::Digits | Step::SizeSpace, b' ' | b'\t') => Step::SizeSpace,
            (Step::Digits | Step::SizeSpace, b';') => Step::Extension,
            (Step::Digits | Step::SizeSpace | Step::Extension, b'\r') => Step::SizeLf,
            // Extensions are skipped, but a bare LF or other control byte in one is how
            // parsers are made to disagree about where a chunk starts.
            (Step::Extension, _) if b == b'\t' || !b.is_ascii_control() => Step::Extension,
            (Step::SizeLf, b'\n') => {
                self.line = 0;
                if self.size == 0 {
                    Step::Trailer
                } else {
                    Step::Data
                }
            }
            (Step::DataCr, b'\r') => Step::DataLf,
            (Step::DataLf, b'\n') => {
                self.size = 0;
                Step::Digits
            }
            (Step::Trailer, b'\r') => Step::TrailerLf,
            (Step::Trailer, _) if b == b'\t' || !b.is_ascii_control() => {
                self.line += 1;
                Step::Trailer
            }
            (Step::TrailerLf, b'\n') if self.line == 0 => Step::Done,
            (Step::TrailerLf, b'\n') => {
                self.line = 0;
                Step::Trailer
            }
            _ => return Err(HttpError::Malformed),
        };
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HttpLimits = HttpLimits {
        max_head: 64,
        max_body: 32,
        max_headers: 8,
    };

    /// Decodes `input` in pieces of `step` bytes, as a caller dropping taken bytes would.
    fn decode_in_steps(input: &[u8], step: usize) -> (Taken, Vec<u8>) {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut taken = 0;
        for piece in input.chunks(step.max(1)) {
            match decoder.decode(piece, &mut body, &LIMITS) {
                Ok((n, true)) => return (Ok((taken + n, true)), body),
                Ok((n, false)) => {
                    assert_eq!(n, piece.len(), "an unfinished body takes every byte");
                    taken += n;
                }
                Err(e) => return (Err(e), body),
            }
        }
        (Ok((taken, false)), body)
    }

    /// What `decode` returns: bytes taken and whether the body is complete.
    type Taken = Result<(usize, bool), HttpError>;

    #[rustfmt::skip] // one case per line or two; rustfmt would spread each over eight
    const CASES: &[(&str, &[u8], Taken, &[u8])] = &[
        (
            "two chunks",
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT",
            Ok((20, true)),
            b"abcde",
        ),
        (
            "hex upper and lower",
            b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
            Ok((35, true)),
            b"01234567890123456789",
        ),
        (
            "extensions ignored",
            b"3;name=\"v\" ; x\r\nabc\r\n0;last\r\n\r\n",
            Ok((31, true)),
            b"abc",
        ),
        (
            "space before extension",
            b"3 \t;x\r\nabc\r\n0\r\n\r\n",
            Ok((17, true)),
            b"abc",
        ),
        (
            "trailers dropped",
            b"1\r\nz\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n!",
            Ok((27, true)),
            b"z",
        ),
        (
            "leading zeros",
            b"0003\r\nabc\r\n000\r\n\r\n",
            Ok((18, true)),
            b"abc",
        ),
        ("incomplete", b"3\r\nab", Ok((5, false)), b"ab"),
        ("no digits", b"\r\n", Err(HttpError::Malformed), b""),
        (
            "signed size",
            b"+3\r\nabc\r\n0\r\n\r\n",
            Err(HttpError::Malformed),
            b"",
        ),
        (
            "bare lf after size",
            b"3\nabc\r\n0\r\n\r\n",
            Err(HttpError::Malformed),
            b"",
        ),
        (
            "bare lf in extension",
            b"3;a\nabc\r\n0\r\n\r\n",
            Err(HttpError::Malformed),
            b"",
        ),
        (
            "space inside size",
            b"1 2\r\n",
            Err(HttpError::Malformed),
            b"",
        ),
        (
            "data longer than size",
            b"2\r\nabc\r\n",
            Err(HttpError::Malformed),
            b"ab",
        ),
        (
            "bare lf in trailer",
            b"0\r\nX: 1\n\r\n",
            Err(HttpError::Malformed),
            b"",
        ),
        (
            "chunk past max_body",
            b"21\r\n",
            Err(HttpError::BodyTooLarge),
            b"",
        ),
        (
            "sum past max_body",
            b"10\r\n0123456789abcdef\r\n11\r\n",
            Err(HttpError::BodyTooLarge),
            b"0123456789abcdef",
        ),
        (
            "huge size",
            b"ffffffffffffffffffffffff\r\n",
            Err(HttpError::BodyTooLarge),
            b"",
        ),
    ];

    #[test]
    fn chunked_cases_give_the_same_answer_at_every_piece_size() {
        for (name, input, want, body) in CASES {
            for step in 1..=input.len() {
                let (got, got_body) = decode_in_steps(input, step);
                assert_eq!(got, *want, "{name}, pieces of {step}");
                assert_eq!(got_body, *body, "{name}, pieces of {step}");
            }
        }
    }

    #[test]
    fn body_exactly_at_max_body_is_accepted() {
        let mut input = b"20\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 32]);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let (got, body) = decode_in_steps(&input, input.len());
        assert_eq!(got, Ok((input.len(), true)));
        assert_eq!(body.len(), 32);
    }

    #[test]
    fn size_line_past_the_cap_is_malformed() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE, b'x');
        let (ok, _) = decode_in_steps(&[&line[..], b"\r\n"].concat(), 7);
        assert_eq!(
            ok,
            Ok((MAX_SIZE_LINE + 2, false)),
            "a line at the cap is fine"
        );
        line.push(b'x');
        let (err, _) = decode_in_steps(&line, 7);
        assert_eq!(err, Err(HttpError::Malformed));
    }

    #[test]
    fn trailer_section_past_max_head_is_431() {
        let mut input = b"0\r\nX: ".to_vec();
        input.resize(3 + LIMITS.max_head + 1, b'y');
        let (got, _) = decode_in_steps(&input, 5);
        assert_eq!(got, Err(HttpError::HeadTooLarge));
    }
}
