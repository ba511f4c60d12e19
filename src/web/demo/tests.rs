//! The demo without sockets: a page's calls routed on the "worker" ([`Demo::route`]) and
//! run on the "hub" ([`call::Call::run`]), as the server does.

use super::*;
use crate::api::Outcome;
use crate::http::Version;
use crate::hub::{Hub, Time, Uuid};
use std::net::Ipv4Addr;
use std::time::Duration;

const NOW: u64 = 1_700_000_000;
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn request(method: &str, path: &str, body: &[u8], content_type: Option<&str>) -> Request {
    let mut headers = vec![("host".to_string(), b"example.test".to_vec())];
    if let Some(t) = content_type {
        headers.push(("content-type".into(), t.as_bytes().to_vec()));
    }
    Request {
        method: method.into(),
        target: path.into(),
        version: Version::Http11,
        headers,
        body: body.to_vec(),
        keep_alive: true,
    }
}

fn hub() -> Hub {
    Hub::new(Time(NOW * 1_000_000), Duration::from_secs(5), 7)
}

/// Routes and runs one demo call with a JSON body; status and parsed body.
fn call(demo: &Demo, hub: &mut Hub, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let req = request(method, path, &bytes, Some("application/json"));
    let resp = match demo.route(&req, path, PEER, NOW) {
        None => panic!("{method} {path} not routed"),
        Some(Routed::Respond(r) | Routed::After(_, r)) => r,
        Some(Routed::Hub(cmd)) => match cmd.kind {
            Kind::Demo(c) => match c.run(hub, Time(NOW * 1_000_000), &Vec::new()) {
                Outcome::Respond(r) => r,
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("not a demo command: {other:?}"),
        },
    };
    let _ = hub.take_effects();
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

/// Connects `name` to the lobby; its connection id.
fn connect(demo: &Demo, hub: &mut Hub, name: &str) -> String {
    let (status, body) = call(
        demo,
        hub,
        "POST",
        "/demo/connect",
        &json!({"username": name, "channels": ["demo:lobby"]}),
    );
    assert_eq!(status, 200, "{body}");
    body["conn_id"].as_str().unwrap_or_default().to_string()
}

/// Says `text` in the lobby; the message's uuid.
fn say(demo: &Demo, hub: &mut Hub, conn: &str, text: &str) -> String {
    let (status, body) = call(
        demo,
        hub,
        "POST",
        "/demo/message",
        &json!({"conn_id": conn, "channel": "demo:lobby", "text": text}),
    );
    assert_eq!(status, 200, "{body}");
    body[0]["uuid"].as_str().unwrap_or_default().to_string()
}

fn lobby_history(hub: &Hub) -> Vec<Value> {
    hub.channels
        .get("demo:lobby")
        .map(|ch| ch.history.iter().map(|m| m.value()).collect())
        .unwrap_or_default()
}

#[test]
fn bad_input_is_refused_on_the_worker_with_the_field_named() {
    let demo = Demo::new();
    let mut hub = hub();
    let conn = "00000000-0000-4000-8000-000000000001";
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let cases: &[(&str, &str, Value, &str)] = &[
        ("/demo/connect", "POST", json!({"username": ""}), "username"),
        (
            "/demo/connect",
            "POST",
            json!({"username": "a b"}),
            "username",
        ),
        (
            "/demo/connect",
            "POST",
            json!({"username": "<b>x</b>"}),
            "username",
        ),
        (
            "/demo/connect",
            "POST",
            json!({"username": "x".repeat(25)}),
            "username",
        ),
        ("/demo/connect", "POST", json!({"username": 7}), "username"),
        (
            "/demo/connect",
            "POST",
            json!({"username": "a", "channels": ["lobby"]}),
            "channels",
        ),
        (
            "/demo/connect",
            "POST",
            json!({"username": "a", "status": "x".repeat(65)}),
            "status",
        ),
        (
            "/demo/subscribe",
            "POST",
            json!({"conn_id": conn, "channels": ["app-room"]}),
            "channels",
        ),
        (
            "/demo/subscribe",
            "POST",
            json!({"channels": ["demo:help"]}),
            "conn_id",
        ),
        (
            "/demo/message",
            "POST",
            json!({"conn_id": conn, "text": "hi"}),
            "channel",
        ),
        (
            "/demo/message",
            "POST",
            json!({"conn_id": conn, "channel": "demo:lobby", "to": "demo:bob", "text": "hi"}),
            "channel",
        ),
        (
            "/demo/message",
            "POST",
            json!({"conn_id": conn, "to": "bob", "text": "hi"}),
            "to",
        ),
        (
            "/demo/message",
            "POST",
            json!({"conn_id": conn, "channel": "demo:lobby", "text": " "}),
            "text",
        ),
        (
            "/demo/message",
            "POST",
            json!({"conn_id": conn, "channel": "demo:lobby", "text": long}),
            "text",
        ),
        (
            "/demo/message",
            "PATCH",
            json!({"conn_id": conn, "channel": "demo:lobby", "text": "x"}),
            "uuid",
        ),
        (
            "/demo/message",
            "DELETE",
            json!({"conn_id": conn, "channel": "demo:lobby"}),
            "uuid",
        ),
        (
            "/demo/user_state",
            "POST",
            json!({"conn_id": conn, "update_state": {}}),
            "update_state",
        ),
    ];
    for (path, method, body, field) in cases {
        let (status, answer) = call(&demo, &mut hub, method, path, body);
        assert_eq!(status, 422, "{method} {path} {body}: {answer}");
        assert!(
            answer.get(*field).is_some(),
            "{method} {path} {body}: {answer}"
        );
    }
    assert!(hub.users.is_empty() && hub.channels.is_empty());
}

#[test]
fn calls_need_the_json_content_type_and_only_demo_paths_are_routed() {
    let demo = Demo::new();
    let body = br#"{"username": "alice"}"#;
    for t in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let req = request("POST", "/demo/connect", body, t);
        match demo.route(&req, "/demo/connect", PEER, NOW) {
            Some(Routed::Respond(r)) => assert_eq!(r.status, 415, "{t:?}"),
            _ => panic!("{t:?}: not refused"),
        }
    }
    for (method, path) in [
        ("GET", "/demo/connect"),
        ("PUT", "/demo/message"),
        ("POST", "/demo/nothing"),
        ("GET", "/demo/../Cargo.toml"),
        ("GET", "/demo/index.html"),
        ("POST", "/demo"),
    ] {
        let req = request(method, path, b"{}", Some("application/json"));
        assert!(
            demo.route(&req, path, PEER, NOW).is_none(),
            "{method} {path}"
        );
    }
}

#[test]
fn the_page_has_a_strict_csp_and_its_script_and_style_come_from_the_table() {
    let demo = Demo::new();
    let get = |path: &str| match demo.route(&request("GET", path, b"", None), path, PEER, NOW) {
        Some(Routed::Respond(r)) => r,
        _ => panic!("{path} not served"),
    };
    let page = get("/demo");
    assert!(page
        .headers
        .contains(&("Content-Security-Policy".into(), crate::web::CSP.into())));
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(r#"<script type="module" src="demo/demo.js"></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="demo/demo.css">"#));
    assert!(
        !html.contains("style=") && !html.contains("onclick"),
        "inline code"
    );
    for (path, ctype) in [
        ("/demo/demo.js", "text/javascript; charset=utf-8"),
        ("/demo/demo.css", "text/css; charset=utf-8"),
    ] {
        let r = get(path);
        assert_eq!(r.status, 200);
        assert!(
            r.headers.contains(&("Content-Type".into(), ctype.into())),
            "{path}"
        );
    }
    assert_eq!(get("/demo/").status, 302);
}

#[test]
fn the_script_knows_the_channels_the_server_allows_and_never_parses_markup() {
    let js = std::str::from_utf8(page::ASSETS[0].body).unwrap_or_default();
    let listed = format!(
        "const CHANNELS = [{}];",
        CHANNELS.map(|c| format!("\"{c}\"")).join(", ")
    );
    assert!(js.contains(&listed), "demo.js must say {listed}");
    assert!(js.contains(&format!("const PREFIX = \"{PREFIX}\";")));
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(sink), "demo.js uses {sink}");
    }
}

