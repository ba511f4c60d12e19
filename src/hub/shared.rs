//! Shared mode: several nodes behind one Redis (`docs/SCALING.md`). Pure, like the rest of
//! the hub: what other nodes must see leaves as [`Shared`] items ([`Hub::take_shared`]),
//! which the hub thread hands to Redis; what any node published comes back through
//! [`Hub::apply_published`], which records and delivers without publishing again.
//!
//! In shared mode a message is not delivered where it was sent: it goes to Redis, which
//! gives it the channel's next position (its sequence number), and every node that has
//! the channel, the sending one included, delivers it when Redis publishes it. So every
//! node sees a channel's messages in the one order Redis gave them, at the same
//! positions. Without `redis_url` nothing here runs: [`Hub::shared`] is `None` and the
//! hub delivers at once, as it always did.

use super::channel::{ChannelConfig, CHANNEL_CONFIG_TYPE};
use super::connection::{reserve_first, Connection};
use super::id::Uuid;
use super::message::{str_field, str_list};
use super::stored::{delete_message_frame, edit_message_frame};
use super::time::Time;
use super::user::User;
use super::Hub;
use serde_json::{Map, Value};

/// Where a published message goes: a channel, or one user's private messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// A channel, by name.
    Channel(String),
    /// A user's private messages, by user name.
    User(String),
}

/// Something other nodes must see or this node must hear.
#[derive(Clone, Debug, PartialEq)]
pub enum Shared {
    /// Publish `msg` (with its delivery keys) to `stream`, for every node to deliver.
    Publish {
        /// Where it goes.
        stream: Stream,
        /// The message as the hub would have recorded it.
        msg: Map<String, Value>,
    },
    /// This node now has `stream` (a channel was made, a user connected): listen to it.
    Watch(Stream),
    /// This node forgot `stream`: stop listening.
    Unwatch(Stream),
    /// Connection `conn` of `user` joined `channel` here.
    Join {
        /// The channel.
        channel: String,
        /// Its user.
        user: String,
        /// The connection.
        conn: Uuid,
    },
    /// Connection `conn` of `user` left `channel` here (unsubscribed or removed).
    Leave {
        /// The channel.
        channel: String,
        /// Its user.
        user: String,
        /// The connection.
        conn: Uuid,
    },
    /// Connection `id` was made or changed its channels here: record who it is and
    /// where it is, so that another node can take it over when its websocket comes
    /// back there ([`Hub::adopt_connection`]).
    Conn(Uuid),
    /// Channel `0` was made here with config `1`: kept in Redis unless the channel has
    /// one there already (the first node to make a channel sets its config, as the
    /// first request does on one node); this node then takes the config Redis holds
    /// ([`Hub::apply_channel_config`]).
    Created(String, ChannelConfig),
}

/// The `type` of a user-state change published on the user's stream: applied by every
/// node that knows the user, delivered to nobody.
pub const USER_STATE_TYPE: &str = "user_state";

impl Shared {
    /// A user-state change for other nodes (and for Redis's copy of the user,
    /// [`crate::hub::SharedUser`]): the state keys it changed and the public keys, if
    /// they were replaced.
    pub fn user_state(
        user: &str,
        state: &Map<String, Value>,
        public_keys: Option<Vec<String>>,
    ) -> Shared {
        let mut msg = Map::new();
        msg.insert("type".into(), USER_STATE_TYPE.into());
        msg.insert("state".into(), Value::Object(state.clone()));
        msg.insert("public_keys".into(), serde_json::json!(public_keys));
        Shared::Publish {
            stream: Stream::User(user.to_string()),
            msg,
        }
    }

    /// A channel-config change for every node that has `channel`.
    pub fn channel_config(channel: &str, config: &ChannelConfig) -> Shared {
        let mut msg = Map::new();
        msg.insert("type".into(), CHANNEL_CONFIG_TYPE.into());
        msg.insert("channel".into(), channel.into());
        msg.insert("config".into(), config.to_json());
        Shared::Publish {
            stream: Stream::Channel(channel.to_string()),
            msg,
        }
    }
}

