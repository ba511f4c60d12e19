//! What the tests that run our nodes on a real `redis-server` share (issue 12):
//! `redis_common` starts Redis and needs no node; this starts nodes on it (so a test
//! file that uses it also declares `mod server_common;`).

#![allow(dead_code)] // each test file uses a different part

use crate::redis_common::RedisServer;
use crate::server_common::{self, loopback_config};
use channelstream::app::Running;
use channelstream::config::Config;
use serde_json::Value;

/// Key prefix of every test node (`redis_key_prefix`), so tests can read keys.
pub const PREFIX: &str = "t:";
/// Presence time to live of test nodes, seconds: short, so expiry shows quickly.
pub const TTL: u64 = 3;

/// A node's config on `redis`, for a test to adjust before [`server_common::start`].
pub fn node_config(redis: &RedisServer) -> Config {
    let mut c = loopback_config();
    c.redis_url = Some(redis.url(""));
    c.redis_key_prefix = PREFIX.into();
    c.redis_presence_ttl = TTL;
    c
}

/// A node on `redis` with [`node_config`].
pub fn node(redis: &RedisServer) -> Running {
    server_common::start(node_config(redis))
}

/// The `text` of each message in a history list (`/info`'s `history`), oldest first.
pub fn history_texts(history: &Value) -> Vec<String> {
    history
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|m| m["message"]["text"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Stops every node, each cleanly (a clean shutdown is part of what the tests check).
pub fn stop_all(nodes: impl IntoIterator<Item = Running>) {
    for node in nodes {
        node.shutdown().expect("node stops");
    }
}