#[test]
fn a_connection_past_its_allowance_gets_429() {
    let demo = Demo::new();
    let mut hub = hub();
    let conn = connect(&demo, &mut hub, "alice");
    let body = json!({"conn_id": conn, "update_state": {"status": "busy"}});
    for i in 0..CALLS_PER_WINDOW {
        let (status, _) = call(&demo, &mut hub, "POST", "/demo/user_state", &body);
        assert_eq!(status, 200, "call {i}");
    }
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/user_state", &body);
    assert_eq!(status, 429, "{answer}");
    // Another connection is not affected.
    let other = connect(&demo, &mut hub, "bob");
    let body = json!({"conn_id": other, "update_state": {"status": "here"}});
    assert_eq!(
        call(&demo, &mut hub, "POST", "/demo/user_state", &body).0,
        200
    );
}

#[test]
fn a_name_in_use_is_refused_unless_the_page_shows_its_own_connection() {
    let demo = Demo::new();
    let mut hub = hub();
    let alice = connect(&demo, &mut hub, "alice");
    let again = json!({"username": "alice", "channels": ["demo:lobby"]});
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/connect", &again);
    assert_eq!(status, 409, "{answer}");
    let mut forged = again.clone();
    forged["conn_id"] = json!("00000000-0000-4000-8000-000000000009");
    assert_eq!(
        call(&demo, &mut hub, "POST", "/demo/connect", &forged).0,
        409
    );
    let mut own = again.clone();
    own["conn_id"] = json!(alice);
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/connect", &own);
    assert_eq!(
        (status, answer["conn_id"].as_str()),
        (200, Some(alice.as_str()))
    );
    assert_eq!(hub.connections.len(), 1, "the connection was reused");
}

