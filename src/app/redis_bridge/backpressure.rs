//! Backpressure between nodes (`docs/SCALING.md`, "Backpressure between nodes"). A node
//! takes publishes as fast as Redis does, whatever the other nodes can deliver; a node
//! that falls behind would grow its queues and cut its subscribers with 1008. So each
//! node measures its own delivery backlog, and while it is behind it says so on the
//! control channel `Pnodes:pub` (every [`ANNOUNCE_EVERY`], each word good for
//! [`ANNOUNCE_FOR`]); every node, this one included, then holds each `/message` for up
//! to 200 ms and answers it 503 with `Retry-After` if the nodes are still behind then,
//! instead of publishing (`parked.rs`), until the node says it caught up or its word
//! runs out (a node that dies while behind holds nobody longer than that).
//!
//! "Behind" is any of three signals:
//! * the engine's strain: at least one websocket in sixteen of some worker has a quarter
//!   of `max_outbound_bytes` queued (`server/admission.rs`). Admission control on one
//!   node waits for a majority a sixty-fourth behind; across nodes that is too late (a
//!   max-rate run cut 15 % of a node's subscribers while most were fine), and one in
//!   sixteen a sixty-fourth behind too early (the usual lag at max rate: publishers
//!   were held half the time);
//! * the payload bytes from Redis waiting for the hub thread past a sixteenth of
//!   `max_outbound_bytes`: messages in transit inside the node land in its sockets'
//!   queues next, so a lagging hub thread must count before they land there, all at
//!   once, past the cut;
//! * the events waiting past [`BEHIND_EVENTS`], for floods of small messages.
//!
//! It ends when none holds and the bytes and events are down to half of their marks. A
//! node behind for longer than [`MAX_BEHIND`] in a row stops holding the others (what
//! does not drain with nothing new published is a stalled client, which must meet its
//! own cut, as on one node) and says so again only after it caught up once.
//!
//! [`Pressure`] is the decision, without I/O; the bridge feeds it and publishes what it
//! answers.

use super::{Pending, RedisBridge};
use crate::http::Response;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Redis events waiting for the hub thread from which a node is behind: a tenth of what
/// the gate lets wait before it drops messages (`gate.rs`).
pub const BEHIND_EVENTS: usize = super::gate::MAX_QUEUED_MESSAGES / 10;

/// How often a node that is behind says so again.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(250);

/// How long one "behind" holds the other nodes unless repeated.
pub const ANNOUNCE_FOR: Duration = Duration::from_millis(1000);

/// The longest one node holds every publisher in a row.
pub const MAX_BEHIND: Duration = Duration::from_secs(10);

/// What a node measured of its own delivery backlog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// One websocket in sixteen of some worker is far behind (`Handle::strained`).
    pub workers_strained: bool,
    /// Redis events waiting for the hub thread.
    pub events_waiting: usize,
    /// Payload bytes of the published messages among them.
    pub bytes_waiting: usize,
}

/// What to tell the other nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announce {
    /// "I am behind, for the next [`ANNOUNCE_FOR`]."
    Behind,
    /// "I caught up" (or gave up holding the others).
    CaughtUp,
}

impl Announce {
    /// The control message for node `node`.
    pub fn payload(&self, node: &str) -> String {
        match self {
            Announce::Behind => format!("behind {node} {}", ANNOUNCE_FOR.as_millis()),
            Announce::CaughtUp => format!("ok {node}"),
        }
    }
}

/// This node's standing and what the other nodes said of theirs.
#[derive(Debug, Default)]
pub struct Pressure {
    /// Since when this node is behind (and still holds the others).
    since: Option<Instant>,
    /// Behind longer than [`MAX_BEHIND`]: no longer holding anyone until it caught up.
    gave_up: bool,
    next_announce: Option<Instant>,
    /// Other nodes behind, until when (this node's clock).
    others: HashMap<String, Instant>,
    /// Times this node started holding the others (for `/metrics` and logs).
    pub episodes: u64,
    /// [`Backlog::bytes_waiting`] from which this node is behind (0: not measured).
    bytes_mark: usize,
}

impl Pressure {
    /// Sets the bytes waiting for the hub thread from which this node is behind.
    pub fn set_bytes_mark(&mut self, bytes: usize) {
        self.bytes_mark = bytes;
    }

