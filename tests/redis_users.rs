//! Users over several nodes sharing a real `redis-server` (issue 12, `docs/SCALING.md`):
//! a user's state is kept in Redis (`Pu{name}:user`), so a node that never held the user
//! lists it with its state; the `channels_info` of `/connect`, `/subscribe` and
//! `/unsubscribe` lists the channels' users over every node, as `/info` does; a user
//! who connects on a second node, or whose websocket comes back there, starts there
//! with the state Redis holds; and with
//! Redis down these calls still answer, from the asked node's state.

mod redis_common;
mod redis_node_common;
mod server_common;

use channelstream::app::Running;
use channelstream::resp::Reply;
use redis_common::{redis_or_skip, RedisServer};
use redis_node_common::{node, stop_all};
use serde_json::{json, Value};
use server_common::{call, open_ws, post};
use std::net::SocketAddr;

const ALICE: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const CAROL: &str = "cccccccc-0000-4000-8000-000000000003";

/// Connects alice on `addr` to `room` with a state whose `mood` is public. The answer
/// comes once her presence is in Redis (it waits for the reads queued after it).
fn connect_alice(addr: SocketAddr) -> Value {
    post(
        addr,
        "/connect",
        json!({"username": "alice", "conn_id": ALICE, "channels": ["room"],
               "user_state": {"mood": "ok", "secret": 1}, "state_public_keys": ["mood"]}),
    )
}

/// Redis and two nodes on it, with alice connected on the first (`None`: no Redis here).
fn alice_on_a() -> Option<(RedisServer, Running, Running)> {
    let redis = redis_or_skip("redis_users", &[])?;
    let (a, b) = (node(&redis), node(&redis));
    connect_alice(a.addr);
    Some((redis, a, b))
}

