//! Everything the hub does because time passed (`connection.py` heartbeats, `server.py`
//! `await_data`, `gc.py`). The app calls [`Hub::tick`] at [`Hub::next_deadline`].

use super::connection::Target;
use super::id::Uuid;
use super::shared::{Shared, Stream};
use super::stored::drop_frames_before;
use super::time::Time;
use super::{Effect, Hub};
use std::sync::Arc;
use std::time::Duration;

/// Websocket heartbeat period: an empty list `[]` (`connection.py` `heartbeat_forever`).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// The websockets get their heartbeat in this many slices spread over the period (slice
/// `engine key % HEARTBEAT_SLICES`, one every 100 ms), each still once per period. The
/// reference sends to all at once; for 19 000 websockets that is one write pass of ~100
/// ms, which every delivery arriving meanwhile waits behind (the engine writes in arrival
/// order). A slice of 380 is a pass of ~2 ms. Measured at 19 000 websockets and 1 000
/// deliveries/s (BENCHMARKS.md): delivery max 4–6 ms against 12–121 ms, `POST /message`
/// round trip max 4–5 ms against 98–111 ms.
pub(super) const HEARTBEAT_SLICES: u32 = 50;
/// Once a long-poll has something, it answers after this long without more
/// (`await_data`'s `timeout=0.25`).
pub const POLL_GATHER: Duration = Duration::from_millis(250);
/// Connections inactive this long are collected by default. The reference's `gc.py`
/// hard-codes 15 s (its `gc_conns_after` setting is never read); we honour the setting and
/// default it to the 15 s the reference really uses.
pub const GC_CONNS_AFTER: Duration = Duration::from_secs(15);
/// Channels without connections are forgotten this long after their last activity by
/// default (`gc_channels_after`, 72 h). The reference never collects channels, so a
/// server that sees many short-lived channels grows without bound.
pub const GC_CHANNELS_AFTER: Duration = Duration::from_secs(72 * 3600);
/// Users inactive this long are forgotten (`gc.py` `gc_users`).
pub const GC_USERS_AFTER: Duration = Duration::from_secs(86_400);
/// How long channel frames are kept for replay by position after a reconnect, even when
/// no connection could get them by the time-based catch-up (bounded by [`MAX_FRAMES`]
/// per channel in any case).
///
/// [`MAX_FRAMES`]: super::MAX_FRAMES
pub const REPLAY_WINDOW: Duration = Duration::from_secs(120);
/// How often connections are collected (`gc_conns_forever`).
const GC_CONNS_EVERY: Duration = Duration::from_secs(1);
/// How often users are collected (`gc_users_forever`).
const GC_USERS_EVERY: Duration = Duration::from_secs(60);

/// When each periodic job runs next.
#[derive(Debug)]
pub(super) struct Timers {
    /// The next full period: polls are fed an empty batch.
    heartbeat: Time,
    /// The next slice of websockets' heartbeat, and which slice it is.
    ws_slice_at: Time,
    ws_slice: u32,
    gc_conns: Time,
    gc_users: Time,
}

impl Timers {
    pub(super) fn new(now: Time) -> Timers {
        Timers {
            heartbeat: now.plus(HEARTBEAT_EVERY),
            ws_slice_at: now.plus(HEARTBEAT_EVERY / HEARTBEAT_SLICES),
            ws_slice: 0,
            gc_conns: now.plus(GC_CONNS_EVERY),
            gc_users: now.plus(GC_USERS_EVERY),
        }
    }
}

impl Hub {
    /// The earliest time [`Hub::tick`] has something to do.
    #[must_use = "the driver must wake by this time, or polls and GC run late"]
    pub fn next_deadline(&self) -> Time {
        let t = &self.timers;
        let mut next = t
            .heartbeat
            .min(t.ws_slice_at)
            .min(t.gc_conns)
            .min(t.gc_users);
        for id in &self.polling {
            if let Some(Target::Poll(p)) = self.connections.get(id).map(|c| &c.target) {
                next = next.min(p.due());
            }
        }
        next
    }

