//! The request bounds against the real server, with the bodies issue 9 found: a 976 KB
//! `/message` of invalid items (answered with 8.9 MB of errors before), a `/connect`
//! naming 100 000 channels (75.8 MB in 5.6 s before), invalid items within the caps, and
//! the per-request counts set by the config. After each, the server still serves.

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::net::SocketAddr;

/// A signed request with a raw body: status, body bytes.
fn send(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let out = raw(addr, &signed(method, path, body));
    (status_of(&out), body_of(&out).to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// A normal request still works.
fn still_serves(addr: SocketAddr) {
    let got = connect(
        addr,
        "after",
        "dddddddd-0000-4000-8000-000000000004",
        &["a"],
    );
    assert_eq!(got["channels"], json!(["a"]));
}

#[test]
fn the_issues_oversized_bodies_get_a_short_413_and_nothing_is_built() {
    let server = start(loopback_config());
    let addr = server.addr;

    // 976 KB of invalid message items: 125 000 of them.
    let items = format!("[{}]", vec![r#"{"a":1}"#; 125_000].join(","));
    assert!(items.len() > 975_000 && items.len() < 1_048_576);
    let (status, body) = send(addr, "POST", "/message", items.as_bytes());
    assert_eq!(status, 413);
    assert_eq!(
        json_of(&body),
        json!({"_schema": ["A list in the body holds more than 1000 items."]})
    );

    // 852 KB naming 100 000 channels.
    let channels: Vec<String> = (0..100_000).map(|i| format!("{i:06}")).collect();
    let connect = json!({"username": "many", "channels": channels}).to_string();
    assert!(connect.len() > 850_000);
    let (status, body) = send(addr, "POST", "/connect", connect.as_bytes());
    assert_eq!(status, 413);
    assert!(body.len() < 200, "{}", String::from_utf8_lossy(&body));
    let (status, info) = call(
        addr,
        "POST",
        "/info",
        &json!({"info": {"channels": ["000001"]}}),
    );
    assert_eq!(
        (status, &info["channels"]),
        (200, &json!({})),
        "no channel was made"
    );

    still_serves(addr);
    server.shutdown().expect("clean shutdown");
}

#[test]
fn invalid_items_within_the_caps_get_100_errors_and_a_count_below_64_kib() {
    let server = start(loopback_config());
    let addr = server.addr;
    // 1000 messages, each naming 480 users that are not strings: 480 000 errors, which
    // the old server answered in full.
    let pm = vec!["1"; 480].join(",");
    let item = format!(r#"{{"user":"u","channel":"c","pm_users":[{pm}]}}"#);
    let body = format!("[{}]", vec![item.as_str(); 1000].join(","));
    assert!(body.len() < 1_048_576);
    let (status, answer) = send(addr, "POST", "/message", body.as_bytes());
    assert_eq!(status, 422);
    assert!(answer.len() < 64 * 1024, "{} bytes", answer.len());
    let errors = json_of(&answer);
    assert_eq!(errors["_more_errors"], json!(480_000 - 100));
    assert_eq!(errors["0"]["pm_users"]["0"], json!(["Not a valid string."]));
    still_serves(addr);
    server.shutdown().expect("clean shutdown");
}

#[test]
fn counts_per_request_follow_the_config_and_past_them_nothing_changes() {
    let mut config = loopback_config();
    config.max_channels_per_request = 3;
    config.max_messages_per_request = 5;
    let server = start(config);
    let addr = server.addr;
    let at_most_3 = json!(["At most 3 channels per request."]);
    let conn = "eeeeeeee-0000-4000-8000-000000000005";

    let four = json!({"username": "u", "conn_id": conn, "channels": ["a", "b", "c", "d"]});
    assert_eq!(
        call(addr, "POST", "/connect", &four),
        (413, json!({"channels": at_most_3}))
    );
    connect(addr, "u", conn, &["a", "b", "c"]);
    for path in ["/subscribe", "/unsubscribe"] {
        let body = json!({"conn_id": conn, "channels": ["w", "x", "y", "z"]});
        assert_eq!(
            call(addr, "POST", path, &body),
            (413, json!({"channels": at_most_3})),
            "{path}"
        );
    }
    let configs = json!({"w": {}, "x": {}, "y": {}, "z": {}});
    assert_eq!(
        call(addr, "POST", "/channel_config", &configs),
        (413, json!({"_schema": at_most_3}))
    );
    let msg = json!({"user": "u", "channel": "a", "message": {"n": 1}});
    assert_eq!(
        call(addr, "POST", "/message", &json!(vec![&msg; 6])),
        // past the larger count: refused by the pre-scan, before the body is parsed
        (
            413,
            json!({"_schema": ["A list in the body holds more than 5 items."]})
        )
    );
    let (status, info) = call(addr, "POST", "/info", &json!({"info": {"channels": ["a"]}}));
    assert_eq!(status, 200);
    assert_eq!(info["channels"]["a"]["total_connections"], json!(1));
    assert_eq!(
        info["channels"]["a"]["history"],
        json!([]),
        "no message was sent"
    );
    assert_eq!(call(addr, "POST", "/message", &json!(vec![&msg; 5])).0, 200);
    server.shutdown().expect("clean shutdown");
}
