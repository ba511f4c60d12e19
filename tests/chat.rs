//! Two browsers' worth of clients chatting through a channel, as an application would
//! drive the server: the web app's REST calls go through an independent HTTP client
//! (`ureq`), the browsers' sockets through an independent websocket client
//! (`tungstenite`). Covers presence with user lists, public state, private messages,
//! history, and a reconnect (a new `/connect` with the same id, then a new socket) that
//! catches up on what arrived in between.

mod server_common;

use channelstream::api::signature::Signer;
use channelstream::config::Config;
use serde_json::{json, Value};
use server_common::{open_ws, read_items, start, Ws};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "chat-secret";

fn config() -> Config {
    let mut c = Config::default();
    c.secret = SECRET.into();
    c.host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.port = 0;
    c.allow_posting_from = vec!["127.0.0.1".into()];
    c.workers = 2;
    c
}

/// What the web application does: a signed JSON POST.
fn api(addr: SocketAddr, path: &str, body: Value) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let response = ureq::post(&format!("http://{addr}{path}"))
        .set(
            "X-Channelstream-Secret",
            &Signer::new(SECRET).sign(path, now),
        )
        .timeout(Duration::from_secs(5))
        .send_json(body)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    response.into_json().expect("json response")
}

/// What a browser tab does: open `/ws?conn_id=` for the id the web app got.
fn open_tab(addr: SocketAddr, conn_id: &Value) -> Ws {
    open_ws(addr, conn_id.as_str().expect("conn_id is a string"))
}

/// Every message delivered within `within`, heartbeats (`[]`) left out.
fn received(ws: &mut Ws, within: Duration) -> Vec<Value> {
    read_items(ws, within, |_| false)
}

/// (type, user, text-or-action) of each message, for compact assertions.
fn summary(messages: &[Value]) -> Vec<(String, String, String)> {
    messages
        .iter()
        .map(|m| {
            let what = m["message"]["text"]
                .as_str()
                .or(m["message"]["action"].as_str())
                .unwrap_or("")
                .to_string();
            (
                m["type"].as_str().unwrap_or("").to_string(),
                m["user"].as_str().unwrap_or("").to_string(),
                what,
            )
        })
        .collect()
}

fn s(t: &str, u: &str, w: &str) -> (String, String, String) {
    (t.into(), u.into(), w.into())
}

const QUIET: Duration = Duration::from_millis(600);

#[test]
fn two_users_chat_with_presence_private_messages_and_catch_up_after_reconnect() {
    let running = start(config());
    let addr = running.addr;
    let room = json!({"room": {"notify_presence": true, "store_history": true,
        "broadcast_presence_with_user_lists": true, "history_size": 5}});

    // alice opens the chat in two tabs; bob in one
    let alice_1 = api(
        addr,
        "/connect",
        json!({"username": "alice", "channels": ["room"], "channel_configs": room,
               "fresh_user_state": {"nick": "Al", "email": "a@x"},
               "state_public_keys": ["nick"]}),
    );
    assert_eq!(alice_1["public_state"], json!({"nick": "Al"}));
    let mut a1 = open_tab(addr, &alice_1["conn_id"]);
    let alice_2 = api(
        addr,
        "/connect",
        json!({"username": "alice", "channels": ["room"]}),
    );
    let mut a2 = open_tab(addr, &alice_2["conn_id"]);
    let bob = api(
        addr,
        "/connect",
        json!({"username": "bob", "channels": ["room"], "fresh_user_state": {"nick": "B"},
               "state_public_keys": ["nick"]}),
    );
    assert_eq!(
        bob["channels_info"]["channels"]["room"]["total_users"],
        json!(2)
    );
    let mut b = open_tab(addr, &bob["conn_id"]);

    // both of alice's tabs see bob join, with the user list and his public state
    for tab in [&mut a1, &mut a2] {
        let got = received(tab, QUIET);
        assert_eq!(summary(&got), vec![s("presence", "bob", "joined")]);
        assert_eq!(got[0]["state"], json!({"nick": "B"}));
        let users: Vec<&str> = got[0]["users"]
            .as_array()
            .expect("user list")
            .iter()
            .filter_map(|u| u["user"].as_str())
            .collect();
        assert_eq!(users, vec!["alice", "bob"]);
    }
    assert!(
        received(&mut b, QUIET).is_empty(),
        "no presence about yourself"
    );

    // they chat: every tab of everyone in the room gets each line, in order
    let lines = ["hi bob", "hi alice", "how are you?"];
    for (i, text) in lines.iter().enumerate() {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        api(
            addr,
            "/message",
            json!([{"channel": "room", "user": user, "message": {"text": text}}]),
        );
    }
    let expected: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, t)| s("message", if i % 2 == 0 { "alice" } else { "bob" }, t))
        .collect();
    for tab in [&mut a1, &mut a2, &mut b] {
        assert_eq!(summary(&received(tab, QUIET)), expected);
    }

    // a private message to bob reaches only bob
    api(
        addr,
        "/message",
        json!([{"pm_users": ["bob"], "user": "alice", "message": {"text": "psst"}}]),
    );
    assert_eq!(
        summary(&received(&mut b, QUIET)),
        vec![s("message", "alice", "psst")]
    );
    assert!(received(&mut a1, QUIET).is_empty());

    // bob's tab drops: his connection is collected (as in the reference, a closed socket
    // marks it for GC); a line written now reaches only the history
    b.close(None).expect("close");
    drop(b);
    std::thread::sleep(Duration::from_millis(1600));
    let away = json!([{"channel": "room", "user": "alice", "message": {"text": "are you there?"}}]);
    api(addr, "/message", away);
    let parted = received(&mut a1, QUIET);
    assert_eq!(
        summary(&parted),
        vec![
            s("presence", "bob", "parted"),
            s("message", "alice", "are you there?")
        ]
    );

    // bob's page reconnects: the web app calls /connect again with the same id, a line
    // arrives before the socket is up, and the socket catches up on it
    let again = api(
        addr,
        "/connect",
        json!({"username": "bob", "conn_id": bob["conn_id"], "channels": ["room"]}),
    );
    assert_eq!(again["conn_id"], bob["conn_id"]);
    std::thread::sleep(Duration::from_millis(50));
    let ping = json!([{"channel": "room", "user": "alice", "message": {"text": "ping"}}]);
    api(addr, "/message", ping);
    std::thread::sleep(Duration::from_millis(50));
    let mut b = open_tab(addr, &bob["conn_id"]);
    let caught = received(&mut b, QUIET);
    let missed: Vec<_> = caught
        .iter()
        .filter(|m| m["catchup"] == json!(true) && m["type"] == json!("message"))
        .filter_map(|m| m["message"]["text"].as_str())
        .collect();
    assert_eq!(missed, vec!["ping"], "catch-up frames: {caught:?}");
    api(
        addr,
        "/message",
        json!([{"channel": "room", "user": "alice", "message": {"text": "back?"}}]),
    );
    let live = received(&mut b, QUIET);
    assert_eq!(summary(&live), vec![s("message", "alice", "back?")]);
    assert_eq!(live[0]["catchup"], json!(false));

    // the channel's history holds the last 5 public messages
    let info = api(addr, "/info", json!({"info": {"channels": ["room"]}}));
    let history: Vec<&str> = info["channels"]["room"]["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|m| m["message"]["text"].as_str())
        .collect();
    assert_eq!(
        history,
        vec![
            "hi alice",
            "how are you?",
            "are you there?",
            "ping",
            "back?"
        ],
        "the last 5 public lines; the private one is not history"
    );

    running.shutdown().expect("shutdown");
}
