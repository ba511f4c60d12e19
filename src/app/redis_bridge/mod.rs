//! The hub thread's side of Redis (shared mode, `docs/SCALING.md`): hands the hub's
//! [`Shared`] items to the link (publish script, SUBSCRIBE), and turns what the link
//! reports back into hub calls, in each stream's order and exactly once:
//!
//! * per stream it keeps the epoch and the last sequence number delivered here; a frame
//!   numbered `last + 1` is delivered, one at or below `last` is a duplicate and dropped,
//!   one further on is a gap: it is held while the stored frames are read (`LRANGE`) and
//!   the missing ones delivered first (gap repair);
//! * after every `Subscribed` (the first SUBSCRIBE, and again after each reconnect of the
//!   subscriber) the stream's meta (`HMGET e s`) is read: the first time it says where
//!   this node starts; later it finds what was published while the subscriber was away,
//!   or a new epoch (Redis lost the stream);
//! * a `/message` answer waits for its publishes: 200 when Redis stored every one, 503
//!   with a JSON error as soon as one failed (Redis down, timeout), so a 200 means the
//!   message is in Redis.
//!
//! Runs on the hub thread and never blocks: every Redis call goes through the link's
//! bounded queue and answers later as a [`RedisEvent`]. Split by concept: `order.rs`
//! (each stream's numbering: sync, repair, preload), `presence.rs` (refresh and sweep),
//! `adopt.rs` (a connection made on another node), `info.rs` (`/info` and the listings
//! of `/connect` and `/subscribe` from Redis), `users.rs` (users' state in Redis),
//! `instance.rs` (Redis lost its data), `backpressure.rs` (a node behind delivering).

mod adopt;
mod backpressure;
mod gate;
mod index;
mod info;
mod instance;
mod order;
mod parked;
mod presence;
mod users;

pub use gate::EventGate;

use adopt::Adoption;
use backpressure::Pressure;
use info::{InfoPart, InfoRead};
use order::{parse_meta, Track};
use presence::SWEEP_EVERY;

use crate::api::Command;
use crate::conn_id::ConnId;
use crate::http::Response;
use crate::hub::{
    ChannelConfig, Hub, Shared, SharedUser, Stream, Time, CHANNEL_CONFIG_TYPE, USER_STATE_TYPE,
};
use crate::redis::{
    LinkConfig, LinkStats, PresenceScripts, PublishScript, PublishedFrame, RedisEvent, RedisHandle,
    RedisLink, RedisUrl, Role, SeqFloor,
};
use crate::resp::Reply;
use crate::server::Handle;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

/// Frames Redis keeps per stream for gap repair (as many as the hub's catch-up frames).
pub const REDIS_FRAMES: usize = crate::hub::MAX_FRAMES;

/// Frames held per stream while its gap is repaired; past it new frames are dropped
/// here, and found again in the stored frames by the next repair.
const MAX_HELD: usize = 10_000;

/// What a reply is for.
enum Pending {
    /// A publish; the request waiting for it, if any.
    Publish(Option<ConnId>),
    /// `HMGET meta e s` after a subscription.
    Sync(Stream),
    /// `LRANGE hist` to fill a gap.
    Repair(Stream),
    /// `LRANGE hist` to fill a channel new on this node.
    Preload(Stream),
    /// A write whose reply changes nothing here (the connection registry, presence
    /// refreshes).
    Write,
    /// A join: the reply says whether the user joined `channel` over every node.
    Join(String, String),
    /// A leave or sweep of `channel`: the reply lists the users that parted.
    Parted(String),
    /// `GET` of a connection's record, for the adoption numbered so.
    Adopt(u64),
    /// `HGET meta c` of a channel made here: the config every node gives it.
    Config(String),
    /// An adopted connection's channel: its meta (`HMGET e s`) ...
    AdoptMeta(u64, String),
    /// ... and its stored frames; and its user's copy (`HGETALL Pu{name}:user`).
    AdoptHist(u64, String),
    AdoptUser(u64),
    /// One read of a listed channel for the `/info` numbered so.
    Info(u64, String, InfoPart),
    /// The channel index's names for the `/info` numbered so (no channel list).
    InfoIndex(u64),
    /// The message counters for the `/admin/admin.json` numbered so.
    InfoStats(u64),
    /// A user's copy (`HGETALL Pu{name}:user`) for the listing numbered so.
    InfoUser(u64, String),
    /// A user's copy for the `/connect` or `/user_state` numbered so, parked until it
    /// comes.
    LoadUser(u64, String),
    /// The re-read numbered so of a user's copy, once the subscription to the user's
    /// stream is confirmed (`users.rs`).
    RefreshUser(u64, String),
    /// `GET Pinstance` (`instance.rs`).
    Instance,
}