/// The `users` list of a listing as (name, state) pairs.
fn users(listing: &Value) -> Vec<(String, Value)> {
    listing["users"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|u| {
                    (
                        u["user"].as_str().unwrap_or("").to_string(),
                        u["state"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn room_info(addr: SocketAddr, public: bool) -> Value {
    post(
        addr,
        "/info",
        json!({"info": {"channels": ["room"], "return_public_state": public}}),
    )
}

fn named(name: &str, state: Value) -> (String, Value) {
    (name.to_string(), state)
}

/// `/info` on `addr` lists alice with the state she connected with: all of it, and only
/// the public key when asked for public state.
fn shows_alice_as_connected(addr: SocketAddr) {
    assert_eq!(
        users(&room_info(addr, false)),
        [named("alice", json!({"mood": "ok", "secret": 1}))]
    );
    assert_eq!(
        users(&room_info(addr, true)),
        [named("alice", json!({"mood": "ok"}))]
    );
}

/// Polls the public listing of `room` on the node at `addr` until it is `want`; fails
/// after 5 s with what it last showed.
fn public_users_become(addr: SocketAddr, want: &[(String, Value)]) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let shown = users(&room_info(addr, true));
        if shown == want {
            return;
        }
        assert!(std::time::Instant::now() < until, "{addr} shows {shown:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn info_on_another_node_shows_the_state_of_a_user_it_never_saw_and_its_changes() {
    let Some((redis, a, b)) = alice_on_a() else {
        return;
    };
    shows_alice_as_connected(b.addr);
    // A change on A is in Redis when A answers: B, which never held alice, shows it.
    post(
        a.addr,
        "/user_state",
        json!({"user": "alice", "user_state": {"mood": "busy"}, "state_public_keys": ["mood", "secret"]}),
    );
    assert_eq!(
        users(&room_info(b.addr, true)),
        [named("alice", json!({"mood": "busy", "secret": 1}))]
    );
    // The admin page lists her with her public state too.
    let (status, admin) = call(b.addr, "GET", "/admin/admin.json", &Value::Null);
    assert_eq!(status, 200, "{admin}");
    assert_eq!(
        users(&admin),
        [named("alice", json!({"mood": "busy", "secret": 1}))]
    );
    // The copy lives as long as the user's stream (refreshed by each change).
    match redis.call(None, &["TTL", "t:u{alice}:user"]) {
        Reply::Integer(ttl) => assert!(ttl > 0, "ttl {ttl}"),
        other => panic!("TTL answered {other:?}"),
    }
    stop_all([a, b]);
}

#[test]
fn connect_subscribe_and_unsubscribe_on_another_node_list_every_nodes_users() {
    let Some(mut redis) = redis_or_skip("redis_users", &[]) else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    connect_alice(a.addr);
    let connected = post(
        b.addr,
        "/connect",
        json!({"username": "bob", "conn_id": BOB, "channels": ["room"],
               "user_state": {"x": 1}}),
    );
    let info = &connected["channels_info"];
    assert_eq!(info["channels"]["room"]["users"], json!(["alice", "bob"]));
    assert_eq!(info["channels"]["room"]["total_connections"], 2);
    assert_eq!(
        users(info),
        [
            named("alice", json!({"mood": "ok", "secret": 1})),
            named("bob", json!({"x": 1}))
        ]
    );
    // carol connects to nothing, then subscribes on B.
    post(
        b.addr,
        "/connect",
        json!({"username": "carol", "conn_id": CAROL, "channels": [], "user_state": {"c": true}}),
    );
    let subscribed = post(
        b.addr,
        "/subscribe",
        json!({"conn_id": CAROL, "channels": ["room", "side"]}),
    );
    let info = &subscribed["channels_info"];
    assert_eq!(
        info["channels"]["room"]["users"],
        json!(["alice", "bob", "carol"])
    );
    assert_eq!(
        users(info)[0],
        named("alice", json!({"mood": "ok", "secret": 1}))
    );
    let left = post(
        b.addr,
        "/unsubscribe",
        json!({"conn_id": CAROL, "channels": ["side"]}),
    );
    assert_eq!(left["channels"], json!(["room"]));
    assert_eq!(
        left["channels_info"]["channels"]["room"]["users"],
        json!(["alice", "bob", "carol"])
    );
    // Redis down: the same calls answer at once, from B's own state.
    redis.stop();
    let dave = post(
        b.addr,
        "/connect",
        json!({"username": "dave", "channels": ["room"]}),
    );
    assert_eq!(
        dave["channels_info"]["channels"]["room"]["users"],
        json!(["bob", "carol", "dave"])
    );
    let (status, body) = call(
        b.addr,
        "POST",
        "/subscribe",
        &json!({"conn_id": CAROL, "channels": ["side"]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["channels_info"]["channels"]["side"]["users"],
        json!(["carol"])
    );
    stop_all([a, b]);
}

#[test]
fn a_user_who_set_state_on_one_node_starts_with_it_on_another() {
    let Some(redis) = redis_or_skip("redis_users", &[]) else {
        return;
    };
    let (a, b) = (node(&redis), node(&redis));
    post(
        a.addr,
        "/connect",
        json!({"username": "alice", "conn_id": ALICE, "channels": ["room"],
               "fresh_user_state": {"a": 1}, "user_state": {"mood": "ok"}}),
    );
    post(
        a.addr,
        "/user_state",
        json!({"user": "alice", "user_state": {"mood": "busy"}}),
    );
    // As on one node: alice exists, so `fresh_user_state` is left out and `user_state`
    // is applied over the state she has; her public keys are replaced.
    let again = post(
        b.addr,
        "/connect",
        json!({"username": "alice", "channels": ["room"], "fresh_user_state": {"a": 2, "new": 1},
               "user_state": {"b": 3}, "state_public_keys": ["b"]}),
    );
    assert_eq!(again["state"], json!({"a": 1, "b": 3, "mood": "busy"}));
    assert_eq!(again["public_state"], json!({"b": 3}));
    // A, which holds alice, hears what B's connect changed, as Redis's copy holds it.
    public_users_become(a.addr, &[named("alice", json!({"b": 3}))]);
    // A user Redis never saw takes `fresh_user_state`, as on one node.
    let fresh = post(
        b.addr,
        "/connect",
        json!({"username": "erin", "channels": [], "fresh_user_state": {"f": 1}}),
    );
    assert_eq!(fresh["state"], json!({"f": 1}));
    stop_all([a, b]);
}

#[test]
fn a_websocket_that_comes_back_on_another_node_brings_its_users_state() {
    let Some((_redis, a, b)) = alice_on_a() else {
        return;
    };
    // alice's websocket opens on B, which takes her connection over from Redis.
    let _ws = open_ws(b.addr, ALICE);
    shows_alice_as_connected(b.addr);
    stop_all([a, b]);
}

#[test]
fn user_state_on_a_node_that_never_held_the_user_changes_it_everywhere() {
    let Some((_redis, a, b)) = alice_on_a() else {
        return;
    };
    // B finds alice in Redis, as one node would find a user it has.
    let changed = post(
        b.addr,
        "/user_state",
        json!({"user": "alice", "user_state": {"mood": "away"}}),
    );
    assert_eq!(changed["user_state"], json!({"mood": "away", "secret": 1}));
    assert_eq!(changed["public_keys"], json!(["mood"]));
    assert_eq!(
        changed["changed_state"],
        json!([{"key": "mood", "value": "away"}])
    );
    // A, which holds alice, hears it on her stream.
    public_users_become(a.addr, &[named("alice", json!({"mood": "away"}))]);
    // A user no node ever saw is still unknown.
    let (status, body) = call(
        b.addr,
        "POST",
        "/user_state",
        &json!({"user": "nobody", "user_state": {"a": 1}}),
    );
    assert_eq!((status, &body["user"]), (422, &json!(["Unknown user"])));
    stop_all([a, b]);
}

#[test]
fn a_change_the_node_never_heard_as_a_frame_is_read_from_redis_once_it_listens_again() {
    let Some(redis) = redis_or_skip("redis_users", &[]) else {
        return;
    };
    let a = node(&redis);
    connect_alice(a.addr);
    // Another node's change that never reached A as a frame (as one published between
    // A's read of alice's copy and its subscription): only the hash has it.
    redis.call(
        None,
        &[
            "HSET",
            "t:u{alice}:user",
            "s:mood",
            "\"hidden\"",
            "k",
            "[\"mood\",\"secret\"]",
        ],
    );
    assert_eq!(
        users(&room_info(a.addr, true)),
        [named("alice", json!({"mood": "ok"}))]
    );
    // A listens to alice's stream again (its subscriber is cut off and comes back):
    // once that is confirmed it reads her copy, and shows the change.
    redis.call(None, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    public_users_become(
        a.addr,
        &[named("alice", json!({"mood": "hidden", "secret": 1}))],
    );
    // Later changes win as usual.
    post(
        a.addr,
        "/user_state",
        json!({"user": "alice", "user_state": {"mood": "back"}}),
    );
    assert_eq!(
        users(&room_info(a.addr, true)),
        [named("alice", json!({"mood": "back", "secret": 1}))]
    );
    a.shutdown().expect("a stops");
}
