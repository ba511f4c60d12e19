//! Operating a node in Redis mode (issue 13, `docs/DEPLOY.md`), against a real
//! `redis-server`: `/metrics` gains the Redis families (command round trips, reconnects
//! per connection, gaps repaired, frames lost), read by the real Prometheus parser, and
//! they move as the link does; `/readyz` is 503 while Redis is down and 200 once it is
//! back. Skipped without `redis-server` (or the parser) unless `CI` is set.

mod ops_common;
mod redis_common;
mod redis_node_common;
mod server_common;

use channelstream::app::Running;
use channelstream::resp::Reply;
use ops_common::{get, parse_with_prometheus_client, promtool_check, Samples};
use redis_common::{redis_or_skip, RedisServer};
use redis_node_common::node;
use serde_json::json;
use server_common::{connect, open_ws, publish, sees_marker, Ws};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CONN: &str = "aaaaaaaa-0000-4000-8000-000000000001";

/// Polls `/readyz` until it answers `status` (within `within`); returns its body.
fn readyz_becomes(addr: SocketAddr, status: u16, within: Duration) -> String {
    let until = Instant::now() + within;
    loop {
        let (got, body) = get(addr, "/readyz", "");
        if got == status {
            return body;
        }
        assert!(Instant::now() < until, "/readyz stayed {got} ({body})");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn scrape(addr: SocketAddr) -> Option<Samples> {
    let (status, body) = get(addr, "/metrics", "");
    assert_eq!(status, 200, "{body}");
    parse_with_prometheus_client(&body)
}

fn value(s: &Samples, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("{key} missing from {:#?}", s.keys()))
}

/// Scrapes until `key` reaches `want` (within 5 s); returns the last page read.
fn scrape_until(addr: SocketAddr, key: &str, want: f64) -> Samples {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let s = scrape(addr).expect("the parser was there a moment ago");
        if value(&s, key) >= want {
            return s;
        }
        assert!(Instant::now() < until, "{key} stayed {}", value(&s, key));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the node subscribes to `room`, then a little longer for its first read
/// of the channel's meta.
fn wait_subscribed(redis: &RedisServer) {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let subscribers = match redis.call(None, &["PUBSUB", "NUMSUB", "t:{room}:pub"]) {
            Reply::Array(items) => matches!(items.get(1), Some(Reply::Integer(n)) if *n > 0),
            _ => false,
        };
        if subscribers {
            break;
        }
        assert!(Instant::now() < until, "the node did not subscribe");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
}

/// A ready node with a websocket in `room` that has seen one message.
fn node_with_listener(redis: &RedisServer) -> (Running, Ws) {
    let server = node(redis);
    readyz_becomes(server.addr, 200, Duration::from_secs(5));
    connect(server.addr, "alice", CONN, &["room"]);
    wait_subscribed(redis);
    let mut ws = open_ws(server.addr, CONN);
    publish(server.addr, "room", "first");
    assert!(sees_marker(&mut ws, "first", Duration::from_secs(5)));
    (server, ws)
}

const UP: &str = "channelstream_redis_connection_up";
const RECONNECTS: &str = "channelstream_redis_reconnects_total";

#[test]
fn the_redis_families_parse_and_follow_round_trips_reconnects_and_repairs() {
    let Some(redis) = redis_or_skip("redis_ops", &[]) else {
        return;
    };
    let (server, mut ws) = node_with_listener(&redis);
    let addr = server.addr;
    let Some(s) = scrape(addr) else {
        return;
    };
    promtool_check(&get(addr, "/metrics", "").1);
    for role in ["commands", "subscriber"] {
        assert_eq!(
            value(&s, &format!("{UP}{{role=\"{role}\"}}")),
            1.0,
            "{role}"
        );
        assert_eq!(value(&s, &format!("{RECONNECTS}{{role=\"{role}\"}}")), 0.0);
    }
    let round_trips = "channelstream_redis_command_duration_seconds_count";
    assert!(
        value(&s, round_trips) >= 1.0,
        "the publish was a round trip"
    );
    assert!(
        value(
            &s,
            "channelstream_redis_command_duration_seconds_bucket{le=\"+Inf\"}"
        ) == value(&s, round_trips)
    );
    assert_eq!(value(&s, "channelstream_redis_gaps_repaired_total"), 0.0);
    assert_eq!(value(&s, "channelstream_redis_frames_lost_total"), 0.0);
    assert_eq!(value(&s, "channelstream_redis_gate_dropped_total"), 0.0);

    // The subscriber is cut off; the link connects it again and counts that.
    redis.call(None, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    let s = scrape_until(addr, &format!("{RECONNECTS}{{role=\"subscriber\"}}"), 1.0);
    assert_eq!(
        value(&s, &format!("{RECONNECTS}{{role=\"commands\"}}")),
        0.0
    );

    // Two frames numbered in Redis whose PUBLISH never reached the node, and only the
    // second still stored: the position check finds the gap, the repair delivers the
    // stored one and counts the other lost.
    let epoch = match redis.call(None, &["HGET", "t:{room}:meta", "e"]) {
        Reply::Bulk(e) => String::from_utf8(e).expect("epoch"),
        other => panic!("no epoch: {other:?}"),
    };
    let top = match redis.call(None, &["HGET", "t:{room}:meta", "s"]) {
        Reply::Bulk(s) => String::from_utf8(s)
            .expect("seq")
            .parse::<u64>()
            .expect("seq"),
        other => panic!("no sequence number: {other:?}"),
    };
    let msg = json!({"t": 0, "m": {"channel": "room", "type": "message", "user": "sys",
        "uuid": "abcdabcd-0000-4000-8000-00000000000d", "timestamp": "2026-01-01T00:00:00",
        "catchup": false, "edited": null, "pm_users": [], "exclude_users": [],
        "no_history": false, "message": {"marker": "stored"}}});
    let frame = format!("{}:{epoch}:{msg}", top + 2);
    // Stored before it is numbered, so a position check in between sees no gap yet.
    redis.call(None, &["LPUSH", "t:{room}:hist", &frame]);
    redis.call(None, &["HINCRBY", "t:{room}:meta", "s", "2"]);
    assert!(sees_marker(&mut ws, "stored", Duration::from_secs(5)));
    let s = scrape_until(addr, "channelstream_redis_frames_lost_total", 1.0);
    assert!(value(&s, "channelstream_redis_gaps_repaired_total") >= 1.0);
    assert_eq!(value(&s, "channelstream_redis_frames_repaired_total"), 1.0);
    assert_eq!(value(&s, "channelstream_redis_frames_lost_total"), 1.0);
    server.shutdown().expect("stops");
}

#[test]
fn readyz_is_503_while_redis_is_down_and_200_once_it_is_back() {
    let Some(mut redis) = redis_or_skip("redis_ops", &[]) else {
        return;
    };
    let server = node(&redis);
    let addr = server.addr;
    assert_eq!(readyz_becomes(addr, 200, Duration::from_secs(5)), "ready\n");
    redis.stop();
    assert_eq!(
        readyz_becomes(addr, 503, Duration::from_secs(5)),
        "not ready\n",
        "plain, without detail"
    );
    assert_eq!(
        get(addr, "/healthz", ""),
        (200, "ok\n".into()),
        "still alive"
    );
    if let Some(s) = scrape(addr) {
        assert_eq!(value(&s, &format!("{UP}{{role=\"commands\"}}")), 0.0);
    }
    // Back soon, before the reconnect back-off grows past a second.
    std::thread::sleep(Duration::from_millis(200));
    redis.start();
    assert_eq!(readyz_becomes(addr, 200, Duration::from_secs(5)), "ready\n");
    if let Some(s) = scrape(addr) {
        assert_eq!(value(&s, &format!("{UP}{{role=\"commands\"}}")), 1.0);
        assert!(value(&s, &format!("{RECONNECTS}{{role=\"commands\"}}")) >= 1.0);
    }
    server.shutdown().expect("stops");
}
