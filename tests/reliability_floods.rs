//! Floods against the real server: too many connections, slowloris heads, idle sockets,
//! oversized heads/bodies/messages, fragment floods, deep JSON; and the fd limit raised
//! at start by the real binary.

mod server_common;

use serde_json::json;
use server_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

fn ws_id(i: usize) -> String {
    format!("ffffffff-0000-4000-8000-{i:012}")
}

#[test]
fn past_max_connections_new_ones_get_503_json_and_existing_ones_keep_working() {
    let mut config = small_config();
    config.limits.max_connections = 8;
    let server = start(config);
    let addr = server.addr;
    for i in 0..8 {
        connect(addr, &format!("u{i}"), &ws_id(i), &["full"]);
    }
    let mut socks: Vec<Ws> = (0..8).map(|i| open_ws(addr, &ws_id(i))).collect();
    for _ in 0..3 {
        let (out, closed) = exchange(addr, &signed("GET", "/info", b""));
        assert_eq!(status_of(&out), 503, "{}", String::from_utf8_lossy(&out));
        assert!(serde_json::from_slice::<serde_json::Value>(body_of(&out)).is_ok());
        assert!(closed, "the refused socket is closed (EOF) after its 503");
    }
    // One leaves; the slot is usable again, and the others still receive.
    if let Some(mut ws) = socks.pop() {
        let _ = ws.close(None);
    }
    let end = Instant::now() + Duration::from_secs(3);
    let mut published = false;
    while !published && Instant::now() < end {
        let out = raw(
            addr,
            &signed(
                "POST",
                "/message",
                json!([{"channel": "full", "user": "s", "message": {"marker": "after"}}])
                    .to_string()
                    .as_bytes(),
            ),
        );
        published = status_of(&out) == 200;
        thread::sleep(Duration::from_millis(50));
    }
    assert!(published, "a slot never freed up");
    for (i, ws) in socks.iter_mut().enumerate() {
        assert!(
            sees_marker(ws, "after", Duration::from_secs(3)),
            "client {i}"
        );
    }
    server.shutdown().expect("clean shutdown");
}

#[test]
fn slowloris_head_is_cut_at_header_timeout_and_idle_sockets_are_closed() {
    let server = start(small_config()); // header_timeout 1 s
    let addr = server.addr;
    let idle = TcpStream::connect(addr).expect("connect");
    let mut slow = TcpStream::connect(addr).expect("connect");
    let started = Instant::now();
    let head = b"GET /info HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_after = None;
    for b in head {
        if slow.write_all(&[*b]).is_err() {
            cut_after = Some(started.elapsed());
            break;
        }
        slow.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        match slow.read(&mut buf) {
            Ok(_) => {
                cut_after = Some(started.elapsed());
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                cut_after = Some(started.elapsed());
                break;
            }
        }
    }
    let cut_after = cut_after.expect("the trickled head was never cut");
    assert!(
        cut_after >= Duration::from_millis(800) && cut_after < Duration::from_secs(3),
        "cut after {cut_after:?}"
    );
    let mut idle = idle;
    idle.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let r = idle.read(&mut buf);
    assert!(
        matches!(r, Ok(0) | Err(_)) && started.elapsed() < Duration::from_secs(4),
        "idle socket: {r:?} after {:?}",
        started.elapsed()
    );
    assert!(r.is_ok(), "idle socket: expected EOF, got {r:?}");
    server.shutdown().expect("clean shutdown");
}

#[test]
fn oversized_head_431_and_bodies_413_by_length_and_by_chunked() {
    let server = start(small_config()); // max_head 2 KiB, max_body 64 KiB
    let addr = server.addr;
    let head = format!("GET /info HTTP/1.1\r\nX-Big: {}\r\n\r\n", "h".repeat(3000));
    assert_eq!(status_of(&raw(addr, head.as_bytes())), 431);
    let by_length = "POST /message HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n";
    assert_eq!(status_of(&raw(addr, by_length.as_bytes())), 413);
    let mut chunked =
        b"POST /message HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(b"1000\r\n");
        chunked.extend(std::iter::repeat_n(b'[', 4096));
        chunked.extend_from_slice(b"\r\n");
    }
    assert_eq!(status_of(&raw(addr, &chunked)), 413);
    // 10,000 nested arrays within the body limit: a JSON 400, not a stack overflow.
    let mut deep = vec![b'['; 10_000];
    deep.extend(std::iter::repeat_n(b']', 10_000));
    let out = raw(addr, &signed("POST", "/message", &deep));
    assert_eq!(status_of(&out), 400);
    assert!(serde_json::from_slice::<serde_json::Value>(body_of(&out)).is_ok());
    server.shutdown().expect("clean shutdown");
}

#[test]
fn websocket_message_past_max_message_closes_1009_before_the_payload_arrives() {
    let server = start(small_config()); // max_message 16 KiB
    let addr = server.addr;
    let id = ws_id(100);
    connect(addr, "big", &id, &["c"]);
    let mut s = raw_ws(addr, &id);
    // A header announcing 1 GiB and a few payload bytes: refused from the header alone.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 30).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
    s.write_all(&frame).expect("write");
    let got = read_until_close(&mut s, Duration::from_secs(3));
    assert_eq!(close_code(&got), Some(1009));
    server.shutdown().expect("clean shutdown");
}

#[test]
fn many_small_fragments_cannot_grow_a_message_past_max_message() {
    let server = start(small_config()); // max_message 16 KiB
    let addr = server.addr;
    let id = ws_id(101);
    connect(addr, "frag", &id, &["c"]);
    let mut s = raw_ws(addr, &id);
    let mut bytes = client_frame(0x01, &[b'a'; 512]); // text, not final
    for _ in 0..64 {
        bytes.extend(client_frame(0x00, &[b'a'; 512])); // continuation, not final
    }
    let _ = s.write_all(&bytes);
    let got = read_until_close(&mut s, Duration::from_secs(3));
    assert_eq!(close_code(&got), Some(1009));
    server.shutdown().expect("clean shutdown");
}

#[test]
fn the_binary_raises_its_open_files_limit_to_the_hard_limit() {
    let server = Binary::start("ulimit -Sn 256 2>/dev/null;", &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_eq!(soft, hard, "{line}");
    assert_ne!(soft, "256", "{line}");
}
