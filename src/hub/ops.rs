//! The API's operations on the hub (`operations.py`) and user-state notifications
//! (`channel.py` `send_user_state`); presence is in `presence.rs`. Callers validate input first (see `crate::api`).

use super::channel::{Channel, ChannelConfig};
use super::connection::{reserve_first, Connection, Target};
use super::id::Uuid;
use super::message::{str_field, str_list};
use super::shared::{Shared, Stream};
use super::shared_user::changes_as_map;
use super::stored::{delete_message_frame, edit_message_frame};
use super::time::Time;
use super::user::User;
use super::{Effect, Hub};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How far back `mark_for_gc` moves a connection's activity (`connection.py`).
pub const GC_MARK_SHIFT: Duration = Duration::from_secs(60 * 86_400);

/// What `POST /connect` asks for, validated.
#[derive(Clone, Debug, Default)]
pub struct ConnectParams {
    /// The user.
    pub username: String,
    /// Connection id to use; `None` makes a new one.
    pub conn_id: Option<Uuid>,
    /// Channels to join (created on demand).
    pub channels: Vec<String>,
    /// Replaces the user's public keys (the reference always does: default `[]`).
    pub state_public_keys: Vec<String>,
    /// State for a user the server does not know yet.
    pub fresh_user_state: Map<String, Value>,
    /// State updates applied in any case.
    pub user_state: Map<String, Value>,
    /// Settings for channels created by this call.
    pub channel_configs: BTreeMap<String, ChannelConfig>,
}

impl Hub {
    /// `operations.connect`. Returns the connection id.
    ///
    /// Differs from the reference on a repeated `conn_id`: the existing connection is
    /// reused (same owner) or replaced (other owner) instead of duplicated.
    pub fn connect(&mut self, p: &ConnectParams, now: Time) -> Uuid {
        let new_here = !self.users.contains_key(&p.username);
        let mut changes = Vec::new();
        if new_here {
            let mut user = User::new(self.new_uuid(), &p.username, now);
            changes = user.update_state(&p.fresh_user_state);
            self.users.insert(p.username.clone(), user);
            self.share(|| Shared::Watch(Stream::User(p.username.clone())));
        }
        let mut keys_changed = false;
        if let Some(u) = self.users.get_mut(&p.username) {
            keys_changed = u.state_public_keys != p.state_public_keys;
            u.state_public_keys = p.state_public_keys.clone();
            changes.extend(u.update_state(&p.user_state));
            u.last_active = now;
        }
        // Shared mode: what this connect did to the user travels on the user's stream
        // and into Redis's copy of the user (`shared_user.rs`), so every node shows it.
        if new_here || keys_changed || !changes.is_empty() {
            self.share(|| {
                let state = changes_as_map(&changes);
                Shared::user_state(&p.username, &state, Some(p.state_public_keys.clone()))
            });
        }
        let id = p.conn_id.unwrap_or_else(|| self.new_uuid());
        let same_owner = self.connections.get(&id).map(|c| c.username == p.username);
        match same_owner {
            Some(true) => {
                if let Some(c) = self.connections.get_mut(&id) {
                    c.last_active = now;
                    c.disconnected = false;
                }
            }
            Some(false) => {
                self.remove_connections(&[id], now);
                self.connections
                    .insert(id, Connection::new(id, &p.username, now));
            }
            None => {
                self.connections
                    .insert(id, Connection::new(id, &p.username, now));
            }
        }
        if let Some(u) = self.users.get_mut(&p.username) {
            if !u.connections.contains(&id) {
                reserve_first(&mut u.connections);
                u.connections.push(id);
            }
        }
        let mut channels = p.channels.clone();
        channels.sort();
        for name in &channels {
            self.ensure_channel(name, p.channel_configs.get(name), now);
            self.join(name, &p.username, id, now);
        }
        self.share(|| Shared::Conn(id));
        id
    }

    /// `operations.subscribe`: the channels newly joined, in request order.
    pub fn subscribe(
        &mut self,
        conn: Uuid,
        channels: &[String],
        configs: &BTreeMap<String, ChannelConfig>,
        now: Time,
    ) -> Vec<String> {
        let Some(username) = self.connections.get(&conn).map(|c| c.username.clone()) else {
            return Vec::new();
        };
        if !self.users.contains_key(&username) {
            return Vec::new();
        }
        let mut joined = Vec::new();
        for name in channels {
            self.ensure_channel(name, configs.get(name), now);
            if self.join(name, &username, conn, now) {
                joined.push(name.clone());
            }
        }
        self.share(|| Shared::Conn(conn));
        joined
    }

