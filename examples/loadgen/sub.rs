//! One subscriber's protocol state: the websocket upgrade and frames, or the long-poll
//! loop, and what each delivery says (latency, loss, duplicates). Bytes in, replies
//! appended to the caller's output buffer; no sockets. `worker.rs` owns the sockets.

use crate::frame::{self, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT};
use crate::http;
use crate::payload;
use crate::rng::Rng;
use crate::seqmap::SeqMap;
use crate::stats::RecvStats;
use channelstream::decoded::Decoded;
use std::time::Instant;

/// Largest frame or response accepted; channelstream frames are small.
const MAX_MESSAGE: usize = 16 << 20;

/// How a subscriber receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /ws?conn_id=`.
    WebSocket,
    /// `GET /listen?conn_id=` in a loop.
    LongPoll,
}

/// Where a subscriber is. The worker moves it through Register → Ready, then opens
/// its socket with the first request queued until the TCP connect completes;
/// `Proto::on_bytes` moves it from Upgrading/Polling on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waits for a control connection to send its `/connect`.
    Register,
    /// `/connect` in flight on a control connection.
    Registering,
    /// Registered; waits for a free in-flight slot to open its socket.
    Ready,
    /// Upgrade request sent; waits for the 101.
    Upgrading,
    /// Websocket open.
    Open,
    /// Long-poll request in flight (the long-poll's open state).
    Polling,
    /// Close frame sent by us; waits for the server's close or EOF.
    Closing,
    /// Finished (closed, dropped or failed).
    Done,
}

/// Per-event context from the worker.
pub struct Cx<'a> {
    pub stats: &'a mut RecvStats,
    pub rng: &'a mut Rng,
    pub start: Instant,
    pub now: Instant,
    pub parse_json: bool,
    pub host: &'a str,
    /// The run is closing: do not start new polls.
    pub closing: bool,
}

/// A subscriber's protocol state.
pub struct Proto {
    pub kind: Kind,
    pub conn_id: String,
    pub channel: u32,
    pub phase: Phase,
    /// When setup began (for the setup histogram).
    pub setup_started: Option<Instant>,
    accept: String,
    /// A fragmented message being assembled (RFC 6455 §5.4); servers rarely fragment.
    message: Vec<u8>,
    fragmented: bool,
    seen: SeqMap,
}

impl Proto {
    /// A subscriber that has not registered yet.
    pub fn new(kind: Kind, conn_id: String, channel: u32) -> Self {
        Self {
            kind,
            conn_id,
            channel,
            phase: Phase::Register,
            setup_started: None,
            accept: String::new(),
            message: Vec::new(),
            fragmented: false,
            seen: SeqMap::default(),
        }
    }

    /// The first request on the subscriber's own socket: the upgrade or the first poll.
    pub fn first_request(&mut self, rng: &mut Rng, host: &str, out: &mut Vec<u8>) {
        match self.kind {
            Kind::WebSocket => {
                let key = frame::client_key(rng.bytes16());
                self.accept = frame::accept_key(&key);
                let path = format!("/ws?conn_id={}", self.conn_id);
                frame::encode_handshake(&path, host, &key, out);
                self.phase = Phase::Upgrading;
            }
            Kind::LongPoll => {
                self.poll_request(host, out);
                self.phase = Phase::Polling;
            }
        }
    }

    fn poll_request(&self, host: &str, out: &mut Vec<u8>) {
        let path = format!("/listen?conn_id={}", self.conn_id);
        http::encode_request("GET", &path, host, None, b"", out);
    }

    /// Queues a close frame (1000) and moves to Closing.
    pub fn close(&mut self, rng: &mut Rng, out: &mut Vec<u8>) {
        frame::encode_client(OP_CLOSE, &1000u16.to_be_bytes(), rng.mask(), out);
        self.phase = Phase::Closing;
    }

    /// Duplicates and out-of-range counts, for the final report.
    pub fn seen(&self) -> &SeqMap {
        &self.seen
    }

