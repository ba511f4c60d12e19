//! A tiny web application for browser tests, on its own loopback port (so a page's origin
//! differs from the channelstream server's, as in production): it serves fixed pages, and
//! forwards the browser client's API calls to the server with a signature, the job a real
//! application does for `connectUrl`, `messageUrl` and the others.

use channelstream::api::signature::Signer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The API paths forwarded to the server (anything else that is not a page is 404).
const FORWARDED: &[&str] = &[
    "/connect",
    "/subscribe",
    "/unsubscribe",
    "/message",
    "/user_state",
    "/disconnect",
    "/channel_config",
];

/// The application; stops accepting when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl TestApp {
    /// Serves `pages` (path, HTML) and forwards API calls to `server`, signed with
    /// `secret`.
    pub fn start(server: SocketAddr, secret: &str, pages: Vec<(String, String)>) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test app");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let signer = Signer::new(secret);
        let pages = Arc::new(pages);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (pages, signer) = (pages.clone(), signer.clone());
                std::thread::spawn(move || handle(stream, server, &signer, &pages));
            }
        });
        TestApp { addr, stop }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// One request, one answer, then close.
fn handle(mut stream: TcpStream, server: SocketAddr, signer: &Signer, pages: &[(String, String)]) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some((method, target, body)) = read_request(&mut stream) else {
        return;
    };
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = if let Some((_, html)) = pages.iter().find(|(p, _)| p == path) {
        (200, "text/html; charset=utf-8", html.clone().into_bytes())
    } else if FORWARDED.contains(&path) && method != "GET" {
        let (status, body) = forward(server, signer, &method, &target, &body);
        (status, "application/json", body)
    } else {
        (404, "text/plain", b"not found".to_vec())
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// Method, target and body of a request with a `Content-Length` body (or none).
fn read_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut first = head.lines().next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((method, target, buf[head_end..head_end + length].to_vec()))
}

/// The same call to the server, signed now; its status and body.
fn forward(
    server: SocketAddr,
    signer: &Signer,
    method: &str,
    target: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {server}\r\nX-Channelstream-Secret: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        signer.sign("test-app", now),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let Ok(mut s) = TcpStream::connect(server) else {
        return (502, b"{\"error\": \"server down\"}".to_vec());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(&req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let status = out
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}
