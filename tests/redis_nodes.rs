//! Several nodes sharing state through a real `redis-server` (issue 12,
//! `docs/SCALING.md`): two in-process servers (`app::spawn`) with the same `redis_url`.
//! A message sent on either node reaches the websockets on both, once each, in one
//! order; private messages, edits and deletes too; messages published while the
//! subscribers were cut off (`CLIENT KILL TYPE pubsub`) are repaired from the frames kept
//! in Redis; with Redis down `/message` answers 503 with a JSON error at once while the
//! websockets stay open, and everything works again once Redis is back.

mod redis_common;
mod redis_node_common;
mod server_common;

use channelstream::app::Running;
use redis_common::{redis_or_skip, RedisServer};
use redis_node_common::{history_texts, node, stop_all};
use resp_reply::reply_integer;
use serde_json::{json, Value};
use server_common::{call, loopback_config, open_ws, post, read_close, read_items, Ws};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod resp_reply {
    use channelstream::resp::Reply;

    /// The integer inside `reply` (an integer, or the second item of a two-item array
    /// as `PUBSUB NUMSUB` answers).
    pub fn reply_integer(reply: &Reply) -> i64 {
        match reply {
            Reply::Integer(n) => *n,
            Reply::Array(items) => items.get(1).map_or(-1, reply_integer),
            _ => -1,
        }
    }
}

