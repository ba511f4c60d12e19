//! `GET /metrics`, rendered on the hub thread: the hub's gauges and counters are read in
//! place (the thread owns them), the workers' counters are summed
//! ([`EngineCounters`]), and the process figures come from `/proc/self`. Metric names
//! and what each means are listed in `docs/DEPLOY.md` ("Metrics").

use super::redis_bridge::RedisBridge;
use crate::http::Response;
use crate::hub::Hub;
use crate::hub::Target;
use crate::metrics::exposition::{Kind, Page, CONTENT_TYPE};
use crate::metrics::{Endpoint, EngineCounters, SaveCounters, LATENCY_BOUNDS, STATUSES};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the page reads besides the hub.
pub struct Sources<'a> {
    /// Every worker's counters.
    pub engine: &'a EngineCounters,
    /// State-file saves, if `state_file` is set.
    pub saves: Option<&'a SaveCounters>,
    /// When the server started.
    pub started: Instant,
}

/// The whole page as a response; the Redis families too when `redis_url` is set
/// (`bridge`).
pub fn render(hub: &Hub, src: &Sources<'_>, bridge: Option<&RedisBridge>) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), CONTENT_TYPE.into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: page(hub, src, bridge).into_bytes(),
    }
}

fn page(hub: &Hub, src: &Sources<'_>, bridge: Option<&RedisBridge>) -> String {
    let e = src.engine;
    let mut p = Page::default();
    let ws = e
        .sum(|w| &w.ws_opened)
        .saturating_sub(e.sum(|w| &w.ws_closed));
    let polls = hub
        .connections
        .values()
        .filter(|c| matches!(c.target, Target::Poll(_)))
        .count();
    p.family(
        "channelstream_open_connections",
        Kind::Gauge,
        "Client connections listening now, by transport.",
    )
    .sample(
        "channelstream_open_connections",
        &[("transport", "websocket")],
        ws as f64,
    )
    .sample(
        "channelstream_open_connections",
        &[("transport", "long-poll")],
        polls as f64,
    );
    p.single(
        "channelstream_connections",
        Kind::Gauge,
        "Channelstream connections known (listening or not).",
        hub.connections.len() as f64,
    );
    p.single(
        "channelstream_users",
        Kind::Gauge,
        "Users known.",
        hub.users.len() as f64,
    );
    p.single(
        "channelstream_channels",
        Kind::Gauge,
        "Channels known.",
        hub.channels.len() as f64,
    );
    p.single(
        "channelstream_messages_published_total",
        Kind::Counter,
        "Messages accepted by POST /message.",
        hub.stats.total_unique_messages as f64,
    );
    p.single(
        "channelstream_messages_delivered_total",
        Kind::Counter,
        "Deliveries of messages to connections (one per recipient).",
        hub.stats.total_messages as f64,
    );
    p.single(
        "channelstream_websockets_opened_total",
        Kind::Counter,
        "Websocket handshakes completed.",
        e.sum(|w| &w.ws_opened) as f64,
    );
    p.single(
        "channelstream_bytes_out_total",
        Kind::Counter,
        "Bytes written to client sockets.",
        e.sum(|w| &w.bytes_out) as f64,
    );
    p.single(
        "channelstream_slow_consumers_cut_total",
        Kind::Counter,
        "Websockets closed with 1008 because they did not read (max_outbound_bytes).",
        e.sum(|w| &w.slow_consumers_cut) as f64,
    );
    p.single(
        "channelstream_admission_holds_total",
        Kind::Counter,
        "Requests held back while subscribers were behind (admission control).",
        e.sum(|w| &w.admission_holds) as f64,
    );
    let c = &hub.clock_counters;
    p.single(
        "channelstream_heartbeats_total",
        Kind::Counter,
        "Heartbeat frames sent to websockets.",
        c.heartbeats as f64,
    );
    p.family(
        "channelstream_gc_removed_total",
        Kind::Counter,
        "Things collected for inactivity.",
    )
    .sample(
        "channelstream_gc_removed_total",
        &[("kind", "connection")],
        c.gc_connections as f64,
    )
    .sample(
        "channelstream_gc_removed_total",
        &[("kind", "user")],
        c.gc_users as f64,
    )
    .sample(
        "channelstream_gc_removed_total",
        &[("kind", "channel")],
        c.gc_channels as f64,
    );
    api_requests(&mut p, e);
    let saves = src.saves.copied().unwrap_or_default();
    p.family(
        "channelstream_state_saves_total",
        Kind::Counter,
        "State-file saves, by result.",
    )
    .sample(
        "channelstream_state_saves_total",
        &[("result", "ok")],
        saves.saves as f64,
    )
    .sample(
        "channelstream_state_saves_total",
        &[("result", "error")],
        saves.failures as f64,
    );
    p.single(
        "channelstream_state_save_seconds_total",
        Kind::Counter,
        "Time spent saving the state file.",
        saves.seconds,
    );
    p.single(
        "channelstream_state_save_last_seconds",
        Kind::Gauge,
        "How long the last state-file save took.",
        saves.last_seconds,
    );
    if let Some(bridge) = bridge {
        super::redis_metrics::write(&mut p, bridge);
    }
    process(&mut p, src.started);
    p.finish()
}

/// Requests by endpoint and status, and the latency histogram by endpoint. Rows that
/// never saw a request are left out, so the page stays short.
fn api_requests(p: &mut Page, e: &EngineCounters) {
    const REQUESTS: &str = "channelstream_api_requests_total";
    p.family(
        REQUESTS,
        Kind::Counter,
        "API requests answered, by endpoint and status.",
    );
    for endpoint in Endpoint::ALL {
        for (slot, n) in e.requests(endpoint).iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let status = STATUSES
                .get(slot)
                .map_or("other".to_string(), |s| s.to_string());
            p.sample(
                REQUESTS,
                &[("endpoint", endpoint.label()), ("status", &status)],
                *n as f64,
            );
        }
    }
    const LATENCY: &str = "channelstream_api_request_duration_seconds";
    p.family(
        LATENCY,
        Kind::Histogram,
        "Time from a whole request to its answer (long-polls include their wait).",
    );
    for endpoint in Endpoint::ALL {
        let (buckets, micros) = e.latency(endpoint);
        if buckets.iter().all(|b| *b == 0) {
            continue;
        }
        p.histogram(
            LATENCY,
            &[("endpoint", endpoint.label())],
            &LATENCY_BOUNDS,
            &buckets,
            micros as f64 / 1e6,
        );
    }
}

/// The process: resident memory, open descriptors, start time, uptime, build.
fn process(p: &mut Page, started: Instant) {
    if let Some(rss) = resident_bytes() {
        p.single(
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        p.single(
            "process_open_fds",
            Kind::Gauge,
            "Open file descriptors.",
            fds.count() as f64,
        );
    }
    let uptime = started.elapsed().as_secs_f64();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    p.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since the Unix epoch in seconds.",
        (now - uptime).floor(),
    );
    p.single(
        "channelstream_uptime_seconds",
        Kind::Gauge,
        "Seconds since the server started.",
        uptime,
    );
    p.family(
        "channelstream_build_info",
        Kind::Gauge,
        "Always 1; the labels say which build runs.",
    )
    .sample(
        "channelstream_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("compatible_with", crate::api::VERSION),
        ],
        1.0,
    );
}

/// Resident set size from the `VmRSS` line of `/proc/self/status` (in kB there).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
