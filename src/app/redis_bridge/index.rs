//! The channel index (`docs/SCALING.md`): `{prefix}channels`, a sorted set of the channels
//! some node has, scored by when a node last said so (its wall clock, ms). Each node adds
//! a channel when it makes it and all of its channels at every presence refresh (every
//! third of `redis_presence_ttl`), and removes entries older than the TTL: a channel no
//! node has any more leaves the index within the TTL. `/info` without a channel list
//! reads it, at most `max_channels_per_request` names (the most recently confirmed).

use super::{Pending, RedisBridge};
use crate::hub::Hub;
use std::time::{SystemTime, UNIX_EPOCH};

/// Channels per `ZADD` of a refresh.
const INDEX_BATCH: usize = 1000;

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RedisBridge {
    fn index_key(&self) -> String {
        format!("{}channels", self.prefix)
    }

    /// Notes `names` in the index as had by a node now.
    pub(super) fn index_channels<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        let key = self.index_key();
        let score = wall_ms().to_string();
        let names: Vec<&str> = names.collect();
        for batch in names.chunks(INDEX_BATCH) {
            let mut args = vec!["ZADD", key.as_str()];
            for name in batch {
                args.push(score.as_str());
                args.push(name);
            }
            let tag = self.tag(Pending::Write);
            if self.link.command(&args, tag).is_err() {
                self.pending.remove(&tag);
                return;
            }
        }
    }

    /// Every channel of this node again, and entries no node confirmed within the TTL
    /// removed.
    pub(super) fn refresh_index(&mut self, hub: &Hub) {
        self.index_channels(hub.channels.keys().map(String::as_str));
        let key = self.index_key();
        let stale = wall_ms().saturating_sub(self.presence_ttl.as_millis() as u64);
        let below = format!("({stale}");
        let tag = self.tag(Pending::Write);
        let args = ["ZREMRANGEBYSCORE", key.as_str(), "-inf", below.as_str()];
        if self.link.command(&args, tag).is_err() {
            self.pending.remove(&tag);
        }
    }

    /// Reads the index's names (most recently confirmed first, at most the listing
    /// bound) for `pending`.
    pub(super) fn read_index(&mut self, pending: Pending) -> Result<(), ()> {
        let key = self.index_key();
        let stale = wall_ms().saturating_sub(self.presence_ttl.as_millis() as u64);
        let (min, count) = (stale.to_string(), self.list_bound.to_string());
        let tag = self.tag(pending);
        let args = [
            "ZREVRANGEBYSCORE",
            key.as_str(),
            "+inf",
            min.as_str(),
            "LIMIT",
            "0",
            count.as_str(),
        ];
        self.link.command(&args, tag).map_err(|_| {
            self.pending.remove(&tag);
        })
    }
}

impl RedisBridge {
    /// `{prefix}stats`: counters every node adds to, for `/admin/admin.json`.
    pub(super) fn stats_key(&self) -> String {
        format!("{}stats", self.prefix)
    }

    /// Adds what this node's message counters grew by since the last call to
    /// `Pstats` (`messages`: deliveries, `unique`: messages accepted), so the admin
    /// totals are those of every node.
    pub(super) fn add_stats(&mut self, hub: &Hub) {
        let now = (hub.stats.total_messages, hub.stats.total_unique_messages);
        let (sent, unique) = (
            now.0.saturating_sub(self.stats_added.0),
            now.1.saturating_sub(self.stats_added.1),
        );
        self.stats_added = now;
        let key = self.stats_key();
        for (field, by) in [("messages", sent), ("unique", unique)] {
            if by == 0 {
                continue;
            }
            let by = by.to_string();
            let tag = self.tag(Pending::Write);
            if self
                .link
                .command(&["HINCRBY", key.as_str(), field, by.as_str()], tag)
                .is_err()
            {
                self.pending.remove(&tag);
            }
        }
    }
}