    /// Consumes what it can of `buf`; returns the bytes used.
    pub fn on_bytes(&mut self, buf: &[u8], out: &mut Vec<u8>, cx: &mut Cx) -> usize {
        cx.stats.bytes += buf.len() as u64;
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            let used = match self.phase {
                Phase::Upgrading => self.on_upgrade(rest, cx),
                Phase::Open | Phase::Closing => self.on_frame(rest, out, cx),
                Phase::Polling => self.on_poll(rest, out, cx),
                _ => None,
            };
            match used {
                Some(n) if n > 0 => at += n,
                _ => break,
            }
        }
        // The bytes counter saw all of `buf`; what stays pending is counted again.
        cx.stats.bytes -= (buf.len() - at) as u64;
        at
    }

    fn fail(&mut self, cx: &mut Cx, reason: String) -> Option<usize> {
        cx.stats.error(reason);
        self.phase = Phase::Done;
        None
    }

    fn on_upgrade(&mut self, buf: &[u8], cx: &mut Cx) -> Option<usize> {
        match http::decode_response(buf, MAX_MESSAGE) {
            Ok(Decoded::NeedMore { .. }) => None,
            Err(e) => self.fail(cx, format!("upgrade: {}", e.as_str())),
            Ok(Decoded::Done { value, consumed }) => {
                if value.status != 101 {
                    return self.fail(cx, format!("upgrade status {}", value.status));
                }
                if value.accept.as_deref() != Some(self.accept.as_str()) {
                    return self.fail(cx, "upgrade: wrong Sec-WebSocket-Accept".into());
                }
                self.phase = Phase::Open;
                Some(consumed)
            }
        }
    }

    fn on_poll(&mut self, buf: &[u8], out: &mut Vec<u8>, cx: &mut Cx) -> Option<usize> {
        match http::decode_response(buf, MAX_MESSAGE) {
            Ok(Decoded::NeedMore { .. }) => None,
            Err(e) => self.fail(cx, format!("listen: {}", e.as_str())),
            Ok(Decoded::Done { value, consumed }) => {
                if value.status != 200 {
                    return self.fail(cx, format!("listen status {}", value.status));
                }
                self.on_message(&value.body, cx);
                if !value.keep_alive {
                    return self.fail(cx, "listen: server closed keep-alive".into());
                }
                if cx.closing {
                    self.phase = Phase::Done;
                } else {
                    self.poll_request(cx.host, out);
                }
                Some(consumed)
            }
        }
    }

    fn on_frame(&mut self, buf: &[u8], out: &mut Vec<u8>, cx: &mut Cx) -> Option<usize> {
        let (f, consumed) = match frame::decode(buf, MAX_MESSAGE) {
            Ok(Decoded::Done { value, consumed }) => (value, consumed),
            Ok(Decoded::NeedMore { .. }) => return None,
            Err(e) => return self.fail(cx, format!("frame: {}", e.as_str())),
        };
        let payload = &buf[f.start..f.start + f.len];
        match f.opcode {
            OP_TEXT | OP_BINARY if f.fin => self.on_message(payload, cx),
            OP_TEXT | OP_BINARY => {
                self.message.clear();
                self.message.extend_from_slice(payload);
                self.fragmented = true;
            }
            OP_CONTINUATION if self.fragmented => {
                if payload.len() > MAX_MESSAGE - self.message.len().min(MAX_MESSAGE) {
                    return self.fail(cx, "frame: message too big".into());
                }
                self.message.extend_from_slice(payload);
                if f.fin {
                    self.fragmented = false;
                    let message = std::mem::take(&mut self.message);
                    self.on_message(&message, cx);
                    self.message = message;
                }
            }
            OP_CONTINUATION => cx.stats.error("frame: continuation without a start"),
            OP_PING => frame::encode_client(frame::OP_PONG, payload, cx.rng.mask(), out),
            OP_CLOSE => {
                if self.phase == Phase::Open {
                    // Echo the close (RFC 6455 §5.5.1); the server ended it.
                    frame::encode_client(
                        OP_CLOSE,
                        payload.get(..2).unwrap_or(&[]),
                        cx.rng.mask(),
                        out,
                    );
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    cx.stats.error(format!("closed by server ({code:?})"));
                }
                self.phase = Phase::Done;
            }
            _ => {} // pong
        }
        Some(consumed)
    }

    /// A whole message (a frame's payload or a poll's body): a JSON list of messages.
    fn on_message(&mut self, msg: &[u8], cx: &mut Cx) {
        cx.stats.frames += 1;
        let now_ns = cx.now.duration_since(cx.start).as_nanos() as u64;
        if payload::is_heartbeat(msg) {
            cx.stats.heartbeats += 1;
            if let Some(slice) = cx.stats.slice(now_ns) {
                slice.heartbeats += 1;
            }
            return;
        }
        let (channel, seen, stats) = (self.channel, &mut self.seen, &mut *cx.stats);
        let mut on_probe = |p: payload::Probe| {
            stats.probes += 1;
            if p.channel != channel {
                stats.foreign += 1;
            } else if seen.mark(p.seq) {
                stats.unique += 1;
                let took = now_ns.saturating_sub(p.sent_ns);
                stats.latency.record(took);
                if let Some(slice) = stats.slice(now_ns) {
                    slice.deliveries += 1;
                    slice.late += u64::from(took > 50_000_000);
                    slice.max_ns = slice.max_ns.max(took);
                }
            }
        };
        let found = if cx.parse_json {
            payload::scan_json(msg, &mut on_probe).unwrap_or(0)
        } else {
            payload::scan(msg, &mut on_probe)
        };
        if found == 0 {
            cx.stats.other_frames += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Probe;

    fn cx<'a>(stats: &'a mut RecvStats, rng: &'a mut Rng, start: Instant) -> Cx<'a> {
        Cx {
            stats,
            rng,
            start,
            now: start + std::time::Duration::from_millis(5),
            parse_json: false,
            host: "h",
            closing: false,
        }
    }

    fn frame_with(p: Probe) -> Vec<u8> {
        let mut probe = Vec::new();
        p.encode(60, &mut probe);
        let text = format!(
            "[{{\"channel\": \"lg0\", \"message\": {{\"lg\": \"{}\"}}}}]",
            String::from_utf8(probe).unwrap()
        );
        let mut wire = Vec::new();
        frame::encode_server(OP_TEXT, text.as_bytes(), &mut wire);
        wire
    }

    #[test]
    fn upgrade_then_frames_count_latency_duplicates_and_heartbeats() {
        let (mut stats, mut rng, start) = (RecvStats::default(), Rng::seeded(1), Instant::now());
        let mut p = Proto::new(Kind::WebSocket, "id".into(), 0);
        let mut out = Vec::new();
        p.first_request(&mut rng, "h", &mut out);
        let mut wire = format!(
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            p.accept
        )
        .into_bytes();
        let probe = Probe {
            channel: 0,
            seq: 3,
            sent_ns: 1_000_000,
        };
        wire.extend(frame_with(probe));
        wire.extend(frame_with(probe));
        frame::encode_server(OP_TEXT, b"[]", &mut wire);
        frame::encode_server(OP_PING, b"hi", &mut wire);
        // Fed in two pieces: the decoder must resume mid-frame.
        let split = wire.len() - 3;
        let mut c = cx(&mut stats, &mut rng, start);
        let used = p.on_bytes(&wire[..split], &mut out, &mut c);
        let mut rest = wire[used..split].to_vec();
        rest.extend_from_slice(&wire[split..]);
        let used2 = p.on_bytes(&rest, &mut out, &mut c);
        assert_eq!(used2, rest.len());
        assert_eq!(p.phase, Phase::Open);
        assert_eq!((stats.unique, stats.probes, stats.heartbeats), (1, 2, 1));
        assert_eq!(p.seen().duplicates, 1);
        assert_eq!(stats.latency.max(), 4_000_000);
        // The ping was answered with a masked pong carrying "hi".
        let pong = &out[out.len() - 8..];
        assert_eq!(&pong[..2], &[0x8a, 0x82]);
        assert_eq!([pong[6] ^ pong[2], pong[7] ^ pong[3]], *b"hi");
    }

    #[test]
    fn wrong_accept_key_fails_the_upgrade() {
        let (mut stats, mut rng, start) = (RecvStats::default(), Rng::seeded(2), Instant::now());
        let mut p = Proto::new(Kind::WebSocket, "id".into(), 0);
        p.first_request(&mut rng, "h", &mut Vec::new());
        let wire = b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        p.on_bytes(wire, &mut Vec::new(), &mut cx(&mut stats, &mut rng, start));
        assert_eq!(p.phase, Phase::Done);
        assert_eq!(stats.errors.len(), 1);
    }
}