/// A `/message` answer waiting for its publishes.
struct Held {
    response: Response,
    waiting: usize,
    failed: Option<String>,
}

impl Held {
    /// An answer that waits for nothing: sent by the next [`RedisBridge::release`].
    fn ready(response: Response) -> Held {
        Held {
            response,
            waiting: 0,
            failed: None,
        }
    }
}

/// The bridge; one per node, owned by the hub thread.
pub struct RedisBridge {
    link: RedisHandle,
    publish: PublishScript,
    tracks: HashMap<Stream, Track>,
    by_pubsub: HashMap<Vec<u8>, Stream>,
    pending: HashMap<u64, Pending>,
    next_tag: u64,
    held: HashMap<ConnId, Held>,
    /// Epochs offered to the publish script for streams that have none: this node's
    /// random part and a counter.
    epoch_seed: String,
    epochs: u64,
    /// Publish ids (for the script's dedup): this node's random part and a counter.
    published: u64,
    adoptions: HashMap<u64, Adoption>,
    /// `/info` requests and listings waiting for their reads.
    info_reads: HashMap<u64, InfoRead>,
    /// `/connect`s and `/user_state`s of users new here, waiting for Redis's copy of
    /// the user.
    user_loads: HashMap<u64, (ConnId, Box<Command>)>,
    /// Channels one listing reads at most (`max_channels_per_request`).
    list_bound: usize,
    /// The hub's message counters as last added to `Pstats`.
    stats_added: (u64, u64),
    prefix: String,
    presence: PresenceScripts,
    presence_ttl: Duration,
    next_refresh: Instant,
    next_sweep: Instant,
    /// The last channel the previous sweep visited (empty: start from the first).
    swept_through: String,
    /// No sweep before this (after a reconnect, [`RedisBridge::on_commands_up`]).
    sweep_after: Instant,
    /// The command connection has been up once (later ups are reconnects).
    commands_were_up: bool,
    /// The link's longest wait between two connection attempts.
    reconnect_grace: Duration,
    /// Bounds the link's events waiting for this thread.
    gate: EventGate,
    /// The gate's drops already logged.
    drops_logged: usize,
    /// Gap repairs and losses, for `/metrics`.
    repairs: RepairCounts,
    /// This node's delivery backlog and the other nodes' (`backpressure.rs`).
    pressure: Pressure,
    /// The control channel the nodes say they are behind on (`Pnodes:pub`).
    control: Vec<u8>,
    /// `/message` requests refused while some node was behind.
    refused: u64,
    /// Redis's instance marker as this node last read it (`instance.rs`).
    instance: Option<Vec<u8>>,
    /// Times the marker changed (Redis lost its data) and this node wrote back its state.
    restores: u64,
    /// `/message` requests waiting while some node is behind (`parked.rs`).
    parked: std::collections::VecDeque<parked::Parked>,
}

/// What gap repair did (`docs/SCALING.md`), counted on the hub thread for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairCounts {
    /// Repairs answered: each read the stored frames of a stream that had a gap (a
    /// frame ahead of the next one expected, a position check or a resubscription
    /// that found Redis further on).
    pub gaps: u64,
    /// Frames this node had missed and found in the stored frames.
    pub frames: u64,
    /// Frames missed that the stored frames no longer held (or the repair failed):
    /// skipped, never delivered here.
    pub lost: u64,
}