/// The `(pos, text)` of each replayed message in a recovering listener's catch-up.
fn replayed(items: &[Value]) -> Vec<(u64, &str)> {
    items
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| {
            (
                i["pos"].as_u64().unwrap_or(0),
                i["message"]["text"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

/// Waits until `n` nodes subscribe to `pubsub`, then a little longer for their first
/// read of the channel's meta (which follows the subscription at once).
fn wait_subscribed(redis: &RedisServer, pubsub: &str, n: i64) {
    let until = Instant::now() + Duration::from_secs(5);
    while reply_integer(&redis.call(None, &["PUBSUB", "NUMSUB", pubsub])) < n {
        assert!(Instant::now() < until, "{pubsub}: not {n} subscribers");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
}

fn send(addr: SocketAddr, channel: &str, text: &str) {
    post(
        addr,
        "/message",
        json!([{"channel": channel, "user": "sys", "message": {"text": text}}]),
    );
}

/// The `message` texts that arrive on `ws` within `within`, stopping at `last`.
fn texts(ws: &mut Ws, within: Duration, last: &str) -> Vec<String> {
    read_items(ws, within, |i| i["message"]["text"] == last)
        .iter()
        .filter(|i| i["type"] == "message")
        .filter_map(|i| i["message"]["text"].as_str().map(String::from))
        .collect()
}

/// Two nodes on one Redis, `alice` on the first and `bob` on the second, both in
/// `room`, each with an open websocket.
struct Pair {
    a: Running,
    b: Running,
    ws_a: Ws,
    ws_b: Ws,
}

const ALICE: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000002";

fn pair(redis: &RedisServer, config: Value) -> Pair {
    let (a, b) = (node(redis), node(redis));
    for (addr, user, id) in [(a.addr, "alice", ALICE), (b.addr, "bob", BOB)] {
        post(
            addr,
            "/connect",
            json!({"username": user, "conn_id": id, "channels": ["room"],
                   "channel_configs": {"room": config}}),
        );
    }
    wait_subscribed(redis, "t:{room}:pub", 2);
    wait_subscribed(redis, "t:u{alice}:pub", 1);
    let ws_a = open_ws(a.addr, ALICE);
    let ws_b = open_ws(b.addr, BOB);
    Pair { a, b, ws_a, ws_b }
}

#[test]
fn messages_from_either_node_reach_both_nodes_once_in_one_order() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({}));
    let sent: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
    for (i, text) in sent.iter().enumerate() {
        let addr = if i % 2 == 0 { p.a.addr } else { p.b.addr };
        send(addr, "room", text);
    }
    let got_a = texts(&mut p.ws_a, Duration::from_secs(5), "m11");
    let got_b = texts(&mut p.ws_b, Duration::from_secs(5), "m11");
    assert_eq!(got_a, sent);
    assert_eq!(got_b, sent);
    // Nothing more comes: each node delivered each message once.
    assert!(texts(&mut p.ws_a, Duration::from_millis(300), "-").is_empty());
    assert!(texts(&mut p.ws_b, Duration::from_millis(300), "-").is_empty());
    // Positions are Redis's sequence numbers: the twelve messages are 1..=12 there.
    let meta = redis.call(None, &["HGET", "t:{room}:meta", "s"]);
    assert_eq!(meta, channelstream::resp::Reply::Bulk(b"12".to_vec()));
    stop_all([p.a, p.b]);
}

#[test]
fn private_messages_edits_and_deletes_cross_nodes() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({"store_history": true}));
    // A private message to alice (on node A), sent on node B.
    post(
        p.b.addr,
        "/message",
        json!([{"pm_users": ["alice"], "user": "bob", "message": {"text": "psst"}}]),
    );
    assert_eq!(
        texts(&mut p.ws_a, Duration::from_secs(5), "psst"),
        vec!["psst"]
    );
    // A channel message sent on A, edited on B: both nodes' history holds the edit.
    let uuid = "cccccccc-0000-4000-8000-000000000003";
    post(
        p.a.addr,
        "/message",
        json!([{"channel": "room", "user": "sys", "uuid": uuid, "message": {"text": "v1"}}]),
    );
    let (status, _) = call(
        p.b.addr,
        "PATCH",
        "/message",
        &json!([{"uuid": uuid, "channel": "room", "message": {"text": "v2"}}]),
    );
    assert_eq!(status, 200);
    for ws in [&mut p.ws_a, &mut p.ws_b] {
        let items = read_items(ws, Duration::from_secs(5), |i| i["type"] == "message:edit");
        let edit = items.last().expect("an edit");
        assert_eq!(
            (edit["type"].as_str(), edit["message"]["text"].as_str()),
            (Some("message:edit"), Some("v2"))
        );
    }
    for addr in [p.a.addr, p.b.addr] {
        let info = post(addr, "/info", json!({"info": {"channels": ["room"]}}));
        let history = &info["channels"]["room"]["history"];
        let texts: Vec<&str> = history
            .as_array()
            .map(|h| {
                h.iter()
                    .filter_map(|m| m["message"]["text"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert!(texts.contains(&"v2") && !texts.contains(&"v1"), "{info}");
    }
    // Deleted on A: gone from both nodes' history, and both sockets are told.
    let (status, _) = call(
        p.a.addr,
        "DELETE",
        "/message",
        &json!([{"uuid": uuid, "channel": "room"}]),
    );
    assert_eq!(status, 200);
    for ws in [&mut p.ws_a, &mut p.ws_b] {
        let items = read_items(ws, Duration::from_secs(5), |i| {
            i["type"] == "message:delete"
        });
        assert!(items.iter().any(|i| i["uuid"] == uuid), "{items:?}");
    }
    for addr in [p.a.addr, p.b.addr] {
        let info = post(addr, "/info", json!({"info": {"channels": ["room"]}}));
        let history = info["channels"]["room"]["history"].to_string();
        assert!(!history.contains(uuid), "{history}");
    }
    stop_all([p.a, p.b]);
}

#[test]
fn messages_missed_while_subscribers_were_cut_off_are_repaired_in_order() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({}));
    send(p.a.addr, "room", "before");
    assert_eq!(
        texts(&mut p.ws_b, Duration::from_secs(5), "before"),
        ["before"]
    );
    // Both nodes' subscribers are cut off; what is published before they are back
    // (the link waits out a back-off of at least 100 ms) reaches them only through
    // gap repair.
    redis.call(None, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    let sent: Vec<String> = (0..5).map(|i| format!("gap{i}")).collect();
    for text in &sent {
        send(p.a.addr, "room", text);
    }
    send(p.b.addr, "room", "after");
    let mut want = sent.clone();
    want.push("after".into());
    let _ = texts(&mut p.ws_a, Duration::ZERO, "");
    assert_eq!(texts(&mut p.ws_b, Duration::from_secs(5), "after"), want);
    assert_eq!(texts(&mut p.ws_a, Duration::from_secs(5), "after"), {
        let mut w = vec!["before".to_string()];
        w.extend(want.clone());
        w
    });
    assert!(texts(&mut p.ws_b, Duration::from_millis(300), "-").is_empty());
    stop_all([p.a, p.b]);
}

#[test]
fn with_redis_down_messages_answer_503_fast_and_sockets_stay_open() {
    let Some(mut redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({"notify_presence": true}));
    let _ = read_items(&mut p.ws_a, Duration::from_millis(300), |_| false);
    let _ = read_items(&mut p.ws_b, Duration::from_millis(300), |_| false);
    redis.stop();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let (status, body) = call(
        p.a.addr,
        "POST",
        "/message",
        &json!([{"channel": "room", "user": "sys", "message": {"text": "lost"}}]),
    );
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A config change is a publish too; `/info` answers from the node's own state.
    let (status, body) = call(p.b.addr, "POST", "/channel_config", &json!({"room": {}}));
    assert_eq!(status, 503, "{body}");
    let (status, body) = call(p.b.addr, "POST", "/info", &json!({"info": {}}));
    assert_eq!(
        (status, body["channels"]["room"]["users"].clone()),
        (200, json!(["bob"]))
    );
    assert_eq!(read_close(&mut p.ws_a, Duration::from_millis(300)), None);
    assert_eq!(read_close(&mut p.ws_b, Duration::from_millis(300)), None);
    // Back, empty: the nodes resubscribe and messages flow again.
    redis.start();
    wait_subscribed(&redis, "t:{room}:pub", 2);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = call(
            p.b.addr,
            "POST",
            "/message",
            &json!([{"channel": "room", "user": "sys", "message": {"text": "back"}}]),
        );
        if status == 200 {
            break;
        }
        assert!(Instant::now() < until, "no 200 after redis came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(texts(&mut p.ws_a, Duration::from_secs(5), "back"), ["back"]);
    assert_eq!(texts(&mut p.ws_b, Duration::from_secs(5), "back"), ["back"]);
    // Redis came back empty: the nodes' refreshes (every second here) register both
    // connections again, without a `joined` for anyone.
    let until = Instant::now() + Duration::from_secs(5);
    while reply_integer(&redis.call(None, &["HLEN", "t:{room}:pres"])) < 2 {
        assert!(Instant::now() < until, "presence not registered again");
        std::thread::sleep(Duration::from_millis(50));
    }
    for ws in [&mut p.ws_a, &mut p.ws_b] {
        let items = read_items(ws, Duration::from_millis(500), |_| false);
        assert!(items.iter().all(|i| i["type"] != "presence"), "{items:?}");
    }
    stop_all([p.a, p.b]);
}

#[test]
fn publishers_on_three_nodes_at_once_lose_nothing_and_every_node_sees_one_order() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let nodes: Vec<Running> = (0..3).map(|_| node(&redis)).collect();
    let ids = [ALICE, BOB, "dddddddd-0000-4000-8000-000000000004"];
    for (i, n) in nodes.iter().enumerate() {
        post(
            n.addr,
            "/connect",
            json!({"username": format!("u{i}"), "conn_id": ids[i], "channels": ["room"]}),
        );
    }
    wait_subscribed(&redis, "t:{room}:pub", 3);
    let mut sockets: Vec<Ws> = nodes
        .iter()
        .zip(ids)
        .map(|(n, id)| open_ws(n.addr, id))
        .collect();
    const EACH: usize = 25;
    let publishers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let addr = n.addr;
            std::thread::spawn(move || {
                for k in 0..EACH {
                    send(addr, "room", &format!("p{i}-{k}"));
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().expect("publisher");
    }
    let mut orders = Vec::new();
    for ws in &mut sockets {
        let mut got = Vec::new();
        let until = Instant::now() + Duration::from_secs(10);
        while got.len() < 3 * EACH && Instant::now() < until {
            got.extend(texts(ws, Duration::from_millis(200), "-"));
        }
        assert_eq!(got.len(), 3 * EACH, "every acknowledged message, once");
        for i in 0..3 {
            let mine: Vec<&String> = got
                .iter()
                .filter(|t| t.starts_with(&format!("p{i}-")))
                .collect();
            let want: Vec<String> = (0..EACH).map(|k| format!("p{i}-{k}")).collect();
            assert_eq!(
                mine,
                want.iter().collect::<Vec<_>>(),
                "each publisher's order"
            );
        }
        orders.push(got);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "one order on every node"
    );
    for n in nodes {
        n.shutdown().expect("node stops");
    }
}

#[test]
fn a_user_state_change_on_one_node_is_seen_on_the_others() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({"notify_state": true}));
    // alice also has a connection on node B, so B knows her.
    post(
        p.b.addr,
        "/connect",
        json!({"username": "alice", "conn_id": "eeeeeeee-0000-4000-8000-000000000005",
               "channels": ["room"]}),
    );
    // B hears alice's stream before her state changes (a change made earlier is not
    // replayed to a node that starts listening later).
    wait_subscribed(&redis, "t:u{alice}:pub", 2);
    post(
        p.a.addr,
        "/user_state",
        json!({"user": "alice", "user_state": {"mood": "busy"}, "state_public_keys": ["mood"]}),
    );
    // bob, on B, is told in the channel; and B's /info shows alice's new state.
    let items = read_items(&mut p.ws_b, Duration::from_secs(5), |i| {
        i["type"] == "user_state_change"
    });
    let change = items.last().expect("a user_state_change");
    assert_eq!(
        change["message"]["state"],
        json!({"mood": "busy"}),
        "{change}"
    );
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let info = post(p.b.addr, "/info", json!({"info": {"channels": ["room"]}}));
        let alice = info["users"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["user"] == "alice"))
            .cloned()
            .unwrap_or(Value::Null);
        if alice["state"] == json!({"mood": "busy"}) {
            break;
        }
        assert!(Instant::now() < until, "B never saw the state: {info}");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all([p.a, p.b]);
}

#[test]
fn a_websocket_that_comes_back_on_another_node_gets_its_catch_up_there() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    const CAROL: &str = "cccccccc-1111-4000-8000-000000000006";
    const DAVE: &str = "dddddddd-1111-4000-8000-000000000007";
    post(
        a.addr,
        "/connect",
        json!({"username": "carol", "conn_id": CAROL, "channels": ["news"]}),
    );
    wait_subscribed(&redis, "t:{news}:pub", 1);
    // carol listens on A with positions and sees 1..=3, then her socket drops.
    let mut ws = open_ws(a.addr, &format!("{CAROL}&recover=%7B%7D"));
    for i in 1..=3 {
        send(a.addr, "news", &format!("n{i}"));
    }
    let seen = read_items(&mut ws, Duration::from_secs(5), |i| {
        i["message"]["text"] == "n3"
    });
    let last = seen.last().expect("n3");
    assert_eq!(last["pos"], 3, "positions are Redis's sequence numbers");
    drop(ws);
    for i in 4..=6 {
        send(a.addr, "news", &format!("n{i}"));
    }
    // She comes back on B, which never had the channel, naming position 3.
    let mut ws = open_ws(b.addr, &format!("{CAROL}&recover=%7B%22news%22%3A3%7D"));
    let got = read_items(&mut ws, Duration::from_secs(5), |i| i["type"] == "recovery");
    let replayed = replayed(&got);
    assert_eq!(replayed, [(4, "n4"), (5, "n5"), (6, "n6")]);
    assert_eq!(
        got.last().map(|r| r["channels"]["news"].clone()),
        Some(json!({"pos": 6, "recovered": true}))
    );
    // Live messages follow on B, sent on A.
    send(a.addr, "news", "n7");
    assert_eq!(texts(&mut ws, Duration::from_secs(5), "n7"), ["n7"]);
    // dave connected on A and never opened a socket there: on B his catch-up holds
    // what was sent since he connected, and then live messages.
    post(
        a.addr,
        "/connect",
        json!({"username": "dave", "conn_id": DAVE, "channels": ["news"]}),
    );
    send(a.addr, "news", "n8");
    let mut ws_dave = open_ws(b.addr, DAVE);
    let caught = read_items(&mut ws_dave, Duration::from_secs(5), |i| {
        i["message"]["text"] == "n8"
    });
    let n8 = caught.last().expect("n8 as catch-up");
    assert_eq!(
        (n8["message"]["text"].as_str(), n8["catchup"].as_bool()),
        (Some("n8"), Some(true))
    );
    assert!(
        !caught.iter().any(|i| i["message"]["text"] == "n7"),
        "{caught:?}"
    );
    send(b.addr, "news", "n9");
    assert_eq!(texts(&mut ws_dave, Duration::from_secs(5), "n9"), ["n9"]);
    // An id no node made is closed, as on one node.
    let mut stranger = open_ws(b.addr, "eeeeeeee-1111-4000-8000-000000000008");
    assert_eq!(
        read_close(&mut stranger, Duration::from_secs(5)),
        Some(Some(1000))
    );
    a.shutdown().expect("a stops");
    b.shutdown().expect("b stops");
}

/// The presence messages (`(action, user)`) among `items`.
fn presence(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .filter(|i| i["type"] == "presence")
        .map(|i| {
            (
                i["message"]["action"].as_str().unwrap_or("").to_string(),
                i["user"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn presence_counts_users_over_every_node_and_a_killed_nodes_users_part_within_the_bound() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut c = loopback_config();
    c.redis_url = Some(redis.url(""));
    c.redis_key_prefix = "t:".into();
    c.redis_presence_ttl = 3;
    let a = server_common::start(c);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut b = server_common::Binary::start(
        "",
        &[
            "--secret",
            "secret",
            "--allow-posting-from",
            "127.0.0.1",
            "--redis-url",
            &url,
            "--redis-key-prefix",
            "t:",
            "--redis-presence-ttl",
            "3",
        ],
    );
    let cfg = json!({"lobby": {"notify_presence": true}});
    let join = |addr, user: &str, id: &str| {
        post(
            addr,
            "/connect",
            json!({"username": user, "conn_id": id, "channels": ["lobby"], "channel_configs": cfg}),
        );
    };
    join(a.addr, "alice", ALICE);
    wait_subscribed(&redis, "t:{lobby}:pub", 1);
    let mut ws = open_ws(a.addr, ALICE);
    // eve and frank join on B (the child process); eve also on A: one `joined` each.
    join(b.addr, "eve", "eeeeeeee-2222-4000-8000-000000000009");
    join(b.addr, "frank", "ffffffff-2222-4000-8000-00000000000a");
    join(a.addr, "eve", "eeeeeeee-2222-4000-8000-00000000000b");
    let mut n = 0;
    let mut seen = read_items(&mut ws, Duration::from_secs(5), |i| {
        n += usize::from(i["type"] == "presence");
        n == 2
    });
    seen.extend(read_items(&mut ws, Duration::from_millis(500), |_| false));
    let mut joined = presence(&seen);
    joined.sort();
    assert_eq!(
        joined,
        [
            ("joined".to_string(), "eve".to_string()),
            ("joined".into(), "frank".into())
        ]
    );
    // B dies without a word. Its connections expire: frank parts; eve, still on A, not.
    let _ = b.child.kill();
    let _ = b.child.wait();
    let killed = Instant::now();
    let seen = read_items(&mut ws, Duration::from_secs(8), |i| i["type"] == "presence");
    let took = killed.elapsed();
    assert_eq!(
        presence(&seen),
        [("parted".to_string(), "frank".to_string())],
        "after {took:?}"
    );
    // Bound (docs/SCALING.md): TTL + sweep period after the last refresh, so at most
    // TTL + 1 s = 4 s after the kill (plus slack for a loaded machine); and not before
    // the TTL less a refresh period (2 s) passed.
    assert!(took <= Duration::from_millis(5500), "{took:?}");
    assert!(took >= Duration::from_millis(1500), "{took:?}: not expiry");
    assert!(presence(&read_items(&mut ws, Duration::from_secs(2), |_| false)).is_empty());
    a.shutdown().expect("a stops");
}

#[test]
fn a_node_started_later_catches_up_from_the_stored_frames() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let a = node(&redis);
    for i in 1..=3 {
        send(a.addr, "late", &format!("l{i}"));
    }
    // B starts after the messages; a user joins the channel there.
    let b = node(&redis);
    const ZED: &str = "abababab-3333-4000-8000-00000000000c";
    post(
        b.addr,
        "/connect",
        json!({"username": "zed", "conn_id": ZED, "channels": ["late"],
               "channel_configs": {"late": {"store_history": true}}}),
    );
    wait_subscribed(&redis, "t:{late}:pub", 1);
    let info = post(b.addr, "/info", json!({"info": {"channels": ["late"]}}));
    let history: Vec<&str> = info["channels"]["late"]["history"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|m| m["message"]["text"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(history, ["l1", "l2", "l3"], "{info}");
    let mut ws = open_ws(b.addr, &format!("{ZED}&recover=%7B%22late%22%3A1%7D"));
    let got = read_items(&mut ws, Duration::from_secs(5), |i| i["type"] == "recovery");
    let replayed = replayed(&got);
    assert_eq!(replayed, [(2, "l2"), (3, "l3")]);
    assert_eq!(
        got.last().map(|r| r["channels"]["late"].clone()),
        Some(json!({"pos": 3, "recovered": true}))
    );
    a.shutdown().expect("a stops");
    b.shutdown().expect("b stops");
}

#[test]
fn a_frame_lost_on_a_quiet_channel_is_found_by_the_position_check() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({}));
    send(p.a.addr, "room", "q1");
    assert_eq!(texts(&mut p.ws_a, Duration::from_secs(5), "q1"), ["q1"]);
    assert_eq!(texts(&mut p.ws_b, Duration::from_secs(5), "q1"), ["q1"]);
    // A frame stored and numbered in Redis whose PUBLISH never reached anyone (as when
    // a node dropped it while behind), and no message after it.
    let epoch = match redis.call(None, &["HGET", "t:{room}:meta", "e"]) {
        channelstream::resp::Reply::Bulk(e) => String::from_utf8(e).expect("epoch"),
        other => panic!("no epoch: {other:?}"),
    };
    let seq = reply_integer(&redis.call(None, &["HINCRBY", "t:{room}:meta", "s", "1"]));
    let msg = json!({"t": 0, "m": {"channel": "room", "type": "message", "user": "sys",
        "uuid": "abcdabcd-0000-4000-8000-00000000000d", "timestamp": "2026-01-01T00:00:00",
        "catchup": false, "edited": null, "pm_users": [], "exclude_users": [],
        "no_history": false, "message": {"text": "quiet"}}});
    let frame = format!("{seq}:{epoch}:{msg}");
    redis.call(None, &["LPUSH", "t:{room}:hist", &frame]);
    // The nodes compare quiet channels with Redis every refresh (1 s here).
    assert_eq!(
        texts(&mut p.ws_a, Duration::from_secs(5), "quiet"),
        ["quiet"]
    );
    assert_eq!(
        texts(&mut p.ws_b, Duration::from_secs(5), "quiet"),
        ["quiet"]
    );
    stop_all([p.a, p.b]);
}

/// `/info`'s settings and history texts of `channel` on the node at `addr`.
fn settings_and_history(addr: SocketAddr, channel: &str) -> (Value, Vec<String>) {
    let info = post(addr, "/info", json!({"info": {"channels": [channel]}}));
    let ch = &info["channels"][channel];
    (ch["settings"].clone(), history_texts(&ch["history"]))
}

#[test]
fn a_channel_config_set_on_one_node_is_the_config_on_every_node() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({}));
    let config = json!({"store_history": true, "history_size": 2, "notify_presence": true});
    let answer = post(p.a.addr, "/channel_config", json!({ "room": config }));
    let want = answer["channels"]["room"]["settings"].clone();
    assert_eq!(want["history_size"], 2, "{answer}");
    let until = Instant::now() + Duration::from_secs(5);
    while settings_and_history(p.b.addr, "room").0 != want {
        assert!(Instant::now() < until, "B never took the config");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both nodes now keep the history the config asks for, and the same one.
    for (i, addr) in [p.a.addr, p.b.addr, p.a.addr].into_iter().enumerate() {
        send(addr, "room", &format!("h{i}"));
    }
    texts(&mut p.ws_a, Duration::from_secs(5), "h2");
    texts(&mut p.ws_b, Duration::from_secs(5), "h2");
    let on_a = settings_and_history(p.a.addr, "room");
    assert_eq!(on_a, (want.clone(), vec!["h1".into(), "h2".into()]));
    assert_eq!(settings_and_history(p.b.addr, "room"), on_a);
    // A node started later has the config too, whatever its first user asked for.
    let c = node(&redis);
    post(
        c.addr,
        "/connect",
        json!({"username": "cy", "conn_id": "cdcdcdcd-4444-4000-8000-00000000000d",
               "channels": ["room"], "channel_configs": {"room": {"history_size": 7}}}),
    );
    let until = Instant::now() + Duration::from_secs(5);
    while settings_and_history(c.addr, "room") != on_a {
        assert!(
            Instant::now() < until,
            "C: {:?}",
            settings_and_history(c.addr, "room")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all([p.a, p.b]);
    c.shutdown().expect("c stops");
}

/// `/info` for `channels` on the node at `addr`, without what is each node's own
/// (channel uuids, last activity).
fn shared_info(addr: SocketAddr, channels: &[&str]) -> Value {
    let mut info = post(addr, "/info", json!({"info": {"channels": channels}}));
    if let Some(listed) = info["channels"].as_object_mut() {
        for ch in listed.values_mut().filter_map(Value::as_object_mut) {
            ch.remove("uuid");
            ch.remove("last_active");
        }
    }
    info
}

#[test]
fn info_lists_the_same_users_counts_history_and_config_on_every_node() {
    let Some(redis) = redis_or_skip("redis_nodes", &[]) else {
        return;
    };
    let mut p = pair(&redis, json!({"store_history": true, "history_size": 5}));
    // carol is only on B, in a channel only B has, with a state B knows.
    post(
        p.b.addr,
        "/connect",
        json!({"username": "carol", "conn_id": "cacacaca-5555-4000-8000-00000000000e",
               "channels": ["room", "solo"], "user_state": {"k": 1},
               "channel_configs": {"solo": {"store_history": true}}}),
    );
    wait_subscribed(&redis, "t:{solo}:pub", 1);
    for (i, addr) in [p.a.addr, p.b.addr, p.a.addr, p.b.addr]
        .into_iter()
        .enumerate()
    {
        send(addr, "room", &format!("r{i}"));
    }
    send(p.a.addr, "solo", "s0");
    texts(&mut p.ws_a, Duration::from_secs(5), "r3");
    let channels = ["room", "solo"];
    let until = Instant::now() + Duration::from_secs(5);
    let on_b = loop {
        let on_b = shared_info(p.b.addr, &channels);
        if on_b["channels"]["solo"]["history"].as_array().map(Vec::len) == Some(1) {
            break on_b;
        }
        assert!(Instant::now() < until, "B never stored s0: {on_b}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        on_b["channels"]["room"]["users"],
        json!(["alice", "bob", "carol"])
    );
    assert_eq!(on_b["channels"]["room"]["total_connections"], 3);
    assert_eq!(
        on_b["channels"]["room"]["history"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(on_b["channels"]["solo"]["users"], json!(["carol"]));
    // A has no `solo` and no carol, yet answers as B does.
    assert_eq!(
        shared_info(p.a.addr, &channels)["channels"],
        on_b["channels"]
    );
    let users = |info: &Value| {
        info["users"]
            .as_array()
            .map(|l| l.iter().map(|u| u["user"].clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(users(&shared_info(p.a.addr, &channels)), users(&on_b));
    // Without a channel list both nodes list every channel some node has (the index).
    let everything = |addr| {
        let mut info = post(addr, "/info", json!({"info": {}}));
        for ch in info["channels"]
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(ch) = ch.as_object_mut() {
                ch.remove("uuid");
                ch.remove("last_active");
            }
        }
        info
    };
    let (all_a, all_b) = (everything(p.a.addr), everything(p.b.addr));
    assert_eq!(all_a["channels"], on_b["channels"], "{all_a}");
    assert_eq!(all_a["channels"], all_b["channels"]);
    // The same users; carol's state only where it is known (`docs/SCALING.md`).
    assert_eq!(users(&all_a), users(&all_b));
    // The admin totals are every node's, the same from either.
    let totals = |addr| {
        let (status, admin) = call(addr, "GET", "/admin/admin.json", &Value::Null);
        assert_eq!(status, 200, "{admin}");
        let keys = [
            "total_channels",
            "total_connections",
            "unique_user_count",
            "remembered_user_count",
            "total_unique_messages",
            "total_messages",
        ];
        let mut out: Vec<Value> = keys.iter().map(|k| admin[*k].clone()).collect();
        out.push(json!(users(&admin)));
        out
    };
    // 5 messages accepted (4 on `room`, 1 on `solo`), delivered 4 x 3 + 1 times.
    let want = vec![
        json!(2),
        json!(3),
        json!(3),
        json!(3),
        json!(5),
        json!(13),
        json!(["alice", "bob", "carol"]),
    ];
    let until = Instant::now() + Duration::from_secs(5);
    while totals(p.a.addr) != want || totals(p.b.addr) != want {
        assert!(
            Instant::now() < until,
            "{:?} {:?}",
            totals(p.a.addr),
            totals(p.b.addr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all([p.a, p.b]);
}