impl Hub {
    /// Switches to shared mode: from now on messages are published ([`Shared::Publish`])
    /// instead of delivered, and every channel and user the hub has, or makes later, is
    /// watched.
    pub fn set_shared(&mut self) {
        let mut out: Vec<Shared> = self
            .channels
            .keys()
            .map(|n| Shared::Watch(Stream::Channel(n.clone())))
            .collect();
        out.extend(
            self.users
                .keys()
                .map(|n| Shared::Watch(Stream::User(n.clone()))),
        );
        self.shared = Some(out);
    }

    /// Whether the hub is in shared mode.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes what other nodes must see, in the order it happened. Always empty outside
    /// shared mode.
    #[must_use = "shared items not handed to Redis are lost"]
    pub fn take_shared(&mut self) -> Vec<Shared> {
        self.shared.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Queues `item` if in shared mode; false (nothing queued) otherwise.
    pub(super) fn share(&mut self, item: impl FnOnce() -> Shared) -> bool {
        let Some(out) = &mut self.shared else {
            return false;
        };
        let item = item();
        // A user-state change made here, marked for a re-read of the user that is out.
        if let Shared::Publish {
            stream: Stream::User(name),
            msg,
        } = &item
        {
            if let Some(u) = self.users.get_mut(name) {
                super::user_refresh::mark_change(u, msg);
            }
        }
        out.push(item);
        true
    }

    /// In shared mode, publishes `msg` to its channel, or else to each of its
    /// `pm_users` (as [`Hub::route`] would deliver it) and returns true.
    pub(super) fn share_routed(&mut self, msg: &Map<String, Value>) -> bool {
        let Some(out) = &mut self.shared else {
            return false;
        };
        if let Some(channel) = str_field(msg, "channel").filter(|c| !c.is_empty()) {
            out.push(Shared::Publish {
                stream: Stream::Channel(channel.to_string()),
                msg: msg.clone(),
            });
            return true;
        }
        for name in str_list(msg, "pm_users") {
            out.push(Shared::Publish {
                stream: Stream::User(name),
                msg: msg.clone(),
            });
        }
        true
    }

    /// A message Redis published on `stream` at sequence number `seq` (from any node,
    /// this one included): applies an edit or delete to what is stored here, records the
    /// message and delivers it to this node's connections. For a channel, `seq` becomes
    /// the message's position; positions skipped since the last one (lost between Redis
    /// and this node) are noted as not held. Returns the deliveries made.
    pub fn apply_published(
        &mut self,
        stream: &Stream,
        msg: &Map<String, Value>,
        seq: u64,
        now: Time,
    ) -> u64 {
        let kind = str_field(msg, "type").unwrap_or_default();
        let sent = match stream {
            Stream::Channel(name) => {
                let Some(ch) = self.channels.get_mut(name) else {
                    return 0;
                };
                if kind == CHANNEL_CONFIG_TYPE {
                    // Applied again where it was made: in Redis's order on every node,
                    // so the last change wins everywhere.
                    if let Some(config) = msg.get("config").and_then(ChannelConfig::from_json) {
                        ch.config = config;
                    }
                    ch.skip_position(seq);
                    return 0;
                }
                match kind {
                    "message:edit" => ch.edit_stored(msg),
                    "message:delete" => ch.delete_stored(msg.get("uuid").unwrap_or(&Value::Null)),
                    _ => {}
                }
                ch.continue_at(seq);
                self.record_and_deliver(name, msg, now)
            }
            Stream::User(name) => {
                let Some(u) = self.users.get_mut(name) else {
                    return 0;
                };
                match kind {
                    USER_STATE_TYPE => {
                        super::user_refresh::mark_change(u, msg);
                        // Applied again where it was made: the same values change nothing.
                        if let Some(Value::Object(state)) = msg.get("state") {
                            u.update_state(state);
                        }
                        if let Some(Value::Array(keys)) = msg.get("public_keys") {
                            u.state_public_keys = keys
                                .iter()
                                .filter_map(|k| k.as_str().map(String::from))
                                .collect();
                        }
                        return 0;
                    }
                    "message:edit" => edit_message_frame(&mut u.frames, msg),
                    "message:delete" => {
                        delete_message_frame(&mut u.frames, msg.get("uuid").unwrap_or(&Value::Null))
                    }
                    _ => {}
                }
                self.user_message(name, msg, now)
            }
        };
        self.stats.total_messages += sent;
        sent
    }

    /// Channel `name` has `config` on every node (Redis holds it): applied here if this
    /// node has the channel.
    pub fn apply_channel_config(&mut self, name: &str, config: ChannelConfig) {
        if let Some(ch) = self.channels.get_mut(name) {
            ch.config = config;
        }
    }

    /// Takes over connection `id` of `user`, made on another node (its websocket came
    /// back here): the user (if new here), the connection as active at `last_active`
    /// (the catch-up on attach sends the frames since), and its channels, joined. False
    /// if this node has it already.
    pub fn adopt_connection(
        &mut self,
        id: Uuid,
        user: &str,
        channels: &[String],
        last_active: Time,
        now: Time,
    ) -> bool {
        if self.connections.contains_key(&id) {
            return false;
        }
        if !self.users.contains_key(user) {
            let u = User::new(self.new_uuid(), user, now);
            self.users.insert(user.to_string(), u);
            self.share(|| Shared::Watch(Stream::User(user.to_string())));
        }
        let mut c = Connection::new(id, user, now);
        c.last_active = last_active;
        self.connections.insert(id, c);
        if let Some(u) = self.users.get_mut(user) {
            reserve_first(&mut u.connections);
            u.connections.push(id);
        }
        for name in channels {
            self.ensure_channel(name, None, now);
            self.join(name, user, id, now);
        }
        true
    }

    /// Fills channel `name`, new on this node, with the frames Redis keeps (`(seq,
    /// stored at, message)`, oldest first) up to sequence number `top`, so that catch-up
    /// and recovery by position work here as on the node that delivered them. A channel
    /// that already holds frames or positions keeps its own.
    pub fn preload_frames(
        &mut self,
        name: &str,
        top: u64,
        frames: Vec<(u64, Time, Map<String, Value>)>,
    ) {
        if let Some(ch) = self.channels.get_mut(name) {
            ch.preload(top, frames);
        }
    }

    /// Redis says channel `name` is at sequence number `seq` (or that its numbering
    /// started again, in a new epoch, at `seq`) while this node holds nothing after it:
    /// later messages continue from there, and nothing up to `seq` can be replayed here.
    pub fn sync_position(&mut self, name: &str, seq: u64, new_epoch: bool) {
        if let Some(ch) = self.channels.get_mut(name) {
            ch.restart_at(seq, new_epoch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, detached, hub, msg, ws};
    use super::super::{Effect, Recover};
    use super::*;
    use serde_json::json;

    fn published(h: &mut Hub) -> Vec<(Stream, Value)> {
        h.take_shared()
            .into_iter()
            .filter_map(|s| match s {
                Shared::Publish { stream, msg } => Some((stream, Value::Object(msg))),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn shared_mode_publishes_instead_of_delivering_and_watches_what_it_makes() {
        let mut h = hub();
        h.set_shared();
        let id = detached(&mut h, "a", &["x"], at(0.0));
        assert!(h.attach_ws(id, ws(1), at(0.0)).is_some());
        let watched: Vec<Shared> = h.take_shared();
        assert!(watched.contains(&Shared::Watch(Stream::Channel("x".into()))));
        assert!(watched.contains(&Shared::Watch(Stream::User("a".into()))));
        let _ = h.take_effects();
        h.pass_message(msg(json!({"channel": "x", "message": {"n": 1}})), at(1.0));
        h.pass_message(
            msg(json!({"pm_users": ["a", "b"], "message": {"n": 2}})),
            at(1.0),
        );
        // A channel this node does not have is published too: another node may.
        h.pass_message(msg(json!({"channel": "y", "message": {"n": 3}})), at(1.0));
        let out = published(&mut h);
        let streams: Vec<&Stream> = out.iter().map(|(s, _)| s).collect();
        assert_eq!(
            streams,
            [
                &Stream::Channel("x".into()),
                &Stream::User("a".into()),
                &Stream::User("b".into()),
                &Stream::Channel("y".into())
            ]
        );
        assert_eq!(out[0].1["type"], "message");
        assert!(
            h.take_effects().is_empty(),
            "nothing delivered before Redis"
        );
        assert_eq!(h.channels["x"].last_pos, 0);
    }

    #[test]
    fn a_published_message_is_delivered_at_its_sequence_number_and_skips_are_lost() {
        let mut h = hub();
        h.set_shared();
        let id = detached(&mut h, "a", &["x"], at(0.0));
        assert!(h
            .attach_ws_recovering(id, ws(1), Some(&Recover::new()), at(0.0))
            .is_some());
        let _ = (h.take_shared(), h.take_effects());
        h.sync_position("x", 40, false);
        let m = msg(json!({"channel": "x", "type": "message", "message": {"n": 1}}));
        assert_eq!(
            h.apply_published(&Stream::Channel("x".into()), &m, 41, at(1.0)),
            1
        );
        let sent: Vec<String> = h
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Send { payload, .. } => Some(payload.to_string()),
                _ => None,
            })
            .collect();
        assert!(sent.iter().any(|p| p.contains("\"pos\":41")), "{sent:?}");
        assert!(h.take_shared().is_empty(), "not published again");
        assert_eq!(
            (h.channels["x"].last_pos, h.channels["x"].lost_through),
            (41, 40)
        );
        // 42 and 43 never came: 44 is delivered, the two are noted lost.
        assert_eq!(
            h.apply_published(&Stream::Channel("x".into()), &m, 44, at(2.0)),
            1
        );
        assert_eq!(
            (h.channels["x"].last_pos, h.channels["x"].lost_through),
            (44, 43)
        );
        // Redis lost the channel: numbering starts again and old positions are dropped.
        h.sync_position("x", 0, true);
        assert_eq!(h.channels["x"].last_pos, 0);
        assert!(h.channels["x"].frames.is_empty());
    }

    #[test]
    fn a_channel_config_change_travels_on_the_channel_and_takes_a_position_without_a_frame() {
        let mut h = hub();
        h.set_shared();
        let id = detached(&mut h, "a", &["x"], at(0.0));
        let _ = h.take_shared();
        let config = crate::hub::ChannelConfig {
            store_history: true,
            history_size: 3,
            ..Default::default()
        };
        h.set_channel_config(&[("x".to_string(), config)].into_iter().collect(), at(1.0));
        let out = published(&mut h);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, Stream::Channel("x".into()));
        // Another node that has `x` with the defaults applies it, at position 1.
        let mut other = hub();
        other.set_shared();
        let _ = detached(&mut other, "b", &["x"], at(0.0));
        let Value::Object(m) = out[0].1.clone() else {
            panic!("an object")
        };
        let x = Stream::Channel("x".into());
        assert_eq!(
            other.apply_published(&x, &m, 1, at(1.0)),
            0,
            "delivered to nobody"
        );
        assert_eq!(other.channels["x"].config, config);
        let text = msg(json!({"channel": "x", "type": "message", "message": {"n": 1}}));
        other.apply_published(&x, &text, 2, at(2.0));
        let ch = &other.channels["x"];
        assert_eq!((ch.last_pos, ch.history.len(), ch.frames.len()), (2, 1, 1));
        let _ = id;
    }
}
