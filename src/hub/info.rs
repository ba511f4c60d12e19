//! Read-only views of the hub for API responses (`server.py` `get_channel_info`,
//! `admin_json`).
//!
//! Why views and not `Value`s: `/info` over 50 000 channels is a 34 MB answer. Built as a
//! `serde_json::Value` tree first (a map node, a `String` per key and per value, every
//! history message parsed back) it held several times its own size until rendered, and
//! left the process that much larger. The types here borrow the hub and implement
//! `Serialize`, so the renderer writes the answer straight from hub state into one
//! buffer; the only allocations per channel are its `&Channel` in the selection and two
//! short strings (`last_active`, `uuid`), and each stored history message is parsed back
//! one at a time while it is written ([`Stored`]'s `Serialize`).
//!
//! Keys are written in sorted order, as the reference renders them (`sort_keys=True`):
//! each `serialize_struct` below lists its fields alphabetically.

use super::channel::{Channel, ChannelConfig};
use super::stored::Stored;
use super::time::{format_uptime, Time};
use super::user::User;
use super::Hub;
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use std::collections::VecDeque;
use std::fmt::Display;

/// What a channel listing includes (`InfoResolutionSchema` after defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoConfig {
    /// Channels to list; `None` lists all.
    pub channels: Option<Vec<String>>,
    /// Include each channel's history.
    pub include_history: bool,
    /// Include each channel's user names and the `users` list.
    pub include_users: bool,
    /// Channels left out.
    pub exclude_channels: Vec<String>,
    /// Show users' public state instead of their whole state.
    pub return_public_state: bool,
}

impl Default for InfoConfig {
    fn default() -> Self {
        InfoConfig {
            channels: None,
            include_history: true,
            include_users: true,
            exclude_channels: Vec::new(),
            return_public_state: false,
        }
    }
}

/// `{"channels": {name: info}, "users": [{"state", "user"}]}`, borrowed from the hub
/// ([`Hub::channels_info`]).
#[derive(Debug)]
pub struct ChannelsInfo<'a> {
    channels: ChannelMap<'a>,
    /// Users present in the listed channels, sorted by name (the reference lists them in
    /// set order); empty without `include_users`.
    users: Vec<&'a User>,
    return_public_state: bool,
}

/// The admin panel's JSON (`admin_json`), borrowed from the hub ([`Hub::admin_info`]).
#[derive(Debug)]
pub struct AdminInfo<'a> {
    hub: &'a Hub,
    channels: ChannelMap<'a>,
    /// Users with at least one connection, sorted by name.
    active: Vec<&'a User>,
    uptime: String,
    version: &'a str,
}

/// `{name: info}` for channels sorted by name, without duplicates.
#[derive(Debug)]
struct ChannelMap<'a> {
    channels: Vec<&'a Channel>,
    include_history: bool,
    include_users: bool,
}

/// One channel as `get_info` renders it ([`Channel::info`]).
#[derive(Debug)]
pub struct ChannelInfo<'a> {
    channel: &'a Channel,
    include_history: bool,
    include_users: bool,
}

impl Hub {
    /// The channel listing `cfg` asks for; render it with `serde` (no copy of hub state is
    /// made).
    pub fn channels_info(&self, cfg: &InfoConfig) -> ChannelsInfo<'_> {
        let mut selected: Vec<&Channel> = match &cfg.channels {
            None => self.channels.values().collect(),
            Some(names) => {
                let mut found: Vec<&Channel> =
                    names.iter().filter_map(|n| self.channels.get(n)).collect();
                found.sort_by(|a, b| a.name.cmp(&b.name));
                found.dedup_by(|a, b| a.name == b.name);
                found
            }
        };
        // Sorted once, so a long exclusion list costs a binary search per channel.
        let mut excluded: Vec<&str> = cfg.exclude_channels.iter().map(String::as_str).collect();
        excluded.sort_unstable();
        selected.retain(|ch| excluded.binary_search(&ch.name.as_str()).is_err());
        let mut users: Vec<&User> = Vec::new();
        if cfg.include_users {
            let mut names: Vec<&str> = selected
                .iter()
                .flat_map(|ch| ch.connections.keys().map(String::as_str))
                .collect();
            names.sort_unstable();
            names.dedup();
            users = names.iter().filter_map(|n| self.users.get(*n)).collect();
        }
        ChannelsInfo {
            channels: ChannelMap {
                channels: selected,
                include_history: cfg.include_history,
                include_users: cfg.include_users,
            },
            users,
            return_public_state: cfg.return_public_state,
        }
    }

    /// The admin panel's JSON at `now`.
    pub fn admin_info<'a>(&'a self, now: Time, version: &'a str) -> AdminInfo<'a> {
        let mut active: Vec<&User> = self
            .users
            .values()
            .filter(|u| !u.connections.is_empty())
            .collect();
        active.sort_by(|a, b| a.username.cmp(&b.username));
        AdminInfo {
            hub: self,
            channels: ChannelMap {
                channels: self.channels.values().collect(),
                include_history: true,
                include_users: true,
            },
            active,
            uptime: format_uptime(now.since(self.started)),
            version,
        }
    }
}

