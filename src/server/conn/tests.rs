//! The connection core driven as the worker drives it, with a simulated clock and no
//! socket: bytes in, events out, the app's answers back in, and the wire checked as a
//! client would see it.

use super::*;
use crate::http::Response;
use crate::server::Reply;
use crate::ws::testing::{client_frame, RFC_KEY};
use crate::ws::HandshakeError;

const HANDSHAKE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A close frame from the server with `code` and no reason.
fn server_close(code: u16) -> Vec<u8> {
    let [hi, lo] = code.to_be_bytes();
    vec![0x88, 0x02, hi, lo]
}

fn limits() -> Limits {
    Limits {
        max_outbound: 1000,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        ..Limits::default()
    }
}

/// One connection, a clock that moves only when told, and what the "socket" saw.
struct Sim {
    conn: Conn,
    now: Instant,
    /// The write side was shut (FIN sent).
    shut: bool,
}

impl Sim {
    fn new(limits: Limits) -> Sim {
        let now = Instant::now();
        Sim {
            conn: Conn::new(&limits, now),
            now,
            shut: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.conn.on_read(bytes, self.now);
    }

    fn event(&mut self) -> Option<Event> {
        self.conn.poll_event(self.now)
    }

    /// The next event must be a request; returns it and whether it is an upgrade.
    fn request(&mut self) -> (Request, bool) {
        match self.event() {
            Some(Event::Request { req, upgrade }) => (req, upgrade),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn reply(&mut self, reply: Reply) {
        self.conn.on_reply(reply, self.now);
    }

    /// Everything queued, as a socket that takes it all would get it; then the write
    /// side is shut if the core asks.
    fn wire(&mut self) -> Vec<u8> {
        let mut sink = Vec::new();
        let n = self
            .conn
            .pending()
            .flush(&mut sink)
            .expect("a Vec takes all");
        let _ = self.conn.on_written(n, self.now);
        if self.conn.poll_shutdown() {
            self.shut = true;
        }
        sink
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.conn.on_timeout(self.now);
    }

    /// An open websocket with its 101 already written.
    fn websocket(limits: Limits) -> Sim {
        let mut sim = Sim::new(limits);
        sim.feed(HANDSHAKE);
        let (_, upgrade) = sim.request();
        assert!(upgrade);
        sim.reply(Reply::Upgrade { frames: vec![] });
        assert!(sim.wire().starts_with(b"HTTP/1.1 101 "));
        sim
    }

    fn closing(&self) -> bool {
        self.conn.is_closing()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(body: &str) -> Reply {
    Reply::Respond(Response::json(200, body.as_bytes().to_vec()))
}

#[test]
fn header_timeout_answers_408_when_part_of_a_head_came() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET / HTTP/1.1\r\nHost:");
    assert!(sim.event().is_none());
    sim.advance(Duration::from_millis(9_999));
    assert!(sim.wire().is_empty(), "not yet");
    sim.advance(Duration::from_millis(1));
    let wire = text(&sim.wire());
    assert!(wire.starts_with("HTTP/1.1 408 "), "{wire}");
    assert!(wire.contains("Connection: close\r\n"), "{wire}");
    assert!(wire.ends_with(r#"{"error":"request timeout"}"#), "{wire}");
    assert!(sim.shut, "FIN after the 408");
}

#[test]
fn header_timeout_closes_a_silent_socket_without_an_answer() {
    let mut sim = Sim::new(limits());
    sim.advance(Duration::from_secs(10));
    assert!(sim.wire().is_empty());
    assert!(sim.conn.is_done());
}

#[test]
fn body_timeout_answers_408_though_the_head_was_consumed() {
    let mut sim = Sim::new(limits());
    sim.feed(b"POST /b HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    assert!(sim.event().is_none(), "seven body bytes still to come");
    sim.advance(Duration::from_secs(10));
    let wire = text(&sim.wire());
    assert!(wire.starts_with("HTTP/1.1 408 "), "{wire}");
}

#[test]
fn header_timeout_of_a_kept_alive_request_runs_from_its_first_byte() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /a HTTP/1.1\r\n\r\n");
    sim.request();
    sim.reply(ok("{}"));
    sim.wire();
    sim.advance(Duration::from_secs(30)); // idle between requests: no header timeout
    assert!(!sim.closing());
    sim.feed(b"GET /b HTTP/1.1\r\n");
    assert!(sim.event().is_none());
    sim.advance(Duration::from_secs(10));
    assert!(text(&sim.wire()).starts_with("HTTP/1.1 408 "));
}

#[test]
fn idle_websocket_is_pinged_then_closed_1001() {
    let mut sim = Sim::websocket(limits());
    sim.advance(Duration::from_secs(59));
    assert!(sim.wire().is_empty());
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.wire(),
        [0x89, 0x00],
        "an empty ping at half the idle timeout"
    );
    sim.advance(Duration::from_secs(59));
    assert!(sim.wire().is_empty());
    sim.advance(Duration::from_secs(1));
    assert_eq!(sim.wire(), server_close(1001));
    assert!(matches!(sim.event(), Some(Event::Closed)));
    assert!(sim.shut);
}

#[test]
fn a_pong_resets_the_idle_clock() {
    let mut sim = Sim::websocket(limits());
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.wire(), [0x89, 0x00]);
    sim.advance(Duration::from_secs(1));
    sim.feed(&client_frame(0x8A, b"", RFC_KEY));
    assert!(sim.event().is_none(), "pongs are not for the app");
    sim.advance(Duration::from_secs(59)); // the unanswered ping's close would be due here
    assert!(sim.wire().is_empty());
    assert!(!sim.closing());
    sim.advance(Duration::from_secs(1)); // 60 s after the pong: the next ping
    assert_eq!(sim.wire(), [0x89, 0x00]);
}

#[test]
fn admission_holds_a_request_at_most_hold_max_and_releases_it_when_congestion_ends() {
    let mut sim = Sim::new(limits());
    let t0 = sim.now;
    assert!(!sim.conn.read_allowed(true, t0), "held while congested");
    assert!(sim.conn.is_held());
    let almost = t0 + HOLD_MAX - Duration::from_millis(1);
    assert!(!sim.conn.read_allowed(true, almost));
    assert!(
        sim.conn.read_allowed(true, t0 + HOLD_MAX),
        "never longer than HOLD_MAX"
    );
    assert!(!sim.conn.is_held());
    assert_eq!(sim.conn.new_holds, 1, "one hold counted for the metrics");

    let mut sim = Sim::new(limits());
    assert!(!sim.conn.read_allowed(true, t0));
    assert!(
        sim.conn.read_allowed(false, t0),
        "released when congestion ends"
    );
    assert!(!sim.conn.is_held());

    let mut ws = Sim::websocket(limits());
    assert!(ws.conn.read_allowed(true, t0), "websockets are never held");
}

#[test]
fn close_handshake_echoes_the_code_then_shuts_and_waits_for_the_peers_eof() {
    let mut sim = Sim::websocket(limits());
    sim.feed(&client_frame(
        0x88,
        &[0x03, 0xE8, b'b', b'y', b'e'],
        RFC_KEY,
    ));
    assert!(matches!(sim.event(), Some(Event::Closed)));
    assert_eq!(sim.wire(), server_close(1000));
    assert_eq!(
        sim.conn.close_code,
        Some(1000),
        "the code the log line shows"
    );
    assert!(!sim.conn.cut_slow);
    assert!(sim.shut);
    assert!(!sim.conn.is_done(), "waits for the peer's FIN");
    sim.feed(b"late bytes are discarded");
    assert!(sim.event().is_none());
    sim.conn.on_eof();
    assert!(sim.conn.is_done());
}

#[test]
fn close_handshake_gives_up_after_linger() {
    let mut sim = Sim::websocket(limits());
    sim.feed(&client_frame(0x88, &[0x03, 0xE8], RFC_KEY));
    assert!(matches!(sim.event(), Some(Event::Closed)));
    sim.wire();
    sim.advance(LINGER - Duration::from_millis(1));
    assert!(!sim.conn.is_done());
    sim.advance(Duration::from_millis(1));
    assert!(sim.conn.is_done());
}

#[test]
fn pipelined_requests_are_answered_in_order_one_at_a_time() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    assert_eq!(sim.request().0.target, "/a");
    sim.reply(ok("1"));
    assert!(sim.event().is_none(), "/b waits until /a's answer has left");
    let first = text(&sim.wire());
    assert!(first.starts_with("HTTP/1.1 200 ") && first.ends_with("\r\n\r\n1"));
    assert_eq!(sim.request().0.target, "/b");
    sim.reply(ok("2"));
    assert!(text(&sim.wire()).ends_with("\r\n\r\n2"));
    assert!(!sim.closing());
}

#[test]
fn upgrade_in_the_middle_of_a_read_decodes_the_frames_behind_it() {
    for later in [false, true] {
        let mut sim = Sim::new(limits());
        let mut bytes = HANDSHAKE.to_vec();
        bytes.extend(client_frame(0x81, b"hi", RFC_KEY));
        sim.feed(&bytes);
        assert!(sim.request().1);
        if later {
            sim.reply(Reply::Later);
            assert!(sim.event().is_none(), "nothing decoded before the answer");
            sim.conn.upgrade(vec![], sim.now);
        } else {
            sim.reply(Reply::Upgrade { frames: vec![] });
        }
        match sim.event() {
            Some(Event::Message(WsMessage::Text(t))) => assert_eq!(t, "hi", "later={later}"),
            other => panic!("later={later}: {other:?}"),
        }
    }
}

#[test]
fn a_bad_handshake_is_refused_before_the_app_sees_it() {
    let mut sim = Sim::new(limits());
    let bad = text(HANDSHAKE).replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    sim.feed(bad.as_bytes());
    assert!(sim.event().is_none(), "no request for the app");
    let wire = text(&sim.wire());
    assert!(wire.starts_with("HTTP/1.1 400 "), "{wire}");
    assert!(wire.ends_with(r#"{"error":"Sec-WebSocket-Key must be 16 bytes in base64"}"#));
}

#[test]
fn upgrading_a_plain_request_is_refused_400() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /ws HTTP/1.1\r\n\r\n");
    assert!(!sim.request().1);
    sim.reply(Reply::Upgrade { frames: vec![] });
    assert!(text(&sim.wire()).starts_with("HTTP/1.1 400 "));
    assert!(sim.shut);
}

#[test]
fn a_full_out_queue_closes_a_websocket_with_1008() {
    let mut sim = Sim::websocket(limits()); // max_outbound 1000
    let frame = crate::ws::shared_frame(crate::ws::OpCode::Binary, &[7; 596]); // 600 bytes
    sim.conn.send_frame(frame.clone(), sim.now);
    assert!(!sim.closing(), "600 of 1000");
    sim.conn.send_frame(frame.clone(), sim.now);
    assert!(sim.closing(), "1200 would pass 1000");
    assert!(matches!(sim.event(), Some(Event::Closed)));
    let mut expected = frame.to_vec();
    expected.extend(server_close(1008));
    assert_eq!(sim.wire(), expected, "the frame that fit, then the close");
    assert!(sim.conn.cut_slow, "counted as a slow consumer cut");
    assert_eq!(sim.conn.close_code, Some(1008));
    sim.conn.send_frame(frame, sim.now);
    assert!(sim.wire().is_empty(), "nothing more once closing");
}

/// A socket that takes at most `room` more bytes, then would block.
struct Capped {
    got: Vec<u8>,
    room: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.room);
        if n == 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        self.room -= n;
        self.got.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sim {
    /// Flushes into a socket that takes at most `room` bytes.
    fn wire_capped(&mut self, room: usize) -> Vec<u8> {
        let mut sink = Capped {
            got: Vec::new(),
            room,
        };
        let n = self
            .conn
            .pending()
            .flush(&mut sink)
            .expect("would-block is not an error");
        let _ = self.conn.on_written(n, self.now);
        sink.got
    }
}

#[test]
fn an_answer_with_more_than_max_outbound_left_after_the_first_write_is_dropped() {
    // max_outbound 1000: a 5000-byte body of which the socket takes 2000 leaves ~3100.
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /big HTTP/1.1\r\n\r\n");
    sim.request();
    sim.reply(ok(&"b".repeat(5000)));
    assert_eq!(sim.wire_capped(2000).len(), 2000);
    assert!(sim.conn.is_done(), "closed rather than holding the rest");
    assert_eq!(sim.conn.pending().queued(), 0, "memory freed");
}

#[test]
fn an_answer_larger_than_max_outbound_leaves_whole_when_the_client_reads() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /big HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    sim.request();
    sim.reply(ok(&"b".repeat(5000)));
    let mut got = sim.wire_capped(4500); // under 1000 left: kept
    assert!(!sim.closing());
    assert!(sim.event().is_none(), "still answering");
    got.extend(sim.wire_capped(0)); // a client that pauses is not cut
    assert!(!sim.closing());
    got.extend(sim.wire());
    assert!(text(&got).ends_with(&"b".repeat(5000)));
    assert_eq!(sim.request().0.target, "/next", "kept alive");
}

#[test]
fn http10_keep_alive_is_answered_with_connection_keep_alive_and_kept_open() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    sim.request();
    sim.reply(ok("{}"));
    let wire = text(&sim.wire());
    assert!(wire.contains("\r\nConnection: keep-alive\r\n"), "{wire}");
    assert!(!sim.shut && !sim.closing());

    let mut sim = Sim::new(limits());
    sim.feed(b"GET /a HTTP/1.0\r\n\r\n");
    sim.request();
    sim.reply(ok("{}"));
    assert!(text(&sim.wire()).contains("\r\nConnection: close\r\n"));
    assert!(sim.shut, "1.0 without keep-alive closes");
}

#[test]
fn shutdown_gives_a_later_request_a_grace_then_503() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /slow HTTP/1.1\r\n\r\n");
    sim.request();
    sim.reply(Reply::Later);
    sim.conn.on_shutdown(sim.now);
    sim.advance(SHUTDOWN_GRACE - Duration::from_millis(1));
    assert!(sim.wire().is_empty());
    sim.advance(Duration::from_millis(1));
    assert!(text(&sim.wire()).starts_with("HTTP/1.1 503 "));
    assert!(
        matches!(sim.event(), Some(Event::Closed)),
        "the app knew it"
    );
}

#[test]
fn an_app_panic_costs_a_request_500_and_a_websocket_1011() {
    let mut sim = Sim::new(limits());
    sim.feed(b"GET /p HTTP/1.1\r\n\r\n");
    sim.request();
    sim.conn.on_app_panic(sim.now);
    assert!(text(&sim.wire()).starts_with("HTTP/1.1 500 "));
    assert!(sim.event().is_none(), "the app never knew the connection");

    let mut ws = Sim::websocket(limits());
    ws.conn.on_app_panic(ws.now);
    assert!(matches!(ws.event(), Some(Event::Closed)));
    assert_eq!(ws.wire(), server_close(1011));
}

#[test]
fn a_head_request_gets_the_get_head_with_the_body_length_and_the_next_request_follows() {
    let mut sim = Sim::new(limits());
    sim.feed(b"HEAD /page HTTP/1.1\r\n\r\nGET /page HTTP/1.1\r\n\r\n");
    assert_eq!(sim.request().0.method, "HEAD");
    sim.reply(ok("hello"));
    let head = sim.wire();
    let mut expected = Vec::new();
    Response::json(200, b"hello".to_vec()).encode(true, &mut expected);
    assert_eq!(text(&head), text(&expected).strip_suffix("hello").unwrap());
    assert!(text(&head).contains("\r\nContent-Length: 5\r\n"));
    assert!(!sim.closing(), "kept alive");

    let (req, _) = sim.request();
    assert_eq!((req.method.as_str(), req.target.as_str()), ("GET", "/page"));
    sim.reply(ok("hello"));
    assert_eq!(sim.wire(), expected, "GET answers are unchanged");
}

#[test]
fn an_app_panic_on_a_head_request_sends_the_500_head_without_its_body() {
    let mut sim = Sim::new(limits());
    sim.feed(b"HEAD /p HTTP/1.1\r\n\r\n");
    sim.request();
    sim.conn.on_app_panic(sim.now);
    let wire = text(&sim.wire());
    let get = text(&Refusal::Internal.encode());
    let body_at = get.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(wire, get[..body_at], "the GET refusal's head, no body");
    assert!(body_at < get.len(), "the GET refusal has a body");
    assert!(sim.shut);
}

/// `refusal`'s whole answer and its head alone: the head must end where the body begins,
/// and there must be a body (so that sending only the head is a visible choice).
fn refusal_head_and_whole(refusal: Refusal) -> (String, String) {
    let whole = text(&refusal.encode());
    let body_at = whole.find("\r\n\r\n").unwrap() + 4;
    assert!(body_at < whole.len(), "{refusal:?} has a body");
    (whole[..body_at].to_string(), whole)
}

#[test]
fn refusals_of_a_head_request_whose_line_came_send_only_the_head() {
    // (what arrives, how the request is refused, when)
    let mut small = limits();
    small.max_body = 16;
    let timeout = Duration::from_secs(10);
    let cases: &[(&str, &[u8], Refusal, Duration)] = &[
        (
            "headers never end",
            b"HEAD / HTTP/1.1\r\nHost:",
            Refusal::Timeout,
            timeout,
        ),
        (
            "a body never ends",
            b"HEAD / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
            Refusal::Timeout,
            timeout,
        ),
        (
            "a body past max_body",
            b"HEAD / HTTP/1.1\r\nContent-Length: 17\r\n\r\n",
            Refusal::Http(crate::http::HttpError::BodyTooLarge),
            Duration::ZERO,
        ),
        (
            "a bad header",
            b"HEAD / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            Refusal::Http(crate::http::HttpError::Malformed),
            Duration::ZERO,
        ),
        (
            "an upgrade by HEAD",
            b"HEAD /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            Refusal::Handshake(HandshakeError::NotGet),
            Duration::ZERO,
        ),
    ];
    for (name, bytes, refusal, wait) in cases {
        let mut sim = Sim::new(small);
        sim.feed(bytes);
        assert!(sim.event().is_none(), "{name}: never reaches the app");
        sim.advance(*wait);
        let (head, _) = refusal_head_and_whole(*refusal);
        assert_eq!(text(&sim.wire()), head, "{name}: the head alone");
        assert!(head.contains("\r\nContent-Length: "), "{name}: {head}");
        assert!(sim.shut, "{name}: closed after it");
    }
}

#[test]
fn refusals_where_the_method_is_unknown_keep_their_body() {
    let mut tiny = limits();
    tiny.max_head = 32;
    let cases: &[(&str, &[u8], Refusal, Duration)] = &[
        (
            "request line not whole",
            b"HEAD / HTTP/1.",
            Refusal::Timeout,
            Duration::from_secs(10),
        ),
        (
            "a request line that is not one",
            b"HEAD / x HTTP/1.1\r\n\r\n",
            Refusal::Http(crate::http::HttpError::Malformed),
            Duration::ZERO,
        ),
        (
            "a request line past max_head",
            b"HEAD /0123456789012345678901234567890123456789",
            Refusal::Http(crate::http::HttpError::HeadTooLarge),
            Duration::ZERO,
        ),
        (
            "a GET",
            b"GET / HTTP/1.1\r\nHost:",
            Refusal::Timeout,
            Duration::from_secs(10),
        ),
    ];
    for (name, bytes, refusal, wait) in cases {
        let mut sim = Sim::new(tiny);
        sim.feed(bytes);
        assert!(sim.event().is_none(), "{name}: never reaches the app");
        sim.advance(*wait);
        let (_, whole) = refusal_head_and_whole(*refusal);
        assert_eq!(text(&sim.wire()), whole, "{name}: head and body");
    }
}

#[test]
fn after_a_head_request_the_next_request_is_refused_with_its_body() {
    let mut sim = Sim::new(limits());
    sim.feed(b"HEAD /p HTTP/1.1\r\n\r\nGET /q HTTP/1.1\r\nHost:");
    sim.request();
    sim.reply(ok("hello"));
    assert!(text(&sim.wire()).contains("Content-Length: 5"));
    assert!(sim.event().is_none());
    sim.advance(Duration::from_secs(10));
    let (_, whole) = refusal_head_and_whole(Refusal::Timeout);
    assert_eq!(text(&sim.wire()), whole, "the GET's 408 has its body");
}
