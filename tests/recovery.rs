//! Recovery after reconnect and the long-poll queue, through the real server: positions
//! on channel messages for listeners that ask (`recover` on `/ws` and `/listen`), replay
//! after a position on a new connection (also across a restart of the binary with a
//! state file), and long-poll clients that re-poll late missing nothing
//! (docs/API.md "Recovery after reconnect", docs/RELIABILITY.md).

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tungstenite::Message;

const A: &str = "a0000000-0000-4000-8000-000000000001";
const B: &str = "b0000000-0000-4000-8000-000000000002";
const C: &str = "c0000000-0000-4000-8000-000000000003";

/// `recover=` with `positions` as URL-encoded JSON.
fn recover_param(positions: &Value) -> String {
    let text = positions.to_string();
    let mut out = String::from("recover=");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A websocket on `/ws?conn_id=..&<extra>`.
fn open_ws_with(addr: SocketAddr, conn_id: &str, extra: &str) -> Ws {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("ws://{addr}/ws?conn_id={conn_id}&{extra}");
    let ws = tungstenite::client(url, stream).expect("handshake").0;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    ws
}

/// One long-poll: status and the parsed list.
fn listen(addr: SocketAddr, conn_id: &str, extra: &str) -> (u16, Value) {
    let req = format!(
        "GET /listen?conn_id={conn_id}&{extra} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    );
    let out = raw(addr, req.as_bytes());
    let body = serde_json::from_slice(body_of(&out)).unwrap_or(Value::Null);
    (status_of(&out), body)
}

fn say(addr: SocketAddr, channel: &str, n: u64) {
    post(
        addr,
        "/message",
        json!([{"channel": channel, "user": "system", "message": {"n": n}}]),
    );
}

/// `(pos, n)` of each channel message (null pos: 0).
fn pos_and_n(items: &[Value]) -> Vec<(u64, u64)> {
    items
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| {
            (
                i["pos"].as_u64().unwrap_or(0),
                i["message"]["n"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Reads until the `recovery` report; returns everything before it and the report.
fn until_report(ws: &mut Ws) -> (Vec<Value>, Value) {
    let mut items = read_items(ws, Duration::from_secs(5), |i| i["type"] == "recovery");
    let report = items.pop().unwrap_or(Value::Null);
    assert_eq!(report["type"], "recovery", "{items:?}");
    (items, report["channels"].clone())
}

#[test]
fn a_websocket_that_asks_gets_positions_and_a_new_connection_is_replayed_what_it_missed() {
    let server = start(loopback_config());
    let addr = server.addr;
    connect(addr, "alice", A, &["room"]);
    connect(addr, "carol", C, &["room"]);
    let mut asks = open_ws_with(addr, A, &recover_param(&json!({})));
    let (before, report) = until_report(&mut asks);
    assert!(before.is_empty());
    assert_eq!(report, json!({"room": {"pos": 0}}));
    let mut plain = open_ws(addr, C);
    say(addr, "room", 1);
    say(addr, "room", 2);
    let seen = read_items(&mut asks, Duration::from_secs(5), |i| {
        i["message"]["n"] == 2
    });
    assert_eq!(pos_and_n(&seen), [(1, 1), (2, 2)]);
    let seen_plain = read_items(&mut plain, Duration::from_secs(5), |i| {
        i["message"]["n"] == 2
    });
    assert_eq!(seen_plain.len(), 2);
    assert!(
        seen_plain.iter().all(|i| i.get("pos").is_none()),
        "the reference's messages for a listener that does not ask: {seen_plain:?}"
    );

    // The socket drops; the page comes back with a new connection and its positions.
    drop(asks);
    say(addr, "room", 3);
    say(addr, "room", 4);
    connect(addr, "alice", B, &["room"]);
    let mut back = open_ws_with(addr, B, &recover_param(&json!({"room": 2})));
    let (replayed, report) = until_report(&mut back);
    assert_eq!(pos_and_n(&replayed), [(3, 3), (4, 4)]);
    assert!(replayed.iter().all(|i| i["catchup"] == true));
    assert_eq!(report, json!({"room": {"pos": 4, "recovered": true}}));
    say(addr, "room", 5);
    let live = read_items(&mut back, Duration::from_secs(5), |i| {
        i["message"]["n"] == 5
    });
    assert_eq!(pos_and_n(&live), [(5, 5)]);
    let _ = back.send(Message::Close(None));
}

#[test]
fn a_long_poll_names_positions_too_and_a_bad_recover_is_422_on_both_transports() {
    let server = start(loopback_config());
    let addr = server.addr;
    connect(addr, "alice", A, &["room"]);
    for n in 1..=3 {
        say(addr, "room", n);
    }
    let (status, body) = listen(addr, A, &recover_param(&json!({"room": 1})));
    assert_eq!(status, 200);
    let items = body.as_array().cloned().unwrap_or_default();
    assert_eq!(pos_and_n(&items), [(2, 2), (3, 3)]);
    assert_eq!(
        items.last().map(|r| r["channels"].clone()),
        Some(json!({"room": {"pos": 3, "recovered": true}}))
    );

    let bad = "recover=%5B1%5D";
    let (status, body) = listen(addr, A, bad);
    assert_eq!(status, 422);
    assert!(body["recover"][0].as_str().is_some(), "{body}");
    let ws_req = format!(
        "GET /ws?conn_id={A}&{bad} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    let out = raw(addr, ws_req.as_bytes());
    assert_eq!(status_of(&out), 422, "{}", String::from_utf8_lossy(&out));
}

#[test]
fn a_long_poll_client_that_re_polls_late_misses_nothing_without_store_frames() {
    let server = start(loopback_config());
    let addr = server.addr;
    post(
        addr,
        "/channel_config",
        json!({"room": {"store_frames": false}}),
    );
    connect(addr, "alice", A, &["room"]);
    say(addr, "room", 1);
    let (_, first) = listen(addr, A, "");
    assert_eq!(first, json!([]), "nothing kept from before the first poll");
    // No poll is open now.
    for n in 2..=4 {
        say(addr, "room", n);
    }
    let (status, body) = listen(addr, A, "");
    assert_eq!(status, 200);
    let items = body.as_array().cloned().unwrap_or_default();
    let numbers: Vec<u64> = items
        .iter()
        .filter_map(|i| i["message"]["n"].as_u64())
        .collect();
    assert_eq!(numbers, [2, 3, 4]);
    assert!(items.iter().all(|i| i.get("pos").is_none()));
}

fn temp_state(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cs-recovery-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("state.json")
}

#[test]
fn positions_survive_a_restart_and_a_client_is_replayed_what_it_missed_across_it() {
    let state = temp_state("restart");
    let state_arg = state.to_str().expect("utf-8 path");
    let mut server = Binary::start("", &["--state-file", state_arg]);
    let addr = server.addr;
    connect(addr, "alice", A, &["room"]);
    let mut ws = open_ws_with(addr, A, &recover_param(&json!({})));
    let _ = until_report(&mut ws);
    say(addr, "room", 1);
    say(addr, "room", 2);
    let seen = read_items(&mut ws, Duration::from_secs(5), |i| i["message"]["n"] == 2);
    assert_eq!(pos_and_n(&seen), [(1, 1), (2, 2)]);
    drop(ws);
    say(addr, "room", 3); // while the page is away, before the restart
    assert_eq!(server.terminate(), Some(0), "{}", server.log());

    let mut server = Binary::start("", &["--state-file", state_arg]);
    let addr = server.addr;
    say(addr, "room", 4); // after the restart
    connect(addr, "alice", B, &["room"]);
    let mut back = open_ws_with(addr, B, &recover_param(&json!({"room": 2})));
    let (replayed, report) = until_report(&mut back);
    assert_eq!(pos_and_n(&replayed), [(3, 3), (4, 4)]);
    assert_eq!(report, json!({"room": {"pos": 4, "recovered": true}}));
    drop(back);
    assert_eq!(server.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(state.parent().expect("dir"));
}
