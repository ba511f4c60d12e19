//! Smoke test of the whole server: signed REST calls over raw HTTP/1.1, a websocket
//! listener through tungstenite, presence, delivery, long-poll and disconnect.

use channelstream::api::signature::Signer;
use channelstream::app;
use channelstream::config::Config;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::Message;

fn config() -> Config {
    Config {
        secret: "secret".into(),
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        allow_posting_from: vec!["127.0.0.1".into()],
        wake_connections_after: 1,
        workers: 2,
        ..Config::default()
    }
}

/// One request on its own connection; returns status and body.
fn http(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let token = Signer::new("secret").sign("smoke", now);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nX-Channelstream-Secret: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post(addr: SocketAddr, path: &str, body: Value) -> Value {
    let (status, text) = http(addr, "POST", path, &body.to_string());
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("json body")
}

type Ws = tungstenite::WebSocket<TcpStream>;

fn open_ws(addr: SocketAddr, conn_id: &str) -> Ws {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let url = format!("ws://{addr}/ws?conn_id={conn_id}");
    tungstenite::client(url, stream).expect("handshake").0
}

/// The next non-heartbeat message within `within`.
fn next_message(ws: &mut Ws, within: Duration) -> Option<Value> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let list: Value = serde_json::from_str(&t).expect("json frame");
                if let Some(first) = list.as_array().and_then(|a| a.first()) {
                    return Some(first.clone());
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("websocket error: {e}"),
        }
    }
    None
}

#[test]
fn websocket_gets_presence_and_messages_and_long_poll_gets_its_share() {
    let running = app::spawn(config()).expect("spawn");
    let addr = running.addr;
    let room = json!({"room": {"notify_presence": true}});
    let alice = post(
        addr,
        "/connect",
        json!({"username": "alice", "channels": ["room"], "channel_configs": room}),
    );
    let alice_id = alice["conn_id"].as_str().unwrap_or_default().to_string();
    let mut ws = open_ws(addr, &alice_id);

    let bob = post(
        addr,
        "/connect",
        json!({"username": "bob", "channels": ["room"]}),
    );
    let bob_id = bob["conn_id"].as_str().unwrap_or_default().to_string();
    let joined = next_message(&mut ws, Duration::from_secs(2)).expect("presence");
    assert_eq!(
        (joined["type"].clone(), joined["user"].clone()),
        (json!("presence"), json!("bob"))
    );
    assert_eq!(joined["message"], json!({"action": "joined"}));

    // bob listens by long-poll while a message is sent
    let listener =
        std::thread::spawn(move || http(addr, "GET", &format!("/listen?conn_id={bob_id}"), ""));
    std::thread::sleep(Duration::from_millis(200));
    let sent = post(
        addr,
        "/message",
        json!([{"user": "bob", "channel": "room", "message": {"text": "hi"}}]),
    );
    let got = next_message(&mut ws, Duration::from_secs(2)).expect("message");
    assert_eq!(got["message"], json!({"text": "hi"}));
    assert_eq!(
        (got["type"].clone(), got["catchup"].clone()),
        (json!("message"), json!(false))
    );
    assert_eq!(got["uuid"], sent[0]["uuid"]);
    let (status, body) = listener.join().expect("listener");
    assert_eq!(status, 200);
    let polled: Value = serde_json::from_str(&body).expect("listen json");
    assert_eq!(polled[0]["uuid"], sent[0]["uuid"]);

    // bob leaves: alice sees him part once the connection is collected
    let bob_conn = bob["conn_id"].clone();
    assert_eq!(
        post(addr, "/disconnect", json!({"conn_id": bob_conn})),
        json!(true)
    );
    let parted = next_message(&mut ws, Duration::from_secs(3)).expect("parted");
    assert_eq!(parted["message"], json!({"action": "parted"}));

    // an unknown id is accepted and closed at once
    let mut stranger = open_ws(addr, "00000000-0000-4000-8000-000000000009");
    let end = Instant::now() + Duration::from_secs(2);
    let mut closed = false;
    while Instant::now() < end && !closed {
        closed = matches!(
            stranger.read(),
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed)
        );
    }
    assert!(closed, "unknown conn_id should be closed");

    running.shutdown().expect("shutdown");
}
