//! Presence refresh and sweep on the bridge's clock (`docs/SCALING.md`, "Presence that
//! survives node death").

use super::{Pending, RedisBridge};
use crate::hub::{Hub, Stream};
use crate::redis::REFRESH_BATCH;
use std::time::{Duration, Instant};

/// How often each node expires the connections of its channels whose time to live
/// passed (their node died).
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Channels one sweep visits; a node with more takes them in turns, so its users'
/// `parted` can take one more second per this many channels.
const SWEEP_CHANNELS: usize = 1000;

impl RedisBridge {
    /// The bridge's clock: refreshes this node's connections in Redis every third of
    /// `redis_presence_ttl` (re-joining them: after Redis lost its data this
    /// re-registers them, without `joined` messages) and checks quiet streams' positions
    /// as often, and expires dead nodes' connections every [`SWEEP_EVERY`].
    pub fn tick(&mut self, hub: &Hub, now: Instant) {
        if now >= self.next_refresh {
            self.next_refresh = now + self.presence_ttl / 3;
            self.refresh(hub);
            self.refresh_index(hub);
            self.check_quiet();
            self.check_instance();
        }
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY;
            if now >= self.sweep_after {
                self.sweep();
            }
            let drops = self.gate.dropped();
            if drops > self.drops_logged {
                crate::log!(
                    Warning,
                    "{} messages from redis dropped: this node was behind; they are repaired from the stored frames while Redis still holds them",
                    drops - self.drops_logged
                );
                self.drops_logged = drops;
            }
        }
    }

    /// The command connection is up. After a reconnect (Redis restarted, with or without
    /// its data, or the connection was lost) this node's connections may be past due in
    /// Redis: they are refreshed at once, and this node sweeps nobody for
    /// the link's longest back-off (`backoff_max`, 5 s) plus a refresh period: every live
    /// node, which lost Redis at the same moment, reconnects within the back-off and
    /// refreshes its own at once. Without it the first
    /// sweep after a restart with data would expire every live connection (`parted` for
    /// everyone) when the outage outlasted `redis_presence_ttl`.
    pub(super) fn on_commands_up(&mut self, now: Instant) {
        if self.commands_were_up {
            self.next_refresh = now;
            self.sweep_after = now + self.reconnect_grace + self.presence_ttl / 3;
        }
        self.commands_were_up = true;
    }

    /// Re-joins every connection of every channel here, one script call per channel
    /// (or per [`REFRESH_BATCH`] of its connections). If the link's queue fills, the
    /// rest waits for a retry a tenth of a second later.
    fn refresh(&mut self, hub: &Hub) {
        let ttl = self.presence_ttl;
        for (name, ch) in &hub.channels {
            let pairs: Vec<(String, &str)> = ch
                .connections
                .iter()
                .flat_map(|(user, conns)| conns.iter().map(move |c| (c.to_string(), user.as_str())))
                .collect();
            let base = self.publish.channel_base(name);
            for batch in pairs.chunks(REFRESH_BATCH) {
                let batch: Vec<(&str, &str)> =
                    batch.iter().map(|(c, u)| (c.as_str(), *u)).collect();
                self.next_tag += 1;
                let tag = self.next_tag;
                if self
                    .presence
                    .refresh(&self.link, &self.epoch_seed, &base, &batch, ttl, tag)
                    .is_err()
                {
                    self.next_refresh = Instant::now() + Duration::from_millis(100);
                    return;
                }
                self.pending.insert(tag, Pending::Write);
            }
        }
    }

    /// Expires due connections in up to [`SWEEP_CHANNELS`] of this node's channels,
    /// taking the next ones (in name order) at each call.
    fn sweep(&mut self) {
        let mut channels: Vec<&String> = self
            .tracks
            .keys()
            .filter_map(|s| match s {
                Stream::Channel(name) => Some(name),
                Stream::User(_) => None,
            })
            .collect();
        channels.sort();
        let start = channels.partition_point(|c| **c <= self.swept_through);
        let mut round: Vec<String> = channels[start..]
            .iter()
            .take(SWEEP_CHANNELS)
            .map(|c| (*c).clone())
            .collect();
        if round.len() < SWEEP_CHANNELS {
            // Wrapped around: the next call starts from the first channel again.
            let more = SWEEP_CHANNELS - round.len();
            round.extend(channels[..start].iter().take(more).map(|c| (*c).clone()));
            self.swept_through.clear();
        } else if let Some(last) = round.last() {
            self.swept_through = last.clone();
        }
        for name in round {
            let base = self.publish.channel_base(&name);
            let tag = self.tag(Pending::Parted(name));
            if self.presence.sweep(&self.link, &base, tag).is_err() {
                self.pending.remove(&tag);
                return;
            }
        }
    }

    /// When the bridge wants the hub thread to call [`RedisBridge::tick`] and
    /// [`RedisBridge::measure_backlog`] again.
    pub fn next_due(&self) -> Instant {
        let due = self.next_refresh.min(self.next_sweep);
        let due = self.pressure.next_due().map_or(due, |p| p.min(due));
        self.parked_due().map_or(due, |p| p.min(due))
    }
}
