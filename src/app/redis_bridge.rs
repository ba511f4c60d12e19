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
//! bounded queue and answers later as a [`RedisEvent`].

use crate::api::Command;
use crate::conn_id::ConnId;
use crate::http::Response;
use crate::hub::{Hub, Shared, Stream, Time, Uuid};
use crate::redis::{
    CommandError, LinkConfig, PresenceScripts, PublishScript, PublishedFrame, RedisEvent,
    RedisHandle, RedisLink, RedisUrl, REFRESH_BATCH,
};
use crate::resp::Reply;
use crate::server::Handle;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
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
    /// An adopted connection's channel: its meta (`HMGET e s`) ...
    AdoptMeta(u64, String),
    /// ... and its stored frames.
    AdoptHist(u64, String),
}

/// A websocket for a connection this node does not have, waiting while the
/// connection's record and its channels' frames are read from Redis.
struct Adoption {
    engine: ConnId,
    cmd: Box<Command>,
    id: Uuid,
    user: String,
    channels: Vec<String>,
    since: Time,
    waiting: usize,
    metas: HashMap<String, (String, u64)>,
    hists: HashMap<String, Vec<Vec<u8>>>,
}

/// Channels of an adopted connection that are read from Redis (the API's default
/// `max_channels_per_request`).
const MAX_ADOPTED_CHANNELS: usize = 1000;

/// How long a connection's record lives in Redis, refreshed by each change: a day,
/// past `gc_conns_after`'s default.
const CONN_RECORD_SECONDS: u64 = 24 * 3600;

/// A `/message` answer waiting for its publishes.
struct Held {
    response: Response,
    waiting: usize,
    failed: Option<String>,
}

/// Per stream: where this node is in Redis's numbering.
#[derive(Default)]
struct Track {
    epoch: Option<String>,
    last: u64,
    /// The meta has been read once since the first SUBSCRIBE.
    synced: bool,
    /// A sync or repair is out: frames are held until it answers.
    busy: bool,
    /// Frames held, by sequence number: (epoch, payload).
    held: BTreeMap<u64, (String, Vec<u8>)>,
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
    prefix: String,
    presence: PresenceScripts,
    presence_ttl: Duration,
    next_refresh: Instant,
    next_sweep: Instant,
    /// The last channel the previous sweep visited (empty: start from the first).
    swept_through: String,
}

/// How often each node expires the connections of its channels whose time to live
/// passed (their node died).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Channels one sweep visits; a node with more takes them in turns, so its users'
/// `parted` can take one more second per this many channels.
const SWEEP_CHANNELS: usize = 1000;

