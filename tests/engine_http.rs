//! HTTP through the real engine: keep-alive, pipelining, limits, `Reply::Later`, a full
//! server, timeouts. Raw bytes over `std::net::TcpStream`.

mod engine_common;

use engine_common::*;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

#[test]
fn keep_alive_and_pipelined_requests_are_answered_in_order() {
    let server = start(limits(), 2);
    let mut s = connect(server.addr);
    let mut buf = Vec::new();
    // Keep-alive: two requests one after the other on the same socket.
    for i in 0..2 {
        write!(s, "GET /json?n={i} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut s, &mut buf);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            format!(r#"{{"path":"/json","query":"n={i}"}}"#).as_bytes()
        );
    }
    // Pipelining: three requests in one write, the last one `Later`.
    s.write_all(
        b"GET /json?n=a HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          GET /later HTTP/1.1\r\nHost: t\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let bodies: Vec<(u16, Vec<u8>)> = (0..4)
        .map(|_| read_response(&mut s, &mut buf))
        .map(|r| (r.status, r.body))
        .collect();
    assert_eq!(
        bodies[0],
        (200, br#"{"path":"/json","query":"n=a"}"#.to_vec())
    );
    assert_eq!(bodies[1], (200, b"hello".to_vec()));
    assert_eq!(bodies[2], (200, br#"{"later":true}"#.to_vec()));
    assert_eq!(bodies[3].0, 404);
    assert!(
        closed_by_server(&mut s),
        "Connection: close must close after the response"
    );
    drop(s); // our EOF ends the server's linger, so `stop` is quick
    server.stop().unwrap();
}

#[test]
fn later_reply_is_answered_through_handle_respond() {
    let server = start(limits(), 1);
    let t0 = Instant::now();
    let r = get(server.addr, "/later");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"{"later":true}"#);
    assert!(
        t0.elapsed() >= Duration::from_millis(50),
        "answered by the other thread"
    );
    server.stop().unwrap();
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body() {
    let server = start(limits(), 1);
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf).status, 100);
    s.write_all(b"abc").unwrap();
    let r = read_response(&mut s, &mut buf);
    assert_eq!((r.status, r.body), (200, b"abc".to_vec()));
    server.stop().unwrap();
}

#[test]
fn oversized_head_gets_431_and_close_and_a_bystander_still_works() {
    let server = start(limits(), 1);
    let mut bystander = connect(server.addr);
    let mut s = connect(server.addr);
    let filler = "a".repeat(limits().max_head + 100);
    let _ = write!(s, "GET / HTTP/1.1\r\nX-Filler: {filler}\r\n\r\n");
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 431);
    assert!(
        String::from_utf8_lossy(&r.body).contains("error"),
        "JSON error body"
    );
    assert!(closed_by_server(&mut s));
    write!(bystander, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut bystander, &mut Vec::new()).status, 200);
    drop((s, bystander));
    server.stop().unwrap();
}

#[test]
fn content_length_over_max_body_gets_413_before_the_body() {
    let server = start(limits(), 1);
    let mut s = connect(server.addr);
    write!(
        s,
        "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        limits().max_body + 1
    )
    .unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 413);
    assert!(closed_by_server(&mut s));
    drop(s);
    server.stop().unwrap();
}

#[test]
fn malformed_request_gets_400_json_and_close() {
    let server = start(limits(), 1);
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(closed_by_server(&mut s));
    assert_eq!(get(server.addr, "/json").status, 200, "bystander");
    drop(s);
    server.stop().unwrap();
}

#[test]
fn max_connections_reached_gets_503_busy_json() {
    let server = start(limits_with(|l| l.max_connections = 2), 1);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(server.addr);
        write!(s, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s, &mut Vec::new()).status, 200);
        held.push(s);
    }
    let mut third = connect(server.addr);
    let r = read_response(&mut third, &mut Vec::new());
    assert_eq!(r.status, 503);
    assert_eq!(r.body, br#"{"error":"server busy"}"#);
    assert!(closed_by_server(&mut third));
    drop(held);
    wait_for("a free slot", || {
        try_status(server.addr, "/json") == Some(200)
    });
    server.stop().unwrap();
}

