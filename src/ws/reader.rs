//! [`MessageReader`]: client frames in, whole messages and control frames out (RFC 6455
//! §5, §6.2). Owns the message being assembled and the frame being read; memory stays
//! under `max_message` plus one control frame (125 bytes) plus one header (14 bytes).
//! Pure: the engine owns the socket and its read buffer.

use super::close::parse_close;
use super::frame::MAX_HEADER;
use super::frame::{decode_header, FrameHeader, FrameKind, HeaderContext, HeaderStatus};
use super::mask::unmask;
use super::utf8::Utf8Validator;
use super::{ProtocolError, WsEvent};
use crate::decoded::Decoded;

/// Incremental decoder of client frames into [`WsEvent`]s.
///
/// Drive it by calling [`decode`](Self::decode) on the unread bytes until it answers
/// `NeedMore`, dropping `consumed` bytes after every answer. `NeedMore` always consumes
/// the whole input: partial headers and payloads are absorbed (and unmasked) at once, so
/// the caller's read buffer never has to hold a whole frame.
#[derive(Debug)]
pub struct MessageReader {
    max_message: usize,
    state: State,
    /// The data message being assembled, from its first frame until its FIN frame.
    message: Option<Message>,
}

/// Where the reader is inside the frame stream.
#[derive(Debug)]
enum State {
    /// Gathering a header; `have` bytes of `bytes` have arrived. Next: Payload, Failed.
    Header {
        bytes: [u8; MAX_HEADER],
        have: usize,
    },
    /// Gathering the payload of `header`; `received` bytes have arrived. Control payloads
    /// go to `control`, data payloads to the message. Next: Header, Failed.
    Payload {
        header: FrameHeader,
        received: usize,
        control: Vec<u8>,
    },
    /// An error was returned; every later call returns it again.
    Failed(ProtocolError),
}

/// A data message in progress.
#[derive(Debug)]
struct Message {
    /// Text (validated as it arrives) or binary.
    text: bool,
    /// Unmasked payload of all its frames so far; never longer than `max_message`.
    bytes: Vec<u8>,
    /// Where the UTF-8 check is, for text.
    utf8: Utf8Validator,
}

/// What one step of decoding achieved.
enum Step {
    /// The input is used up mid-frame.
    NeedMore,
    /// A frame ended without producing an event (a non-final fragment); go on.
    Continue,
    /// A frame ended with an event.
    Event(WsEvent),
}

const FRESH_HEADER: State = State::Header {
    bytes: [0; MAX_HEADER],
    have: 0,
};