impl RedisBridge {
    /// Starts the link to `url`; its events go to `on_event` (a send to the hub thread).
    pub fn start(
        url: RedisUrl,
        prefix: &str,
        presence_ttl: Duration,
        gate: EventGate,
        on_event: impl FnMut(RedisEvent) + Send + 'static,
    ) -> io::Result<RedisBridge> {
        let publish = PublishScript::new(prefix);
        let presence = PresenceScripts::new();
        let mut config = LinkConfig::new(url);
        config.scripts.push(publish.script().clone());
        config.scripts.push(publish.floor_script().clone());
        config.scripts.extend(presence.scripts());
        let reconnect_grace = config.backoff_max;
        let link = RedisLink::spawn(config, on_event)?;
        let control = format!("{prefix}nodes:pub").into_bytes();
        if link.subscribe(&control).is_err() {
            crate::log!(
                Error,
                "redis link queue full: the control channel is not subscribed"
            );
        }
        Ok(RedisBridge {
            link,
            publish,
            tracks: HashMap::new(),
            by_pubsub: HashMap::new(),
            pending: HashMap::new(),
            next_tag: 0,
            held: HashMap::new(),
            epoch_seed: crate::redis::new_epoch()?,
            epochs: 0,
            published: 0,
            adoptions: HashMap::new(),
            info_reads: HashMap::new(),
            user_loads: HashMap::new(),
            list_bound: 1000,
            stats_added: (0, 0),
            prefix: prefix.to_string(),
            presence,
            presence_ttl,
            next_refresh: Instant::now() + presence_ttl / 3,
            next_sweep: Instant::now() + SWEEP_EVERY,
            swept_through: String::new(),
            sweep_after: Instant::now(),
            commands_were_up: false,
            reconnect_grace,
            gate,
            drops_logged: 0,
            repairs: RepairCounts::default(),
            pressure: Pressure::default(),
            control,
            refused: 0,
            instance: None,
            restores: 0,
            parked: std::collections::VecDeque::new(),
        })
    }

    /// The link's counters and connection states (read by `/metrics` and `/readyz`).
    pub fn link_stats(&self) -> &std::sync::Arc<LinkStats> {
        self.link.stats()
    }

    /// Gap repairs and losses so far.
    pub fn repairs(&self) -> RepairCounts {
        self.repairs
    }

    /// Times Redis was found to have lost its data (its instance marker changed).
    pub fn data_losses(&self) -> u64 {
        self.restores
    }

    /// Published messages dropped at the event gate so far (found again by repair).
    pub fn gate_dropped(&self) -> usize {
        self.gate.dropped()
    }

    /// Sets the payload bytes from Redis waiting for the hub thread from which this node
    /// is behind (`backpressure.rs`; the app gives a sixteenth of `max_outbound_bytes`).
    pub fn set_behind_bytes(&mut self, bytes: usize) {
        self.pressure.set_bytes_mark(bytes);
    }

    /// Sets how many channels a listing without a channel list reads at most (the
    /// node's `max_channels_per_request`).
    pub fn set_list_bound(&mut self, channels: usize) {
        self.list_bound = channels.max(1);
    }

    fn base(&self, stream: &Stream) -> String {
        match stream {
            Stream::Channel(name) => self.publish.channel_base(name),
            Stream::User(name) => self.publish.user_base(name),
        }
    }

    fn tag(&mut self, pending: Pending) -> u64 {
        self.next_tag += 1;
        self.pending.insert(self.next_tag, pending);
        self.next_tag
    }

