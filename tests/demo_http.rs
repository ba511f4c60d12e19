//! The landing page and the demo chat over real HTTP: `/demo` exists only with
//! `demo = true`, and a demo page can act only as the user it connected as.

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::net::SocketAddr;

/// An unsigned request, as a browser page sends it; status, head and body.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String, Vec<u8>) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = raw(addr, req.as_bytes());
    let head_end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..head_end]).to_lowercase();
    (status_of(&out), head, body_of(&out).to_vec())
}

/// A demo call; status and JSON answer.
fn demo(addr: SocketAddr, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = send(addr, method, path, Some(&body));
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Connects `name` to the lobby through the demo; its connection id.
fn join(addr: SocketAddr, name: &str) -> String {
    let (status, answer) = demo(
        addr,
        "POST",
        "/demo/connect",
        json!({"username": name, "channels": ["demo:lobby"]}),
    );
    assert_eq!(status, 200, "{answer}");
    answer["conn_id"].as_str().unwrap_or_default().to_string()
}

/// The lobby's history, read through the signed API.
fn lobby_history(addr: SocketAddr) -> Value {
    let (status, info) = call(
        addr,
        "POST",
        "/info",
        &json!({"info": {"channels": ["demo:lobby"]}}),
    );
    assert_eq!(status, 200, "{info}");
    info["channels"]["demo:lobby"]["history"].clone()
}

#[test]
fn with_the_demo_off_every_demo_path_is_404_and_the_landing_page_says_how_to_turn_it_on() {
    let running = start(loopback_config());
    let addr = running.addr;
    for (method, path) in [
        ("GET", "/demo"),
        ("GET", "/demo/"),
        ("GET", "/demo/demo.js"),
        ("GET", "/demo/demo.css"),
        ("POST", "/demo/connect"),
        ("POST", "/demo/subscribe"),
        ("POST", "/demo/message"),
        ("PATCH", "/demo/message"),
        ("DELETE", "/demo/message"),
        ("POST", "/demo/user_state"),
    ] {
        let body = json!({"username": "alice", "channels": ["demo:lobby"]});
        let (status, _, _) = send(addr, method, path, Some(&body));
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, head, body) = send(addr, "GET", "/", None);
    let page = String::from_utf8_lossy(&body);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(!page.contains("href=\"demo\""), "{page}");
    assert!(page.contains("demo = true"), "{page}");
    let (status, head, _) = send(addr, "GET", "/landing.css", None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/css"), "{head}");
    let (status, _) = call(addr, "POST", "/info", &json!({"info": {}}));
    assert_eq!(status, 200, "the API is unaffected");
    running.shutdown().expect("clean shutdown");
}

#[test]
fn with_the_demo_on_the_page_and_its_files_are_served_and_linked_from_the_landing_page() {
    let mut config = loopback_config();
    config.demo = true;
    let running = start(config);
    let addr = running.addr;
    let (status, head, body) = send(addr, "GET", "/demo", None);
    let page = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains(
            "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'"
        ),
        "{head}"
    );
    assert!(
        page.contains("demo/demo.js") && page.contains("demo/demo.css"),
        "{page}"
    );
    for (path, ctype) in [
        ("/demo/demo.js", "text/javascript"),
        ("/demo/demo.css", "text/css"),
    ] {
        let (status, head, body) = send(addr, "GET", path, None);
        assert_eq!(status, 200, "{path}");
        assert!(
            head.contains(&format!("content-type: {ctype}")),
            "{path}: {head}"
        );
        assert!(!body.is_empty());
    }
    let js = String::from_utf8_lossy(&send(addr, "GET", "/demo/demo.js", None).2).into_owned();
    assert!(
        js.contains("../static/channelstream/index.js"),
        "built on our client"
    );
    let (_, _, body) = send(addr, "GET", "/", None);
    assert!(String::from_utf8_lossy(&body).contains("<a href=\"demo\">"));
    running.shutdown().expect("clean shutdown");
}

#[test]
fn a_demo_page_cannot_take_a_name_in_use_edit_anothers_message_or_speak_as_them() {
    let mut config = loopback_config();
    config.demo = true;
    let running = start(config);
    let addr = running.addr;
    let alice = join(addr, "alice");
    let bob = join(addr, "bob");
    let (status, answer) = demo(addr, "POST", "/demo/connect", json!({"username": "alice"}));
    assert_eq!(
        status, 409,
        "a second page cannot connect as alice: {answer}"
    );

    let (status, said) = demo(
        addr,
        "POST",
        "/demo/message",
        json!({"conn_id": alice, "channel": "demo:lobby", "text": "from alice"}),
    );
    assert_eq!(status, 200, "{said}");
    let uuid = said[0]["uuid"].clone();

    let edit = json!({"conn_id": bob, "uuid": uuid, "channel": "demo:lobby", "text": "forged"});
    let (status, answer) = demo(addr, "PATCH", "/demo/message", edit);
    assert_eq!(status, 403, "{answer}");
    let del = json!({"conn_id": bob, "uuid": uuid, "channel": "demo:lobby"});
    assert_eq!(demo(addr, "DELETE", "/demo/message", del).0, 403);

    // Naming alice in the body changes nothing: the connection says who speaks.
    let forged = json!({"conn_id": bob, "channel": "demo:lobby", "text": "as alice?",
                        "user": "demo:alice", "username": "alice"});
    let (status, answer) = demo(addr, "POST", "/demo/message", forged);
    assert_eq!(
        (status, &answer[0]["user"]),
        (200, &json!("demo:bob")),
        "{answer}"
    );
    let status_as_alice = json!({"conn_id": bob, "username": "alice",
                                 "update_state": {"status": "hacked"}});
    assert_eq!(
        demo(addr, "POST", "/demo/user_state", status_as_alice).0,
        200
    );

    let history = lobby_history(addr);
    let said: Vec<(Value, Value)> = history
        .as_array()
        .map(|h| {
            h.iter()
                .map(|m| (m["user"].clone(), m["message"]["text"].clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        said,
        vec![
            (json!("demo:alice"), json!("from alice")),
            (json!("demo:bob"), json!("as alice?")),
        ]
    );
    let (_, users) = call(
        addr,
        "POST",
        "/info",
        &json!({"info": {"channels": ["demo:lobby"]}}),
    );
    let state_of = |name: &str| {
        users["users"]
            .as_array()
            .and_then(|l| l.iter().find(|u| u["user"] == name))
            .map(|u| u["state"].clone())
    };
    assert_eq!(state_of("demo:alice"), Some(json!({})));
    assert_eq!(state_of("demo:bob"), Some(json!({"status": "hacked"})));

    // A connection id that is not the demo's is refused.
    let (status, answer) = demo(
        addr,
        "POST",
        "/demo/message",
        json!({"conn_id": "00000000-0000-4000-8000-000000000001", "channel": "demo:lobby", "text": "x"}),
    );
    assert_eq!(status, 422, "{answer}");
    running.shutdown().expect("clean shutdown");
}