impl RedisBridge {
    /// Starts the link to `url`; its events go to `on_event` (a send to the hub thread).
    pub fn start(
        url: RedisUrl,
        prefix: &str,
        presence_ttl: Duration,
        on_event: impl FnMut(RedisEvent) + Send + 'static,
    ) -> io::Result<RedisBridge> {
        let publish = PublishScript::new(prefix);
        let presence = PresenceScripts::new();
        let mut config = LinkConfig::new(url);
        config.scripts.push(publish.script().clone());
        config.scripts.extend(presence.scripts());
        let link = RedisLink::spawn(config, on_event)?;
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
            prefix: prefix.to_string(),
            presence,
            presence_ttl,
            next_refresh: Instant::now() + presence_ttl / 3,
            next_sweep: Instant::now() + SWEEP_EVERY,
            swept_through: String::new(),
        })
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
                Shared::Join {
                    channel,
                    user,
                    conn,
                } => {
                    let base = self.publish.channel_base(&channel);
                    let tag = self.tag(Pending::Join(channel, user.clone()));
                    let (id, ttl) = (conn.to_string(), self.presence_ttl);
                    let queued = self.presence.join(&self.link, &base, &id, &user, ttl, tag);
                    if queued.is_err() {
                        self.pending.remove(&tag);
                    }
                }
                Shared::Leave { channel, conn, .. } => {
                    let base = self.publish.channel_base(&channel);
                    let tag = self.tag(Pending::Parted(channel));
                    let queued = self
                        .presence
                        .leave(&self.link, &base, &conn.to_string(), tag);
                    if queued.is_err() {
                        self.pending.remove(&tag);
                    }
                }
            }
        }
    }

    /// The bridge's clock: refreshes this node's connections in Redis every third of
    /// `redis_presence_ttl` (re-joining them: after Redis lost its data this
    /// re-registers them, without `joined` messages), and expires dead nodes'
    /// connections every [`SWEEP_EVERY`].
    pub fn tick(&mut self, hub: &Hub, now: Instant) {
        if now >= self.next_refresh {
            self.next_refresh = now + self.presence_ttl / 3;
            self.refresh(hub);
        }
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY;
            self.sweep();
        }
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
                    .refresh(&self.link, &base, &batch, ttl, tag)
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

    /// When [`RedisBridge::tick`] wants to run next.
    pub fn next_due(&self) -> Instant {
        self.next_refresh.min(self.next_sweep)
    }

    fn conn_key(&self, id: Uuid) -> String {
        format!("{}conn:{{{id}}}", self.prefix)
    }

    /// Writes who connection `id` is and where it is (`SET ... EX`), for a node that
    /// gets its websocket later.
    fn record_conn(&mut self, hub: &Hub, id: Uuid) {
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
            },
        );
        None
    }

    fn on_adopt_record(&mut self, n: u64, result: Result<Reply, CommandError>) -> Option<u64> {
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
        let channels = a.channels.clone();
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
    fn finish_adoption(
        &mut self,
        hub: &mut Hub,
        n: u64,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let a = self.adoptions.remove(&n)?;
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
        self.publish
            .publish_at(&self.link, &base, &id, &payload, REDIS_FRAMES, &epoch, tag)
            .map_err(|e| {
                self.pending.remove(&tag);
                e.to_string()
            })
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
        match event {
            RedisEvent::Reply { tag, result } => match self.pending.remove(&tag) {
                Some(Pending::Write) | None => {}
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
            }
            RedisEvent::Link { .. } => {}
        }
        None
    }

    /// Reads `stream`'s epoch and last sequence number.
    fn sync(&mut self, stream: &Stream) {
        let meta = format!("{}:meta", self.base(stream));
        let tag = self.tag(Pending::Sync(stream.clone()));
        match self.link.command(&["HMGET", meta.as_str(), "e", "s"], tag) {
            Ok(()) => {
                if let Some(t) = self.tracks.get_mut(stream) {
                    t.busy = true;
                }
            }
            Err(_) => {
                self.pending.remove(&tag);
            }
        }
    }

    /// Reads `stream`'s stored frames to fill a gap.
    fn repair(&mut self, stream: &Stream) {
        let hist = format!("{}:hist", self.base(stream));
        let tag = self.tag(Pending::Repair(stream.clone()));
        let last = (REDIS_FRAMES - 1).to_string();
        let queued = self
            .link
            .command(&["LRANGE", hist.as_str(), "0", last.as_str()], tag);
        if queued.is_err() {
            self.pending.remove(&tag);
        }
        if let Some(t) = self.tracks.get_mut(stream) {
            t.busy = queued.is_ok();
        }
    }

    fn on_sync(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        result: Result<Reply, CommandError>,
        now: Time,
    ) {
        let meta = parse_meta(result);
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        let Some((epoch, seq)) = meta else {
            // Redis went away again; the next `Subscribed` syncs.
            return;
        };
        let mut needs_repair = false;
        let mut preload = false;
        match (&t.epoch, epoch) {
            (_, None) => {
                // No state in Redis: nothing published yet, or lost. Numbering starts
                // with the first frame's epoch.
                if t.epoch.take().is_some() {
                    t.last = 0;
                    sync_channel(hub, stream, 0, true);
                }
            }
            (None, Some(e)) if !t.synced => {
                // First sync: this node starts here, or with the first frame that came
                // since it subscribed, if that is earlier.
                let first_held = t
                    .held
                    .iter()
                    .find(|(_, (epoch, _))| *epoch == e)
                    .map(|(s, _)| s.saturating_sub(1));
                t.last = first_held.map_or(seq, |f| f.min(seq));
                t.epoch = Some(e);
                if let Stream::Channel(_) = stream {
                    // A channel new here is filled with the frames Redis keeps, so
                    // catch-up, recovery by position and history work as on the
                    // nodes that had it (a node started later catches up).
                    preload = true;
                }
            }
            (Some(known), Some(e)) if *known == e => needs_repair = seq > t.last,
            (_, Some(e)) => {
                // Another epoch: Redis lost the stream; what the new one holds is read.
                t.epoch = Some(e);
                t.last = 0;
                sync_channel(hub, stream, 0, true);
                needs_repair = seq > 0;
            }
        }
        t.synced = true;
        if preload {
            self.preload(hub, stream);
        } else if needs_repair {
            self.repair(stream);
        } else {
            self.drain_held(hub, stream, true, now);
        }
    }

    /// Reads a channel's stored frames to fill it here ([`Pending::Preload`]).
    fn preload(&mut self, hub: &mut Hub, stream: &Stream) {
        let hist = format!("{}:hist", self.base(stream));
        let tag = self.tag(Pending::Preload(stream.clone()));
        let last = (REDIS_FRAMES - 1).to_string();
        let queued = self
            .link
            .command(&["LRANGE", hist.as_str(), "0", last.as_str()], tag);
        match (queued, self.tracks.get_mut(stream)) {
            (Ok(()), Some(t)) => t.busy = true,
            (_, t) => {
                self.pending.remove(&tag);
                if let Some(t) = t {
                    sync_channel(hub, stream, t.last, false);
                }
            }
        }
    }

    fn on_preload(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        result: Result<Reply, CommandError>,
        now: Time,
    ) {
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        let (top, epoch) = (t.last, t.epoch.clone().unwrap_or_default());
        if let Stream::Channel(name) = stream {
            let hist: Vec<Vec<u8>> = result
                .ok()
                .and_then(|r| r.into_array().ok())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.into_bulk().ok())
                .collect();
            let mut frames = stored_frames(&hist, &epoch);
            frames.retain(|(seq, _, _)| *seq <= top);
            hub.preload_frames(name, top, frames);
            hub.sync_position(name, top, false);
        }
        self.drain_held(hub, stream, true, now);
    }

    fn on_repair(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        result: Result<Reply, CommandError>,
        now: Time,
    ) {
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        if let Some(frames) = result.ok().and_then(|r| r.into_array().ok()) {
            for f in frames {
                let Ok(bytes) = f.into_bulk() else { continue };
                let Some(frame) = PublishedFrame::parse(&bytes) else {
                    continue;
                };
                if frame.seq > t.last && t.epoch.as_deref() == Some(frame.epoch) {
                    t.held
                        .entry(frame.seq)
                        .or_insert_with(|| (frame.epoch.to_string(), frame.payload.to_vec()));
                }
            }
        }
        // What the stored frames do not hold is lost: delivered past, not repaired again.
        self.drain_held(hub, stream, false, now);
    }

    /// Processes the held frames in order; `may_repair`: a gap starts a repair (else the
    /// missing frames are counted lost).
    fn drain_held(&mut self, hub: &mut Hub, stream: &Stream, may_repair: bool, now: Time) {
        loop {
            let Some(t) = self.tracks.get_mut(stream) else {
                return;
            };
            if t.busy {
                return;
            }
            let Some((seq, (epoch, payload))) = t.held.pop_first() else {
                return;
            };
            self.on_frame(hub, stream, seq, epoch, payload, may_repair, now);
        }
    }

    /// One frame of `stream`, live or held: delivered, dropped, or held for a repair.
    #[allow(clippy::too_many_arguments)]
    fn on_frame(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        seq: u64,
        epoch: String,
        payload: Vec<u8>,
        may_repair: bool,
        now: Time,
    ) {
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        if !t.synced || t.busy {
            if t.held.len() < MAX_HELD {
                t.held.insert(seq, (epoch, payload));
            }
            return;
        }
        if t.epoch.as_deref() != Some(epoch.as_str()) {
            // A stream's first frame, or Redis lost the stream and numbers it anew.
            let restarted = t.epoch.is_some();
            t.epoch = Some(epoch.clone());
            t.last = 0;
            if restarted {
                sync_channel(hub, stream, 0, true);
            }
        }
        if seq <= t.last {
            return; // a duplicate
        }
        if seq > t.last + 1 && may_repair {
            t.held.insert(seq, (epoch, payload));
            self.repair(stream);
            return;
        }
        t.last = seq;
        match unwrap_message(&payload) {
            Some((_, msg)) => {
                hub.apply_published(stream, &msg, seq, now);
            }
            None => crate::log!(Warning, "a frame from redis whose message is not ours"),
        }
    }
}