    /// `operations.unsubscribe`: the channels left, in request order. Unlike the
    /// reference, leaving a channel the user is not in sends no `parted` presence.
    pub fn unsubscribe(&mut self, conn: Uuid, channels: &[String], now: Time) -> Vec<String> {
        let Some(username) = self.connections.get(&conn).map(|c| c.username.clone()) else {
            return Vec::new();
        };
        if !self.users.contains_key(&username) {
            return Vec::new();
        }
        let mut left = Vec::new();
        for name in channels {
            let Some(ch) = self.channels.get_mut(name) else {
                continue;
            };
            let Some(conns) = ch.connections.get_mut(&username) else {
                continue;
            };
            let Some(i) = conns.iter().position(|c| *c == conn) else {
                continue;
            };
            conns.remove(i);
            ch.conn_count = ch.conn_count.saturating_sub(1);
            self.share(|| Shared::Leave {
                channel: name.clone(),
                user: username.clone(),
                conn,
            });
            if let Some(c) = self.connections.get_mut(&conn) {
                c.left(name);
            }
            left.push(name.clone());
            self.after_parted(name, &username, now);
        }
        self.share(|| Shared::Conn(conn));
        left
    }

    /// The user-state part of `POST /user_state` (`change_user_state`): sets public keys
    /// if given, applies `state`, notifies `notify_state` channels; returns the changes.
    pub fn change_user_state(
        &mut self,
        username: &str,
        state: &Map<String, Value>,
        public_keys: Option<Vec<String>>,
        now: Time,
    ) -> Vec<Value> {
        let Some(u) = self.users.get_mut(username) else {
            return Vec::new();
        };
        if let Some(keys) = &public_keys {
            u.state_public_keys = keys.clone();
        }
        let changed = u.update_state(state);
        u.last_active = now;
        // Only the keys that changed: Redis's copy must hold what the nodes hold
        // (`True` does not replace `1`).
        self.share(|| Shared::user_state(username, &changes_as_map(&changed), public_keys));
        let Some(u) = self.users.get(username) else {
            return changed;
        };
        if changed.is_empty() {
            return changed;
        }
        let public = u.public_state();
        let public_changed: Vec<Value> = changed
            .iter()
            .filter(|c| c["key"].as_str().is_some_and(|k| public.contains_key(k)))
            .cloned()
            .collect();
        let names: Vec<String> = self
            .channels
            .values()
            .filter(|c| c.config.notify_state && c.connections.contains_key(username))
            .map(|c| c.name.clone())
            .collect();
        for name in names {
            let mut msg = self.base_payload("user_state_change", username, &name, &[], now);
            msg.insert(
                "message".into(),
                json!({"state": public, "changed": public_changed}),
            );
            self.channel_message(&name, &msg, now);
        }
        changed
    }

    /// `operations.disconnect`: marks the connection for collection; false if unknown.
    pub fn disconnect(&mut self, conn: Uuid) -> bool {
        match self.connections.get_mut(&conn) {
            Some(c) => {
                c.last_active = c.last_active.minus(GC_MARK_SHIFT);
                c.disconnected = true;
                true
            }
            None => false,
        }
    }

    /// `operations.set_channel_config`: creates or reconfigures each channel. In shared
    /// mode each config is also published on the channel's stream, for every node.
    pub fn set_channel_config(&mut self, configs: &BTreeMap<String, ChannelConfig>, now: Time) {
        for (name, config) in configs {
            match self.channels.get_mut(name) {
                Some(ch) => ch.config = *config,
                None => self.ensure_channel(name, Some(config), now),
            }
            self.share(|| Shared::channel_config(name, config));
        }
    }

    /// `operations.pass_message` for one validated message object.
    pub fn pass_message(&mut self, mut msg: Map<String, Value>, now: Time) {
        msg.insert("catchup".into(), json!(false));
        // `POST /message` validation already put `edited: null` there: set in place, as
        // a new key would be a string made and dropped per message.
        match msg.get_mut("edited") {
            Some(edited) => *edited = Value::Null,
            None => {
                msg.insert("edited".into(), Value::Null);
            }
        }
        msg.insert("type".into(), json!("message"));
        self.stats.total_unique_messages += 1;
        let sent = self.route(&msg, now, |_, _| {});
        self.stats.total_messages += sent;
    }

    /// `operations.edit_message`: updates the stored message, then emits `message:edit`.
    pub fn edit_message(&mut self, edit: Map<String, Value>, now: Time) {
        let mut altered = edit.clone();
        altered.insert("type".into(), json!("message:edit"));
        self.route(&altered, now, |hub, target| match target {
            Route::Channel(name) => {
                if let Some(ch) = hub.channels.get_mut(name) {
                    ch.edit_stored(&edit);
                }
            }
            Route::User(name) => {
                if let Some(u) = hub.users.get_mut(name) {
                    edit_message_frame(&mut u.frames, &edit);
                }
            }
        });
    }

