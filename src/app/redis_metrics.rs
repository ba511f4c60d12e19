//! The Redis part of `GET /metrics`, written only when `redis_url` is set: the link's
//! counters (atomics the link thread writes, [`LinkStats`]) and the bridge's (plain
//! counters of the hub thread, which renders the page). Names are listed in
//! `docs/DEPLOY.md` ("Metrics").

use super::redis_bridge::RedisBridge;
use crate::metrics::exposition::{Kind, Page};
use crate::redis::{Role, COMMAND_LATENCY_BOUNDS};

/// Appends the Redis families for `bridge` to `p`.
pub fn write(p: &mut Page, bridge: &RedisBridge) {
    let link = bridge.link_stats();
    let roles = [
        (Role::Commands, "commands"),
        (Role::Subscriber, "subscriber"),
    ];
    const UP: &str = "channelstream_redis_connection_up";
    p.family(
        UP,
        Kind::Gauge,
        "1 while the Redis connection of this role is up (handshake done), else 0.",
    );
    for (role, label) in roles {
        p.sample(
            UP,
            &[("role", label)],
            f64::from(u8::from(link.is_up(role))),
        );
    }
    const RECONNECTS: &str = "channelstream_redis_reconnects_total";
    p.family(
        RECONNECTS,
        Kind::Counter,
        "Redis connections re-established after the first connect, by role.",
    );
    for (role, label) in roles {
        p.sample(RECONNECTS, &[("role", label)], link.reconnects(role) as f64);
    }
    const LATENCY: &str = "channelstream_redis_command_duration_seconds";
    p.family(
        LATENCY,
        Kind::Histogram,
        "Round trip of a Redis command or script, from queued on the link to its reply.",
    );
    let (buckets, micros) = link.latency();
    p.histogram(
        LATENCY,
        &[],
        &COMMAND_LATENCY_BOUNDS,
        &buckets,
        micros as f64 / 1e6,
    );
    let repairs = bridge.repairs();
    // The bridge's counters: (name, help, value), each a single counter sample.
    let counters = [
        (
            "channelstream_redis_gaps_repaired_total",
            "Gaps in a stream's numbering repaired from the frames Redis keeps.",
            repairs.gaps,
        ),
        (
            "channelstream_redis_frames_repaired_total",
            "Frames missed here and found again in the frames Redis keeps.",
            repairs.frames,
        ),
        (
            "channelstream_redis_frames_lost_total",
            "Frames missed here that the frames Redis keeps no longer held: never delivered.",
            repairs.lost,
        ),
        (
            "channelstream_redis_gate_dropped_total",
            "Published messages dropped at the link while the hub thread was behind (repaired later).",
            bridge.gate_dropped() as u64,
        ),
        (
            "channelstream_redis_data_lost_total",
            "Times this node found Redis's instance marker changed (Redis lost its data) and wrote back its connection records and channel configs.",
            bridge.data_losses(),
        ),
        (
            "channelstream_redis_behind_total",
            "Times this node told every node it was behind delivering (their /message requests were held meanwhile, then answered 503 after 200 ms).",
            bridge.behind_episodes(),
        ),
        (
            "channelstream_redis_messages_refused_total",
            "/message requests answered 503 on this node because some node was behind delivering.",
            bridge.publishes_refused(),
        ),
    ];
    for (name, help, value) in counters {
        p.single(name, Kind::Counter, help, value as f64);
    }
}