#[test]
fn header_timeout_closes_a_silent_socket() {
    let limits = limits_with(|l| l.header_timeout = Duration::from_millis(200));
    let server = start(limits, 1);
    let mut s = connect(server.addr);
    let t0 = Instant::now();
    assert!(closed_by_server(&mut s), "a silent socket must be closed");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "closed after {waited:?}"
    );
    // A slow partial request gets 408 before the close.
    let mut slow = connect(server.addr);
    slow.write_all(b"GET /json HTTP/1.1\r\n").unwrap();
    assert_eq!(read_response(&mut slow, &mut Vec::new()).status, 408);
    drop((s, slow));
    server.stop().unwrap();
}

#[test]
fn a_panicking_app_costs_the_request_a_500_not_the_worker() {
    let server = start(limits(), 1);
    let r = get(server.addr, "/panic");
    assert_eq!(r.status, 500);
    assert_eq!(
        get(server.addr, "/json").status,
        200,
        "the worker still serves"
    );
    server.stop().unwrap();
}

#[test]
fn shutdown_gives_unanswered_later_requests_a_503_after_a_short_grace() {
    let server = start(limits(), 1);
    let mut s = connect(server.addr);
    write!(s, "GET /never HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    wait_for("the request to reach the app", || {
        server
            .app
            .never_answered
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    });
    let t0 = Instant::now();
    server.handle.shutdown();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 503);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert!(closed_by_server(&mut s));
    drop(s);
    server.stop().unwrap();
}

#[test]
fn http10_keep_alive_is_answered_keep_alive_and_the_socket_serves_the_next_request() {
    let server = start(limits(), 1);
    let mut s = connect(server.addr);
    let mut buf = Vec::new();
    for i in 0..2 {
        write!(
            s,
            "GET /json?n={i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        )
        .unwrap();
        let r = read_response(&mut s, &mut buf);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("connection").as_deref(),
            Some("keep-alive"),
            "{}",
            r.head
        );
    }
    write!(s, "GET /json HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut s, &mut buf);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(closed_by_server(&mut s), "1.0 without keep-alive closes");
    server.stop().unwrap();
}

/// Reads until EOF or reset (or the read timeout); returns the bytes read.
fn read_until_closed(s: &mut std::net::TcpStream) -> (usize, bool) {
    let mut total = 0;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (total, true),
            Err(_) => return (total, false),
        }
    }
}

#[test]
fn an_answer_a_client_does_not_read_is_dropped_past_max_outbound_and_a_reader_gets_it_whole() {
    let mut limits = limits();
    limits.max_outbound = 64 * 1024;
    let server = start(limits, 1);
    // A client that asks for 32 MiB and does not read: the socket takes a few MiB at
    // once, more than 64 KiB is left, so the server closes and frees the rest.
    let mut stalled = connect(server.addr);
    let n = 32 << 20;
    write!(stalled, "GET /big?n={n} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300)); // not reading
    let (got, closed) = read_until_closed(&mut stalled);
    assert!(closed, "the server closed the stalled client");
    assert!(
        got < n,
        "only what the socket had taken arrived: {got} bytes"
    );

    // A client that reads gets an answer of 8 times the limit whole, and keeps its
    // connection: the limit is about what stays queued, not the answer's size.
    let mut reader = connect(server.addr);
    let mut buf = Vec::new();
    for _ in 0..2 {
        write!(
            reader,
            "GET /big?n={} HTTP/1.1\r\nHost: t\r\n\r\n",
            512 * 1024
        )
        .unwrap();
        let r = read_response(&mut reader, &mut buf);
        assert_eq!((r.status, r.body.len()), (200, 512 * 1024));
    }
    assert_eq!(get(server.addr, "/json").status, 200, "bystander");
    server.stop().unwrap();
}
