//! Restarts of the real binary with `--state-file`: SIGTERM answers everyone (websocket
//! close 1001, waiting long-polls answered), exits 0, and the next start restores
//! channels, their config and history, and user state. A corrupt or truncated snapshot is
//! moved aside and the server starts empty and serves.

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cs-reliab-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What must survive a restart: every channel's identity, settings and history.
fn channels(addr: SocketAddr) -> Value {
    let info = post(addr, "/info", json!({"info": {"include_users": false}}));
    let mut out = serde_json::Map::new();
    for (name, ch) in info["channels"].as_object().cloned().unwrap_or_default() {
        out.insert(
            name,
            json!({"uuid": ch["uuid"], "settings": ch["settings"], "history": ch["history"]}),
        );
    }
    Value::Object(out)
}

fn users(addr: SocketAddr) -> Value {
    post(
        addr,
        "/info",
        json!({"info": {"return_public_state": true}}),
    )["users"]
        .clone()
}

fn connect_alice(addr: SocketAddr) {
    post(
        addr,
        "/connect",
        json!({"username": "alice", "conn_id": ALICE, "channels": ["hist", "plain"],
               "fresh_user_state": {"color": "red", "secret": "s"},
               "state_public_keys": ["color"]}),
    );
}

#[test]
fn sigterm_answers_everyone_exits_0_and_a_restart_restores_channels_history_and_state() {
    let dir = temp_dir("restart");
    let state = dir.join("state.json");
    let state_arg = state.to_str().expect("utf-8 path");
    let mut server = Binary::start(
        "",
        &["--state-file", state_arg, "--wake-connections-after", "30"],
    );
    let addr = server.addr;
    post(
        addr,
        "/channel_config",
        json!({"hist": {"store_history": true, "history_size": 3, "notify_presence": true}}),
    );
    connect_alice(addr);
    post(
        addr,
        "/user_state",
        json!({"user": "alice", "user_state": {"color": "blue", "n": 3}}),
    );
    for i in 0..5 {
        post(
            addr,
            "/message",
            json!([{"channel": "hist", "user": "alice", "message": {"i": i}}]),
        );
    }
    connect(addr, "bob", BOB, &["plain"]);
    let before_channels = channels(addr);
    let before_users = users(addr);
    assert_eq!(
        before_channels["hist"]["history"].as_array().map(Vec::len),
        Some(3)
    );

    let mut ws = open_ws(addr, ALICE);
    let mut poll = TcpStream::connect(addr).expect("connect");
    poll.write_all(format!("GET /listen?conn_id={BOB} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .expect("poll");
    thread::sleep(Duration::from_millis(300)); // the poll is waiting in the hub
    let sent = Instant::now();
    assert_eq!(
        server.terminate(),
        Some(0),
        "exit status; log:\n{}",
        server.log()
    );

    poll.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = poll.read_to_end(&mut answer);
    assert_eq!(
        status_of(&answer),
        200,
        "poll: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "poll answered late"
    );
    let close = read_close(&mut ws, Duration::from_secs(3));
    assert_eq!(close, Some(Some(1001)), "websocket close code at shutdown");
    assert!(state.exists(), "no snapshot written at shutdown");

    let again = Binary::start("", &["--state-file", state_arg]);
    let addr = again.addr;
    assert_eq!(channels(addr), before_channels, "channels after restart");
    // Connections are not persisted: clients reconnect; the user keeps its state.
    connect_alice(addr);
    connect(addr, "bob", BOB, &["plain"]);
    assert_eq!(users(addr), before_users, "users after restart");
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

fn starts_despite(name: &str, bad: &[u8]) {
    let dir = temp_dir(name);
    let state = dir.join("state.json");
    std::fs::write(&state, bad).expect("write");
    let mut server = Binary::start("", &["--state-file", state.to_str().expect("utf-8")]);
    let (status, info) = call(server.addr, "POST", "/info", &json!({"info": {}}));
    assert_eq!(status, 200, "{name}: serves");
    assert_eq!(info["channels"], json!({}), "{name}: starts empty");
    let mut aside = state.as_os_str().to_owned();
    aside.push(".corrupt");
    assert_eq!(
        std::fs::read(&aside).ok().as_deref(),
        Some(bad),
        "{name}: moved aside"
    );
    assert!(
        server.log().contains("corrupt"),
        "{name}: logged: {}",
        server.log()
    );
    assert_eq!(server.terminate(), Some(0));
    assert!(
        state.exists(),
        "{name}: a fresh snapshot replaces the bad one"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_snapshot_is_moved_aside_and_the_server_starts_and_serves() {
    starts_despite("garbage", b"\x00\x01garbage{{{not json");
}

#[test]
fn truncated_snapshot_is_moved_aside_and_the_server_starts_and_serves() {
    starts_despite(
        "truncated",
        br#"{"version":"0.7.1","users":[{"username":"u","uuid":"a11ce000-0000-4000-8000-0000000"#,
    );
}
