//! A test app on the real engine, and raw-socket helpers shared by `tests/engine_*.rs`.
#![allow(dead_code)] // each test file uses a different part

use channelstream::http::{Request, Response};
pub use channelstream::server::Limits;
use channelstream::server::{App, ConnId, Ctx, Handle, Reply, Server, ServerConfig, WsMessage};
use channelstream::ws::{self, OpCode};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Routes: `GET /ws` upgrades (websocket echo), `/json` answers JSON at once, `/later`
/// answers 50 ms later from another thread through `Handle::respond`, `POST /body` echoes
/// the body, `/never` waits forever (`Later`, never answered), `/panic` panics, `/fill`
/// sends 8 MiB (256 binary frames of 32 KiB) to every websocket opened so far, `/big?n=N`
/// answers a body of N bytes; anything else is 404. A websocket text `panic` panics.
#[derive(Default)]
pub struct TestApp {
    pub upgraded: Mutex<Vec<ConnId>>,
    pub closed: Mutex<Vec<ConnId>>,
    pub shutdowns: AtomicUsize,
    pub never_answered: AtomicUsize,
}

impl App for TestApp {
    fn on_request(&self, req: Request, ctx: &mut Ctx<'_>) -> Reply {
        match (req.method.as_str(), req.path()) {
            (_, "/ws") => {
                self.upgraded.lock().unwrap().push(ctx.conn());
                Reply::Upgrade { frames: vec![] }
            }
            ("GET", "/json") => {
                let body = format!(r#"{{"path":"{}","query":"{}"}}"#, req.path(), req.query());
                Reply::Respond(Response::json(200, body.into_bytes()))
            }
            ("POST", "/body") => Reply::Respond(Response {
                status: 200,
                headers: vec![],
                body: req.body,
            }),
            ("GET", "/later") => {
                let handle = ctx.handle().clone();
                let conn = ctx.conn();
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(50));
                    handle.respond(conn, Response::json(200, br#"{"later":true}"#.to_vec()));
                });
                Reply::Later
            }
            ("GET", "/never") => {
                self.never_answered.fetch_add(1, Ordering::SeqCst);
                Reply::Later
            }
            ("GET", "/panic") => panic!("the test app panics on /panic"),
            ("GET", "/big") => {
                let n = req.query().strip_prefix("n=").and_then(|n| n.parse().ok());
                Reply::Respond(Response {
                    status: 200,
                    headers: vec![],
                    body: vec![b'x'; n.unwrap_or(0)],
                })
            }
            ("GET", "/fill") => {
                let frame = ws::shared_frame(OpCode::Binary, &vec![b'f'; 32 * 1024]);
                for conn in self.upgraded.lock().unwrap().iter() {
                    for _ in 0..256 {
                        ctx.send(*conn, frame.clone());
                    }
                }
                Reply::Respond(Response::json(200, b"{}".to_vec()))
            }
            _ => Reply::Respond(Response::json(404, br#"{"error":"not found"}"#.to_vec())),
        }
    }

    fn on_ws_message(&self, msg: WsMessage, ctx: &mut Ctx<'_>) {
        if msg == WsMessage::Text("panic".into()) {
            panic!("the test app panics on a \"panic\" message");
        }
        let frame = match &msg {
            WsMessage::Text(t) => ws::shared_frame(OpCode::Text, t.as_bytes()),
            WsMessage::Binary(b) => ws::shared_frame(OpCode::Binary, b),
        };
        let me = ctx.conn();
        ctx.send(me, frame);
    }

    fn on_close(&self, conn: ConnId) {
        self.closed.lock().unwrap().push(conn);
    }

    fn on_shutdown(&self) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

/// A server running in a background thread.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle,
    pub app: Arc<TestApp>,
    pub thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// Shuts down and waits for `Server::run` to return (at most 5 s).
    pub fn stop(mut self) -> io::Result<()> {
        self.handle.shutdown();
        let thread = self.thread.take().expect("running");
        let t0 = Instant::now();
        while !thread.is_finished() {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "Server::run did not return"
            );
            thread::sleep(Duration::from_millis(10));
        }
        thread.join().expect("server thread")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Test limits: small enough to hit, large enough for the tests' normal traffic.
pub fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_connections = 100;
    l.max_head = 2048;
    l.max_body = 4096;
    l.max_message = 64 * 1024;
    l.max_outbound = 1024 * 1024;
    l.header_timeout = Duration::from_secs(5);
    l.idle_timeout = Duration::from_secs(10);
    l
}

/// [`limits`] with `change` applied (`Limits` is `#[non_exhaustive]`: no struct literals).
pub fn limits_with(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = limits();
    change(&mut l);
    l
}

pub fn start(limits: Limits, workers: usize) -> Running {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(ServerConfig {
        addr,
        workers,
        limits,
    })
    .expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    let app = Arc::new(TestApp::default());
    let run_app = app.clone();
    let thread = thread::spawn(move || server.run(run_app));
    Running {
        addr,
        handle,
        app,
        thread: Some(thread),
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Reads one response (head + `Content-Length` body) from `s`, keeping extra bytes in `buf`.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Resp {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).expect("read response head");
        assert!(
            n > 0,
            "EOF before a response head; got {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut resp = Resp {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).expect("read response body");
        assert!(n > 0, "EOF inside a response body");
        buf.extend_from_slice(&chunk[..n]);
    }
    resp.body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    resp
}

/// Sends one request and reads its response on a fresh connection.
pub fn get(addr: SocketAddr, target: &str) -> Resp {
    let mut s = connect(addr);
    write!(s, "GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_response(&mut s, &mut Vec::new())
}

/// Like [`get`], but `None` on any I/O error (a refused or reset probe).
pub fn try_status(addr: SocketAddr, target: &str) -> Option<u16> {
    let mut s = connect(addr);
    write!(s, "GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= 12 {
            return std::str::from_utf8(&buf[9..12]).ok()?.parse().ok();
        }
    }
}

/// Whether the server closed `s` (EOF or reset) within the read timeout, discarding bytes.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut sink = [0u8; 4096];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Opens a websocket on `/ws` with raw bytes and returns the socket after the 101.
pub fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let resp = read_response(&mut s, &mut Vec::new());
    assert_eq!(resp.status, 101, "{}", resp.head);
    assert_eq!(
        resp.header("sec-websocket-accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    s
}

/// A client frame: FIN set, `opcode`, masked with the RFC 6455 §5.7 key.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws::testing::client_frame(0x80 | opcode, payload, ws::testing::RFC_KEY)
}

/// Reads one unmasked server frame: (opcode, payload).
pub fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame header");
    assert_eq!(h[1] & 0x80, 0, "server frames are unmasked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).expect("frame payload");
    (h[0] & 0x0f, payload)
}

/// The status code of a close frame's payload.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

/// Asserts that the next server frame is a close with `code` and that the server then
/// closes the socket.
#[track_caller]
pub fn assert_close_then_eof(s: &mut TcpStream, code: u16) {
    let (op, payload) = read_frame(s);
    assert_eq!((op, close_code(&payload)), (0x8, Some(code)));
    assert!(closed_by_server(s), "closed after the close frame");
}

/// Waits until `cond` holds (at most 2 s).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}
