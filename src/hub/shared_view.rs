//! Shared mode: `/info` as every node would answer it (`docs/SCALING.md`). The hub
//! thread's bridge reads each listed channel's presence, numbering and stored frames
//! from Redis ([`SharedChannel`]); [`Hub::shared_view`] turns them, with what this node
//! holds, into a small hub of those channels alone, which renders the answer with the
//! same code as a single node's (`info.rs`). Nothing here touches Redis or this node's
//! state.

use super::channel::{Channel, ChannelConfig};
use super::connection::reserve_first;
use super::id::Uuid;
use super::shared_user::SharedUser;
use super::time::Time;
use super::user::User;
use super::Hub;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::Duration;

/// One channel as Redis knows it.
#[derive(Debug, Default)]
pub struct SharedChannel {
    /// Its name.
    pub name: String,
    /// Its connections over every node: (user, connection).
    pub presence: Vec<(String, Uuid)>,
    /// Its last sequence number; `None`: nothing was ever published to it.
    pub top: Option<u64>,
    /// Its config as Redis keeps it (the last one set), if any.
    pub config: Option<ChannelConfig>,
    /// Its stored frames in its current epoch, oldest first: (seq, stored at, message).
    pub frames: Vec<(u64, Time, Map<String, Value>)>,
}

impl Hub {
    /// A hub with nothing in it: the shared listing when Redis knows no channel.
    pub fn empty_view() -> Hub {
        Hub::new(Time(0), Duration::from_secs(1), 0)
    }

    /// A hub holding only `channels`, as Redis knows them, and their users, for a
    /// listing the same on every node: users and connections are Redis's presence; the
    /// config and history are this node's when it has the channel (it records the
    /// channel's messages in Redis's order, as every node does), else those of the
    /// stored frames. A channel neither here nor in Redis is left out, as a single node
    /// leaves out a channel it does not have. Users keep the state this node knows of
    /// them (state changes travel to the nodes that know a user); a user this node does
    /// not hold has the state of `users`, Redis's copy, or an empty one if Redis has none.
    pub fn shared_view(
        &mut self,
        channels: Vec<SharedChannel>,
        users: &HashMap<String, SharedUser>,
        now: Time,
    ) -> Hub {
        let mut view = Hub::new(self.started, Duration::from_secs(1), 0);
        view.started = self.started;
        for shared in channels {
            let local = self.channels.get(&shared.name);
            if local.is_none() && shared.presence.is_empty() && shared.top.is_none() {
                continue;
            }
            let mut ch = match local {
                Some(l) => {
                    let mut ch = Channel::new(l.uuid, &l.name, l.config, l.last_active);
                    ch.history = l.history.clone();
                    ch
                }
                None => {
                    let mut ch = Channel::new(
                        self.new_uuid(),
                        &shared.name,
                        shared.config.unwrap_or_default(),
                        now,
                    );
                    ch.preload(shared.top.unwrap_or(0), shared.frames);
                    ch
                }
            };
            for (user, conn) in shared.presence {
                let conns = ch.connections.entry(user.clone()).or_default();
                if conns.contains(&conn) {
                    continue;
                }
                reserve_first(conns);
                conns.push(conn);
                ch.conn_count += 1;

                if let std::collections::hash_map::Entry::Vacant(slot) =
                    view.users.entry(user.clone())
                {
                    let name = slot.key().clone();
                    let copy = match self.users.get(&name) {
                        Some(u) => {
                            let mut copy = User::new(u.uuid, &name, now);
                            copy.state = u.state.clone();
                            copy.state_public_keys = u.state_public_keys.clone();
                            copy
                        }
                        None => {
                            let mut copy = User::new(self.new_uuid(), &name, now);
                            if let Some(shared) = users.get(&name) {
                                copy.state = shared.state.clone();
                                copy.state_public_keys = shared.public_keys.clone();
                            }
                            copy
                        }
                    };
                    slot.insert(copy);
                }
                if let Some(u) = view.users.get_mut(&user) {
                    if !u.connections.contains(&conn) {
                        u.connections.push(conn);
                    }
                }
            }
            if let Some(config) = shared.config {
                ch.config = config;
            }
            view.channels.insert(ch.name.clone(), ch);
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, detached, hub, msg};
    use super::super::InfoConfig;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shared_view_lists_redis_presence_with_local_or_redis_state_and_stored_history() {
        let mut h = hub();
        let _ = detached(&mut h, "amy", &["here"], at(0.0));
        h.users
            .get_mut("amy")
            .map(|u| u.state.insert("mood".into(), json!("ok")));
        let conn = Uuid;
        let stored = |n: u64| {
            let m = msg(json!({"channel": "there", "type": "message", "message": {"n": n}}));
            (n, at(0.0), m)
        };
        let config = msg(json!({"type": "channel_config", "config":
            {"notify_presence": false, "store_history": true, "history_size": 1,
             "broadcast_presence_with_user_lists": false, "notify_state": false,
             "store_frames": true}}));
        let channels = vec![
            SharedChannel {
                name: "here".into(),
                presence: vec![("amy".into(), conn(1)), ("bob".into(), conn(2))],
                top: Some(0),
                config: None,
                frames: vec![],
            },
            SharedChannel {
                name: "there".into(),
                presence: vec![("bob".into(), conn(2))],
                top: Some(3),
                config: None,
                frames: vec![(1, at(0.0), config), stored(2), stored(3)],
            },
            SharedChannel {
                name: "nowhere".into(),
                ..SharedChannel::default()
            },
        ];
        // Redis's copies: bob's is the one shown; amy is held here, her state is ours.
        let copy = |state: Value| SharedUser {
            state: state.as_object().cloned().unwrap_or_default(),
            public_keys: vec![],
            public_keys_known: false,
        };
        let users: HashMap<String, SharedUser> = [
            ("bob".to_string(), copy(json!({"away": true}))),
            ("amy".to_string(), copy(json!({"mood": "stale"}))),
        ]
        .into_iter()
        .collect();
        let mut view = h.shared_view(channels, &users, at(1.0));
        let all = InfoConfig {
            channels: Some(vec!["here".into(), "there".into(), "nowhere".into()]),
            ..InfoConfig::default()
        };
        let got = serde_json::to_value(view.channels_info(&all)).expect("json");
        assert_eq!(got["channels"]["here"]["users"], json!(["amy", "bob"]));
        assert_eq!(got["channels"]["here"]["total_connections"], 2);
        assert_eq!(got["channels"]["there"]["settings"]["history_size"], 1);
        let history: Vec<&Value> = got["channels"]["there"]["history"]
            .as_array()
            .map(|h| h.iter().map(|m| &m["message"]["n"]).collect())
            .unwrap_or_default();
        assert_eq!(history, [&json!(3)]);
        assert!(got["channels"].get("nowhere").is_none(), "{got}");
        assert_eq!(
            got["users"],
            json!([{"user": "amy", "state": {"mood": "ok"}},
                   {"user": "bob", "state": {"away": true}}])
        );
        let _ = view.take_effects();
    }
}
