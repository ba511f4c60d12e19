//! `/info` in shared mode (`docs/SCALING.md`): the command is parked
//! while each listed channel's presence (`HGETALL pres`), numbering (`HMGET meta e s`)
//! and stored frames (`LRANGE hist`) are read, all queued at once (one pipelined
//! batch), then answered from them ([`Hub::shared_view`]), so every node gives the same
//! users, counts, history and config. The list is bounded by `max_channels_per_request`
//! (the API refuses longer ones). Users in those channels that this node does not
//! hold are then read too (`HGETALL Pu{name}:user`, one batch), so their state is
//! shown as well. If Redis cannot be asked or a read fails, the node answers from its
//! own state, as without Redis.
//!
//! The `channels_info` of `/connect`, `/subscribe` and `/unsubscribe` is read the same
//! way ([`RedisBridge::listing`]), after the operation ran here and its presence
//! writes were queued (Redis answers one connection's commands in order, so the reads
//! see them).

use super::order::{parse_meta, stored_frames};
use super::users::parse_user;
use super::{Held, Pending, RedisBridge, REDIS_FRAMES};
use crate::api::listed::Listed;
use crate::api::{reply, Command, Kind, VERSION};
use crate::conn_id::ConnId;
use crate::http::Response;
use crate::hub::ChannelConfig;
use crate::hub::{Hub, SharedChannel, SharedUser, Time, Uuid};
use crate::redis::CommandError;
use crate::resp::Reply;
use serde_json::Value;
use std::collections::HashMap;

/// Which read of a channel a reply answers.
#[derive(Clone, Copy)]
pub(super) enum InfoPart {
    Presence,
    Meta,
    Hist,
}

/// One listed channel while it is read: what Redis says, its epoch, its stored frames.
type ChannelRead = (SharedChannel, Option<String>, Vec<Vec<u8>>);

/// What a read answers.
enum Asked {
    /// `/info` or `/admin/admin.json`, not run yet.
    Command(Box<Command>),
    /// The listing of a `/connect`, `/subscribe` or `/unsubscribe` that ran.
    Listed(Listed),
}

/// An `/info` (or a listing) waiting for its reads.
pub(super) struct InfoRead {
    engine: ConnId,
    asked: Asked,
    waiting: usize,
    failed: bool,
    channels: HashMap<String, ChannelRead>,
    /// `/admin/admin.json`: the counters of `Pstats` (messages delivered, accepted).
    stats: (u64, u64),
    /// Redis's copies of the listed users this node does not hold, once read.
    users: HashMap<String, SharedUser>,
    /// Whether those users were asked for (after the channels' presence came).
    users_asked: bool,
}

impl InfoRead {
    fn new(engine: ConnId, asked: Asked) -> InfoRead {
        InfoRead {
            engine,
            asked,
            waiting: 0,
            failed: false,
            channels: HashMap::new(),
            stats: (0, 0),
            users: HashMap::new(),
            users_asked: false,
        }
    }
}

impl RedisBridge {
    /// Parks an `/info` while Redis is read: the listed channels, or without a list the
    /// channels of the index ([`RedisBridge::read_index`], at most
    /// `max_channels_per_request` of them). Gives the command back (to run at once,
    /// from this node's state) for any other command, or if Redis cannot be asked.
    pub fn info(&mut self, engine: ConnId, cmd: Box<Command>) -> Option<(ConnId, Box<Command>)> {
        let (names, admin) = match &cmd.kind {
            Kind::Info(cfg) => (cfg.channels.clone(), false),
            Kind::Admin => (None, true),
            _ => return Some((engine, cmd)),
        };
        self.next_tag += 1;
        let n = self.next_tag;
        let mut read = InfoRead::new(engine, Asked::Command(cmd));
        match names {
            Some(names) => {
                for name in names {
                    self.read_channel(n, name, &mut read);
                }
            }
            None => match self.read_index(Pending::InfoIndex(n)) {
                Ok(()) => read.waiting = 1,
                Err(()) => read.failed = true,
            },
        }
        if admin {
            let key = self.stats_key();
            let tag = self.tag(Pending::InfoStats(n));
            let args = ["HMGET", key.as_str(), "messages", "unique"];
            match self.link.command(&args, tag) {
                Ok(()) => read.waiting += 1,
                Err(_) => {
                    self.pending.remove(&tag);
                    read.failed = true;
                }
            }
        }
        if read.failed || read.waiting == 0 {
            // Replies to what was queued find no read and are dropped.
            return match read.asked {
                Asked::Command(cmd) => Some((read.engine, cmd)),
                Asked::Listed(_) => None,
            };
        }
        self.info_reads.insert(n, read);
        None
    }