impl Channel {
    /// Channel info as `get_info` renders it.
    pub fn info(&self, include_history: bool, include_users: bool) -> ChannelInfo<'_> {
        ChannelInfo {
            channel: self,
            include_history,
            include_users,
        }
    }
}

impl Serialize for ChannelsInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ChannelsInfo", 2)?;
        st.serialize_field("channels", &self.channels)?;
        st.serialize_field(
            "users",
            &Seq(self.users.iter().map(|u| UserState {
                user: u,
                public: self.return_public_state,
            })),
        )?;
        st.end()
    }
}

impl Serialize for AdminInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hub = self.hub;
        let connections: usize = self.active.iter().map(|u| u.connections.len()).sum();
        let mut st = s.serialize_struct("AdminInfo", 10)?;
        st.serialize_field("channels", &self.channels)?;
        st.serialize_field("remembered_user_count", &hub.users.len())?;
        st.serialize_field("total_channels", &hub.channels.len())?;
        st.serialize_field("total_connections", &connections)?;
        st.serialize_field("total_messages", &hub.stats.total_messages)?;
        st.serialize_field("total_unique_messages", &hub.stats.total_unique_messages)?;
        st.serialize_field("unique_user_count", &self.active.len())?;
        st.serialize_field("uptime", &self.uptime)?;
        st.serialize_field("users", &Seq(self.active.iter().map(|u| AdminUser(u))))?;
        st.serialize_field("version", self.version)?;
        st.end()
    }
}

impl Serialize for ChannelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.channels.len()))?;
        for ch in &self.channels {
            map.serialize_entry(&ch.name, &ch.info(self.include_history, self.include_users))?;
        }
        map.end()
    }
}

impl Serialize for ChannelInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ch = self.channel;
        debug_assert_eq!(
            ch.conn_count,
            ch.connections.values().map(Vec::len).sum::<usize>()
        );
        let empty = VecDeque::new();
        let history: &VecDeque<Stored> = if self.include_history {
            &ch.history
        } else {
            &empty
        };
        let users = if self.include_users {
            ch.connections.len()
        } else {
            0
        };
        let mut st = s.serialize_struct("ChannelInfo", 9)?;
        st.serialize_field("history", history)?;
        st.serialize_field("last_active", &ch.last_active.isoformat())?;
        st.serialize_field("long_name", &None::<()>)?;
        st.serialize_field("name", &ch.name)?;
        st.serialize_field("settings", &ch.config)?;
        st.serialize_field("total_connections", &ch.conn_count)?;
        st.serialize_field("total_users", &users)?;
        st.serialize_field("users", &Seq(ch.connections.keys().take(users)))?;
        st.serialize_field("uuid", &Text(ch.uuid))?;
        st.end()
    }
}

impl Serialize for ChannelConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ChannelConfig", 6)?;
        st.serialize_field(
            "broadcast_presence_with_user_lists",
            &self.broadcast_presence_with_user_lists,
        )?;
        st.serialize_field("history_size", &self.history_size)?;
        st.serialize_field("notify_presence", &self.notify_presence)?;
        st.serialize_field("notify_state", &self.notify_state)?;
        st.serialize_field("store_frames", &self.store_frames)?;
        st.serialize_field("store_history", &self.store_history)?;
        st.end()
    }
}

/// `{"state", "user"}` of the info `users` list: the whole state, or the public part.
struct UserState<'a> {
    user: &'a User,
    public: bool,
}

impl Serialize for UserState<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("UserState", 2)?;
        if self.public {
            st.serialize_field("state", &PublicState(self.user))?;
        } else {
            st.serialize_field("state", &self.user.state)?;
        }
        st.serialize_field("user", &self.user.username)?;
        st.end()
    }
}

/// `{"connections", "state" (public), "user", "uuid"}` of the admin `users` list.
struct AdminUser<'a>(&'a User);

impl Serialize for AdminUser<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut st = s.serialize_struct("AdminUser", 4)?;
        st.serialize_field("connections", &Seq(u.connections.iter().map(|c| Text(*c))))?;
        st.serialize_field("state", &PublicState(u))?;
        st.serialize_field("user", &u.username)?;
        st.serialize_field("uuid", &Text(u.uuid))?;
        st.end()
    }
}

/// A user's state keys listed in `state_public_keys` ([`User::public_state`]), without
/// copying them. The state map is sorted, so the keys come out sorted.
struct PublicState<'a>(&'a User);

