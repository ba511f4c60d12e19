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

use crate::conn_id::ConnId;
use crate::http::Response;
use crate::hub::{Hub, Shared, Stream, Time};
use crate::redis::{
    CommandError, LinkConfig, PublishScript, PublishedFrame, RedisEvent, RedisHandle, RedisLink,
    RedisUrl,
};
use crate::resp::Reply;
use crate::server::Handle;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io;

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
}

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
}

impl RedisBridge {
    /// Starts the link to `url`; its events go to `on_event` (a send to the hub thread).
    pub fn start(
        url: RedisUrl,
        prefix: &str,
        on_event: impl FnMut(RedisEvent) + Send + 'static,
    ) -> io::Result<RedisBridge> {
        let publish = PublishScript::new(prefix);
        let mut config = LinkConfig::new(url);
        config.scripts.push(publish.script().clone());
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
    pub fn take_from(&mut self, hub: &mut Hub, conn: Option<ConnId>) {
        for item in hub.take_shared() {
            match item {
                Shared::Publish { stream, msg } => match self.publish(&stream, &msg, conn) {
                    Ok(()) => {
                        if let Some(conn) = conn {
                            self.held_for(conn).waiting += 1;
                        }
                    }
                    Err(e) => self.fail(conn, &e),
                },
                Shared::Watch(stream) => self.watch(stream),
                Shared::Unwatch(stream) => self.unwatch(&stream),
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
    ) -> Result<(), String> {
        let payload = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
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

    /// One event from the link.
    pub fn on_event(&mut self, hub: &mut Hub, event: RedisEvent, now: Time) {
        match event {
            RedisEvent::Reply { tag, result } => match self.pending.remove(&tag) {
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
                None => {}
            },
            RedisEvent::Message { channel, payload } => {
                let Some(stream) = self.by_pubsub.get(&channel).cloned() else {
                    return;
                };
                let Some(frame) = PublishedFrame::parse(&payload) else {
                    crate::log!(Warning, "a frame from redis that is not seq:epoch:json");
                    return;
                };
                let (seq, epoch, payload) = (frame.seq, frame.epoch.to_string(), frame.payload);
                self.on_frame(hub, &stream, seq, epoch, payload.to_vec(), true, now);
            }
            RedisEvent::Subscribed { channel } => {
                let Some(stream) = self.by_pubsub.get(&channel).cloned() else {
                    return;
                };
                self.sync(&stream);
            }
            RedisEvent::Link { .. } => {}
        }
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
        let meta = result.ok().and_then(|r| r.into_array().ok()).map(|items| {
            let mut it = items
                .into_iter()
                .map(|i| i.into_optional_bulk().ok().flatten());
            let epoch = it.next().flatten().and_then(|e| String::from_utf8(e).ok());
            let seq = it
                .next()
                .flatten()
                .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u64>().ok());
            (epoch, seq.unwrap_or(0))
        });
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        let Some((epoch, seq)) = meta else {
            // Redis went away again; the next `Subscribed` syncs.
            return;
        };
        let mut needs_repair = false;
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
                sync_channel(hub, stream, t.last, false);
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
        if needs_repair {
            self.repair(stream);
        } else {
            self.drain_held(hub, stream, true, now);
        }
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
        match serde_json::from_slice::<Map<String, Value>>(&payload) {
            Ok(msg) => {
                hub.apply_published(stream, &msg, seq, now);
            }
            Err(_) => crate::log!(Warning, "a frame from redis whose message is not JSON"),
        }
    }
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