#[test]
fn messages_are_the_connections_owners_whatever_the_body_says() {
    let demo = Demo::new();
    let mut hub = hub();
    let alice = connect(&demo, &mut hub, "alice");
    connect(&demo, &mut hub, "bob");
    let body = json!({
        "conn_id": alice, "channel": "demo:lobby", "text": "hi",
        "user": "demo:bob", "username": "demo:bob", "pm_users": ["demo:bob"],
    });
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/message", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["user"], "demo:alice");
    assert_eq!(answer[0]["pm_users"], json!([]));
    let history = lobby_history(&hub);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["user"], "demo:alice");
    assert_eq!(history[0]["message"], json!({"text": "hi"}));
    // A status is set on the owner too.
    let status_body = json!({"conn_id": alice, "username": "demo:bob",
                             "update_state": {"status": "away"}});
    assert_eq!(
        call(&demo, &mut hub, "POST", "/demo/user_state", &status_body).0,
        200
    );
    assert_eq!(
        hub.users["demo:alice"].state.get("status"),
        Some(&json!("away"))
    );
    assert_eq!(hub.users["demo:bob"].state.get("status"), None);
}

#[test]
fn a_user_cannot_edit_or_delete_another_users_message() {
    let demo = Demo::new();
    let mut hub = hub();
    let alice = connect(&demo, &mut hub, "alice");
    let bob = connect(&demo, &mut hub, "bob");
    let uuid = say(&demo, &mut hub, &alice, "alice's words");
    let edit = json!({"conn_id": bob, "uuid": uuid, "channel": "demo:lobby", "text": "bob's"});
    let (status, answer) = call(&demo, &mut hub, "PATCH", "/demo/message", &edit);
    assert_eq!(status, 403, "{answer}");
    let del = json!({"conn_id": bob, "uuid": uuid, "channel": "demo:lobby"});
    assert_eq!(
        call(&demo, &mut hub, "DELETE", "/demo/message", &del).0,
        403
    );
    assert_eq!(lobby_history(&hub)[0]["message"]["text"], "alice's words");
    // Nor through the private route, where bob's own frames do not hold it.
    let pm_edit = json!({"conn_id": bob, "uuid": uuid, "to": "demo:alice", "text": "x"});
    assert_eq!(
        call(&demo, &mut hub, "PATCH", "/demo/message", &pm_edit).0,
        422
    );
    // Its author can.
    let edit = json!({"conn_id": alice, "uuid": uuid, "channel": "demo:lobby", "text": "new"});
    assert_eq!(
        call(&demo, &mut hub, "PATCH", "/demo/message", &edit).0,
        200
    );
    assert_eq!(lobby_history(&hub)[0]["message"]["text"], "new");
    let del = json!({"conn_id": alice, "uuid": uuid, "channel": "demo:lobby"});
    assert_eq!(
        call(&demo, &mut hub, "DELETE", "/demo/message", &del).0,
        200
    );
    assert!(lobby_history(&hub).is_empty());
}