    /// Parks the answer of a `/connect`, `/subscribe` or `/unsubscribe` that ran here
    /// while its listed channels (and then their users this node does not hold) are
    /// read, as for `/info`. Gives the answer back, listed from this node's state, if
    /// Redis cannot be asked.
    pub fn listing(&mut self, hub: &Hub, engine: ConnId, listed: Listed) -> Option<Response> {
        self.next_tag += 1;
        let n = self.next_tag;
        let names = listed.info.channels.clone().unwrap_or_default();
        let mut read = InfoRead::new(engine, Asked::Listed(listed));
        for name in names {
            self.read_channel(n, name, &mut read);
        }
        if read.failed || read.waiting == 0 {
            return match read.asked {
                Asked::Listed(listed) => Some(local_listing(hub, listed)),
                Asked::Command(_) => None,
            };
        }
        self.info_reads.insert(n, read);
        None
    }

    /// Queues the three reads of channel `name` for `/info` read `n`.
    fn read_channel(&mut self, n: u64, name: String, read: &mut InfoRead) {
        if read.channels.contains_key(&name) {
            return;
        }
        let last = (REDIS_FRAMES - 1).to_string();
        let base = self.publish.channel_base(&name);
        let (pres, meta, hist) = (
            format!("{base}:pres"),
            format!("{base}:meta"),
            format!("{base}:hist"),
        );
        let reads: [(InfoPart, Vec<&str>); 3] = [
            (InfoPart::Presence, vec!["HGETALL", pres.as_str()]),
            (InfoPart::Meta, vec!["HMGET", meta.as_str(), "e", "s", "c"]),
            (
                InfoPart::Hist,
                vec!["LRANGE", hist.as_str(), "0", last.as_str()],
            ),
        ];
        for (part, args) in reads {
            let tag = self.tag(Pending::Info(n, name.clone(), part));
            if self.link.command(&args, tag).is_err() {
                self.pending.remove(&tag);
                read.failed = true;
            } else {
                read.waiting += 1;
            }
        }
        let shared = SharedChannel {
            name: name.clone(),
            ..SharedChannel::default()
        };
        read.channels.insert(name, (shared, None, Vec::new()));
    }

    /// The index's names for `/info` read `n` (no channel list): each is read as a
    /// listed channel would be.
    pub(super) fn on_info_index(
        &mut self,
        hub: &mut Hub,
        n: u64,
        result: Result<Reply, CommandError>,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let mut read = self.info_reads.remove(&n)?;
        read.waiting = read.waiting.saturating_sub(1);
        match result.ok().and_then(|r| r.into_array().ok()) {
            Some(names) => {
                for name in names.into_iter().filter_map(|r| r.into_bulk().ok()) {
                    if let Ok(name) = String::from_utf8(name) {
                        self.read_channel(n, name, &mut read);
                    }
                }
            }
            None => read.failed = true,
        }
        self.info_reads.insert(n, read);
        self.complete(hub, n, now)
    }

    /// `HMGET Pstats messages unique` for `/admin/admin.json` read `n`.
    pub(super) fn on_info_stats(
        &mut self,
        hub: &mut Hub,
        n: u64,
        result: Result<Reply, CommandError>,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let read = self.info_reads.get_mut(&n)?;
        read.waiting = read.waiting.saturating_sub(1);
        match parse_meta(result) {
            // The same shape as a meta's `e s`: two optional numbers.
            Some((messages, unique)) => {
                let messages = messages.and_then(|m| m.parse().ok()).unwrap_or(0);
                read.stats = (messages, unique);
            }
            None => read.failed = true,
        }
        self.complete(hub, n, now)
    }

    /// One reply for `/info` read `n`. When it was the last, the answer is made (held
    /// for [`RedisBridge::release`]), or the command given back to run from this
    /// node's state if a read failed.
    pub(super) fn on_info_reply(
        &mut self,
        hub: &mut Hub,
        n: u64,
        name: String,
        part: InfoPart,
        result: Result<Reply, CommandError>,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let read = self.info_reads.get_mut(&n)?;
        read.waiting = read.waiting.saturating_sub(1);
        if let Some((shared, epoch, hist)) = read.channels.get_mut(&name) {
            match part {
                InfoPart::Presence => match result.ok().and_then(|r| r.into_array().ok()) {
                    Some(items) => shared.presence = parse_presence(items),
                    None => read.failed = true,
                },
                InfoPart::Meta => match parse_meta_config(result) {
                    Some((e, s, config)) => {
                        shared.top = e.is_some().then_some(s);
                        shared.config = config;
                        *epoch = e;
                    }
                    None => read.failed = true,
                },
                InfoPart::Hist => match result.ok().and_then(|r| r.into_array().ok()) {
                    Some(items) => {
                        *hist = items
                            .into_iter()
                            .filter_map(|f| f.into_bulk().ok())
                            .collect()
                    }
                    None => read.failed = true,
                },
            }
        }
        if read.waiting > 0 {
            return None;
        }
        self.complete(hub, n, now)
    }