    /// Takes this node's measurement at `now`; answers what to announce, if anything.
    pub fn measure(&mut self, backlog: Backlog, now: Instant) -> Option<Announce> {
        let holding = self.since.is_some() || self.gave_up;
        let (events, bytes, mark) = (
            backlog.events_waiting,
            backlog.bytes_waiting,
            self.bytes_mark,
        );
        let behind = backlog.workers_strained
            || events >= BEHIND_EVENTS
            || (mark > 0 && bytes >= mark)
            || (holding && (events > BEHIND_EVENTS / 2 || (mark > 0 && bytes > mark / 2)));
        if !behind {
            let was = self.since.take().is_some();
            self.gave_up = false;
            self.next_announce = None;
            return was.then_some(Announce::CaughtUp);
        }
        if self.gave_up {
            return None;
        }
        let since = *self.since.get_or_insert_with(|| {
            self.episodes += 1;
            now
        });
        if now.saturating_duration_since(since) > MAX_BEHIND {
            self.since = None;
            self.gave_up = true;
            self.next_announce = None;
            return Some(Announce::CaughtUp);
        }
        match self.next_announce {
            Some(due) if now < due => None,
            _ => {
                self.next_announce = Some(now + ANNOUNCE_EVERY);
                Some(Announce::Behind)
            }
        }
    }

    /// A control message from any node (this one's own are ignored: `me`).
    pub fn on_control(&mut self, payload: &[u8], me: &str, now: Instant) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let mut words = text.split(' ');
        match (words.next(), words.next(), words.next()) {
            (_, Some(node), _) if node == me => {}
            (Some("behind"), Some(node), Some(ms)) => {
                // Never longer than this node's own idea of a word's life.
                let ms = ms.parse::<u64>().unwrap_or(0);
                let hold = Duration::from_millis(ms).min(ANNOUNCE_FOR);
                self.others.insert(node.to_string(), now + hold);
            }
            (Some("ok"), Some(node), None) => {
                self.others.remove(node);
            }
            _ => {}
        }
    }

    /// Whether `/message` is refused now: this node or another is behind.
    pub fn refusing(&mut self, now: Instant) -> bool {
        self.others.retain(|_, until| *until > now);
        self.since.is_some() || !self.others.is_empty()
    }

    /// When [`Pressure::measure`] wants to run again without other wake-ups: while this
    /// node holds the others, at its next announcement (so it also says it caught up
    /// within that).
    pub fn next_due(&self) -> Option<Instant> {
        self.since.and(self.next_announce)
    }
}

impl RedisBridge {
    /// Measures this node's delivery backlog (`workers_strained`: the engine's signal,
    /// `Handle::strained`) and tells the other nodes when it is behind or
    /// caught up (`backpressure.rs`).
    pub fn measure_backlog(&mut self, workers_strained: bool, now: Instant) {
        let backlog = Backlog {
            workers_strained,
            events_waiting: self.gate.waiting(),
            bytes_waiting: self.gate.bytes_waiting(),
        };
        let episodes = self.pressure.episodes;
        let Some(announce) = self.pressure.measure(backlog, now) else {
            return;
        };
        if self.pressure.episodes != episodes {
            crate::log!(
                Warning,
                "this node is behind delivering ({} redis events of {} bytes waiting, workers strained: {}): every node holds /message until it catches up",
                backlog.events_waiting,
                backlog.bytes_waiting,
                backlog.workers_strained
            );
        } else if announce == Announce::CaughtUp {
            crate::log!(
                Info,
                "this node caught up (or held the others for 10 s): /message is taken again"
            );
        }
        let payload = announce.payload(&self.epoch_seed);
        let control = String::from_utf8_lossy(&self.control).into_owned();
        let tag = self.tag(Pending::Write);
        if self
            .link
            .command(&["PUBLISH", control.as_str(), payload.as_str()], tag)
            .is_err()
        {
            self.pending.remove(&tag);
        }
    }

    /// The 503 (`Retry-After: 1`) a `/message` gets when the nodes did not catch up
    /// within its hold (`parked.rs`).
    pub(super) fn behind_response(&mut self) -> Response {
        self.refused += 1;
        let body = serde_json::json!({
            "error": "a node is behind delivering messages: retry later"
        });
        let mut r = Response::json(503, body.to_string().into_bytes());
        r.headers.push(("Retry-After".into(), "1".into()));
        r
    }

    /// Times this node started holding the publishers of every node.
    pub fn behind_episodes(&self) -> u64 {
        self.pressure.episodes
    }

    /// `/message` requests refused here because some node was behind.
    pub fn publishes_refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strained() -> Backlog {
        Backlog {
            workers_strained: true,
            ..Backlog::default()
        }
    }

