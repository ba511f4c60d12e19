//! `HEAD` over the real server (RFC 9110 §9.3.2, §8.6): for every route that allows `GET`
//! and `HEAD`, the `HEAD` answer has the status and header fields of the `GET` answer,
//! `Content-Length` included (the length of the body `GET` gets), and no body; and on a
//! kept-alive connection the request after a `HEAD` is read and answered whole.

mod server_common;

use channelstream::api::routes::ROUTES;
use channelstream::api::static_files::FILES;
use server_common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One response taken apart: status, header fields in order, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    /// Splits the first response in `bytes`; the body is everything after the head.
    fn parse(bytes: &[u8]) -> Answer {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no whole head in {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8_lossy(&bytes[..end]).to_string();
        let headers = head
            .lines()
            .skip(1)
            .map(|line| {
                let (n, v) = line.split_once(':').expect("a header field");
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Answer {
            status: status_of(bytes),
            headers,
            body: bytes[end + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length")
            .expect("Content-Length")
            .parse()
            .expect("a number")
    }
}

fn request(method: &str, path: &str, extra: &str, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}{connection}\r\n")
}

/// `method path` on a new connection with `Connection: close`, read until the server
/// closes: any body bytes a `HEAD` answer carried would be in `body`.
fn ask(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Answer {
    let (bytes, closed) = exchange(addr, request(method, path, extra, true).as_bytes());
    assert!(
        closed,
        "{method} {path}: the server closes after the answer"
    );
    Answer::parse(&bytes)
}

/// A concrete path for every route that allows `HEAD` (each embedded static file, the
/// demo's files), checked against the route table so that a new `HEAD` route is not
/// left out.
fn head_paths() -> Vec<String> {
    let mut paths = Vec::new();
    for route in ROUTES.iter().filter(|r| r.methods.contains(&"HEAD")) {
        assert!(
            route.methods.contains(&"GET"),
            "{}: HEAD without GET",
            route.path
        );
        match route.path {
            "/static/{file}" => paths.extend(FILES.iter().map(|f| f.path.to_string())),
            "/demo/{file}" => paths.extend(["/demo/demo.js".into(), "/demo/demo.css".into()]),
            p => {
                assert!(!p.contains('{'), "{p}: name a file for it here");
                paths.push(p.to_string());
            }
        }
    }
    for expected in ["/", "/healthz", "/readyz", "/landing.css", "/demo"] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} allows HEAD"
        );
    }
    paths
}

fn demo_server() -> channelstream::app::Running {
    let mut config = loopback_config();
    config.demo = true;
    start(config)
}

/// `HEAD` and `GET` of `path` (with `extra` header lines) answer alike but for the body.
fn assert_head_is_get_without_body(addr: SocketAddr, path: &str, extra: &str) -> Answer {
    let get = ask(addr, "GET", path, extra);
    let head = ask(addr, "HEAD", path, extra);
    assert_eq!(head.status, get.status, "HEAD {path} {extra}");
    assert_eq!(get.content_length(), get.body.len(), "GET {path} {extra}");
    assert_eq!(
        head.headers, get.headers,
        "HEAD {path} {extra}: the header fields of GET, Content-Length included"
    );
    assert!(
        head.body.is_empty(),
        "HEAD {path} {extra}: {} body bytes",
        head.body.len()
    );
    get
}

#[test]
fn head_of_every_get_and_head_route_has_the_get_status_and_headers_and_no_body_also_when_304() {
    let running = demo_server();
    for path in head_paths() {
        let get = assert_head_is_get_without_body(running.addr, &path, "");
        assert_eq!(get.status, 200, "{path}");
        assert!(!get.body.is_empty(), "GET {path} has a body to measure");
        // Revalidation answers alike too (the same 304 for both methods).
        if let Some(etag) = get.header("etag") {
            let extra = format!("If-None-Match: {etag}\r\n");
            let fresh = assert_head_is_get_without_body(running.addr, &path, &extra);
            assert_eq!(fresh.status, 304, "{path}");
        }
    }
}

#[test]
fn head_of_a_missing_file_has_the_get_404_length_and_no_body() {
    let running = start(loopback_config());
    let missing = assert_head_is_get_without_body(
        running.addr,
        "/static/channelstream/nope.js",
        "Accept: application/json\r\n",
    );
    assert_eq!(missing.status, 404);
    assert!(!missing.body.is_empty(), "the GET has an error body");
}

/// Reads one response from `s` whose head says `Content-Length`; `head_only` for a
/// `HEAD` answer. Returns it and any bytes read past its end.
fn read_one(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = Answer::parse(&buf[..end + 4]);
            let total = end + 4 + if head_only { 0 } else { head.content_length() };
            if buf.len() >= total {
                let answer = Answer::parse(&buf[..total]);
                buf.drain(..total);
                return answer;
            }
        }
        assert!(Instant::now() < deadline, "no whole answer in {buf:?}");
        match s.read(&mut chunk) {
            Ok(0) => panic!("closed early: {:?}", String::from_utf8_lossy(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
}

#[test]
fn after_a_head_the_next_request_on_the_connection_gets_its_whole_answer() {
    let running = demo_server();
    let path = "/static/channelstream/channelstream.js";
    let file = FILES.iter().find(|f| f.path == path).expect("in the table");
    let mut s = TcpStream::connect(running.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buf = Vec::new();

    // One at a time: the HEAD's answer, then a pause in which no body bytes may come.
    s.write_all(request("HEAD", path, "", false).as_bytes())
        .expect("write");
    let head = read_one(&mut s, &mut buf, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), file.body.len());
    std::thread::sleep(Duration::from_millis(200));
    let mut stray = [0u8; 64];
    if let Ok(n) = s.read(&mut stray) {
        buf.extend_from_slice(&stray[..n]);
    }
    assert!(buf.is_empty(), "bytes after the HEAD answer: {buf:?}");

    s.write_all(request("GET", path, "", false).as_bytes())
        .expect("write");
    let get = read_one(&mut s, &mut buf, false);
    assert_eq!(get.status, 200);
    assert_eq!(get.body, file.body);
    assert_eq!(head.headers, get.headers);

    // Pipelined: HEAD, GET, HEAD, GET in one write; the last one closes.
    let mut batch = String::new();
    for (method, close) in [
        ("HEAD", false),
        ("GET", false),
        ("HEAD", false),
        ("GET", true),
    ] {
        batch.push_str(&request(method, path, "", close));
    }
    s.write_all(batch.as_bytes()).expect("write");
    for method in ["HEAD", "GET", "HEAD"] {
        let a = read_one(&mut s, &mut buf, method == "HEAD");
        assert_eq!(a.status, 200, "{method}");
        assert_eq!(a.content_length(), file.body.len(), "{method}");
        if method == "GET" {
            assert_eq!(a.body, file.body);
        }
    }
    let rest = [buf, read_until_close(&mut s, Duration::from_secs(3))].concat();
    let last = Answer::parse(&rest);
    assert_eq!(last.status, 200);
    assert_eq!(
        last.body, file.body,
        "the last answer is the whole file, nothing more"
    );
}
