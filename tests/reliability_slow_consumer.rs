//! A websocket that never reads, among 200 healthy ones, while messages flow: the stalled
//! one is cut at `max_outbound` (close 1008, then collected: `parted` to the others), the
//! healthy ones get every message in order, and the server's memory stays bounded.

mod server_common;

use serde_json::{json, Value};
use server_common::*;
use std::io::Read;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

const HEALTHY: usize = 200;
const MESSAGES: u64 = 60;

fn conn_id(i: usize) -> String {
    format!("dddddddd-0000-4000-8000-{i:012}")
}

/// A healthy client: reads until the `end` marker; returns the channel message sequence
/// numbers in arrival order and whether `stalled` was announced as parted.
fn healthy(addr: SocketAddr, i: usize) -> (Vec<u64>, bool) {
    let mut ws = open_ws(addr, &conn_id(i));
    let items = read_items(&mut ws, Duration::from_secs(40), |item| {
        item["type"] == "message" && item["message"]["marker"] == "end"
    });
    let seqs = items
        .iter()
        .filter(|m| m["type"] == "message")
        .filter_map(|m| m["message"]["seq"].as_u64())
        .collect();
    let parted = items.iter().any(|m| {
        m["type"] == "presence" && m["user"] == "stalled" && m["message"]["action"] == "parted"
    });
    (seqs, parted)
}

fn channel_users(addr: SocketAddr) -> Vec<Value> {
    let info = post(addr, "/info", json!({"info": {"channels": ["flow"]}}));
    info["channels"]["flow"]["users"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn stalled_reader_is_cut_and_parted_while_200_healthy_readers_lose_nothing() {
    let mut config = small_config();
    config.limits.max_outbound = 64 * 1024;
    config.limits.max_body = 2 * 1024 * 1024;
    let server = start(config);
    let addr = server.addr;
    post(
        addr,
        "/channel_config",
        json!({"flow": {"notify_presence": true}}),
    );
    for i in 0..HEALTHY {
        connect(addr, &format!("h{i}"), &conn_id(i), &["flow"]);
    }
    let stalled_id = "eeeeeeee-0000-4000-8000-000000000001";
    connect(addr, "stalled", stalled_id, &["flow"]);
    let mut stalled = raw_ws(addr, stalled_id); // never read from until the end
    let readers: Vec<_> = (0..HEALTHY)
        .map(|i| thread::spawn(move || healthy(addr, i)))
        .collect();
    // Give every reader time to attach before the flow starts.
    let end = Instant::now() + Duration::from_secs(10);
    while post(addr, "/admin/admin.json", json!({}))["total_connections"]
        .as_u64()
        .unwrap_or(0)
        < HEALTHY as u64 + 1
        && Instant::now() < end
    {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(
        channel_users(addr)
            .iter()
            .any(|u| *u == "stalled" || u["user"] == "stalled"),
        "the stalled user joined"
    );
    let rss_before = rss_kib("self");

    let big = "p".repeat(30_000);
    for seq in 0..MESSAGES {
        let mut batch = vec![json!({"channel": "flow", "user": "system", "message": {"seq": seq}})];
        if seq % 4 == 0 {
            // 300 KB aimed at the stalled user alone, so its queue fills quickly while
            // the healthy ones only carry the small channel messages.
            for _ in 0..10 {
                batch.push(
                    json!({"pm_users": ["stalled"], "user": "system", "message": {"pad": big}}),
                );
            }
        }
        post(addr, "/message", Value::Array(batch));
    }
    let end = Instant::now() + Duration::from_secs(10);
    while channel_users(addr)
        .iter()
        .any(|u| *u == "stalled" || u["user"] == "stalled")
        && Instant::now() < end
    {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !channel_users(addr)
            .iter()
            .any(|u| *u == "stalled" || u["user"] == "stalled"),
        "the stalled connection is still in the channel"
    );
    publish(addr, "flow", "end");

    let expected: Vec<u64> = (0..MESSAGES).collect();
    for (i, r) in readers.into_iter().enumerate() {
        let (seqs, parted) = r.join().expect("reader thread");
        assert_eq!(
            seqs, expected,
            "healthy reader {i} lost or reordered messages"
        );
        assert!(parted, "healthy reader {i} never saw stalled parted");
    }
    let rss_after = rss_kib("self");
    eprintln!("RSS before the flow {rss_before} KiB, after {rss_after} KiB");
    assert!(
        rss_after < rss_before + 200 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // What the stalled client finally reads: whatever fit in the buffers, then (if the
    // server could still queue it) a close 1008, then EOF.
    stalled
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = (&mut stalled).take(64 * 1024 * 1024).read_to_end(&mut got);
    if let Some(code) = close_code(&got) {
        assert_eq!(code, 1008, "stalled reader's close code");
    }
    assert!(
        got.len() < 16 * 1024 * 1024,
        "{} bytes were queued for the stalled reader",
        got.len()
    );
    server.shutdown().expect("clean shutdown");
}
