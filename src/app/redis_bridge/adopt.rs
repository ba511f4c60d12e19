//! Taking over a connection made on another node when its websocket comes here
//! (`docs/SCALING.md`, "Recovery by position from any node"): the record every node
//! writes of its connections, and the reads that fill the new node before it attaches.

use super::order::stored_frames;
use super::{Pending, RedisBridge, REDIS_FRAMES};
use crate::api::Command;
use crate::conn_id::ConnId;
use crate::hub::{Hub, SharedUser, Stream, Time, Uuid};
use crate::redis::CommandError;
use crate::resp::Reply;
use serde_json::Value;
use std::collections::HashMap;

/// A websocket for a connection this node does not have, waiting while the
/// connection's record and its channels' frames are read from Redis.
pub(super) struct Adoption {
    pub(super) engine: ConnId,
    pub(super) cmd: Box<Command>,
    pub(super) id: Uuid,
    pub(super) user: String,
    pub(super) channels: Vec<String>,
    pub(super) since: Time,
    pub(super) waiting: usize,
    pub(super) metas: HashMap<String, (String, u64)>,
    pub(super) hists: HashMap<String, Vec<Vec<u8>>>,
    /// Redis's copy of the user, if it has one: the user starts here with it.
    pub(super) shared_user: Option<SharedUser>,
}

/// Channels of an adopted connection that are read from Redis (the API's default
/// `max_channels_per_request`).
const MAX_ADOPTED_CHANNELS: usize = 1000;

/// How long a connection's record lives in Redis, refreshed by each change: a day,
/// past `gc_conns_after`'s default.
pub(super) const CONN_RECORD_SECONDS: u64 = 24 * 3600;

impl RedisBridge {
    pub(super) fn conn_key(&self, id: Uuid) -> String {
        format!("{}conn:{{{id}}}", self.prefix)
    }

    /// Writes who connection `id` is and where it is (`SET ... EX`), for a node that
    /// gets its websocket later.
    pub(super) fn record_conn(&mut self, hub: &Hub, id: Uuid) {
        let Some(c) = hub.connections.get(&id) else {
            return;
        };
        let record = serde_json::json!({
            "user": c.username,
            "channels": hub.conn_channels(id),
            "t": c.last_active.0,
        })
        .to_string();
        let key = self.conn_key(id);
        let ttl = CONN_RECORD_SECONDS.to_string();
        let tag = self.tag(Pending::Write);
        let args = ["SET", key.as_str(), record.as_str(), "EX", ttl.as_str()];
        if self.link.command(&args, tag).is_err() {
            self.pending.remove(&tag);
        }
    }

    /// A websocket came for connection `id`, which this node does not have: reads its
    /// record from Redis; the command runs once that is done (returned by
    /// [`RedisBridge::on_event`]). Gives the command back if Redis cannot be asked.
    pub fn adopt(
        &mut self,
        engine: ConnId,
        cmd: Box<Command>,
        id: Uuid,
    ) -> Option<(ConnId, Box<Command>)> {
        let key = self.conn_key(id);
        self.next_tag += 1;
        let n = self.next_tag;
        let tag = self.tag(Pending::Adopt(n));
        if self.link.command(&["GET", key.as_str()], tag).is_err() {
            self.pending.remove(&tag);
            return Some((engine, cmd));
        }
        self.adoptions.insert(
            n,
            Adoption {
                engine,
                cmd,
                id,
                user: String::new(),
                channels: Vec::new(),
                since: Time(0),
                waiting: 0,
                metas: HashMap::new(),
                hists: HashMap::new(),
                shared_user: None,
            },
        );
        None
    }

    pub(super) fn on_adopt_record(
        &mut self,
        n: u64,
        result: Result<Reply, CommandError>,
    ) -> Option<u64> {
        let record = result
            .ok()
            .and_then(|r| r.into_optional_bulk().ok().flatten())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let a = self.adoptions.get_mut(&n)?;
        let Some(record) = record else {
            return Some(n); // unknown everywhere: the command closes the websocket
        };
        a.user = record["user"].as_str().unwrap_or_default().to_string();
        a.since = Time(record["t"].as_u64().unwrap_or(0));
        a.channels = record["channels"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        a.channels.truncate(MAX_ADOPTED_CHANNELS);
        if a.user.is_empty() {
            return Some(n);
        }
        let user_key = format!("{}:user", self.publish.user_base(&a.user));
        let channels = a.channels.clone();
        let tag = self.tag(Pending::AdoptUser(n));
        if self
            .link
            .command(&["HGETALL", user_key.as_str()], tag)
            .is_err()
        {
            self.pending.remove(&tag);
        } else if let Some(a) = self.adoptions.get_mut(&n) {
            a.waiting += 1;
        }
        for name in channels {
            let base = self.publish.channel_base(&name);
            let (meta, hist) = (format!("{base}:meta"), format!("{base}:hist"));
            let last = (REDIS_FRAMES - 1).to_string();
            let tag = self.tag(Pending::AdoptMeta(n, name.clone()));
            let ok1 = self.link.command(&["HMGET", meta.as_str(), "e", "s"], tag);
            if ok1.is_err() {
                self.pending.remove(&tag);
            }
            let tag = self.tag(Pending::AdoptHist(n, name));
            let ok2 = self
                .link
                .command(&["LRANGE", hist.as_str(), "0", last.as_str()], tag);
            if ok2.is_err() {
                self.pending.remove(&tag);
            }
            if let Some(a) = self.adoptions.get_mut(&n) {
                a.waiting += usize::from(ok1.is_ok()) + usize::from(ok2.is_ok());
            }
        }
        let a = self.adoptions.get(&n)?;
        (a.waiting == 0).then_some(n)
    }

    /// Adoption `n` has everything: the connection is made here, its new channels are
    /// filled with the frames Redis keeps, and its command is given back to run.
    pub(super) fn finish_adoption(
        &mut self,
        hub: &mut Hub,
        n: u64,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let a = self.adoptions.remove(&n)?;
        if let Some(shared) = a
            .shared_user
            .filter(|_| !hub.connections.contains_key(&a.id))
        {
            hub.seed_user(&a.user, shared, now);
        }
        if !a.user.is_empty() && hub.adopt_connection(a.id, &a.user, &a.channels, a.since, now) {
            self.take_from(hub, None, now);
            for (name, (epoch, top)) in &a.metas {
                let frames = a
                    .hists
                    .get(name)
                    .map(|h| stored_frames(h, epoch))
                    .unwrap_or_default();
                hub.preload_frames(name, *top, frames);
                if let Some(t) = self.tracks.get_mut(&Stream::Channel(name.clone())) {
                    if !t.synced {
                        t.epoch = Some(epoch.clone());
                        t.last = *top;
                        t.synced = true;
                    }
                }
            }
        }
        Some((a.engine, a.cmd))
    }
}
