//! The real server started in-process with small limits, plus raw-socket and websocket
//! helpers shared by `tests/reliability_*.rs`.
#![allow(dead_code)] // each test file uses a different part

use channelstream::api::signature::Signer;
use channelstream::app::{self, Running};
use channelstream::config::Config;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::Message;

/// A config on `127.0.0.1:0` with small limits, so every limit is cheap to reach.
pub fn small_config() -> Config {
    let mut c = Config {
        secret: "secret".into(),
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        allow_posting_from: vec!["127.0.0.1".into()],
        wake_connections_after: 1,
        workers: 2,
        ..Config::default()
    };
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
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    read_until_close(&mut s, Duration::from_secs(3))
}

/// Reads until EOF, a reset or `within` passes.
pub fn read_until_close(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let end = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    out
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

/// A signed call that must answer 200.
pub fn post(addr: SocketAddr, path: &str, body: Value) -> Value {
    let (status, v) = call(addr, "POST", path, &body);
    assert_eq!(status, 200, "{path}: {v}");
    v
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

/// Every non-empty frame's items within `within`, until `until` says stop.
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
                if let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&t) {
                    for item in list {
                        let stop = until(&item);
                        items.push(item);
                        if stop {
                            return items;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    items
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

/// A client-side masked websocket frame (RFC 6455 §5.2), mask key fixed.
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
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

/// VmRSS of this process in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The real `channelstream` binary as a child process; killed (SIGKILL) if still running
/// when dropped, so a failing test leaves nothing behind.
pub struct Binary {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Everything the server wrote to stderr so far (read by a thread).
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Binary {
    /// Starts `sh -c "<prefix> exec channelstream --host 127.0.0.1 --port 0 <args>"` and
    /// waits for the "serving on" line.
    pub fn start(shell_prefix: &str, args: &[&str]) -> Binary {
        use std::io::BufRead;
        let bin = env!("CARGO_BIN_EXE_channelstream");
        let script =
            format!("{shell_prefix} exec \"$0\" --host 127.0.0.1 --port 0 --workers 2 \"$@\"");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(bin)
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn channelstream");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        thread_spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("serving on http://").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(a) => a.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not start: {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
        };
        Binary { child, addr, log }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends SIGTERM with the `kill` command and waits (up to 10 s) for the exit status.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn thread_spawn(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f);
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