    /// Runs whatever is due at `now`: collection, heartbeats, long-poll answers.
    pub fn tick(&mut self, now: Time) {
        if now >= self.timers.gc_conns {
            self.timers.gc_conns = now.plus(GC_CONNS_EVERY);
            self.gc_conns(now);
        }
        if now >= self.timers.gc_users {
            self.timers.gc_users = now.plus(GC_USERS_EVERY);
            self.gc_users(now);
        }
        // After collection, so a heartbeat cannot revive a connection marked for GC.
        if now >= self.timers.ws_slice_at {
            let due = self.due_slices(now);
            self.heartbeat_websockets(&due, now);
        }
        if now >= self.timers.heartbeat {
            self.timers.heartbeat = now.plus(HEARTBEAT_EVERY);
            self.feed_polls(now);
        }
        self.answer_polls(now);
    }

    /// The websocket slices whose heartbeat is due at `now` (all of them at most, when
    /// the hub was not ticked for a period), and the time of the next one.
    fn due_slices(&mut self, now: Time) -> Vec<u32> {
        let t = &mut self.timers;
        let step = HEARTBEAT_EVERY / HEARTBEAT_SLICES;
        let mut due = Vec::new();
        while now >= t.ws_slice_at && due.len() < HEARTBEAT_SLICES as usize {
            due.push(t.ws_slice);
            t.ws_slice = (t.ws_slice + 1) % HEARTBEAT_SLICES;
            t.ws_slice_at = t.ws_slice_at.plus(step);
        }
        if now >= t.ws_slice_at {
            t.ws_slice_at = now.plus(step); // behind by more than a period: start afresh
        }
        due
    }

    /// Sends one shared `[]` to every websocket in the `due` slices, marking them (and
    /// their users) active, as any send does.
    fn heartbeat_websockets(&mut self, due: &[u32], now: Time) {
        let mut ws = Vec::new();
        // The user is marked in the same pass, by the connection's own name: a list of
        // names to mark afterwards copied a name per websocket per heartbeat.
        let users = &mut self.users;
        for c in self.connections.values_mut() {
            if let Target::Ws(e) = &c.target {
                if due.contains(&(e.key % HEARTBEAT_SLICES)) {
                    ws.push(*e);
                    c.last_active = now;
                    if let Some(u) = users.get_mut(&c.username) {
                        u.last_active = now;
                    }
                }
            }
        }
        if !ws.is_empty() {
            self.clock_counters.heartbeats += ws.len() as u64;
            ws.sort();
            self.effects.push(Effect::Send {
                conns: ws,
                payload: Arc::from("[]"),
            });
        }
    }

    /// Feeds an empty batch to every waiting poll (the heartbeat of a long-poll).
    fn feed_polls(&mut self, now: Time) {
        for c in self.connections.values_mut() {
            if let Target::Poll(p) = &mut c.target {
                p.quiet_until = Some(now.plus(POLL_GATHER));
            }
        }
    }

    /// Answers polls whose gathering window closed. A poll that saw nothing by its
    /// deadline still waits one more window, as `await_data` does.
    fn answer_polls(&mut self, now: Time) {
        let mut done = Vec::new();
        let connections = &mut self.connections;
        self.polling.retain(
            |id| matches!(connections.get(id), Some(c) if matches!(c.target, Target::Poll(_))),
        );
        for id in &self.polling {
            let Some(c) = self.connections.get_mut(id) else {
                continue;
            };
            let Target::Poll(p) = &mut c.target else {
                continue;
            };
            match p.quiet_until {
                Some(q) if now >= q => done.push(c.id),
                None if now >= p.deadline => {
                    p.quiet_until = Some(p.deadline.plus(super::POLL_GATHER))
                }
                _ => {}
            }
        }
        for id in done {
            let Some(c) = self.connections.get_mut(&id) else {
                continue;
            };
            let between = Target::BetweenPolls(Box::default());
            let target = std::mem::replace(&mut c.target, between);
            c.last_active = now; // `yield_response` marks activity after answering
            self.release_target(target);
        }
    }

