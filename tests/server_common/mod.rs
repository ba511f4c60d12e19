//! The real server, started in-process (`app::spawn`) or as the binary ([`Binary`]), and
//! the clients the server-level tests talk to it with: signed REST calls in raw bytes,
//! websockets through `tungstenite` or by hand. Shared by `tests/api_smoke.rs`,
//! `tests/chat.rs` and `tests/reliability_*.rs`; the engine's tests have `engine_common`.
#![allow(dead_code)] // each test file uses a different part

mod binary;

#[allow(unused_imports)] // not every test file starts the binary
pub use binary::{rss_kib, Binary};

use channelstream::api::signature::Signer;
use channelstream::app::{self, Running};
use channelstream::config::Config;
use channelstream::ws;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::Message;

/// A config on `127.0.0.1:0` that accepts this module's signature ([`token`]) from
/// localhost, two workers, long-polls answered after 1 s, default limits.
pub fn loopback_config() -> Config {
    let mut c = Config::default();
    c.secret = "secret".into();
    c.host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.port = 0;
    c.allow_posting_from = vec!["127.0.0.1".into()];
    c.wake_connections_after = 1;
    c.workers = 2;
    c
}

/// [`loopback_config`] with small limits, so every limit is cheap to reach.
pub fn small_config() -> Config {
    let mut c = loopback_config();
    c.limits.max_head = 2048;
    c.limits.max_body = 64 * 1024;
    c.limits.max_message = 16 * 1024;
    c.limits.header_timeout = Duration::from_secs(1);
    c.limits.idle_timeout = Duration::from_secs(30);
    c
}

pub fn start(config: Config) -> Running {
    app::spawn(config).expect("server starts")
}

pub fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Signer::new("secret").sign("reliability", now)
}

/// Writes `bytes` on a new connection, half-closes nothing, reads until the server
/// closes or 3 s pass. Returns everything read.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    exchange(addr, bytes).0
}

/// Like [`raw`], and also says whether the server closed the connection (EOF) in time.
pub fn exchange(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    read_to_eof(&mut s, Duration::from_secs(3))
}

/// Reads until EOF, a reset or `within` passes.
pub fn read_until_close(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    read_to_eof(s, within).0
}

/// Reads until EOF, a reset or `within` passes; says whether it ended at EOF.
pub fn read_to_eof(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let end = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    (out, false)
}

/// The status code of the first response in `bytes` (0 if none).
pub fn status_of(bytes: &[u8]) -> u16 {
    bytes
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The body of the first response (everything after the head).
pub fn body_of(bytes: &[u8]) -> &[u8] {
    match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &bytes[i + 4..],
        None => &[],
    }
}

/// A signed request with a body, `Connection: close`.
pub fn signed(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: t\r\nX-Channelstream-Secret: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        token(),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// A signed call; returns status and the parsed JSON body (Null if not JSON).
pub fn call(addr: SocketAddr, method: &str, target: &str, body: &Value) -> (u16, Value) {
    let out = raw(addr, &signed(method, target, body.to_string().as_bytes()));
    let v = serde_json::from_slice(body_of(&out)).unwrap_or(Value::Null);
    (status_of(&out), v)
}

/// A signed POST that must answer 200 with a JSON body; returns the body.
pub fn post(addr: SocketAddr, path: &str, body: Value) -> Value {
    let out = raw(addr, &signed("POST", path, body.to_string().as_bytes()));
    let text = String::from_utf8_lossy(body_of(&out));
    assert_eq!(status_of(&out), 200, "{path}: {text}");
    serde_json::from_slice(body_of(&out)).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// `/connect` for `user` with `conn_id`, subscribed to `channels`.
pub fn connect(addr: SocketAddr, user: &str, conn_id: &str, channels: &[&str]) -> Value {
    post(
        addr,
        "/connect",
        json!({"username": user, "conn_id": conn_id, "channels": channels}),
    )
}

pub type Ws = tungstenite::WebSocket<TcpStream>;

/// A `tungstenite` websocket on `/ws?conn_id=`: 10 s for the handshake, then reads that
/// give up after 100 ms so callers can poll against a deadline.
pub fn open_ws(addr: SocketAddr, conn_id: &str) -> Ws {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("ws://{addr}/ws?conn_id={conn_id}");
    let ws = tungstenite::client(url, stream).expect("handshake").0;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    ws
}

/// The items of the text frames (each a JSON list; heartbeats are `[]`) that arrive
/// within `within`, up to the first one `until` says stop at. Panics on a frame that is
/// not a JSON list and on a websocket error: the server sends neither to a live client.
pub fn read_items(
    ws: &mut Ws,
    within: Duration,
    mut until: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let end = Instant::now() + within;
    let mut items = Vec::new();
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let list = match serde_json::from_str::<Value>(&t) {
                    Ok(Value::Array(list)) => list,
                    _ => panic!("a frame that is not a JSON list: {t}"),
                };
                for item in list {
                    let stop = until(&item);
                    items.push(item);
                    if stop {
                        return items;
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("websocket error: {e}"),
        }
    }
    items
}

/// Reads until a close frame arrives or `within` passes. `Some(code)` for a close frame
/// (`Some(None)` if it carried no code); `None` if none came or the socket failed first.
pub fn read_close(ws: &mut Ws, within: Duration) -> Option<Option<u16>> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Close(frame)) => return Some(frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Waits for a channel message whose body has `marker` in it.
pub fn sees_marker(ws: &mut Ws, marker: &str, within: Duration) -> bool {
    let items = read_items(ws, within, |i| {
        i["type"] == "message" && i["message"]["marker"] == marker
    });
    items
        .iter()
        .any(|i| i["type"] == "message" && i["message"]["marker"] == marker)
}

/// Publishes `{"marker": marker}` to `channel`.
pub fn publish(addr: SocketAddr, channel: &str, marker: &str) {
    post(
        addr,
        "/message",
        json!([{"channel": channel, "user": "system", "message": {"marker": marker}}]),
    );
}

/// A masked client frame (RFC 6455 §5.2) with a fixed key; `first` (FIN, RSV, opcode)
/// is sent as given, so it can also be one the server must refuse.
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    ws::testing::client_frame(first, payload, [0x12, 0x34, 0x56, 0x78])
}

/// A raw websocket for `conn_id`: the handshake done by hand, the 101 and any first
/// frames read. Returns the stream.
pub fn raw_ws(addr: SocketAddr, conn_id: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let req = format!(
        "GET /ws?conn_id={conn_id} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(3);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    assert_eq!(
        status_of(&got),
        101,
        "handshake: {}",
        String::from_utf8_lossy(&got)
    );
    s
}

/// The close code of the first close frame in server bytes `b` (server frames are
/// unmasked), or `None` if the server sent no close frame.
pub fn close_code(b: &[u8]) -> Option<u16> {
    let mut i = 0;
    while i + 2 <= b.len() {
        let op = b[i] & 0x0f;
        let (len, hdr) = match b[i + 1] & 0x7f {
            126 => (
                u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]) as usize,
                4,
            ),
            127 => (
                u64::from_be_bytes(b.get(i + 2..i + 10)?.try_into().ok()?) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        if op == 8 {
            let p = b.get(i + hdr..i + hdr + len)?;
            return Some(if p.len() >= 2 {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                1005
            });
        }
        i += hdr + len;
    }
    None
}