    /// Hands the hub's shared items to Redis. The answer to the request on `conn` (if
    /// given) waits for the publishes made for it: see [`RedisBridge::hold`].
    pub fn take_from(&mut self, hub: &mut Hub, conn: Option<ConnId>, now: Time) {
        self.add_stats(hub);
        for item in hub.take_shared() {
            match item {
                Shared::Publish { stream, msg } => match self.publish(&stream, &msg, conn, now) {
                    Ok(()) => {
                        if let Some(conn) = conn {
                            self.held_for(conn).waiting += 1;
                        }
                    }
                    Err(e) => self.fail(conn, &e),
                },
                Shared::Watch(stream) => self.watch(stream),
                Shared::Unwatch(stream) => self.unwatch(&stream),
                Shared::Conn(id) => self.record_conn(hub, id),
                Shared::Created(channel, config) => self.created(channel, config),
                Shared::Join {
                    channel,
                    user,
                    conn,
                } => {
                    let base = self.publish.channel_base(&channel);
                    let tag = self.tag(Pending::Join(channel, user.clone()));
                    let (id, ttl) = (conn.to_string(), self.presence_ttl);
                    let queued = self.presence.join(
                        &self.link,
                        &self.epoch_seed,
                        &base,
                        &id,
                        &user,
                        ttl,
                        tag,
                    );
                    if queued.is_err() {
                        self.pending.remove(&tag);
                    }
                }
                Shared::Leave { channel, conn, .. } => {
                    let base = self.publish.channel_base(&channel);
                    let tag = self.tag(Pending::Parted(channel));
                    let queued = self.presence.leave(
                        &self.link,
                        &self.epoch_seed,
                        &base,
                        &conn.to_string(),
                        tag,
                    );
                    if queued.is_err() {
                        self.pending.remove(&tag);
                    }
                }
            }
        }
    }

    fn held_for(&mut self, conn: ConnId) -> &mut Held {
        self.held.entry(conn).or_insert_with(|| Held {
            response: unavailable("no answer"),
            waiting: 0,
            failed: None,
        })
    }

    fn publish(
        &mut self,
        stream: &Stream,
        msg: &Map<String, Value>,
        conn: Option<ConnId>,
        now: Time,
    ) -> Result<(), String> {
        // The time goes with the message: a node that loads it from the stored frames
        // later (an adopted connection's catch-up) keeps it for the frame.
        let wire = serde_json::json!({ "t": now.0, "m": msg });
        let payload = serde_json::to_vec(&wire).map_err(|e| e.to_string())?;
        self.published += 1;
        self.epochs += 1;
        let id = format!("{}-{}", self.epoch_seed, self.published);
        let epoch = format!("{}{:x}", self.epoch_seed, self.epochs);
        let base = self.base(stream);
        let tag = self.tag(Pending::Publish(conn));
        // A config change is also kept in the channel's meta, for nodes that make the
        // channel later and for `/info`.
        let config = (msg.get("type").and_then(Value::as_str) == Some(CHANNEL_CONFIG_TYPE))
            .then(|| msg.get("config").map(Value::to_string))
            .flatten();
        let at = (base.as_str(), id.as_str(), payload.as_slice());
        let config = config.as_ref().map(String::as_bytes);
        // A user-state change also goes into Redis's copy of the user, in the script.
        let user_state = matches!(stream, Stream::User(_))
            && msg.get("type").and_then(Value::as_str) == Some(USER_STATE_TYPE);
        // Numbered after the last frame seen here, even if Redis came back with older
        // data (`SeqFloor`).
        let floor = self.tracks.get(stream).and_then(|t| {
            let epoch = t.epoch.as_deref()?;
            (t.last > 0).then_some(SeqFloor { epoch, seq: t.last })
        });
        let (link, frames) = (&self.link, REDIS_FRAMES);
        let queued = if user_state {
            let fields = SharedUser::fields_of_change(msg);
            self.publish
                .publish_user_state_at(link, at, frames, &epoch, &fields, floor, tag)
        } else {
            self.publish
                .publish_config_at(link, at, frames, &epoch, config, floor, tag)
        };
        queued.map_err(|e| {
            self.pending.remove(&tag);
            e.to_string()
        })
    }