    /// Sets how long connections may stay inactive and empty channels are kept
    /// (`gc_conns_after`, `gc_channels_after`).
    pub fn set_gc_periods(&mut self, conns_after: Duration, channels_after: Duration) {
        self.gc_conns_after = conns_after;
        self.gc_channels_after = channels_after;
    }

    /// `gc_conns`: collects connections inactive for `gc_conns_after`.
    fn gc_conns(&mut self, now: Time) {
        let threshold = now.minus(self.gc_conns_after);
        let mut stale: Vec<Uuid> = self
            .connections
            .values()
            .filter(|c| c.disconnected || c.last_active < threshold)
            .map(|c| c.id)
            .collect();
        stale.sort();
        if !stale.is_empty() {
            self.clock_counters.gc_connections += stale.len() as u64;
            self.remove_connections(&stale, now);
        }
        let oldest = self.connections.values().map(|c| c.last_active).min();
        self.drop_unreachable_frames(oldest.unwrap_or(now).min(now), now);
    }

    /// Drops catch-up frames stored before `horizon`, the oldest activity of any
    /// connection. A frame is only ever sent to a connection whose activity is not newer
    /// than the frame, and activity only moves forward (a new connection starts at
    /// "now"), so those frames can never be sent. Without this a channel kept its last
    /// 100 frames for as long as it existed: a long-running server with thousands of
    /// quiet channels held them all. Now frames live about as long as a connection can
    /// stay inactive (`gc_conns_after`). The one exception is the reference's
    /// `/disconnect`, which moves a connection's activity 60 days back until the next
    /// pass collects it (at most a second later); a websocket attached in between gets
    /// only the frames kept (docs/COMPATIBILITY.md).
    ///
    /// Channel frames are also kept for [`REPLAY_WINDOW`], so that a client coming back
    /// with a new connection can be replayed what it missed by position (docs/API.md
    /// "Recovery after reconnect"). They are older than every connection's activity, so
    /// the time-based catch-up never sends them.
    fn drop_unreachable_frames(&mut self, horizon: Time, now: Time) {
        let channel_horizon = horizon.min(now.minus(REPLAY_WINDOW));
        for ch in self.channels.values_mut() {
            ch.drop_frames_before(channel_horizon);
        }
        for u in self.users.values_mut() {
            drop_frames_before(&mut u.frames, horizon);
        }
    }

    /// `gc_users`: forgets users inactive for [`GC_USERS_AFTER`]; also forgets channels
    /// that have had no connection and no activity for `gc_channels_after`.
    fn gc_users(&mut self, now: Time) {
        let threshold = now.minus(GC_USERS_AFTER);
        let (users, channels) = (self.users.len(), self.channels.len());
        let mut gone = Vec::new();
        let shared = self.is_shared();
        self.users.retain(|name, u| {
            let keep = u.last_active >= threshold;
            if !keep && shared {
                gone.push(Stream::User(name.clone()));
            }
            keep
        });
        let threshold = now.minus(self.gc_channels_after);
        self.channels.retain(|name, c| {
            let keep = !c.connections.is_empty() || c.last_active >= threshold;
            if !keep && shared {
                gone.push(Stream::Channel(name.clone()));
            }
            keep
        });
        self.clock_counters.gc_users += (users - self.users.len()) as u64;
        self.clock_counters.gc_channels += (channels - self.channels.len()) as u64;
        for stream in gone {
            self.share(|| Shared::Unwatch(stream));
        }
    }

    /// Answers every waiting poll now (shutdown).
    pub fn answer_all_polls(&mut self) {
        let ids: Vec<Uuid> = self.polling.drain().collect();
        for id in ids {
            let Some(c) = self.connections.get_mut(&id) else {
                continue;
            };
            if matches!(c.target, Target::Poll(_)) {
                let target = std::mem::replace(&mut c.target, Target::Detached);
                self.release_target(target);
            }
        }
    }
}