#[test]
fn private_messages_reach_the_user_and_the_sender_and_say_whom_they_are_to() {
    let demo = Demo::new();
    let mut hub = hub();
    let alice = connect(&demo, &mut hub, "alice");
    connect(&demo, &mut hub, "bob");
    connect(&demo, &mut hub, "carol");
    let body = json!({"conn_id": alice, "to": "demo:bob", "text": "psst"});
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/message", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer[0]["pm_users"], json!(["demo:bob", "demo:alice"]));
    assert_eq!(
        answer[0]["message"],
        json!({"text": "psst", "to": "demo:bob"})
    );
    let frames = |name: &str| hub.users[name].frames.len();
    assert_eq!(
        (
            frames("demo:alice"),
            frames("demo:bob"),
            frames("demo:carol")
        ),
        (1, 1, 0)
    );
    assert!(lobby_history(&hub).is_empty());
    // Its sender edits and deletes it where it was kept: both users' private frames.
    let uuid = answer[0]["uuid"].clone();
    let edit = json!({"conn_id": alice, "uuid": uuid, "to": "demo:bob", "text": "psst!"});
    let (status, answer) = call(&demo, &mut hub, "PATCH", "/demo/message", &edit);
    assert_eq!(status, 200, "{answer}");
    let text_of = |hub: &Hub, name: &str| {
        hub.users[name]
            .frames
            .iter()
            .filter(|(_, m)| m.is_message()) // edits and deletes are kept as frames too
            .map(|(_, m)| m.value()["message"]["text"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(text_of(&hub, "demo:bob"), vec![json!("psst!")]);
    assert_eq!(text_of(&hub, "demo:alice"), vec![json!("psst!")]);
    let del = json!({"conn_id": alice, "uuid": uuid, "to": "demo:bob"});
    assert_eq!(
        call(&demo, &mut hub, "DELETE", "/demo/message", &del).0,
        200
    );
    assert!(text_of(&hub, "demo:bob").is_empty() && text_of(&hub, "demo:alice").is_empty());
    let to_nobody = json!({"conn_id": alice, "to": "demo:nobody", "text": "psst"});
    assert_eq!(
        call(&demo, &mut hub, "POST", "/demo/message", &to_nobody).0,
        422
    );
}

#[test]
fn an_application_connection_or_channel_gives_no_power() {
    let demo = Demo::new();
    let mut hub = hub();
    let params = crate::hub::ConnectParams {
        username: "admin".into(),
        channels: vec!["app-room".into()],
        ..Default::default()
    };
    let app_conn: Uuid = hub.connect(&params, Time(NOW * 1_000_000));
    let id = app_conn.to_string();
    let cases = [
        (
            "POST",
            "/demo/user_state",
            json!({"conn_id": id, "update_state": {"status": "x"}}),
        ),
        (
            "POST",
            "/demo/subscribe",
            json!({"conn_id": id, "channels": ["demo:lobby"]}),
        ),
        (
            "POST",
            "/demo/message",
            json!({"conn_id": id, "channel": "demo:lobby", "text": "x"}),
        ),
    ];
    for (method, path, body) in cases {
        let (status, answer) = call(&demo, &mut hub, method, path, &body);
        assert_eq!(status, 422, "{path}: {answer}");
        assert!(answer.get("conn_id").is_some(), "{path}: {answer}");
    }
    assert!(hub.users["admin"].state.is_empty());
    // A demo user named like the application's is another user.
    connect(&demo, &mut hub, "admin");
    assert!(hub.users.contains_key("demo:admin"));
    assert_eq!(hub.users["admin"].connections, vec![app_conn]);
}

#[test]
fn posting_needs_membership_and_leaving_works() {
    let demo = Demo::new();
    let mut hub = hub();
    let alice = connect(&demo, &mut hub, "alice");
    let body = json!({"conn_id": alice, "channel": "demo:help", "text": "hi"});
    assert_eq!(call(&demo, &mut hub, "POST", "/demo/message", &body).0, 422);
    let join = json!({"conn_id": alice, "channels": ["demo:help"]});
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/subscribe", &join);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["channels"], json!(["demo:help", "demo:lobby"]));
    assert_eq!(
        answer["channels_info"]["channels"]["demo:help"]["settings"],
        channel_config().to_json()
    );
    assert_eq!(call(&demo, &mut hub, "POST", "/demo/message", &body).0, 200);
    let (status, answer) = call(&demo, &mut hub, "POST", "/demo/unsubscribe", &join);
    assert_eq!((status, &answer["channels"]), (200, &json!(["demo:lobby"])));
}

#[test]
fn no_new_demo_user_while_the_server_holds_max_users_but_known_names_connect() {
    let demo = Demo::new();
    let mut hub = hub();
    let bob = connect(&demo, &mut hub, "bob");
    for i in hub.users.len()..MAX_USERS {
        let params = crate::hub::ConnectParams {
            username: format!("app-user-{i}"),
            ..Default::default()
        };
        hub.connect(&params, Time(NOW * 1_000_000));
    }
    let (status, answer) = call(
        &demo,
        &mut hub,
        "POST",
        "/demo/connect",
        &json!({"username": "alice"}),
    );
    assert_eq!(status, 503, "{answer}");
    assert!(!hub.users.contains_key("demo:alice"));
    let again = json!({"username": "bob", "conn_id": bob});
    assert_eq!(
        call(&demo, &mut hub, "POST", "/demo/connect", &again).0,
        200
    );
}