/// `HMGET meta e s` read: the epoch (none: Redis has no state) and the last sequence
/// number; `None` if Redis did not answer.
fn parse_meta(result: Result<Reply, CommandError>) -> Option<(Option<String>, u64)> {
    result.ok().and_then(|r| r.into_array().ok()).map(|items| {
        let mut it = items
            .into_iter()
            .map(|i| i.into_optional_bulk().ok().flatten());
        let epoch = it.next().flatten().and_then(|e| String::from_utf8(e).ok());
        let seq = it
            .next()
            .flatten()
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u64>().ok());
        (epoch, seq.unwrap_or(0))
    })
}

/// A published payload, `{"t": micros, "m": message}`, split.
fn unwrap_message(payload: &[u8]) -> Option<(Time, Map<String, Value>)> {
    match serde_json::from_slice::<Value>(payload).ok()? {
        Value::Object(mut wire) => {
            let t = wire.get("t").and_then(Value::as_u64).unwrap_or(0);
            match wire.remove("m") {
                Some(Value::Object(msg)) => Some((Time(t), msg)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The stored frames of one epoch (as `LRANGE` gives them, newest first) as
/// `(seq, time, message)`, oldest first.
fn stored_frames(hist: &[Vec<u8>], epoch: &str) -> Vec<(u64, Time, Map<String, Value>)> {
    let mut frames: Vec<_> = hist
        .iter()
        .filter_map(|bytes| {
            let f = PublishedFrame::parse(bytes)?;
            if f.epoch != epoch {
                return None;
            }
            let (t, msg) = unwrap_message(f.payload)?;
            Some((f.seq, t, msg))
        })
        .collect();
    frames.sort_by_key(|(seq, _, _)| *seq);
    frames.dedup_by_key(|(seq, _, _)| *seq);
    frames
}

/// Tells the hub where a channel's numbering stands (user streams have no positions).
fn sync_channel(hub: &mut Hub, stream: &Stream, seq: u64, new_epoch: bool) {
    if let Stream::Channel(name) = stream {
        hub.sync_position(name, seq, new_epoch);
    }
}

/// 503 with a JSON error: Redis did not take a write this request needed.
pub fn unavailable(why: &str) -> Response {
    let body = serde_json::json!({ "error": format!("shared state unavailable: {why}") });
    Response::json(503, body.to_string().into_bytes())
}