    /// Channel `name` was made here with `config`: sets it in the channel's meta unless
    /// there is one (`HSETNX meta c`), then reads the one Redis holds for this node.
    fn created(&mut self, name: String, config: ChannelConfig) {
        let meta = format!("{}:meta", self.publish.channel_base(&name));
        let json = config.to_json().to_string();
        let ttl = crate::redis::CHANNEL_TTL_SECONDS.to_string();
        let writes: [&[&str]; 2] = [
            &["HSETNX", meta.as_str(), "c", json.as_str()],
            &["EXPIRE", meta.as_str(), ttl.as_str()],
        ];
        for args in writes {
            let tag = self.tag(Pending::Write);
            if self.link.command(args, tag).is_err() {
                self.pending.remove(&tag);
            }
        }
        self.index_channels(std::iter::once(name.as_str()));
        let tag = self.tag(Pending::Config(name));
        if self
            .link
            .command(&["HGET", meta.as_str(), "c"], tag)
            .is_err()
        {
            self.pending.remove(&tag);
        }
    }

    fn watch(&mut self, stream: Stream) {
        let pubsub = format!("{}:pub", self.base(&stream)).into_bytes();
        if self.link.subscribe(&pubsub).is_err() {
            crate::log!(Error, "redis link queue full: a stream is not subscribed");
        }
        self.tracks.entry(stream.clone()).or_default();
        self.by_pubsub.insert(pubsub, stream);
    }

    fn unwatch(&mut self, stream: &Stream) {
        let pubsub = format!("{}:pub", self.base(stream)).into_bytes();
        let _ = self.link.unsubscribe(&pubsub);
        self.tracks.remove(stream);
        self.by_pubsub.remove(&pubsub);
    }

    /// Gives back `response` unless the request on `conn` made publishes: then it is
    /// held until Redis answered them all ([`RedisBridge::release`]), and becomes a 503
    /// if one failed.
    pub fn hold(&mut self, conn: ConnId, response: Response) -> Option<Response> {
        match self.held.get_mut(&conn) {
            Some(held) => {
                held.response = response;
                None
            }
            None => Some(response),
        }
    }

    /// Notes a failed publish for `conn`'s answer.
    fn fail(&mut self, conn: Option<ConnId>, why: &str) {
        crate::log!(Warning, "publish to redis failed: {why}");
        if let Some(conn) = conn {
            self.held_for(conn)
                .failed
                .get_or_insert_with(|| why.to_string());
        }
    }

    /// Sends the held answers whose publishes are all answered.
    pub fn release(&mut self, handle: &Handle) {
        let done: Vec<ConnId> = self
            .held
            .iter()
            .filter(|(_, h)| h.waiting == 0)
            .map(|(c, _)| *c)
            .collect();
        for conn in done {
            if let Some(h) = self.held.remove(&conn) {
                let response = match h.failed {
                    Some(why) => unavailable(&why),
                    None => h.response,
                };
                handle.respond(conn, response);
            }
        }
    }

