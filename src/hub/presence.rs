//! Presence and server-made channel messages (`channel.py` `add_connection`,
//! `after_parted`, `send_notify_presence_info`). Pure.

use super::connection::reserve_first;
use super::id::Uuid;
use super::shared::Shared;
use super::time::Time;
use super::user::User;
use super::Hub;
use serde_json::{json, Map, Value};

impl Hub {
    /// `Channel.add_connection`: adds `conn` and announces the user if they were absent.
    /// False if the connection was already there.
    pub(super) fn join(&mut self, name: &str, username: &str, conn: Uuid, now: Time) -> bool {
        let Some(ch) = self.channels.get_mut(name) else {
            return false;
        };
        let conns = ch.connections.entry(username.to_string()).or_default();
        let first = conns.is_empty();
        if conns.contains(&conn) {
            return false;
        }
        reserve_first(conns);
        conns.push(conn);
        ch.conn_count += 1;
        let pos = ch.last_pos;
        let positions = match self.connections.get_mut(&conn) {
            Some(c) => {
                c.joined(name);
                c.positions
            }
            None => false,
        };
        if positions {
            self.tell_position(conn, name, pos, now);
        }
        if self.share(|| Shared::Join {
            channel: name.to_string(),
            user: username.to_string(),
            conn,
        }) {
            // Redis counts the user's connections over every node and says whether
            // this is the first (`Hub::announce_presence`).
            return true;
        }
        let Some(ch) = self.channels.get(name) else {
            return true;
        };
        if first && ch.config.notify_presence {
            self.presence(name, username, "joined", now);
        }
        true
    }

    /// `Channel.after_parted`: forgets a user left with no connections, announcing it.
    pub(super) fn after_parted(&mut self, name: &str, username: &str, now: Time) {
        let Some(ch) = self.channels.get_mut(name) else {
            return;
        };
        if ch.connections.get(username).is_some_and(Vec::is_empty) {
            ch.connections.remove(username);
            if ch.config.notify_presence && self.shared.is_none() {
                self.presence(name, username, "parted", now);
            }
        }
    }

    /// Shared mode: Redis says `username` joined or parted channel `name` over every
    /// node: announced as [`Hub::join`] and [`Hub::after_parted`] do on a single node.
    pub fn announce_presence(&mut self, name: &str, username: &str, joined: bool, now: Time) {
        if self
            .channels
            .get(name)
            .is_some_and(|c| c.config.notify_presence)
        {
            let action = if joined { "joined" } else { "parted" };
            self.presence(name, username, action, now);
        }
    }

    /// `send_notify_presence_info`.
    fn presence(&mut self, name: &str, username: &str, action: &str, now: Time) {
        let Some(ch) = self.channels.get(name) else {
            return;
        };
        let mut users = Vec::new();
        if ch.config.broadcast_presence_with_user_lists {
            for u in ch.connections.keys() {
                let state = self
                    .users
                    .get(u)
                    .map(User::public_state)
                    .unwrap_or_default();
                users.push(json!({"user": u, "state": state}));
            }
        }
        let exclude = [username.to_string()];
        let mut msg = self.base_payload("presence", username, name, &exclude, now);
        let state = match action {
            "joined" => self
                .users
                .get(username)
                .map(|u| Value::Object(u.public_state())),
            _ => None,
        };
        msg.insert("users".into(), Value::Array(users));
        msg.insert("message".into(), json!({"action": action}));
        msg.insert("state".into(), state.unwrap_or(Value::Null));
        self.channel_message(name, &msg, now);
    }

    /// The keys every server-made channel message has.
    pub(super) fn base_payload(
        &mut self,
        kind: &str,
        username: &str,
        channel: &str,
        exclude: &[String],
        now: Time,
    ) -> Map<String, Value> {
        let uuid = self.new_uuid().to_string();
        let v = json!({
            "uuid": uuid, "type": kind, "no_history": false, "pm_users": [],
            "exclude_users": exclude, "user": username, "timestamp": now.isoformat(),
            "channel": channel, "catchup": false,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}
