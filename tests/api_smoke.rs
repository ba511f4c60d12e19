//! Smoke test of the whole server: signed REST calls over raw HTTP/1.1, a websocket
//! listener through tungstenite, presence, delivery, long-poll and disconnect.

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::time::Duration;

/// The first item of the first non-heartbeat frame within `within`.
fn next_message(ws: &mut Ws, within: Duration) -> Option<Value> {
    read_items(ws, within, |_| true).into_iter().next()
}

#[test]
fn websocket_gets_presence_and_messages_and_long_poll_gets_its_share() {
    let running = start(loopback_config());
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
    let listener = std::thread::spawn(move || {
        raw(
            addr,
            &signed("GET", &format!("/listen?conn_id={bob_id}"), b""),
        )
    });
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
    let answer = listener.join().expect("listener");
    assert_eq!(status_of(&answer), 200);
    let polled: Value = serde_json::from_slice(body_of(&answer)).expect("listen json");
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
    let closed = read_close(&mut stranger, Duration::from_secs(2));
    assert!(closed.is_some(), "unknown conn_id should be closed");

    running.shutdown().expect("shutdown");
}
