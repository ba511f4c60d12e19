//! `HEAD` over the real server (RFC 9110 §9.3.2, §8.6): every route that allows `GET`
//! allows `HEAD`, and the `HEAD` answer has the status and header fields of the `GET`
//! answer, `Content-Length` included (the length of the body `GET` gets), and no body:
//! public pages, admin pages signed in and not (a redirect or a 403 has a head too),
//! `/metrics` under its own access rules, the API's `GET` routes; and on a kept-alive
//! connection the request after a `HEAD` is read and answered whole.

mod server_common;

use channelstream::api::routes::{Handler, Route, ROUTES};
use channelstream::api::static_files::FILES;
use channelstream::web::session::Keys;
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

/// The routes that answer `GET` with a public page or file (static files, the landing
/// page, health, the demo): everything that allows `HEAD` but the API, the admin pages
/// and `/metrics`, which have tests of their own below.
fn public_page(route: &Route) -> bool {
    matches!(route.handler, Handler::Static | Handler::Early) && route.path != "/metrics"
}

/// A concrete path for every public page route (each embedded static file, the demo's
/// files), checked against the route table so that a new one is not left out.
fn head_paths() -> Vec<String> {
    let mut paths = Vec::new();
    for route in ROUTES.iter().filter(|r| r.allows("HEAD") && public_page(r)) {
        assert!(route.allows("GET"), "{}: HEAD without GET", route.path);
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
    assert_head_is_like_get(addr, path, extra, &[]).0
}

/// [`assert_head_is_get_without_body`] for answers that differ from one request to the
/// next in the values of the `volatile` header fields (a fresh form cookie; the length
/// of a page of live counters): those are compared by name and position only. Returns
/// the `GET` and the `HEAD` answers.
fn assert_head_is_like_get(
    addr: SocketAddr,
    path: &str,
    extra: &str,
    volatile: &[&str],
) -> (Answer, Answer) {
    let get = ask(addr, "GET", path, extra);
    let head = ask(addr, "HEAD", path, extra);
    assert_eq!(head.status, get.status, "HEAD {path} {extra}");
    assert_eq!(get.content_length(), get.body.len(), "GET {path} {extra}");
    let masked = |a: &Answer| -> Vec<(String, String)> {
        let value = |n: &String, v: &String| match volatile.contains(&n.as_str()) {
            true => String::new(),
            false => v.clone(),
        };
        a.headers
            .iter()
            .map(|(n, v)| (n.clone(), value(n, v)))
            .collect()
    };
    assert_eq!(
        masked(&head),
        masked(&get),
        "HEAD {path} {extra}: the header fields of GET, Content-Length included"
    );
    assert!(
        head.body.is_empty(),
        "HEAD {path} {extra}: {} body bytes",
        head.body.len()
    );
    (get, head)
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

const PASSWORD: &str = "correct horse";
const COOKIE_SECRET: &str = "cookie secret for tests";

/// The routes for a signed-in administrator: the admin pages and documents, the sign-in
/// and sign-out pages, `/admin/admin.json`.
fn admin_routes() -> Vec<&'static Route> {
    use channelstream::api::routes::Access;
    let admin = |r: &Route| {
        matches!(r.handler, Handler::Page(_))
            || matches!(r.access, Access::Admin | Access::AdminNoRedirect)
    };
    ROUTES
        .iter()
        .filter(|r| r.allows("GET") && admin(r))
        .collect()
}

#[test]
fn head_of_admin_pages_is_the_get_head_signed_in_or_not_redirects_and_403_included() {
    use channelstream::api::routes::Access;
    let mut config = loopback_config();
    config.admin_secret = PASSWORD.into();
    config.cookie_secret = COOKIE_SECRET.into();
    let running = start(config);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let session = Keys::new(COOKIE_SECRET).issue_session("admin", now, 1);
    let signed_in = format!("Cookie: channelstream_admin={session}\r\n");
    let routes = admin_routes();
    for path in [
        "/admin",
        "/api-explorer",
        "/openapi.json",
        "/admin/admin.json",
    ] {
        assert!(routes.iter().any(|r| r.path == path), "{path}");
    }
    for route in routes {
        let path = route.path;
        // A fresh form cookie on the sign-in page; live figures in `admin.json`.
        let volatile: &[&str] = match path {
            "/admin/sign_in" => &["set-cookie"],
            "/admin/admin.json" => &["content-length"],
            _ => &[],
        };
        let (out, _) = assert_head_is_like_get(running.addr, path, "", volatile);
        match route.access {
            Access::Admin => {
                assert_eq!(out.status, 302, "{path} signed out");
                assert_eq!(out.header("location"), Some("/admin/sign_in"), "{path}");
            }
            Access::AdminNoRedirect => assert_eq!(out.status, 403, "{path} signed out"),
            _ => assert!(matches!(out.status, 200 | 302), "{path}: {}", out.status),
        }
        let (out, head) = assert_head_is_like_get(running.addr, path, &signed_in, volatile);
        if matches!(route.access, Access::Admin | Access::AdminNoRedirect) {
            assert_eq!(out.status, 200, "{path} signed in");
            assert!(head.content_length() > 0, "{path}: the length of the page");
        }
    }
}

#[test]
fn head_of_metrics_follows_the_metrics_access_rules() {
    // From loopback (in `metrics_allow_from` by default): the page's head. The page counts
    // requests, so its length may differ between the two; the HEAD still names one.
    let running = start(loopback_config());
    let (get, head) = assert_head_is_like_get(running.addr, "/metrics", "", &["content-length"]);
    assert_eq!(get.status, 200);
    assert!(head.content_length() > get.body.len() / 2, "{head:?}");
    drop(running);

    // Not from an allowed address: 403 unsigned, the page signed.
    let mut config = loopback_config();
    config.metrics_allow_from = vec!["10.9.9.9".into()];
    let running = start(config);
    let forbidden = assert_head_is_get_without_body(running.addr, "/metrics", "");
    assert_eq!(forbidden.status, 403);
    let signed = format!("X-Channelstream-Secret: {}\r\n", token());
    let (get, _) = assert_head_is_like_get(running.addr, "/metrics", &signed, &["content-length"]);
    assert_eq!(get.status, 200);
    drop(running);

    // Off: 404 for both.
    let mut config = loopback_config();
    config.metrics = false;
    let running = start(config);
    let missing = assert_head_is_get_without_body(running.addr, "/metrics", "");
    assert_eq!(missing.status, 404);
}

#[test]
fn head_of_the_api_get_routes_is_the_get_head_signed_or_not() {
    let running = start(loopback_config());
    let api: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| r.allows("HEAD") && !public_page(r) && r.path != "/metrics")
        .filter(|r| !admin_routes().iter().any(|a| a.path == r.path))
        .collect();
    for path in ["/info", "/disconnect", "/ws"] {
        assert!(api.iter().any(|r| r.path == path), "{path}");
    }
    let signed = format!("X-Channelstream-Secret: {}\r\n", token());
    for route in api {
        for extra in ["", signed.as_str()] {
            let (get, _) = assert_head_is_like_get(running.addr, route.path, extra, &[]);
            assert!(!get.body.is_empty(), "{}: a body to measure", route.path);
        }
    }
}

