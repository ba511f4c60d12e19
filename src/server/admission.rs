//! Admission control: while most websockets of some worker are far behind, every worker
//! holds new HTTP requests for a short while, so publishers slow down to what subscribers
//! read. Without it a publisher answered at once could fill every subscriber's out queue
//! past `max_outbound` and get them all closed with 1008 (measured: all 1 000 subscribers
//! of a 30 s max-rate broadcast whose client read 4.5 M deliveries/s).
//!
//! "Behind" is a queue of at least a sixty-fourth of `max_outbound` (64 KiB by default):
//! far above what a normal burst leaves queued, far below the cut. A few stalled clients
//! cannot hold the server: it takes a majority of a worker's websockets, and no request
//! is held longer than [`HOLD_MAX`], so messages still flow and stalled clients still
//! reach their cut.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest one request is held.
pub(crate) const HOLD_MAX: Duration = Duration::from_millis(50);

/// How often a worker with held requests looks at them again when nothing else wakes it.
pub(crate) const HOLD_CHECK: Duration = Duration::from_millis(5);

/// What a connection counts for in its worker's backlog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) websocket: bool,
    pub(crate) behind: bool,
    /// A quarter of the way to its cut: what shared mode's strain counts.
    pub(crate) near_cut: bool,
}

impl Standing {
    /// A websocket's standing with `queued` bytes waiting and an out-queue limit of
    /// `limit`.
    pub(crate) fn websocket(queued: usize, limit: usize) -> Standing {
        Standing {
            websocket: true,
            behind: queued >= (limit / 64).max(1),
            near_cut: queued >= (limit / 4).max(1),
        }
    }
}

/// One worker's websockets and how many of them are behind.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    websockets: usize,
    behind: usize,
    near_cut: usize,
}

impl Backlog {
    /// A connection went from standing `before` to `after`.
    pub(crate) fn note(&mut self, before: Standing, after: Standing) {
        if before == after {
            return;
        }
        if before.websocket {
            self.websockets = self.websockets.saturating_sub(1);
        }
        if before.behind {
            self.behind = self.behind.saturating_sub(1);
        }
        if before.near_cut {
            self.near_cut = self.near_cut.saturating_sub(1);
        }
        self.websockets += usize::from(after.websocket);
        self.behind += usize::from(after.behind);
        self.near_cut += usize::from(after.near_cut);
    }

    /// Most of this worker's websockets are behind.
    pub(crate) fn congested(&self) -> bool {
        self.behind > 0 && self.behind * 2 > self.websockets
    }

    /// At least one in [`STRAINED_SHARE`] of this worker's websockets has a quarter of
    /// its limit queued: on its way to the cut, where "behind" (a sixty-fourth) is the
    /// usual lag of a max-rate run; fewer sockets than admission control waits for, but
    /// more than a few stalled clients. Not used on one node; in shared mode a node so
    /// strained asks the others to stop publishing for a while (`docs/SCALING.md`,
    /// "Backpressure between nodes"), since nothing else slows a publisher on another
    /// node.
    pub(crate) fn strained(&self) -> bool {
        self.near_cut > 0 && self.near_cut * STRAINED_SHARE >= self.websockets
    }
}

/// A worker is strained when one websocket in this many is near its cut.
pub(crate) const STRAINED_SHARE: usize = 16;

/// Each worker's congestion, shared by all workers: a publisher's request may reach
/// subscribers on any worker. Also each worker's strain ([`Backlog::strained`]), read
/// by the hub thread in shared mode.
#[derive(Clone, Debug)]
pub(crate) struct Congestion {
    congested: Arc<[AtomicBool]>,
    strained: Arc<[AtomicBool]>,
}

/// Stores `value` in `flags[worker]` unless it holds it already (no write, no cache-line
/// traffic, in the usual case).
fn store(flags: &[AtomicBool], worker: u16, value: bool) {
    if let Some(flag) = flags.get(worker as usize) {
        if flag.load(Ordering::Relaxed) != value {
            flag.store(value, Ordering::Relaxed);
        }
    }
}