impl MessageReader {
    /// A reader that refuses messages longer than `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        MessageReader {
            max_message,
            state: FRESH_HEADER,
            message: None,
        }
    }

    /// Decodes from `buf`; any split of the same bytes yields the same events, and invalid
    /// UTF-8 fails as soon as the bad byte is seen. After an error the reader is spent:
    /// the caller sends a close frame with `err.close_code()` and closes.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded<WsEvent>, ProtocolError> {
        let mut pos = 0;
        loop {
            let step = match self.state {
                State::Failed(err) => return Err(err),
                State::Header { .. } => self.read_header(buf, &mut pos),
                State::Payload { .. } => self.read_payload(buf, &mut pos),
            };
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => return Ok(Decoded::NeedMore { consumed: pos }),
                Ok(Step::Event(value)) => {
                    return Ok(Decoded::Done {
                        value,
                        consumed: pos,
                    })
                }
                Err(err) => {
                    self.state = State::Failed(err);
                    return Err(err);
                }
            }
        }
    }

    /// Bytes held for the frame and message in progress. At most `max_message` + 125 +
    /// 14: the memory a slow or hostile client can pin down on one connection.
    pub fn buffered_len(&self) -> usize {
        let message = self.message.as_ref().map_or(0, |m| m.bytes.len());
        message
            + match &self.state {
                State::Header { have, .. } => *have,
                State::Payload { control, .. } => control.len(),
                State::Failed(_) => 0,
            }
    }

    /// Absorbs header bytes; once the header is whole, moves on to its payload.
    fn read_header(&mut self, buf: &[u8], pos: &mut usize) -> Result<Step, ProtocolError> {
        let ctx = HeaderContext {
            in_message: self.message.is_some(),
            room: self
                .max_message
                .saturating_sub(self.message.as_ref().map_or(0, |m| m.bytes.len())),
        };
        let State::Header { bytes, have } = &mut self.state else {
            return Ok(Step::Continue);
        };
        let header = loop {
            let want = match decode_header(bytes.get(..*have).unwrap_or_default(), ctx)? {
                HeaderStatus::Complete(header) => break header,
                HeaderStatus::Need(want) => want,
            };
            let rest = buf.get(*pos..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(Step::NeedMore);
            }
            let take = rest.len().min(want.saturating_sub(*have));
            let (Some(dst), Some(src)) = (bytes.get_mut(*have..*have + take), rest.get(..take))
            else {
                return Ok(Step::NeedMore); // unreachable: want <= MAX_HEADER
            };
            dst.copy_from_slice(src);
            *have += take;
            *pos += take;
        };
        if matches!(header.kind, FrameKind::Text | FrameKind::Binary) {
            self.message = Some(Message {
                text: header.kind == FrameKind::Text,
                bytes: Vec::new(),
                utf8: Utf8Validator::new(),
            });
        }
        // A control payload is at most 125 bytes, so its buffer is reserved at once.
        let control = if header.kind.is_control() {
            Vec::with_capacity(header.len)
        } else {
            Vec::new()
        };
        self.state = State::Payload {
            header,
            received: 0,
            control,
        };
        Ok(Step::Continue)
    }

    /// Absorbs and unmasks payload bytes; once the frame is whole, finishes it.
    fn read_payload(&mut self, buf: &[u8], pos: &mut usize) -> Result<Step, ProtocolError> {
        let State::Payload {
            header,
            received,
            control,
        } = &mut self.state
        else {
            return Ok(Step::Continue);
        };
        let rest = buf.get(*pos..).unwrap_or_default();
        let take = rest.len().min(header.len - *received);
        let chunk = rest.get(..take).unwrap_or_default();
        let phase = *received % 4;
        if header.kind.is_control() {
            let start = control.len();
            control.extend_from_slice(chunk);
            unmask(
                control.get_mut(start..).unwrap_or_default(),
                header.mask,
                phase,
            );
        } else {
            let Some(msg) = self.message.as_mut() else {
                return Err(ProtocolError::BadFragmentation); // unreachable: header checks
            };
            // Grow at most to the end of this frame, which the header checked against the
            // limit, so capacity never passes `max_message`.
            let frame_end = msg.bytes.len() + (header.len - *received);
            if take > msg.bytes.capacity() - msg.bytes.len() {
                let doubled = msg.bytes.capacity().saturating_mul(2);
                let want = doubled.max(msg.bytes.len() + take).min(frame_end);
                msg.bytes.reserve_exact(want - msg.bytes.len());
            }
            let start = msg.bytes.len();
            msg.bytes.extend_from_slice(chunk);
            let fresh = msg.bytes.get_mut(start..).unwrap_or_default();
            unmask(fresh, header.mask, phase);
            if msg.text {
                msg.utf8
                    .feed(fresh)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        *received += take;
        *pos += take;
        if *received < header.len {
            return Ok(Step::NeedMore);
        }
        let header = *header;
        let control = std::mem::take(control);
        self.state = FRESH_HEADER;
        self.finish_frame(header, control)
    }

    /// Turns a whole frame into an event, or into progress on its message.
    fn finish_frame(
        &mut self,
        header: FrameHeader,
        control: Vec<u8>,
    ) -> Result<Step, ProtocolError> {
        let event = match header.kind {
            FrameKind::Close => WsEvent::Close(parse_close(&control)?),
            FrameKind::Ping => WsEvent::Ping(control),
            FrameKind::Pong => WsEvent::Pong(control),
            FrameKind::Text | FrameKind::Binary | FrameKind::Continuation => {
                if !header.fin {
                    return Ok(Step::Continue);
                }
                let Some(msg) = self.message.take() else {
                    return Err(ProtocolError::BadFragmentation); // unreachable: header checks
                };
                if !msg.text {
                    WsEvent::Binary(msg.bytes)
                } else if !msg.utf8.is_complete() {
                    return Err(ProtocolError::InvalidUtf8); // cut inside a code point
                } else {
                    let text = String::from_utf8(msg.bytes);
                    WsEvent::Text(text.map_err(|_| ProtocolError::InvalidUtf8)?)
                }
            }
        };
        Ok(Step::Event(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::testing::{self, masked, run, Outcome, RFC_KEY};
    use crate::ws::{encode_frame, OpCode};

    /// A client frame masked with the RFC 6455 §5.7 key, FIN as given.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        testing::client_frame(u8::from(fin) << 7 | opcode, payload, RFC_KEY)
    }

    fn whole(max: usize, bytes: &[u8]) -> Outcome {
        run(max, bytes, &[bytes.len().max(1)])
    }

    /// Same outcome in one piece, one byte at a time, with empty reads in between, and
    /// split in two at every point.
    fn assert_split_invariant(name: &str, max: usize, bytes: &[u8]) -> Outcome {
        let one = whole(max, bytes);
        assert_eq!(run(max, bytes, &[1]), one, "{name}: byte at a time");
        assert_eq!(
            run(max, bytes, &[0, 3, 0, 1]),
            one,
            "{name}: with empty reads"
        );
        for split in 0..=bytes.len() {
            let two = run(max, bytes, &[split, bytes.len()]);
            assert_eq!(two, one, "{name}: split at {split}");
        }
        one
    }

    #[test]
    fn rfc_unmasked_hello_is_rejected_as_unmasked_client_frame() {
        // RFC 6455 §5.7: a single-frame unmasked text message; clients must mask.
        let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let out = assert_split_invariant("unmasked hello", 1024, &bytes);
        assert_eq!(out, (vec![], Some(ProtocolError::UnmaskedClientFrame)));
    }

    #[test]
    fn rfc_masked_hello_decodes_the_same_at_every_split() {
        // RFC 6455 §5.7: single-frame masked text message containing "Hello".
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let out = assert_split_invariant("masked hello", 1024, &bytes);
        assert_eq!(out, (vec![WsEvent::Text("Hello".into())], None));
        let mut reader = MessageReader::new(1024);
        assert_eq!(
            reader.decode(&bytes),
            Ok(Decoded::Done {
                value: WsEvent::Text("Hello".into()),
                consumed: 11
            })
        );
    }

    #[test]
    fn rfc_fragmented_hello_masked_decodes_as_one_message() {
        // RFC 6455 §5.7: "Hel" then "lo", here masked as a client must send them.
        let mut bytes = client_frame(false, 0x1, b"Hel");
        bytes.extend(client_frame(true, 0x0, b"lo"));
        let out = assert_split_invariant("fragmented hello", 1024, &bytes);
        assert_eq!(out, (vec![WsEvent::Text("Hello".into())], None));
    }

    #[test]
    fn rfc_masked_ping_hello_is_a_ping_event() {
        // RFC 6455 §5.7: unmasked ping "Hello", masked here.
        let bytes = client_frame(true, 0x9, b"Hello");
        let out = assert_split_invariant("ping", 1024, &bytes);
        assert_eq!(out, (vec![WsEvent::Ping(b"Hello".to_vec())], None));
    }

    #[test]
    fn rfc_256_byte_and_64_kib_binary_round_trip_through_the_encoders() {
        // RFC 6455 §5.7: 16-bit and 64-bit extended lengths.
        for len in [256usize, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut server = Vec::new();
            encode_frame(OpCode::Binary, &payload, &mut server);
            let bytes = masked(&server, RFC_KEY);
            assert_eq!(bytes, client_frame(true, 0x2, &payload), "len {len}");
            let want = (vec![WsEvent::Binary(payload.clone())], None);
            assert_eq!(whole(len, &bytes), want, "len {len} whole");
            assert_eq!(run(len, &bytes, &[7, 1000, 3]), want, "len {len} in pieces");
        }
    }

    #[test]
    fn control_frames_interleave_with_fragments() {
        let mut bytes = client_frame(false, 0x2, b"ab");
        bytes.extend(client_frame(true, 0x9, b"p1"));
        bytes.extend(client_frame(false, 0x0, b""));
        bytes.extend(client_frame(true, 0xA, b""));
        bytes.extend(client_frame(true, 0x0, b"cd"));
        bytes.extend(client_frame(true, 0x8, b"\x03\xe8bye"));
        let out = assert_split_invariant("interleaved", 1024, &bytes);
        let want = vec![
            WsEvent::Ping(b"p1".to_vec()),
            WsEvent::Pong(vec![]),
            WsEvent::Binary(b"abcd".to_vec()),
            WsEvent::Close(Some((1000, "bye".into()))),
        ];
        assert_eq!(out, (want, None));
    }

    #[test]
    fn empty_messages_and_empty_close_decode() {
        let mut bytes = client_frame(true, 0x1, b"");
        bytes.extend(client_frame(true, 0x2, b""));
        bytes.extend(client_frame(true, 0x8, b""));
        let out = assert_split_invariant("empty", 0, &bytes);
        let want = vec![
            WsEvent::Text(String::new()),
            WsEvent::Binary(vec![]),
            WsEvent::Close(None),
        ];
        assert_eq!(out, (want, None));
    }

    #[test]
    fn bad_frames_fail_with_the_right_error_and_close_code() {
        use ProtocolError::*;
        let frag_start = client_frame(false, 0x1, b"a");
        let cases: &[(&str, Vec<u8>, ProtocolError, u16)] = &[
            (
                "unmasked text",
                vec![0x81, 0x01, b'a'],
                UnmaskedClientFrame,
                1002,
            ),
            ("rsv1", vec![0xC1, 0x80, 0, 0, 0, 0], ReservedBitsSet, 1002),
            ("rsv2", vec![0xA1, 0x80, 0, 0, 0, 0], ReservedBitsSet, 1002),
            ("rsv3", vec![0x91, 0x80, 0, 0, 0, 0], ReservedBitsSet, 1002),
            (
                "opcode 3",
                client_frame(true, 0x3, b""),
                UnknownOpcode,
                1002,
            ),
            (
                "opcode 7",
                client_frame(true, 0x7, b""),
                UnknownOpcode,
                1002,
            ),
            (
                "opcode B",
                client_frame(true, 0xB, b""),
                UnknownOpcode,
                1002,
            ),
            (
                "opcode F",
                client_frame(true, 0xF, b""),
                UnknownOpcode,
                1002,
            ),
            (
                "ping 126 bytes",
                client_frame(true, 0x9, &[0; 126]),
                BadControlFrame,
                1002,
            ),
            (
                "fragmented ping",
                client_frame(false, 0x9, b""),
                BadControlFrame,
                1002,
            ),
            (
                "fragmented close",
                client_frame(false, 0x8, b""),
                BadControlFrame,
                1002,
            ),
            (
                "lone continuation",
                client_frame(true, 0x0, b"a"),
                BadFragmentation,
                1002,
            ),
            (
                "text inside text",
                [&frag_start[..], &client_frame(true, 0x1, b"b")].concat(),
                BadFragmentation,
                1002,
            ),
            (
                "binary inside text",
                [&frag_start[..], &client_frame(true, 0x2, b"b")].concat(),
                BadFragmentation,
                1002,
            ),
            (
                "64-bit length msb",
                vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0],
                BadLength,
                1002,
            ),
            (
                "too big",
                client_frame(true, 0x2, &[0; 65]),
                MessageTooBig,
                1009,
            ),
            (
                "invalid utf-8",
                client_frame(true, 0x1, b"a\xffb"),
                InvalidUtf8,
                1007,
            ),
            (
                "cut utf-8 at fin",
                client_frame(true, 0x1, b"\xe2\x82"),
                InvalidUtf8,
                1007,
            ),
            (
                "close 1 byte",
                client_frame(true, 0x8, b"\x03"),
                BadCloseCode,
                1002,
            ),
            (
                "close 1005",
                client_frame(true, 0x8, b"\x03\xed"),
                BadCloseCode,
                1002,
            ),
            (
                "close 999",
                client_frame(true, 0x8, b"\x03\xe7"),
                BadCloseCode,
                1002,
            ),
            (
                "close 5000",
                client_frame(true, 0x8, b"\x13\x88"),
                BadCloseCode,
                1002,
            ),
            (
                "close bad reason",
                client_frame(true, 0x8, b"\x03\xe8\xc0\xaf"),
                InvalidUtf8,
                1007,
            ),
        ];
        for (name, bytes, err, code) in cases {
            let out = assert_split_invariant(name, 64, bytes);
            assert_eq!(out.1, Some(*err), "{name}");
            assert_eq!(err.close_code(), *code, "{name}");
        }
    }

    #[test]
    fn reader_stays_failed_after_an_error() {
        let mut reader = MessageReader::new(64);
        assert_eq!(
            reader.decode(&[0x81, 0x00]),
            Err(ProtocolError::UnmaskedClientFrame)
        );
        let good = client_frame(true, 0x1, b"ok");
        assert_eq!(
            reader.decode(&good),
            Err(ProtocolError::UnmaskedClientFrame)
        );
    }

    #[test]
    fn invalid_utf8_fails_in_the_first_frame_before_later_frames_arrive() {
        // A text message in 10 fragments; the first carries an invalid byte mid-frame.
        let mut reader = MessageReader::new(1 << 20);
        let first = client_frame(false, 0x1, b"ok \xc3\x28 and more");
        let bad_at = 6 + 4; // header (6) + "ok \xc3" (4): 0x28 cannot follow 0xc3
        assert_eq!(
            reader.decode(&first[..bad_at]),
            Ok(Decoded::NeedMore { consumed: bad_at })
        );
        assert_eq!(
            reader.decode(&first[bad_at..bad_at + 1]),
            Err(ProtocolError::InvalidUtf8)
        );

        // The same across a fragment boundary: E2 82 ends one frame, 'x' starts the next.
        let mut reader = MessageReader::new(1 << 20);
        let a = client_frame(false, 0x1, b"\xe2\x82");
        let b = client_frame(false, 0x0, b"x...");
        assert_eq!(
            reader.decode(&a),
            Ok(Decoded::NeedMore { consumed: a.len() })
        );
        assert_eq!(reader.decode(&b[..7]), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn utf8_split_across_fragments_and_reads_is_accepted() {
        let text = "€uro 𝄞 clef";
        let bytes_in = text.as_bytes();
        let mut bytes = Vec::new();
        for piece in bytes_in.chunks(3) {
            bytes.extend(client_frame(
                false,
                if bytes.is_empty() { 0x1 } else { 0x0 },
                piece,
            ));
        }
        bytes.extend(client_frame(true, 0x0, b""));
        let out = assert_split_invariant("utf8 fragments", 1024, &bytes);
        assert_eq!(out, (vec![WsEvent::Text(text.into())], None));
    }

    #[test]
    fn fragments_summing_past_the_limit_fail_at_the_header_that_crosses_it() {
        let mut reader = MessageReader::new(10);
        let a = client_frame(false, 0x2, b"12345");
        let b = client_frame(false, 0x0, b"12345");
        let c = client_frame(true, 0x0, b"1");
        assert_eq!(
            reader.decode(&a),
            Ok(Decoded::NeedMore { consumed: a.len() })
        );
        assert_eq!(
            reader.decode(&b),
            Ok(Decoded::NeedMore { consumed: b.len() })
        );
        assert_eq!(reader.buffered_len(), 10);
        // The second byte of `c` announces 1 more byte: refused before the mask key.
        assert_eq!(
            reader.decode(&c[..1]),
            Ok(Decoded::NeedMore { consumed: 1 })
        );
        assert_eq!(reader.decode(&c[1..2]), Err(ProtocolError::MessageTooBig));

        // Exactly at the limit is fine, and a control frame still fits in a full message.
        let mut bytes = [a, client_frame(true, 0x9, b"p")].concat();
        bytes.extend(client_frame(true, 0x0, b"12345"));
        let out = assert_split_invariant("at limit", 10, &bytes);
        let want = vec![
            WsEvent::Ping(b"p".to_vec()),
            WsEvent::Binary(b"1234512345".to_vec()),
        ];
        assert_eq!(out, (want, None));
    }

    #[test]
    fn huge_announced_length_allocates_nothing_before_payload_arrives() {
        let mut reader = MessageReader::new(1 << 30);
        let head = [0x82, 0xFF, 0, 0, 0, 0, 0x3F, 0, 0, 0, 1, 2, 3, 4]; // 1 GiB - 16 MiB
        assert_eq!(
            reader.decode(&head),
            Ok(Decoded::NeedMore {
                consumed: head.len()
            })
        );
        assert_eq!(reader.buffered_len(), 0);
        let cap = reader
            .message
            .as_ref()
            .map_or(usize::MAX, |m| m.bytes.capacity());
        assert_eq!(cap, 0);
    }

    #[test]
    fn partial_payload_is_absorbed_so_the_caller_buffer_stays_small() {
        let payload = vec![7u8; 1000];
        let bytes = client_frame(true, 0x2, &payload);
        let mut reader = MessageReader::new(1000);
        let mut fed = 0;
        for piece in bytes.chunks(13) {
            let before = reader.buffered_len();
            assert_eq!(
                reader.decode(piece).ok(),
                Some(if fed + piece.len() < bytes.len() {
                    Decoded::NeedMore {
                        consumed: piece.len(),
                    }
                } else {
                    Decoded::Done {
                        value: WsEvent::Binary(payload.clone()),
                        consumed: piece.len(),
                    }
                })
            );
            fed += piece.len();
            assert!(
                fed == bytes.len() || reader.buffered_len() > before,
                "absorbed at {fed}"
            );
        }
    }

    #[test]
    fn frames_masked_by_tungstenite_decode_at_any_piece_size() {
        use tungstenite::protocol::frame::coding::{Data, OpCode as TOp};
        use tungstenite::protocol::frame::{CloseFrame, Frame};
        let text = "héllo wörld €𝄞 ".repeat(20);
        let (first, second) = text.as_bytes().split_at(107); // inside the 𝄞
        let frames = [
            Frame::message(first.to_vec(), TOp::Data(Data::Text), false),
            Frame::ping(b"are you there".to_vec()),
            Frame::message(second.to_vec(), TOp::Data(Data::Continue), true),
            Frame::message(vec![9; 300], TOp::Data(Data::Binary), true),
            Frame::pong(vec![]),
            Frame::close(Some(CloseFrame {
                code: 4000u16.into(),
                reason: "done".into(),
            })),
        ];
        let mut bytes = Vec::new();
        for (i, mut frame) in frames.into_iter().enumerate() {
            frame.header_mut().mask = Some([i as u8, 0xA5, 0x0F, 0xF0 ^ i as u8]);
            frame.format(&mut bytes).expect("format into a Vec");
        }
        let want = vec![
            WsEvent::Ping(b"are you there".to_vec()),
            WsEvent::Text(text.clone()),
            WsEvent::Binary(vec![9; 300]),
            WsEvent::Pong(vec![]),
            WsEvent::Close(Some((4000, "done".into()))),
        ];
        for piece in [1, 2, 3, 5, 7, 64, 1000, bytes.len()] {
            assert_eq!(
                run(1024, &bytes, &[piece]),
                (want.clone(), None),
                "pieces of {piece}"
            );
        }
    }
}