#[test]
fn the_engine_refuses_a_head_request_with_a_head_and_no_body_once_its_line_came() {
    let running = start(small_config()); // max_body 64 KiB, header_timeout 1 s
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let cases = [
        // A websocket handshake by HEAD is refused (not a GET).
        (request("HEAD", "/ws", upgrade, true), 400),
        (
            request("HEAD", "/info", "Content-Length: 100000\r\n", true),
            413,
        ),
        // The request line, then nothing: the header timeout.
        ("HEAD /info HTTP/1.1\r\nHost: t\r\n".to_string(), 408),
    ];
    for (bytes, status) in cases {
        let (out, closed) = exchange(running.addr, bytes.as_bytes());
        assert!(closed, "{bytes:?}: closed after the refusal");
        let refusal = Answer::parse(&out);
        assert_eq!(refusal.status, status, "{bytes:?}");
        assert!(refusal.content_length() > 0, "{bytes:?}: the body's length");
        assert!(refusal.body.is_empty(), "{bytes:?}: {refusal:?}");
    }
    // The same refusal of a GET has the body whose length the HEAD was told.
    let (out, _) = exchange(running.addr, b"GET /info HTTP/1.1\r\nHost: t\r\n");
    let get = Answer::parse(&out);
    assert_eq!(get.status, 408);
    assert_eq!(get.body.len(), get.content_length());
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

/// A long-poll's `GET` takes the messages queued for its connection, so a `HEAD` of it
/// would take them and deliver none. `/listen` does not answer `HEAD` (404, as every
/// method a route does not answer), and the messages stay for the next `GET`.
#[test]
fn head_of_a_long_poll_takes_no_messages() {
    let running = start(loopback_config());
    let conn_id = "7b1a9c3e-2d4f-4e6a-8b0c-1d2e3f405162";
    connect(running.addr, "poller", conn_id, &["room"]);
    publish(running.addr, "room", "kept-for-the-get");
    let target = format!("/listen?conn_id={conn_id}");
    let head = ask(running.addr, "HEAD", &target, "");
    assert_eq!(head.status, 404, "{head:?}");
    assert!(head.body.is_empty(), "{head:?}");
    let get = ask(running.addr, "GET", &target, "");
    assert_eq!(get.status, 200, "{get:?}");
    let body = String::from_utf8_lossy(&get.body);
    assert!(body.contains("kept-for-the-get"), "{body}");
}