impl Congestion {
    pub(crate) fn new(workers: usize) -> Congestion {
        let flags = || (0..workers).map(|_| AtomicBool::new(false)).collect();
        Congestion {
            congested: flags(),
            strained: flags(),
        }
    }

    /// Publishes worker `worker`'s state.
    pub(crate) fn set(&self, worker: u16, backlog: &Backlog) {
        store(&self.congested, worker, backlog.congested());
        store(&self.strained, worker, backlog.strained());
    }

    /// Publishes worker `worker`'s strain only (between two poll rounds: admission
    /// control's own flag keeps its once-a-round rhythm).
    pub(crate) fn set_strained(&self, worker: u16, backlog: &Backlog) {
        store(&self.strained, worker, backlog.strained());
    }

    /// Some worker is congested.
    pub(crate) fn any(&self) -> bool {
        self.congested.iter().any(|f| f.load(Ordering::Relaxed))
    }

    /// Some worker is strained.
    pub(crate) fn any_strained(&self) -> bool {
        self.strained.iter().any(|f| f.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 16 * 1024;

    #[test]
    fn a_worker_is_congested_when_most_websockets_are_behind() {
        let mut b = Backlog::default();
        let http = Standing::default();
        let idle = Standing::websocket(0, LIMIT);
        let behind = Standing::websocket(LIMIT / 64, LIMIT);
        assert!(!Standing::websocket(LIMIT / 64 - 1, LIMIT).behind);
        for _ in 0..3 {
            b.note(http, idle);
        }
        assert!(!b.congested(), "nobody behind");
        b.note(idle, behind);
        assert!(!b.congested(), "one of three");
        b.note(idle, behind);
        assert!(b.congested(), "two of three");
        b.note(behind, idle);
        assert!(!b.congested(), "one again");
        b.note(behind, http); // closed
        b.note(idle, http);
        b.note(idle, http);
        assert_eq!((b.websockets, b.behind), (0, 0));
        assert!(!b.congested());
    }

    fn backlog(websockets: usize, behind: usize) -> Backlog {
        Backlog {
            websockets,
            behind,
            near_cut: behind,
        }
    }

    #[test]
    fn congestion_of_any_worker_is_seen_by_all() {
        let c = Congestion::new(3);
        let seen_by_other = c.clone();
        assert!(!seen_by_other.any());
        c.set(2, &backlog(3, 2));
        assert!(seen_by_other.any() && seen_by_other.any_strained());
        c.set(2, &backlog(3, 0));
        c.set(7, &backlog(3, 3)); // no such worker: ignored
        assert!(!seen_by_other.any() && !seen_by_other.any_strained());
    }

    #[test]
    fn strain_counts_websockets_a_quarter_of_the_way_to_their_cut() {
        let mut b = Backlog::default();
        let idle = Standing::websocket(0, LIMIT);
        let behind = Standing::websocket(LIMIT / 64, LIMIT);
        let near = Standing::websocket(LIMIT / 4, LIMIT);
        assert!(behind.behind && !behind.near_cut && near.near_cut);
        b.note(Standing::default(), idle);
        b.note(Standing::default(), behind);
        assert!(!b.strained(), "behind is not near the cut");
        b.note(behind, near);
        assert!(b.strained());
        b.note(near, Standing::default()); // closed
        assert_eq!((b.websockets, b.behind, b.near_cut), (1, 0, 0));
    }

    #[test]
    fn a_worker_is_strained_from_one_websocket_near_its_cut_in_sixteen() {
        assert!(!backlog(0, 0).strained());
        assert!(!backlog(10, 0).strained());
        assert!(backlog(1, 1).strained());
        assert!(backlog(32, 2).strained() && !backlog(32, 2).congested());
        assert!(!backlog(33, 2).strained(), "two stalled clients of 33");
        let c = Congestion::new(1);
        c.set(0, &backlog(32, 2));
        assert!(c.any_strained() && !c.any(), "strained, not congested");
        let c = Congestion::new(1);
        c.set_strained(0, &backlog(2, 2));
        assert!(
            c.any_strained() && !c.any(),
            "admission's flag waits for its round"
        );
    }
}
