//! Counters for `GET /metrics` (Prometheus text format, `docs/DEPLOY.md`). Counting must
//! cost nothing measurable where messages flow, so nothing here is shared for writing:
//! each worker thread owns one [`WorkerCounters`] (relaxed atomics on cache lines of its
//! own, written only by that worker), the hub thread owns plain counters in the
//! [`Hub`](crate::hub::Hub), and a scrape, which runs on the hub thread, sums the
//! workers' and renders everything ([`exposition`]).

pub mod exposition;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What an API request was for: the `endpoint` label. A fixed set, so a scanner trying
/// random paths cannot grow the label space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/connect`.
    Connect,
    /// `/subscribe`.
    Subscribe,
    /// `/unsubscribe`.
    Unsubscribe,
    /// `/user_state`.
    UserState,
    /// `/message`.
    Message,
    /// `/channel_config`.
    ChannelConfig,
    /// `/info`.
    Info,
    /// `/admin` and below.
    Admin,
    /// `/listen` (long-poll).
    Listen,
    /// `/disconnect`.
    Disconnect,
    /// `/ws` (the handshake; the websocket itself is counted apart).
    Ws,
    /// `/static/...`.
    Static,
    /// `/metrics`.
    Metrics,
    /// `/healthz`, `/readyz`.
    Health,
    /// Anything else.
    Other,
}

impl Endpoint {
    /// Every endpoint, in label order.
    pub const ALL: [Endpoint; 15] = [
        Self::Connect,
        Self::Subscribe,
        Self::Unsubscribe,
        Self::UserState,
        Self::Message,
        Self::ChannelConfig,
        Self::Info,
        Self::Admin,
        Self::Listen,
        Self::Disconnect,
        Self::Ws,
        Self::Static,
        Self::Metrics,
        Self::Health,
        Self::Other,
    ];

    /// The endpoint of a path (without query string or `X-Script-Name` prefix).
    pub fn of(path: &str) -> Endpoint {
        match path {
            "/connect" => Self::Connect,
            "/subscribe" => Self::Subscribe,
            "/unsubscribe" => Self::Unsubscribe,
            "/user_state" => Self::UserState,
            "/message" => Self::Message,
            "/channel_config" => Self::ChannelConfig,
            "/info" => Self::Info,
            "/listen" => Self::Listen,
            "/disconnect" => Self::Disconnect,
            "/ws" => Self::Ws,
            "/metrics" => Self::Metrics,
            "/healthz" | "/readyz" => Self::Health,
            p if p == "/admin" || p.starts_with("/admin/") => Self::Admin,
            p if p.starts_with("/static/") => Self::Static,
            _ => Self::Other,
        }
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::UserState => "user_state",
            Self::Message => "message",
            Self::ChannelConfig => "channel_config",
            Self::Info => "info",
            Self::Admin => "admin",
            Self::Listen => "listen",
            Self::Disconnect => "disconnect",
            Self::Ws => "ws",
            Self::Static => "static",
            Self::Metrics => "metrics",
            Self::Health => "health",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }
}

