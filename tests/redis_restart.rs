//! Redis stopped and restarted **with its data** (issue 12, `docs/SCALING.md` "Redis
//! restarted with its data"; the restart without data is in `tests/redis_nodes.rs`). A
//! real `redis-server` with `appendonly yes` is shut down (`SHUTDOWN SAVE`) for longer
//! than the presence time to live and started again in the same directory on the same
//! port. While it is down, publishes answer 503 with a JSON error at once and the
//! websockets stay open; once it is back the channel keeps its epoch and numbering, the
//! subscribers on both nodes get every later message once and in order, positions
//! continue (`recover=` replays across the outage), history is the same on every node,
//! and presence is as it was: nobody parted, nobody joined again. Restarted with *older*
//! data than it acknowledged (a snapshot from before the last publishes), the nodes raise
//! its numbering to what they saw, so later messages are not dropped as duplicates.

mod redis_common;
mod redis_node_common;
mod server_common;

use channelstream::app::Running;
use channelstream::resp::Reply;
use redis_common::{redis_or_skip, RedisServer};
use redis_node_common::{history_texts, node, stop_all, TTL};
use serde_json::{json, Value};
use server_common::{call, open_ws, post, read_close, read_items, Ws};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ALICE: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000002";

fn integer(reply: &Reply) -> i64 {
    match reply {
        Reply::Integer(n) => *n,
        Reply::Array(items) => items.get(1).map_or(-1, integer),
        Reply::Bulk(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1),
        _ => -1,
    }
}

/// Waits until `n` nodes subscribe to `pubsub`, then a little longer for their read of
/// the channel's meta that follows.
fn wait_subscribed(redis: &RedisServer, pubsub: &str, n: i64) {
    let until = Instant::now() + Duration::from_secs(15);
    while integer(&redis.call(None, &["PUBSUB", "NUMSUB", pubsub])) < n {
        assert!(Instant::now() < until, "{pubsub}: not {n} subscribers");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
}

fn send(addr: SocketAddr, text: &str) -> u16 {
    let body = json!([{"channel": "room", "user": "sys", "message": {"text": text}}]);
    call(addr, "POST", "/message", &body).0
}

/// `(pos, text)` of the channel messages arriving on `ws` within `within`, up to `last`.
fn positioned(ws: &mut Ws, within: Duration, last: &str) -> Vec<(u64, String)> {
    read_items(ws, within, |i| i["message"]["text"] == last)
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| {
            let text = i["message"]["text"].as_str().unwrap_or("").to_string();
            (i["pos"].as_u64().unwrap_or(0), text)
        })
        .collect()
}

/// Connects alice on `a` and bob on `b` to `room` (with `config` as its channel
/// configs), waits until both nodes listen to it, and opens their websockets asking for
/// positions (`recover={}`).
fn alice_and_bob_listen(redis: &RedisServer, a: &Running, b: &Running, config: &Value) -> (Ws, Ws) {
    for (addr, user, id) in [(a.addr, "alice", ALICE), (b.addr, "bob", BOB)] {
        post(
            addr,
            "/connect",
            json!({"username": user, "conn_id": id, "channels": ["room"],
                   "channel_configs": config}),
        );
    }
    wait_subscribed(redis, "t:{room}:pub", 2);
    (
        open_ws(a.addr, &format!("{ALICE}&recover=%7B%7D")),
        open_ws(b.addr, &format!("{BOB}&recover=%7B%7D")),
    )
}

fn presence(items: &[Value]) -> Vec<&Value> {
    items.iter().filter(|i| i["type"] == "presence").collect()
}

/// `/info`'s users and history texts of `room` on the node at `addr`.
fn users_and_history(addr: SocketAddr) -> (Value, Vec<String>) {
    let info = post(addr, "/info", json!({"info": {"channels": ["room"]}}));
    let room = &info["channels"]["room"];
    (room["users"].clone(), history_texts(&room["history"]))
}

fn texts(want: &[(u64, &str)]) -> Vec<(u64, String)> {
    want.iter().map(|(p, t)| (*p, t.to_string())).collect()
}

