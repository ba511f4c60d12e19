//! `GET /metrics`, `/healthz` and `/readyz` on a real server: the page is read by the
//! real Prometheus parser (`prometheus_client`) and, when installed, checked by
//! `promtool check metrics`, and its numbers move as the server's
//! state does (a publish counts, a close takes a websocket off the gauge). Access is
//! limited to `metrics_allow_from` or the API signature, and `metrics = false` hides it.

mod ops_common;
mod server_common;

use ops_common::{get, parse_with_prometheus_client, promtool_check, Samples};
use server_common::{connect, loopback_config, open_ws, publish, sees_marker, start, token};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

fn scrape(addr: SocketAddr) -> Option<Samples> {
    let (status, body) = get(addr, "/metrics", "");
    assert_eq!(status, 200, "{body}");
    parse_with_prometheus_client(&body)
}

/// The page as text, for promtool.
fn page(addr: SocketAddr) -> String {
    get(addr, "/metrics", "").1
}

fn value(s: &Samples, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("{key} missing from {:#?}", s.keys()))
}

#[test]
fn the_page_parses_and_its_numbers_follow_publishes_and_closes() {
    let server = start(loopback_config());
    let addr = server.addr;
    let Some(before) = scrape(addr) else { return };
    for key in [
        "channelstream_build_info{compatible_with=\"0.7.1\",version=\"0.1.0\"}",
        "process_resident_memory_bytes",
        "process_open_fds",
        "channelstream_uptime_seconds",
        "channelstream_heartbeats_total",
        "channelstream_gc_removed_total{kind=\"connection\"}",
        "channelstream_state_saves_total{result=\"ok\"}",
        "channelstream_slow_consumers_cut_total",
        "channelstream_admission_holds_total",
    ] {
        value(&before, key);
    }
    let ws_gauge = "channelstream_open_connections{transport=\"websocket\"}";
    assert_eq!(value(&before, ws_gauge), 0.0);
    let conn_id = "0b7a3c56-0c2b-4c4e-9a8c-6f6a3c1c2b01";
    connect(addr, "alice", conn_id, &["room"]);
    let mut ws = open_ws(addr, conn_id);
    publish(addr, "room", "m1");
    assert!(sees_marker(&mut ws, "m1", Duration::from_secs(5)));
    let Some(after) = scrape(addr) else { return };
    let moved = |key: &str| value(&after, key) - before.get(key).copied().unwrap_or(0.0);
    assert_eq!(moved("channelstream_messages_published_total"), 1.0);
    assert_eq!(moved("channelstream_messages_delivered_total"), 1.0);
    assert_eq!(
        moved("channelstream_api_requests_total{endpoint=\"message\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        moved("channelstream_api_request_duration_seconds_count{endpoint=\"message\"}"),
        1.0
    );
    assert_eq!(
        moved("channelstream_api_requests_total{endpoint=\"ws\",status=\"101\"}"),
        1.0
    );
    assert_eq!(value(&after, ws_gauge), 1.0);
    assert_eq!(value(&after, "channelstream_users"), 1.0);
    assert_eq!(value(&after, "channelstream_channels"), 1.0);
    assert!(moved("channelstream_bytes_out_total") > 0.0);
    // With requests, a histogram and websockets on the page: Prometheus' own lints.
    promtool_check(&page(addr));
    ws.close(None).expect("close");
    let _ = ws.flush();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let Some(now) = scrape(addr) else { return };
        if value(&now, ws_gauge) == 0.0 {
            break;
        }
        assert!(Instant::now() < end, "the gauge never went back to 0");
        thread::sleep(Duration::from_millis(50));
    }
    server.shutdown().expect("clean shutdown");
}

#[test]
fn metrics_need_an_allowed_address_or_the_signature_and_can_be_off() {
    let mut c = loopback_config();
    c.metrics_allow_from = vec!["10.9.9.9".into()];
    let server = start(c);
    let (status, _) = get(server.addr, "/metrics", "");
    assert_eq!(status, 403, "loopback is not in metrics_allow_from here");
    let signed = format!("X-Channelstream-Secret: {}\r\n", token());
    let (status, body) = get(server.addr, "/metrics", &signed);
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE channelstream_users gauge"), "{body}");
    server.shutdown().expect("clean shutdown");

    let mut c = loopback_config();
    c.metrics = false;
    let server = start(c);
    let (status, _) = get(server.addr, "/metrics", "");
    assert_eq!(status, 404);
    server.shutdown().expect("clean shutdown");
}

#[test]
fn health_and_readiness_answer_plainly_without_a_signature() {
    let mut c = loopback_config();
    c.enforce_https = true; // health checks still answer over plain http
    let server = start(c);
    assert_eq!(get(server.addr, "/healthz", ""), (200, "ok\n".into()));
    assert_eq!(get(server.addr, "/readyz", ""), (200, "ready\n".into()));
    let (status, _) = get(server.addr, "/info", "");
    assert_eq!(status, 406, "enforce_https still refuses the API");
    server.shutdown().expect("clean shutdown");
}

#[test]
fn a_stalled_websocket_cut_at_max_outbound_is_counted() {
    let mut c = loopback_config();
    c.limits.max_outbound = 64 * 1024;
    c.limits.max_body = 2 * 1024 * 1024;
    let server = start(c);
    let addr = server.addr;
    let Some(before) = scrape(addr) else { return };
    let cut = "channelstream_slow_consumers_cut_total";
    assert_eq!(value(&before, cut), 0.0);
    let stalled_id = "eeeeeeee-0000-4000-8000-0000000000aa";
    connect(addr, "stalled", stalled_id, &[]);
    let _stalled = server_common::raw_ws(addr, stalled_id); // never read again
    let big = "p".repeat(30_000);
    let batch: Vec<serde_json::Value> = (0..10)
        .map(|_| serde_json::json!({"pm_users": ["stalled"], "user": "system", "message": {"pad": big}}))
        .collect();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        // 300 KB a batch until the kernel's buffers and then the 64 KiB queue are full.
        server_common::post(addr, "/message", serde_json::Value::Array(batch.clone()));
        let Some(now) = scrape(addr) else { return };
        if value(&now, cut) == 1.0 {
            assert!(
                value(
                    &now,
                    "channelstream_open_connections{transport=\"websocket\"}"
                ) == 0.0,
                "the cut websocket left the gauge"
            );
            break;
        }
        assert!(Instant::now() < end, "the stalled websocket was never cut");
    }
    server.shutdown().expect("clean shutdown");
}

#[test]
fn periodic_state_saves_are_counted_with_their_time() {
    let dir = std::env::temp_dir().join(format!("cs-metrics-state-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut c = loopback_config();
    c.state_file = Some(dir.join("state.json"));
    c.snapshot_interval = 1;
    let server = start(c);
    let ok = "channelstream_state_saves_total{result=\"ok\"}";
    let end = Instant::now() + Duration::from_secs(10);
    while let Some(now) = scrape(server.addr) {
        if value(&now, ok) >= 1.0 {
            assert!(value(&now, "channelstream_state_save_seconds_total") > 0.0);
            assert!(value(&now, "channelstream_state_save_last_seconds") > 0.0);
            assert_eq!(
                value(&now, "channelstream_state_saves_total{result=\"error\"}"),
                0.0
            );
            break;
        }
        assert!(Instant::now() < end, "no save counted");
        thread::sleep(Duration::from_millis(100));
    }
    server.shutdown().expect("clean shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