impl Serialize for PublicState<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let public = |k: &String| u.state_public_keys.contains(k);
        let mut map = s.serialize_map(None)?;
        for (k, v) in u.state.iter().filter(|(k, _)| public(k)) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A JSON list of an iterator's items, written as they come.
struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

/// A JSON string of something's `Display` form (uuids), written without a `String`.
struct Text<T>(T);

impl<T: Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChannelConfig, ConnectParams};
    use super::*;
    use crate::api::reply::pretty;
    use serde_json::{json, Map, Value};
    use std::time::Duration;

    const T0: Time = Time(1_700_000_000_000_000); // 2023-11-14T22:13:20

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn history_cfg() -> ChannelConfig {
        ChannelConfig {
            store_history: true,
            history_size: 2,
            ..ChannelConfig::default()
        }
    }

    /// `user` (state `{"color": user, "secret": 1}`, `color` public) connects to
    /// `channels`, all created with history kept.
    fn connect(h: &mut Hub, user: &str, channels: &[&str], now: Time) -> super::super::Uuid {
        let p = ConnectParams {
            username: user.into(),
            channels: channels.iter().map(|s| s.to_string()).collect(),
            channel_configs: channels
                .iter()
                .map(|s| (s.to_string(), history_cfg()))
                .collect(),
            state_public_keys: vec!["color".into()],
            user_state: obj(json!({"color": user, "secret": 1})),
            ..ConnectParams::default()
        };
        h.connect(&p, now)
    }

    fn say(h: &mut Hub, channel: &str, text: Value, now: Time) {
        h.pass_message(
            obj(
                json!({"channel": channel, "user": "amy", "uuid": format!("m-{text}"),
                "pm_users": [], "exclude_users": [], "no_history": false,
                "timestamp": "2024-01-01T00:00:00", "message": {"text": text, "n": 2.5}}),
            ),
            now,
        );
    }

    /// amy and bob in `a`, bob also in `b`; `a` keeps the last two of three messages,
    /// `b` one; `empty` has nobody since bob left it; carol is remembered, not connected.
    fn hub() -> Hub {
        let mut h = Hub::new(T0, Duration::from_secs(5), 3);
        connect(&mut h, "bob", &["b", "a", "empty"], T0);
        connect(&mut h, "amy", &["a"], T0);
        let carol = connect(&mut h, "carol", &[], T0);
        h.remove_connections(&[carol], T0);
        let bob = h.users["bob"].connections[0];
        h.unsubscribe(bob, &["empty".into()], T0);
        let later = T0.plus(Duration::from_micros(1_500_000));
        for text in [json!("one"), json!("tw\u{e9} \"2\"\n"), json!(3)] {
            say(&mut h, "a", text, later);
        }
        say(&mut h, "b", json!("bee"), T0);
        h
    }

    fn uuid(h: &Hub, channel: &str) -> String {
        h.channels[channel].uuid.to_string()
    }

    fn stored(channel: &str, text: Value) -> Value {
        json!({"channel": channel, "user": "amy", "uuid": format!("m-{text}"),
            "pm_users": [], "exclude_users": [], "no_history": false,
            "timestamp": "2024-01-01T00:00:00", "message": {"text": text, "n": 2.5},
            "catchup": false, "edited": null, "type": "message"})
    }

    fn settings() -> Value {
        json!({"broadcast_presence_with_user_lists": false, "history_size": 2,
            "notify_presence": false, "notify_state": false, "store_frames": true,
            "store_history": true})
    }

    fn to_value<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or_default()
    }

    #[test]
    fn a_listing_names_each_channel_once_sorted_with_history_and_users() {
        let h = hub();
        let cfg = InfoConfig {
            channels: Some(vec!["b".into(), "a".into(), "nope".into(), "a".into()]),
            ..InfoConfig::default()
        };
        let want = json!({
            "channels": {
                "a": {"history": [stored("a", json!("tw\u{e9} \"2\"\n")), stored("a", json!(3))],
                    "last_active": "2023-11-14T22:13:21.500000", "long_name": null, "name": "a",
                    "settings": settings(), "total_connections": 2, "total_users": 2,
                    "users": ["amy", "bob"], "uuid": uuid(&h, "a")},
                "b": {"history": [stored("b", json!("bee"))],
                    "last_active": "2023-11-14T22:13:20", "long_name": null, "name": "b",
                    "settings": settings(), "total_connections": 1, "total_users": 1,
                    "users": ["bob"], "uuid": uuid(&h, "b")},
            },
            "users": [
                {"state": {"color": "amy", "secret": 1}, "user": "amy"},
                {"state": {"color": "bob", "secret": 1}, "user": "bob"},
            ],
        });
        assert_eq!(to_value(&h.channels_info(&cfg)), want);
    }

    #[test]
    fn a_listing_leaves_out_excluded_channels_history_users_and_private_state() {
        let h = hub();
        let bare = InfoConfig {
            exclude_channels: vec!["zz".into(), "b".into(), "0".into()],
            include_history: false,
            include_users: false,
            ..InfoConfig::default()
        };
        let channel = |name: &str, active: &str, conns: usize| {
            json!({"history": [], "last_active": active, "long_name": null, "name": name,
                "settings": settings(), "total_connections": conns, "total_users": 0,
                "users": [], "uuid": uuid(&h, name)})
        };
        assert_eq!(
            to_value(&h.channels_info(&bare)),
            json!({"channels": {
                "a": channel("a", "2023-11-14T22:13:21.500000", 2),
                "empty": channel("empty", "2023-11-14T22:13:20", 0),
            }, "users": []})
        );
        let public = InfoConfig {
            channels: Some(vec!["b".into()]),
            return_public_state: true,
            ..InfoConfig::default()
        };
        assert_eq!(
            to_value(&h.channels_info(&public))["users"],
            json!([{"state": {"color": "bob"}, "user": "bob"}])
        );
    }

    #[test]
    fn admin_info_lists_every_channel_and_the_connected_users() {
        let h = hub();
        let now = T0.plus(Duration::from_secs(90_061));
        let got = to_value(&h.admin_info(now, "0.7.1"));
        let all = to_value(&h.channels_info(&InfoConfig::default()));
        assert_eq!(got["channels"], all["channels"]);
        let user = |name: &str| {
            let u = &h.users[name];
            let conns: Vec<String> = u.connections.iter().map(ToString::to_string).collect();
            json!({"connections": conns, "state": {"color": name}, "user": name,
                "uuid": u.uuid.to_string()})
        };
        let mut want = json!({
            "remembered_user_count": 3, "total_channels": 3, "total_connections": 2,
            "total_messages": 7, "total_unique_messages": 4, "unique_user_count": 2,
            "uptime": "1 day, 1:01:01", "users": [user("amy"), user("bob")],
            "version": "0.7.1",
        });
        want["channels"] = all["channels"].clone();
        assert_eq!(got, want);
        assert_eq!(got["channels"]["empty"]["total_connections"], 0);
    }

    /// The views are written in the order they are declared, a `Value` in sorted key order:
    /// equal bytes mean every key is where the reference's `sort_keys` puts it.
    #[test]
    fn rendered_views_are_byte_identical_to_rendered_values() {
        let h = hub();
        let cfgs = [
            InfoConfig::default(),
            InfoConfig {
                return_public_state: true,
                include_history: false,
                ..InfoConfig::default()
            },
            InfoConfig {
                channels: Some(vec!["empty".into(), "nope".into()]),
                include_users: false,
                ..InfoConfig::default()
            },
        ];
        for cfg in &cfgs {
            let view = h.channels_info(cfg);
            assert_eq!(
                String::from_utf8_lossy(&pretty(&view)),
                String::from_utf8_lossy(&pretty(&to_value(&view))),
                "{cfg:?}"
            );
        }
        let admin = h.admin_info(T0, "0.7.1");
        assert_eq!(pretty(&admin), pretty(&to_value(&admin)));
    }

    #[test]
    fn a_small_listing_renders_to_these_exact_bytes() {
        let mut h = Hub::new(T0, Duration::from_secs(5), 3);
        connect(&mut h, "amy", &["a"], T0);
        h.users.get_mut("amy").map(|u| u.state.remove("secret"));
        h.pass_message(
            obj(json!({"channel": "a", "message": {"t": "\u{e9}", "e": []}})),
            T0,
        );
        let want = format!(
            r#"{{
    "channels": {{
        "a": {{
            "history": [
                {{
                    "catchup": false,
                    "channel": "a",
                    "edited": null,
                    "message": {{
                        "e": [],
                        "t": "é"
                    }},
                    "type": "message"
                }}
            ],
            "last_active": "2023-11-14T22:13:20",
            "long_name": null,
            "name": "a",
            "settings": {{
                "broadcast_presence_with_user_lists": false,
                "history_size": 2,
                "notify_presence": false,
                "notify_state": false,
                "store_frames": true,
                "store_history": true
            }},
            "total_connections": 1,
            "total_users": 1,
            "users": [
                "amy"
            ],
            "uuid": "{}"
        }}
    }},
    "users": [
        {{
            "state": {{
                "color": "amy"
            }},
            "user": "amy"
        }}
    ]
}}"#,
            uuid(&h, "a")
        );
        let info = h.channels_info(&InfoConfig::default());
        assert_eq!(String::from_utf8_lossy(&pretty(&info)), want);
    }
}
