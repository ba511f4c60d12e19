//! [`LinkStats`]: what the link thread counts for `GET /metrics` and `GET /readyz`.
//! Written by the link thread only (relaxed atomics, inside the session where a reply or
//! a handshake is seen), read by the hub thread at a scrape and by the workers for
//! readiness, without locks or messages.

use super::Role;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the command latency histogram buckets, in seconds (`+Inf` implied).
/// Redis answers on a LAN in well under a millisecond, so the buckets start low.
pub const COMMAND_LATENCY_BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const BUCKETS: usize = COMMAND_LATENCY_BOUNDS.len() + 1;

/// The link's counters; one per link, shared by `Arc` (`LinkConfig::stats`).
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Command round trips per bucket (not cumulative; the last is above every bound).
    latency: [AtomicU64; BUCKETS],
    latency_micros: AtomicU64,
    /// Handshakes completed, per role (index: [`slot`]).
    connects: [AtomicU64; 2],
    /// Whether the role's connection is up (handshake done, not lost since).
    up: [AtomicBool; 2],
}

fn slot(role: Role) -> usize {
    match role {
        Role::Commands => 0,
        Role::Subscriber => 1,
    }
}

impl LinkStats {
    /// One reply came `took` after its command was queued in the session.
    pub(super) fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let b = COMMAND_LATENCY_BOUNDS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(COMMAND_LATENCY_BOUNDS.len());
        if let Some(c) = self.latency.get(b) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// `role`'s connection finished its handshake.
    pub(super) fn on_up(&self, role: Role) {
        self.connects[slot(role)].fetch_add(1, Ordering::Relaxed);
        self.up[slot(role)].store(true, Ordering::Release);
    }

    /// `role`'s connection was lost.
    pub(super) fn on_down(&self, role: Role) {
        self.up[slot(role)].store(false, Ordering::Release);
    }

    /// Whether `role`'s connection is up now. For the command connection this is what
    /// `/readyz` asks: without it no write reaches Redis.
    pub fn is_up(&self, role: Role) -> bool {
        self.up[slot(role)].load(Ordering::Acquire)
    }

    /// How often `role`'s connection came back after the first handshake.
    pub fn reconnects(&self, role: Role) -> u64 {
        self.connects[slot(role)]
            .load(Ordering::Relaxed)
            .saturating_sub(1)
    }

    /// Round trips per bucket (not cumulative) and their sum in microseconds.
    pub fn latency(&self) -> ([u64; BUCKETS], u64) {
        let buckets = std::array::from_fn(|b| self.latency[b].load(Ordering::Relaxed));
        (buckets, self.latency_micros.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_land_in_their_buckets_and_reconnects_skip_the_first_connect() {
        let s = LinkStats::default();
        s.observe(Duration::from_micros(80));
        s.observe(Duration::from_millis(2));
        s.observe(Duration::from_secs(9));
        let (buckets, micros) = s.latency();
        assert_eq!(buckets[0], 1, "80 µs is under 0.1 ms");
        assert_eq!(buckets[4], 1, "2 ms is under 2.5 ms");
        assert_eq!(buckets[BUCKETS - 1], 1, "9 s is above every bound");
        assert_eq!(micros, 80 + 2000 + 9_000_000);
        assert!(!s.is_up(Role::Commands));
        s.on_up(Role::Commands);
        assert!(s.is_up(Role::Commands) && !s.is_up(Role::Subscriber));
        assert_eq!(s.reconnects(Role::Commands), 0, "the first connect");
        s.on_down(Role::Commands);
        assert!(!s.is_up(Role::Commands));
        s.on_up(Role::Commands);
        assert_eq!(s.reconnects(Role::Commands), 1);
        assert_eq!(s.reconnects(Role::Subscriber), 0);
    }
}
