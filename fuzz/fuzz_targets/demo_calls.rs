#![no_main]
//! Invariant: any sequence of demo page calls (`demo = true`), run as the app runs them
//! (`Api::route` on a worker, then `Command::run` against the hub), never panics, answers
//! a status the demo documents, sends JSON where it says JSON, and never touches what is
//! not the demo's: every user and channel it makes is named `demo:...`, and the
//! application's user `app` (in channel `app-room`, with state and one history message)
//! keeps its state, connection, private frames and channel as they were.
//!
//! Input layout: calls separated by `\n--\n` (at most 16). Each call: byte 0 picks method
//! and path (modulo the length of [`ROUTES`]), byte 1 the `Content-Type` (even:
//! `application/json`, odd: `text/plain`), the rest is the body, in which `$0` to `$3` are
//! replaced by the connection ids of earlier successful connects, `$u` by the uuid of the
//! last message posted and `$a` by the application's connection id.

use channelstream::api::{Api, Outcome, Routed};
use channelstream::config::Config;
use channelstream::http::{Request, Response, Version};
use channelstream::hub::{ConnectParams, Hub, Time};
use channelstream::server::ConnId;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const NOW_SECS: u64 = 1_764_000_000;

/// The demo's methods and paths, and two that are not its own.
const ROUTES: [(&str, &str); 11] = [
    ("POST", "/demo/connect"),
    ("POST", "/demo/subscribe"),
    ("POST", "/demo/unsubscribe"),
    ("POST", "/demo/user_state"),
    ("POST", "/demo/message"),
    ("PATCH", "/demo/message"),
    ("DELETE", "/demo/message"),
    ("GET", "/demo"),
    ("GET", "/demo/demo.js"),
    ("GET", "/"),
    ("GET", "/demo/"),
];

/// The response invariant: a documented status (docs/RELIABILITY.md, the demo row; 413
/// is the body pre-scan's, shared with the API), and JSON where JSON is announced.
fn check(r: &Response, what: &str) {
    assert!(
        matches!(
            r.status,
            200 | 302 | 400 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503
        ),
        "status {} for {what}",
        r.status
    );
    let json = r
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.starts_with("application/json"));
    if json {
        assert!(
            serde_json::from_slice::<Value>(&r.body).is_ok(),
            "{what}: body announced as JSON is not: {:?}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// What the demo must leave alone.
struct AppUser {
    state: Map<String, Value>,
    conn: String,
    history: usize,
}

fn check_fence(hub: &Hub, app: &AppUser) {
    for name in hub.users.keys() {
        assert!(name == "app" || name.starts_with("demo:"), "user {name}");
    }
    for name in hub.channels.keys() {
        assert!(
            name == "app-room" || name.starts_with("demo:"),
            "channel {name}"
        );
    }
    let user = &hub.users["app"];
    assert_eq!(
        user.state, app.state,
        "the application's user state changed"
    );
    assert_eq!(user.connections.len(), 1);
    assert_eq!(user.connections[0].to_string(), app.conn);
    assert!(
        user.frames.is_empty(),
        "the application's user got private frames"
    );
    let room = &hub.channels["app-room"];
    assert_eq!(room.history.len(), app.history, "app-room history changed");
    assert_eq!(room.connections.keys().collect::<Vec<_>>(), vec!["app"]);
}

fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    config.demo = true;
    let api = Api::new(&config);
    let now = Time(NOW_SECS * 1_000_000);
    let mut hub = Hub::new(now, Duration::from_secs(5), 7);
    let mut state = Map::new();
    state.insert("role".into(), json!("owner"));
    let params = ConnectParams {
        username: "app".into(),
        channels: vec!["app-room".into()],
        user_state: state.clone(),
        channel_configs: [(
            "app-room".to_string(),
            channelstream::hub::ChannelConfig {
                store_history: true,
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let app_conn = hub.connect(&params, now).to_string();
    let mut msg = Map::new();
    msg.insert("channel".into(), json!("app-room"));
    msg.insert("user".into(), json!("app"));
    msg.insert("uuid".into(), json!("22222222-2222-4222-8222-222222222222"));
    msg.insert("message".into(), json!({"text": "private to the app"}));
    hub.pass_message(msg, now);
    let _ = hub.take_effects();
    let app = AppUser {
        state,
        conn: app_conn.clone(),
        history: 1,
    };

    let mut conns: Vec<String> = Vec::new();
    let mut last_uuid = String::from("00000000-0000-4000-8000-000000000000");
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut rest = data;
    for _ in 0..16 {
        let (call, tail) = match rest.windows(4).position(|w| w == b"\n--\n") {
            Some(i) => (&rest[..i], &rest[i + 4..]),
            None => (rest, &[][..]),
        };
        rest = tail;
        let [route, ctype, body @ ..] = call else {
            if rest.is_empty() {
                break;
            }
            continue;
        };
        let (method, path) = ROUTES[*route as usize % ROUTES.len()];
        let mut text = String::from_utf8_lossy(body).into_owned();
        for (i, id) in conns.iter().enumerate().take(4) {
            text = text.replace(&format!("${i}"), id);
        }
        text = text.replace("$u", &last_uuid).replace("$a", &app_conn);
        let content_type = if ctype % 2 == 0 {
            "application/json"
        } else {
            "text/plain"
        };
        let req = Request {
            method: method.into(),
            target: path.into(),
            version: Version::Http11,
            headers: vec![("content-type".into(), content_type.as_bytes().to_vec())],
            body: text.into_bytes(),
            keep_alive: true,
        };
        let what = format!("{method} {path}");
        let response = match api.route(&req, local, NOW_SECS) {
            Routed::Respond(r) | Routed::After(_, r) => r,
            Routed::Hub(cmd) => match cmd.run(
                &mut hub,
                ConnId {
                    worker: 0,
                    key: 1,
                    gen: 0,
                },
                now,
            ) {
                Outcome::Respond(r) => r,
                other => panic!("{what}: unexpected {other:?}"),
            },
        };
        check(&response, &what);
        let _ = hub.take_effects();
        check_fence(&hub, &app);
        if response.status == 200 {
            let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
            if let Some(id) = answer.get("conn_id").and_then(Value::as_str) {
                conns.push(id.to_string());
            }
            if let Some(id) = answer
                .get(0)
                .and_then(|m| m.get("uuid"))
                .and_then(Value::as_str)
            {
                last_uuid = id.to_string();
            }
        }
        if rest.is_empty() {
            break;
        }
    }
});