/// Status codes counted by their own label; any other is counted as `other`.
pub const STATUSES: [u16; 17] = [
    101, 200, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 422, 431, 500, 503,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// Upper bounds of the API latency histogram buckets, in seconds (`+Inf` is implied).
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;
const ENDPOINTS: usize = Endpoint::ALL.len();

/// One worker's counters. Written only by its worker, with `Relaxed` adds (no fence, no
/// contention: the line is this worker's alone); read by a scrape. Aligned to 128 bytes
/// so neighbouring workers' counters never share a cache line (or an adjacent-line
/// prefetch pair).
#[repr(align(128))]
#[derive(Debug)]
pub struct WorkerCounters {
    /// Websocket handshakes completed.
    pub ws_opened: AtomicU64,
    /// Websockets closed.
    pub ws_closed: AtomicU64,
    /// Bytes written to client sockets.
    pub bytes_out: AtomicU64,
    /// Websockets closed with 1008 because their out queue passed `max_outbound`.
    pub slow_consumers_cut: AtomicU64,
    /// Requests held back by admission control.
    pub admission_holds: AtomicU64,
    requests: [[AtomicU64; STATUS_SLOTS]; ENDPOINTS],
    latency: [[AtomicU64; BUCKETS]; ENDPOINTS],
    latency_micros: [AtomicU64; ENDPOINTS],
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            ws_opened: AtomicU64::new(0),
            ws_closed: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            slow_consumers_cut: AtomicU64::new(0),
            admission_holds: AtomicU64::new(0),
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency_micros: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Adds `n` to a counter only its owner writes.
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl WorkerCounters {
    /// One API request answered with `status` after `took`.
    pub fn record_request(&self, endpoint: Endpoint, status: u16, took: Duration) {
        let e = endpoint.index();
        let s = STATUSES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(STATUSES.len());
        let secs = took.as_secs_f64();
        let b = LATENCY_BOUNDS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        if let Some(c) = self.requests.get(e).and_then(|row| row.get(s)) {
            bump(c, 1);
        }
        if let Some(c) = self.latency.get(e).and_then(|row| row.get(b)) {
            bump(c, 1);
        }
        if let Some(c) = self.latency_micros.get(e) {
            bump(c, took.as_micros() as u64);
        }
    }
}

/// Every worker's counters, shared by the engine (each worker writes its own) and the
/// scrape (reads all).
#[derive(Debug)]
pub struct EngineCounters {
    workers: Box<[WorkerCounters]>,
}

impl EngineCounters {
    /// Counters for `workers` workers.
    pub fn new(workers: usize) -> EngineCounters {
        EngineCounters {
            workers: (0..workers.max(1))
                .map(|_| WorkerCounters::default())
                .collect(),
        }
    }

    /// Worker `i`'s counters (the last one's for an out-of-range `i`).
    pub fn worker(&self, i: usize) -> &WorkerCounters {
        let last = self.workers.len().saturating_sub(1);
        &self.workers[i.min(last)]
    }

    /// Sums one counter over every worker.
    pub fn sum(&self, field: impl Fn(&WorkerCounters) -> &AtomicU64) -> u64 {
        self.workers
            .iter()
            .map(|w| field(w).load(Ordering::Relaxed))
            .sum()
    }

    /// Requests for `endpoint` per status slot (the last slot is `other`), summed.
    pub fn requests(&self, endpoint: Endpoint) -> [u64; STATUS_SLOTS] {
        let e = endpoint.index();
        std::array::from_fn(|s| self.sum(|w| &w.requests[e][s]))
    }

    /// Latency bucket counts (not cumulative; the last is above every bound) and the sum
    /// in microseconds, for `endpoint`, summed over workers.
    pub fn latency(&self, endpoint: Endpoint) -> ([u64; BUCKETS], u64) {
        let e = endpoint.index();
        let buckets = std::array::from_fn(|b| self.sum(|w| &w.latency[e][b]));
        (buckets, self.sum(|w| &w.latency_micros[e]))
    }
}

/// The hub thread's own counters for state-file saves (the hub's domain counters are in
/// [`crate::hub::Hub`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SaveCounters {
    /// Saves that succeeded.
    pub saves: u64,
    /// Saves that failed.
    pub failures: u64,
    /// Total time spent saving.
    pub seconds: f64,
    /// How long the last save took.
    pub last_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_a_closed_set_and_labels_are_distinct() {
        assert_eq!(Endpoint::of("/message"), Endpoint::Message);
        assert_eq!(Endpoint::of("/admin/admin.json"), Endpoint::Admin);
        assert_eq!(Endpoint::of("/adminx"), Endpoint::Other);
        assert_eq!(Endpoint::of("/static/x.js"), Endpoint::Static);
        assert_eq!(Endpoint::of("/random/scanner/path"), Endpoint::Other);
        let mut labels: Vec<_> = Endpoint::ALL.iter().map(|e| e.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Endpoint::ALL.len());
    }

    #[test]
    fn requests_land_in_their_status_and_latency_slots_summed_over_workers() {
        let c = EngineCounters::new(2);
        c.worker(0)
            .record_request(Endpoint::Message, 200, Duration::from_micros(300));
        c.worker(1)
            .record_request(Endpoint::Message, 200, Duration::from_millis(3));
        c.worker(1)
            .record_request(Endpoint::Message, 299, Duration::from_secs(30));
        let r = c.requests(Endpoint::Message);
        assert_eq!(r[1], 2, "two 200s");
        assert_eq!(r[STATUSES.len()], 1, "299 counts as other");
        assert_eq!(c.requests(Endpoint::Info).iter().sum::<u64>(), 0);
        let (buckets, micros) = c.latency(Endpoint::Message);
        assert_eq!(buckets[0], 1, "300 µs is under 0.5 ms");
        assert_eq!(buckets[3], 1, "3 ms is under 5 ms");
        assert_eq!(buckets[BUCKETS - 1], 1, "30 s is above every bound");
        assert_eq!(micros, 300 + 3000 + 30_000_000);
    }

    #[test]
    fn worker_counters_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<WorkerCounters>() >= 128);
        assert_eq!(std::mem::size_of::<WorkerCounters>() % 128, 0);
    }
}