    /// `operations.delete_message`: drops the stored message, then emits `message:delete`.
    pub fn delete_message(&mut self, del: Map<String, Value>, now: Time) {
        let uuid = del.get("uuid").cloned().unwrap_or(Value::Null);
        let mut deleted = del;
        deleted.insert("type".into(), json!("message:delete"));
        self.route(&deleted, now, |hub, target| match target {
            Route::Channel(name) => {
                if let Some(ch) = hub.channels.get_mut(name) {
                    ch.delete_stored(&uuid);
                }
            }
            Route::User(name) => {
                if let Some(u) = hub.users.get_mut(name) {
                    delete_message_frame(&mut u.frames, &uuid);
                }
            }
        });
    }

    /// Sends `msg` to its channel, or else privately to each of its `pm_users`, calling
    /// `before` on each destination first. Returns the deliveries made.
    fn route(
        &mut self,
        msg: &Map<String, Value>,
        now: Time,
        before: impl Fn(&mut Hub, Route),
    ) -> u64 {
        if self.share_routed(msg) {
            // Applied (`before` included) when Redis publishes it back.
            return 0;
        }
        if let Some(channel) = str_field(msg, "channel").filter(|c| !c.is_empty()) {
            if !self.channels.contains_key(channel) {
                return 0;
            }
            before(self, Route::Channel(channel));
            return self.channel_message(channel, msg, now);
        }
        let mut sent = 0;
        for name in str_list(msg, "pm_users") {
            if self.users.contains_key(&name) {
                before(self, Route::User(&name));
                sent += self.user_message(&name, msg, now);
            }
        }
        sent
    }

    /// Creates channel `name` with `config` (or the defaults) unless it exists.
    pub(super) fn ensure_channel(&mut self, name: &str, config: Option<&ChannelConfig>, now: Time) {
        if !self.channels.contains_key(name) {
            let ch = Channel::new(
                self.new_uuid(),
                name,
                config.copied().unwrap_or_default(),
                now,
            );
            let config = ch.config;
            self.channels.insert(name.to_string(), ch);
            self.share(|| Shared::Watch(Stream::Channel(name.to_string())));
            self.share(|| Shared::Created(name.to_string(), config));
        }
    }

    /// Removes connections everywhere (`gc.py` `gc_conns`): channels (with `parted`
    /// presence), users, the connection table; closes websockets and answers polls.
    pub(super) fn remove_connections(&mut self, ids: &[Uuid], now: Time) {
        // Each connection lists its channels, so this visits only those (a scan of every
        // channel for every batch of ids was quadratic when thousands closed at once).
        let mut touched: Vec<(String, String)> = Vec::new();
        for id in ids {
            let Some(c) = self.connections.get(id) else {
                continue;
            };
            for name in &c.channels {
                let Some(ch) = self.channels.get_mut(name) else {
                    continue;
                };
                let Some(conns) = ch.connections.get_mut(&c.username) else {
                    continue;
                };
                let before = conns.len();
                conns.retain(|x| x != id);
                if conns.len() != before {
                    ch.conn_count = ch.conn_count.saturating_sub(before - conns.len());
                    touched.push((name.clone(), c.username.clone()));
                    if let Some(out) = &mut self.shared {
                        out.push(Shared::Leave {
                            channel: name.clone(),
                            user: c.username.clone(),
                            conn: *id,
                        });
                    }
                }
            }
        }
        // Presence goes out in channel, then user order, as a scan of the channels gave.
        touched.sort();
        touched.dedup();
        for (channel, user) in touched {
            self.after_parted(&channel, &user, now);
        }
        for id in ids {
            let Some(c) = self.connections.remove(id) else {
                continue;
            };
            if let Some(u) = self.users.get_mut(&c.username) {
                u.connections.retain(|x| x != id);
            }
            self.release_target(c.target);
        }
    }

    /// Lets go of a delivery target: a websocket is closed (1000, as ws4py's `close()`),
    /// a waiting poll is answered with what it gathered.
    pub(super) fn release_target(&mut self, target: Target) {
        match target {
            Target::Detached | Target::BetweenPolls(_) => {}
            Target::Ws(conn) => {
                self.attached.remove(&conn);
                self.ws_slices.leave(conn);
                self.effects.push(Effect::Close { conn, code: 1000 });
            }
            Target::Poll(p) => {
                self.attached.remove(&p.http);
                let body = super::list_of(&p.messages);
                self.effects.push(Effect::Answer {
                    http: p.http,
                    reply: p.reply,
                    body,
                });
            }
        }
    }
}

/// Where a routed message is going.
enum Route<'a> {
    Channel(&'a str),
    User(&'a str),
}
