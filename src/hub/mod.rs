//! channelstream's domain: users, connections, channels, history and presence. Pure: knows
//! nothing of sockets; `now` is an argument to everything that depends on time.
//!
//! The hub mirrors the reference's `operations.py`, `channel.py`, `user.py`,
//! `connection.py` and `gc.py`. It names engine connections ([`ConnId`]) as delivery
//! targets but never touches them: what should happen on the wire is queued as
//! [`Effect`]s, which the app drains after each call ([`Hub::take_effects`]).
//!
//! Each delivery is serialized once: one JSON text per message, shared by every websocket
//! (as one `[msg]` payload in one [`Effect::Send`]) and every waiting long-poll.

mod attach;
mod channel;
mod clock;
mod connection;
mod id;
mod info;
mod message;
mod ops;
mod presence;
mod recovery;
mod scratch;
mod shared;
mod shared_user;
mod shared_view;
mod snapshot;
mod stored;
mod time;
mod transcode;
mod user;
mod user_refresh;

pub use channel::{Channel, ChannelConfig, CHANNEL_CONFIG_TYPE, MAX_FRAMES};
pub use clock::{
    GC_CHANNELS_AFTER, GC_CONNS_AFTER, GC_USERS_AFTER, HEARTBEAT_EVERY, POLL_GATHER, REPLAY_WINDOW,
};
pub use connection::{
    Connection, Poll, PollQueue, PollReply, Target, POLL_QUEUE_MAX_BYTES, POLL_QUEUE_MAX_MESSAGES,
};
pub use id::{IdGen, Uuid, UuidHashBuilder, UuidHasher};
pub use info::{AdminInfo, ChannelInfo, ChannelsInfo, InfoConfig};
pub use message::{list_of, Encoded, DELIVERY_KEYS, EDITABLE_KEYS};
pub use ops::{ConnectParams, GC_MARK_SHIFT};
pub use recovery::{Recover, RECOVERY_TYPE};
pub use shared::{Shared, Stream, USER_STATE_TYPE};
pub use shared_user::SharedUser;
pub use shared_view::SharedChannel;
pub use snapshot::{Snapshot, SnapshotError};
pub use stored::Stored;
pub use time::{format_uptime, Time};
pub use user::{User, MAX_USER_FRAMES};

use crate::conn_id::ConnId;
use message::{delivery_copy, Texts};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Something the engine should do, in the order queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send `payload` (a JSON list, wrapped once into a websocket text frame by the app)
    /// to every websocket in `conns`.
    Send {
        /// Recipients.
        conns: Vec<ConnId>,
        /// The JSON text of the frame, shared by all recipients.
        payload: Arc<str>,
    },
    /// Answer a long-poll request with `body` (a JSON list of messages).
    Answer {
        /// The waiting HTTP request.
        http: ConnId,
        /// How to wrap it, as given to [`Hub::attach_poll`].
        reply: PollReply,
        /// The JSON list.
        body: String,
    },
    /// Close a websocket (its connection was collected or replaced).
    Close {
        /// The websocket.
        conn: ConnId,
        /// Close code.
        code: u16,
    },
}

/// Message counters shown by admin info.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages accepted by `POST /message`.
    pub total_unique_messages: u64,
    /// Deliveries of those messages to connections.
    pub total_messages: u64,
}

/// What the hub's clock did, for `GET /metrics` (not persisted, not in admin info).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockCounters {
    /// Heartbeat frames (`[]`) queued to websockets.
    pub heartbeats: u64,
    /// Connections collected for inactivity.
    pub gc_connections: u64,
    /// Users forgotten for inactivity.
    pub gc_users: u64,
    /// Empty channels forgotten.
    pub gc_channels: u64,
}

/// All of channelstream's state. One instance, owned by the hub thread.
#[derive(Debug)]
pub struct Hub {
    /// Users by name.
    pub users: HashMap<String, User>,
    /// Connections by id.
    pub connections: HashMap<Uuid, Connection, UuidHashBuilder>,
    /// Channels by name (sorted, so info listings are stable).
    pub channels: BTreeMap<String, Channel>,
    /// Counters.
    pub stats: Stats,
    /// Heartbeat and collection counters.
    pub clock_counters: ClockCounters,
    /// When the hub started (admin `uptime`).
    pub started: Time,
    /// Engine connection -> the channelstream connection it delivers for.
    attached: HashMap<ConnId, Uuid>,
    /// Connections that had a poll attached; entries whose poll is gone are dropped
    /// lazily. Keeps poll timing O(polls), not O(connections), per tick.
    polling: HashSet<Uuid>,
    ids: IdGen,
    wake_after: Duration,
    /// How long a connection may stay inactive (`gc_conns_after`).
    gc_conns_after: Duration,
    /// How long an empty channel is kept after its last activity (`gc_channels_after`).
    gc_channels_after: Duration,
    effects: Vec<Effect>,
    /// The recipients of the channel message being delivered, kept empty between
    /// messages so that its room is reused: a list per message was an allocation of the
    /// hub thread's ~25 per message. At most a channel's connections (16 bytes each).
    recipients: Vec<Uuid>,
    timers: clock::Timers,
    /// The websockets of each heartbeat slice.
    ws_slices: clock::WsSlices,
    /// Shared mode (several nodes, `shared.rs`): what other nodes must see, queued;
    /// `None` on a single node.
    shared: Option<Vec<shared::Shared>>,
}