    /// Read `n` once nothing is outstanding: its answer is made from what was read
    /// (held for [`RedisBridge::release`]), or, if a read failed, its command is given
    /// back to run from this node's state.
    fn complete(&mut self, hub: &mut Hub, n: u64, now: Time) -> Option<(ConnId, Box<Command>)> {
        if self.info_reads.get(&n)?.waiting > 0 {
            return None;
        }
        let mut read = self.info_reads.remove(&n)?;
        if !read.failed && !read.users_asked {
            read.users_asked = true;
            self.read_users(hub, n, &mut read);
            if read.waiting > 0 {
                self.info_reads.insert(n, read);
                return None;
            }
        }
        if read.failed {
            crate::log!(
                Warning,
                "redis read for a listing failed: answered from this node"
            );
            return match read.asked {
                Asked::Command(cmd) => Some((read.engine, cmd)),
                Asked::Listed(listed) => {
                    let response = local_listing(hub, listed);
                    self.held.insert(read.engine, Held::ready(response));
                    None
                }
            };
        }
        let mut channels: Vec<SharedChannel> = Vec::with_capacity(read.channels.len());
        for (_, (mut shared, epoch, hist)) in read.channels {
            if let (Some(epoch), Some(top)) = (epoch, shared.top) {
                shared.frames = stored_frames(&hist, &epoch);
                shared.frames.retain(|(seq, _, _)| *seq <= top);
            }
            channels.push(shared);
        }
        let mut view = hub.shared_view(channels, &read.users, now);
        let response = match read.asked {
            Asked::Listed(listed) => {
                let info = serde_json::to_value(view.channels_info(&listed.info));
                listed.render(info.unwrap_or_default())
            }
            Asked::Command(cmd) => match &cmd.kind {
                Kind::Info(cfg) => reply::rendered(200, &view.channels_info(cfg), &cmd.cors),
                _ => {
                    (view.stats.total_messages, view.stats.total_unique_messages) = read.stats;
                    reply::rendered(200, &view.admin_info(now, VERSION), &cmd.cors)
                }
            },
        };
        self.held.insert(read.engine, Held::ready(response));
        None
    }

    /// Queues `HGETALL Pu{name}:user` for each user in read `n`'s presence that this
    /// node does not hold (it holds the others' state, kept current by their streams).
    fn read_users(&mut self, hub: &Hub, n: u64, read: &mut InfoRead) {
        let mut names: Vec<&str> = read
            .channels
            .values()
            .flat_map(|(shared, _, _)| shared.presence.iter().map(|(u, _)| u.as_str()))
            .filter(|u| !hub.users.contains_key(*u))
            .collect();
        names.sort_unstable();
        names.dedup();
        let names: Vec<String> = names.into_iter().map(String::from).collect();
        for name in names {
            let key = format!("{}:user", self.publish.user_base(&name));
            let tag = self.tag(Pending::InfoUser(n, name));
            if self.link.command(&["HGETALL", key.as_str()], tag).is_err() {
                self.pending.remove(&tag);
                read.failed = true;
                return;
            }
            read.waiting += 1;
        }
    }

    /// `HGETALL Pu{name}:user` for read `n`.
    pub(super) fn on_info_user(
        &mut self,
        hub: &mut Hub,
        n: u64,
        name: String,
        result: Result<Reply, CommandError>,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let read = self.info_reads.get_mut(&n)?;
        read.waiting = read.waiting.saturating_sub(1);
        match parse_user(result) {
            Some(Some(user)) => {
                read.users.insert(name, user);
            }
            Some(None) => {}
            None => read.failed = true,
        }
        self.complete(hub, n, now)
    }
}

/// A listing answered from this node's state (Redis could not be read).
fn local_listing(hub: &Hub, listed: Listed) -> Response {
    let info = serde_json::to_value(hub.channels_info(&listed.info));
    listed.render(info.unwrap_or_default())
}

/// `HGETALL pres`: connection → `node:user`, as (user, connection).
fn parse_presence(items: Vec<Reply>) -> Vec<(String, Uuid)> {
    let mut bulks = items.into_iter().filter_map(|i| i.into_bulk().ok());
    let mut out = Vec::new();
    while let (Some(conn), Some(owner)) = (bulks.next(), bulks.next()) {
        let conn = std::str::from_utf8(&conn).ok().and_then(Uuid::parse);
        let owner = String::from_utf8(owner).ok();
        let user = owner
            .as_deref()
            .and_then(|o| o.split_once(':'))
            .map(|(_, u)| u);
        if let (Some(conn), Some(user)) = (conn, user) {
            out.push((user.to_string(), conn));
        }
    }
    out
}

/// `HMGET meta e s c`: the epoch, the last sequence number and the config, if any.
fn parse_meta_config(
    result: Result<Reply, CommandError>,
) -> Option<(Option<String>, u64, Option<ChannelConfig>)> {
    let mut items = result.ok()?.into_array().ok()?;
    let config = if items.len() == 3 { items.pop() } else { None };
    let config = config
        .and_then(|c| c.into_optional_bulk().ok().flatten())
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .as_ref()
        .and_then(ChannelConfig::from_json);
    let (epoch, seq) = parse_meta(Ok(Reply::Array(items)))?;
    Some((epoch, seq, config))
}