    /// One event from the link. Returns a command that can run now (an adopted
    /// connection's websocket).
    pub fn on_event(
        &mut self,
        hub: &mut Hub,
        event: RedisEvent,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        self.gate.taken(&event);
        match event {
            RedisEvent::Reply { tag, result } => match self.pending.remove(&tag) {
                Some(Pending::Write) | None => {}
                Some(Pending::Instance) => self.on_instance(hub, result),
                Some(Pending::Join(channel, user)) => {
                    if matches!(result, Ok(Reply::Integer(1))) {
                        hub.announce_presence(&channel, &user, true, now);
                    }
                }
                Some(Pending::Parted(channel)) => {
                    let users = result.ok().and_then(|r| r.into_array().ok());
                    for user in users.unwrap_or_default() {
                        if let Ok(Ok(user)) = user.into_bulk().map(String::from_utf8) {
                            hub.announce_presence(&channel, &user, false, now);
                        }
                    }
                }
                Some(Pending::Config(channel)) => {
                    let config = result
                        .ok()
                        .and_then(|r| r.into_optional_bulk().ok().flatten());
                    let config = config.and_then(|c| serde_json::from_slice::<Value>(&c).ok());
                    if let Some(config) = config.as_ref().and_then(ChannelConfig::from_json) {
                        hub.apply_channel_config(&channel, config);
                    }
                }
                Some(Pending::InfoIndex(n)) => return self.on_info_index(hub, n, result, now),
                Some(Pending::InfoStats(n)) => return self.on_info_stats(hub, n, result, now),
                Some(Pending::InfoUser(n, name)) => {
                    return self.on_info_user(hub, n, name, result, now);
                }
                Some(Pending::LoadUser(n, name)) => {
                    return self.on_user_loaded(hub, n, &name, result, now);
                }
                Some(Pending::RefreshUser(read, name)) => {
                    self.on_user_refreshed(hub, read, &name, result);
                }
                Some(Pending::Info(n, name, part)) => {
                    return self.on_info_reply(hub, n, name, part, result, now);
                }
                Some(Pending::Adopt(n)) => {
                    let ready = self.on_adopt_record(n, result)?;
                    return self.finish_adoption(hub, ready, now);
                }
                Some(Pending::AdoptMeta(n, name)) => {
                    let meta = parse_meta(result);
                    let a = self.adoptions.get_mut(&n)?;
                    if let Some((Some(epoch), top)) = meta {
                        a.metas.insert(name, (epoch, top));
                    }
                    a.waiting = a.waiting.saturating_sub(1);
                    if a.waiting == 0 {
                        return self.finish_adoption(hub, n, now);
                    }
                }
                Some(Pending::AdoptUser(n)) => {
                    let a = self.adoptions.get_mut(&n)?;
                    a.shared_user = users::parse_user(result).flatten();
                    a.waiting = a.waiting.saturating_sub(1);
                    if a.waiting == 0 {
                        return self.finish_adoption(hub, n, now);
                    }
                }
                Some(Pending::AdoptHist(n, name)) => {
                    let frames = result
                        .ok()
                        .and_then(|r| r.into_array().ok())
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|f| f.into_bulk().ok())
                        .collect();
                    let a = self.adoptions.get_mut(&n)?;
                    a.hists.insert(name, frames);
                    a.waiting = a.waiting.saturating_sub(1);
                    if a.waiting == 0 {
                        return self.finish_adoption(hub, n, now);
                    }
                }
                Some(Pending::Publish(conn)) => {
                    let failed = match &result {
                        Ok(reply) => PublishScript::parse_reply(reply.clone())
                            .err()
                            .map(|e| e.to_string()),
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(why) = failed {
                        self.fail(conn, &why);
                    }
                    if let Some(h) = conn.and_then(|c| self.held.get_mut(&c)) {
                        h.waiting = h.waiting.saturating_sub(1);
                    }
                }
                Some(Pending::Sync(stream)) => self.on_sync(hub, &stream, result, now),
                Some(Pending::Repair(stream)) => self.on_repair(hub, &stream, result, now),
                Some(Pending::Preload(stream)) => self.on_preload(hub, &stream, result, now),
            },
            RedisEvent::Message { channel, payload } if channel == self.control => {
                let me = &self.epoch_seed;
                self.pressure.on_control(&payload, me, Instant::now());
            }
            RedisEvent::Message { channel, payload } => {
                let stream = self.by_pubsub.get(&channel).cloned()?;
                let Some(frame) = PublishedFrame::parse(&payload) else {
                    crate::log!(Warning, "a frame from redis that is not seq:epoch:json");
                    return None;
                };
                let (seq, epoch, payload) = (frame.seq, frame.epoch.to_string(), frame.payload);
                self.on_frame(hub, &stream, seq, epoch, payload.to_vec(), true, now);
            }
            RedisEvent::Subscribed { channel } => {
                let stream = self.by_pubsub.get(&channel).cloned()?;
                self.sync(&stream);
                if let Stream::User(name) = &stream {
                    self.refresh_user(hub, name);
                }
            }
            RedisEvent::Link {
                role: Role::Commands,
                up: true,
            } => {
                self.on_commands_up(Instant::now());
                self.check_instance();
            }
            RedisEvent::Link { .. } => {}
        }
        None
    }
}

/// 503 with a JSON error: Redis did not take a write this request needed.
pub fn unavailable(why: &str) -> Response {
    let body = serde_json::json!({ "error": format!("shared state unavailable: {why}") });
    Response::json(503, body.to_string().into_bytes())
}