impl Hub {
    /// An empty hub. `wake_after` is how long a long-poll waits for a first message
    /// (`wake_connections_after`); `seed` feeds the id generator.
    pub fn new(now: Time, wake_after: Duration, seed: u64) -> Hub {
        Hub {
            users: HashMap::new(),
            connections: HashMap::default(),
            channels: BTreeMap::new(),
            stats: Stats::default(),
            clock_counters: ClockCounters::default(),
            started: now,
            attached: HashMap::new(),
            polling: HashSet::new(),
            ids: IdGen::new(seed),
            wake_after,
            gc_conns_after: clock::GC_CONNS_AFTER,
            gc_channels_after: clock::GC_CHANNELS_AFTER,
            effects: Vec::new(),
            recipients: Vec::new(),
            timers: clock::Timers::new(now),
            ws_slices: clock::WsSlices::new(),
            shared: None,
        }
    }

    /// A fresh random UUID.
    pub fn new_uuid(&mut self) -> Uuid {
        self.ids.uuid4()
    }

    /// Takes the effects queued so far. Dropping them loses deliveries, answers and
    /// closes for good.
    #[must_use = "effects not handed to the engine are lost"]
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Sorted names of the channels `conn` is in (`connection.py` `channels`).
    pub fn conn_channels(&self, conn: Uuid) -> Vec<String> {
        let Some(c) = self.connections.get(&conn) else {
            return Vec::new();
        };
        c.channels
            .iter()
            .filter(|name| {
                self.channels
                    .get(name.as_str())
                    .is_some_and(|ch| ch.has(&c.username, conn))
            })
            .cloned()
            .collect()
    }

    /// Delivers one message to connections `to`: one serialization, one websocket
    /// effect, and a share of the same text for each waiting long-poll. Variants (with
    /// `"pos"` for listeners that asked for positions, catch-up copies for long-poll
    /// clients between polls) are made once per message when someone needs them, never
    /// per recipient ([`Texts`]). Returns how many connections it was handed to (the
    /// reference's `total_sent`).
    fn deliver(&mut self, msg: &Map<String, Value>, to: &[Uuid], now: Time, pos: u64) -> u64 {
        if to.is_empty() {
            return 0;
        }
        let mut texts = Texts::new(msg, pos);
        // Websockets without and with positions.
        let mut ws: [Vec<ConnId>; 2] = [Vec::with_capacity(to.len()), Vec::new()];
        let mut overflowing = Vec::new();
        for id in to {
            let Some(c) = self.connections.get_mut(id) else {
                continue;
            };
            match &mut c.target {
                Target::Detached => {}
                Target::Ws(e) => {
                    ws[usize::from(texts.positioned(c.positions))].push(*e);
                    c.last_active = now;
                    // The user's `last_active` is not touched here, unlike the
                    // reference's `mark_activity` per delivery: it only decides user GC
                    // after 24 h, and the heartbeat refreshes it for every websocket user
                    // every 5 s. A name lookup per delivery was a fifth of the hub's time.
                }
                Target::Poll(p) => {
                    p.messages.push(texts.live(c.positions).clone());
                    p.quiet_until = Some(now.plus(POLL_GATHER));
                }
                Target::BetweenPolls(q) => {
                    if !q.push(texts.waiting(c.positions)) {
                        overflowing.push(*id);
                    }
                }
            }
        }
        for (with, conns) in ws.into_iter().enumerate() {
            if !conns.is_empty() {
                let payload = texts.frame(with == 1);
                self.effects.push(Effect::Send { conns, payload });
            }
        }
        if !overflowing.is_empty() {
            // Cut, not trimmed: see `PollQueue`.
            self.remove_connections(&overflowing, now);
        }
        to.len() as u64
    }

    /// Records `msg` in channel `name` and delivers it; 0 if there is no such channel.
    /// In shared mode it is published instead, and delivered when it comes back.
    fn channel_message(&mut self, name: &str, msg: &Map<String, Value>, now: Time) -> u64 {
        if self.share(|| shared::Shared::Publish {
            stream: shared::Stream::Channel(name.to_string()),
            msg: msg.clone(),
        }) {
            return 0;
        }
        self.record_and_deliver(name, msg, now)
    }

    /// Records `msg` in channel `name` at its next position and delivers it.
    fn record_and_deliver(&mut self, name: &str, msg: &Map<String, Value>, now: Time) -> u64 {
        let Some(ch) = self.channels.get_mut(name) else {
            return 0;
        };
        let mut to = std::mem::take(&mut self.recipients);
        ch.add_message(msg, now, &mut to);
        let pos = ch.last_pos;
        let sent = self.deliver(msg, &to, now, pos);
        to.clear();
        self.recipients = to;
        sent
    }

    /// Sends `msg` privately to every connection of `username` and keeps it as a private
    /// frame (`user.py` `add_message`); 0 if the user is unknown.
    fn user_message(&mut self, username: &str, msg: &Map<String, Value>, now: Time) -> u64 {
        let Some(u) = self.users.get_mut(username) else {
            return 0;
        };
        u.add_frame(&delivery_copy(msg), now);
        u.last_active = now;
        let to = u.connections.clone();
        self.deliver(msg, &to, now, 0)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_poll_queue;
#[cfg(test)]
mod tests_positions;