#[test]
fn redis_restarted_with_its_data_keeps_epochs_positions_history_and_presence() {
    let Some(mut redis) = redis_or_skip("redis_restart", &["--appendonly", "yes"]) else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let config = json!({"room": {"notify_presence": true, "store_history": true,
                                 "history_size": 20}});
    let (mut ws_a, mut ws_b) = alice_and_bob_listen(&redis, &a, &b, &config);
    // The two `joined` (positions 1 and 2), then three messages from either node.
    for (i, text) in ["m1", "m2", "m3"].iter().enumerate() {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        assert_eq!(send(addr, text), 200);
    }
    let before = texts(&[(3, "m1"), (4, "m2"), (5, "m3")]);
    assert_eq!(positioned(&mut ws_a, Duration::from_secs(5), "m3"), before);
    assert_eq!(positioned(&mut ws_b, Duration::from_secs(5), "m3"), before);
    let epoch = redis.call(None, &["HGET", "t:{room}:meta", "e"]);
    assert!(matches!(epoch, Reply::Bulk(_)), "{epoch:?}");

    // Down, saving its data, for longer than the presence time to live.
    redis.shutdown_saving();
    let started = Instant::now();
    let (status, body) = call(
        a.addr,
        "POST",
        "/message",
        &json!([{"channel": "room", "user": "sys", "message": {"text": "refused"}}]),
    );
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let (status, body) = call(b.addr, "POST", "/info", &json!({"info": {}}));
    assert_eq!(status, 200, "{body}");
    let down = Duration::from_secs(TTL) + Duration::from_millis(1500);
    let seen_a = read_items(&mut ws_a, down / 2, |_| false);
    assert_eq!(
        read_close(&mut ws_b, down / 2),
        None,
        "B's socket stays open"
    );
    assert!(presence(&seen_a).is_empty(), "{seen_a:?}");

    // Back with its data.
    redis.start();
    wait_subscribed(&redis, "t:{room}:pub", 2);
    let until = Instant::now() + Duration::from_secs(15);
    while send(b.addr, "m4") != 200 {
        assert!(Instant::now() < until, "no 200 after redis came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(send(a.addr, "m5"), 200);
    assert_eq!(
        redis.call(None, &["HGET", "t:{room}:meta", "e"]),
        epoch,
        "the epoch Redis kept"
    );
    // Numbering continues: no lost frame, no frame twice, on either node; the 503'd
    // message is nowhere.
    let after = texts(&[(6, "m4"), (7, "m5")]);
    assert_eq!(positioned(&mut ws_a, Duration::from_secs(5), "m5"), after);
    assert_eq!(positioned(&mut ws_b, Duration::from_secs(5), "m5"), after);
    // Presence as before the outage: the nodes re-registered their connections before
    // any sweep could expire them, so nobody parted or joined, on either socket.
    std::thread::sleep(Duration::from_secs(TTL));
    for ws in [&mut ws_a, &mut ws_b] {
        let items = read_items(ws, Duration::from_millis(500), |_| false);
        assert!(presence(&items).is_empty(), "{items:?}");
        assert!(items.iter().all(|i| i["type"] != "message"), "{items:?}");
    }
    assert_eq!(integer(&redis.call(None, &["HLEN", "t:{room}:pres"])), 2);
    assert_eq!(
        integer(&redis.call(None, &["HGET", "t:{room}:users", "alice"])),
        1
    );
    assert_eq!(
        integer(&redis.call(None, &["HGET", "t:{room}:users", "bob"])),
        1
    );
    // History and users are the same on every node.
    let on_a = users_and_history(a.addr);
    assert_eq!(
        on_a,
        (
            json!(["alice", "bob"]),
            ["m1", "m2", "m3", "m4", "m5"].map(String::from).to_vec()
        )
    );
    assert_eq!(users_and_history(b.addr), on_a);
    // Recovery by position reaches across the outage.
    drop(ws_b);
    let mut ws_b = open_ws(b.addr, &format!("{BOB}&recover=%7B%22room%22%3A4%7D"));
    let got = read_items(&mut ws_b, Duration::from_secs(5), |i| {
        i["type"] == "recovery"
    });
    let replayed: Vec<(u64, String)> = got
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| {
            let text = i["message"]["text"].as_str().unwrap_or("").to_string();
            (i["pos"].as_u64().unwrap_or(0), text)
        })
        .collect();
    assert_eq!(replayed, texts(&[(5, "m3"), (6, "m4"), (7, "m5")]));
    assert_eq!(
        got.last().map(|r| r["channels"]["room"].clone()),
        Some(json!({"pos": 7, "recovered": true}))
    );
    stop_all([a, b]);
}

/// `room`'s last sequence number in Redis's meta.
fn room_seq(redis: &RedisServer) -> i64 {
    integer(&redis.call(None, &["HGET", "t:{room}:meta", "s"]))
}

#[test]
fn redis_restarted_with_older_data_numbers_after_what_the_nodes_saw() {
    let Some(mut redis) = redis_or_skip("redis_restart", &[]) else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    let config = json!({"room": {"store_history": true, "history_size": 20}});
    let (mut ws_a, mut ws_b) = alice_and_bob_listen(&redis, &a, &b, &config);
    assert_eq!(send(a.addr, "m1"), 200);
    assert_eq!(send(b.addr, "m2"), 200);
    // A snapshot now, then two more messages Redis acknowledged and both nodes delivered.
    assert_eq!(redis.call(None, &["SAVE"]), Reply::Simple("OK".into()));
    assert_eq!(send(a.addr, "m3"), 200);
    assert_eq!(send(b.addr, "m4"), 200);
    let before = texts(&[(1, "m1"), (2, "m2"), (3, "m3"), (4, "m4")]);
    assert_eq!(positioned(&mut ws_a, Duration::from_secs(5), "m4"), before);
    assert_eq!(positioned(&mut ws_b, Duration::from_secs(5), "m4"), before);
    // Killed (nothing saved) and back from the older snapshot: same epoch, s = 2.
    redis.stop();
    redis.start();
    wait_subscribed(&redis, "t:{room}:pub", 2);
    // The nodes' sync after resubscribing finds Redis behind them and raises it.
    let until = Instant::now() + Duration::from_secs(5);
    while room_seq(&redis) != 4 {
        assert!(Instant::now() < until, "s stays {}", room_seq(&redis));
        std::thread::sleep(Duration::from_millis(20));
    }
    let until = Instant::now() + Duration::from_secs(15);
    while send(a.addr, "m5") != 200 {
        assert!(Instant::now() < until, "no 200 after redis came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(send(b.addr, "m6"), 200);
    // Both nodes deliver the new messages, in order, after the positions they saw.
    let after = texts(&[(5, "m5"), (6, "m6")]);
    assert_eq!(positioned(&mut ws_a, Duration::from_secs(5), "m6"), after);
    assert_eq!(positioned(&mut ws_b, Duration::from_secs(5), "m6"), after);
    assert_eq!(room_seq(&redis), 6);
    stop_all([a, b]);
}

/// The `c` field (a channel's config) of `room`'s meta, parsed.
fn room_config(redis: &RedisServer) -> Value {
    match redis.call(None, &["HGET", "t:{room}:meta", "c"]) {
        Reply::Bulk(c) => serde_json::from_slice(&c).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[test]
fn redis_restarted_empty_gets_the_nodes_connection_records_and_channel_configs_back() {
    let Some(mut redis) = redis_or_skip("redis_restart", &[]) else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    post(
        a.addr,
        "/connect",
        json!({"username": "alice", "conn_id": ALICE, "channels": ["room"],
               "channel_configs": {"room": {"store_history": true, "history_size": 7}}}),
    );
    wait_subscribed(&redis, "t:{room}:pub", 1);
    let alice_record = format!("t:conn:{{{ALICE}}}");
    assert!(matches!(
        redis.call(None, &["GET", &alice_record]),
        Reply::Bulk(_)
    ));
    assert_eq!(room_config(&redis)["history_size"], 7);
    let marker = redis.call(None, &["GET", "t:instance"]);
    assert!(matches!(marker, Reply::Bulk(_)), "{marker:?}");
    // Killed, and back without its data.
    redis.stop();
    redis.start();
    wait_subscribed(&redis, "t:{room}:pub", 1);
    // A, which holds alice, finds the marker changed and writes back what only it had.
    let until = Instant::now() + Duration::from_secs(15);
    while !matches!(redis.call(None, &["GET", &alice_record]), Reply::Bulk(_))
        || room_config(&redis)["history_size"] != 7
    {
        assert!(Instant::now() < until, "A never wrote its state back");
        std::thread::sleep(Duration::from_millis(50));
    }
    let new_marker = redis.call(None, &["GET", "t:instance"]);
    assert!(matches!(new_marker, Reply::Bulk(_)) && new_marker != marker);
    // So alice's websocket can come back on B, which never had her: B adopts her
    // connection from the record and delivers to it.
    let mut ws = open_ws(b.addr, &format!("{ALICE}&recover=%7B%7D"));
    let until = Instant::now() + Duration::from_secs(10);
    while send(a.addr, "after") != 200 {
        assert!(Instant::now() < until, "no 200 after redis came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = positioned(&mut ws, Duration::from_secs(5), "after");
    assert_eq!(
        got.last().map(|(_, t)| t.as_str()),
        Some("after"),
        "{got:?}"
    );
    stop_all([a, b]);
}
