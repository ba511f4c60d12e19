//! The presence scripts (`src/redis/presence_*.lua`) on a real `redis-server`: a user's
//! connections are counted over every node, a connection taken over by another node is
//! not parted by its old node's leave, and expired connections are swept with `parted`.

mod redis_common;

use channelstream::resp::Reply;
use redis_common::{redis_or_skip, RedisServer};

const JOIN: &str = include_str!("../src/redis/presence_join.lua");
const LEAVE: &str = include_str!("../src/redis/presence_leave.lua");
const KEYS: [&str; 3] = ["t:{c}:pres", "t:{c}:pres:exp", "t:{c}:users"];

fn join(redis: &RedisServer, node: &str, ttl_ms: &str, pairs: &[&str]) -> Reply {
    let mut args = vec!["EVAL", JOIN, "3"];
    args.extend(KEYS);
    args.extend([ttl_ms, "100", node]);
    args.extend(pairs);
    redis.call(None, &args)
}

fn leave(redis: &RedisServer, how: &str, what: &str, node: &str) -> Vec<String> {
    let mut args = vec!["EVAL", LEAVE, "3"];
    args.extend(KEYS);
    args.extend([how, what, node]);
    match redis.call(None, &args) {
        Reply::Array(users) => users
            .into_iter()
            .filter_map(|u| u.into_bulk().ok())
            .map(|u| String::from_utf8_lossy(&u).into_owned())
            .collect(),
        other => panic!("not a list: {other:?}"),
    }
}

#[test]
fn users_are_counted_over_nodes_and_a_taken_over_connection_stays() {
    let Some(redis) = redis_or_skip("redis_presence", &[]) else {
        return;
    };
    // u joins with c1 on n1 (first: 1), then c2 on n2 (second: 2); a refresh counts 0.
    assert_eq!(join(&redis, "n1", "30000", &["c1", "u"]), Reply::Integer(1));
    assert_eq!(join(&redis, "n2", "30000", &["c2", "u"]), Reply::Integer(2));
    assert_eq!(join(&redis, "n1", "30000", &["c1", "u"]), Reply::Integer(0));
    // c1 moves to n2 (a websocket came back there): n1's later leave changes nothing.
    assert_eq!(join(&redis, "n2", "30000", &["c1", "u"]), Reply::Integer(0));
    assert!(leave(&redis, "leave", "c1", "n1").is_empty());
    assert_eq!(
        redis.call(None, &["HGET", "t:{c}:users", "u"]),
        Reply::Bulk(b"2".to_vec())
    );
    // Its holder's leaves count down; the last one parts u.
    assert!(leave(&redis, "leave", "c1", "n2").is_empty());
    assert_eq!(leave(&redis, "leave", "c2", "n2"), ["u"]);
    assert_eq!(redis.call(None, &["HLEN", "t:{c}:pres"]), Reply::Integer(0));
}

#[test]
fn a_sweep_parts_the_users_whose_connections_expired() {
    let Some(redis) = redis_or_skip("redis_presence", &[]) else {
        return;
    };
    // v's only connection has a 1 ms time to live; w's lives on.
    join(&redis, "n1", "1", &["c1", "v"]);
    join(&redis, "n1", "60000", &["c2", "w"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(leave(&redis, "sweep", "1000", ""), ["v"]);
    assert!(leave(&redis, "sweep", "1000", "").is_empty(), "swept once");
    assert_eq!(
        redis.call(None, &["HKEYS", "t:{c}:users"]),
        Reply::Array(vec![Reply::Bulk(b"w".to_vec())])
    );
}