    #[test]
    fn a_strained_node_says_so_again_while_it_lasts_and_then_that_it_caught_up() {
        let mut p = Pressure::default();
        let t = Instant::now();
        assert_eq!(p.measure(Backlog::default(), t), None);
        assert!(!p.refusing(t));
        assert_eq!(p.measure(strained(), t), Some(Announce::Behind));
        assert!(p.refusing(t), "its own /message is refused at once");
        assert_eq!(p.measure(strained(), t + ANNOUNCE_EVERY / 2), None);
        assert_eq!(
            p.measure(strained(), t + ANNOUNCE_EVERY),
            Some(Announce::Behind)
        );
        assert_eq!(
            p.measure(Backlog::default(), t + ANNOUNCE_EVERY),
            Some(Announce::CaughtUp)
        );
        assert!(!p.refusing(t + ANNOUNCE_EVERY));
        assert_eq!(p.measure(Backlog::default(), t + ANNOUNCE_EVERY), None);
        assert_eq!(p.episodes, 1);
    }

    #[test]
    fn waiting_events_start_it_at_the_mark_and_end_it_at_half() {
        let mut p = Pressure::default();
        let t = Instant::now();
        let waiting = |n| Backlog {
            events_waiting: n,
            ..Backlog::default()
        };
        assert_eq!(p.measure(waiting(BEHIND_EVENTS - 1), t), None);
        assert_eq!(p.measure(waiting(BEHIND_EVENTS), t), Some(Announce::Behind));
        assert_eq!(p.measure(waiting(BEHIND_EVENTS / 2 + 1), t), None);
        assert!(p.refusing(t), "still behind above half");
        assert_eq!(
            p.measure(waiting(BEHIND_EVENTS / 2), t),
            Some(Announce::CaughtUp)
        );
        assert!(!p.refusing(t));
    }

    #[test]
    fn bytes_waiting_count_from_their_mark_and_end_at_half() {
        let mut p = Pressure::default();
        let t = Instant::now();
        let bytes = |n| Backlog {
            bytes_waiting: n,
            ..Backlog::default()
        };
        assert_eq!(p.measure(bytes(1 << 30), t), None, "no mark: not measured");
        p.set_bytes_mark(1000);
        assert_eq!(p.measure(bytes(999), t), None);
        assert_eq!(p.measure(bytes(1000), t), Some(Announce::Behind));
        assert_eq!(p.measure(bytes(501), t), None);
        assert!(p.refusing(t));
        assert_eq!(p.measure(bytes(500), t), Some(Announce::CaughtUp));
    }

    #[test]
    fn a_node_behind_too_long_stops_holding_the_others_until_it_caught_up() {
        let mut p = Pressure::default();
        let t = Instant::now();
        assert_eq!(p.measure(strained(), t), Some(Announce::Behind));
        let late = t + MAX_BEHIND + Duration::from_millis(1);
        assert_eq!(p.measure(strained(), late), Some(Announce::CaughtUp));
        assert!(!p.refusing(late));
        assert_eq!(p.measure(strained(), late + ANNOUNCE_EVERY), None);
        assert_eq!(p.measure(Backlog::default(), late), None);
        assert_eq!(p.measure(strained(), late), Some(Announce::Behind));
        assert_eq!(p.episodes, 2);
    }

    #[test]
    fn other_nodes_hold_publishers_until_they_caught_up_or_their_word_runs_out() {
        let mut p = Pressure::default();
        let t = Instant::now();
        p.on_control(Announce::Behind.payload("me").as_bytes(), "me", t);
        assert!(
            !p.refusing(t),
            "its own word comes back from Redis: ignored"
        );
        p.on_control(Announce::Behind.payload("b").as_bytes(), "me", t);
        assert!(p.refusing(t));
        p.on_control(Announce::CaughtUp.payload("b").as_bytes(), "me", t);
        assert!(!p.refusing(t));
        p.on_control(b"behind c 60000", "me", t);
        assert!(p.refusing(t + ANNOUNCE_FOR - Duration::from_millis(1)));
        assert!(!p.refusing(t + ANNOUNCE_FOR), "no word is good for longer");
        for junk in [&b"behind"[..], b"", b"ok", b"\xff", b"behind d x"] {
            p.on_control(junk, "me", t);
        }
        assert!(
            !p.refusing(t + Duration::from_millis(1)),
            "junk holds nobody"
        );
    }
}
