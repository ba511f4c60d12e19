//! Saving and restoring the hub's durable state as JSON: users (state, public keys,
//! private frames), channels (settings, history, frames) and counters. Connections are
//! not saved: they belong to sockets that do not survive a restart, so clients
//! `/connect` again. Pure: the app reads and writes the file.

use super::channel::{Channel, ChannelConfig};
use super::id::Uuid;
use super::stored::{Frames, Stored};
use super::time::Time;
use super::user::User;
use super::Hub;
use serde_json::{json, Value};

/// Format version written into every snapshot.
const VERSION: u64 = 1;

/// Why a snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad state snapshot: {}", self.0)
    }
}

fn frames_json(frames: &Frames) -> Value {
    Value::Array(
        frames
            .iter()
            .map(|(t, m)| json!([t.0, m.value()]))
            .collect(),
    )
}

fn frames_from(v: &Value) -> Result<Frames, SnapshotError> {
    let bad = || SnapshotError("frames must be [[time, object], ...]".into());
    let list = v.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|f| match f.as_array().map(Vec::as_slice) {
            Some([Value::Number(t), Value::Object(m)]) => {
                Ok((Time(t.as_u64().ok_or_else(bad)?), Stored::new(m)))
            }
            _ => Err(bad()),
        })
        .collect()
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, SnapshotError> {
    v.get(key)
        .ok_or_else(|| SnapshotError(format!("missing {key}")))
}

fn string(v: &Value, key: &str) -> Result<String, SnapshotError> {
    field(v, key)?
        .as_str()
        .map(String::from)
        .ok_or_else(|| SnapshotError(format!("{key} must be a string")))
}

fn uint(v: &Value, key: &str) -> Result<u64, SnapshotError> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| SnapshotError(format!("{key} must be an unsigned integer")))
}

fn uuid(v: &Value, key: &str) -> Result<Uuid, SnapshotError> {
    Uuid::parse(&string(v, key)?).ok_or_else(|| SnapshotError(format!("{key} must be a uuid")))
}

impl Hub {
    /// The durable state as JSON.
    pub fn snapshot(&self) -> Value {
        let mut users: Vec<&User> = self.users.values().collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let users: Vec<Value> = users
            .iter()
            .map(|u| {
                json!({"username": u.username, "uuid": u.uuid.to_string(), "state": u.state,
                    "state_public_keys": u.state_public_keys, "last_active": u.last_active.0,
                    "frames": frames_json(&u.frames)})
            })
            .collect();
        let channels: Vec<Value> = self
            .channels
            .values()
            .map(|c| {
                let history: Vec<Value> = c.history.iter().map(Stored::value).collect();
                json!({"name": c.name, "uuid": c.uuid.to_string(), "settings": c.config.to_json(),
                    "last_active": c.last_active.0, "history": history, "frames": frames_json(&c.frames)})
            })
            .collect();
        json!({
            "version": VERSION,
            "users": users,
            "channels": channels,
            "stats": {"total_messages": self.stats.total_messages,
                      "total_unique_messages": self.stats.total_unique_messages},
        })
    }

    /// Replaces users, channels and counters with those of `snap`. Nothing changes on
    /// error.
    pub fn restore(&mut self, snap: &Value) -> Result<(), SnapshotError> {
        if uint(snap, "version")? != VERSION {
            return Err(SnapshotError("unknown version".into()));
        }
        let mut users = std::collections::HashMap::new();
        for u in field(snap, "users")?.as_array().into_iter().flatten() {
            let mut user = User::new(
                uuid(u, "uuid")?,
                &string(u, "username")?,
                Time(uint(u, "last_active")?),
            );
            user.state = field(u, "state")?
                .as_object()
                .cloned()
                .ok_or_else(|| SnapshotError("state".into()))?;
            user.state_public_keys = field(u, "state_public_keys")?
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .ok_or_else(|| SnapshotError("state_public_keys".into()))?;
            user.frames = frames_from(field(u, "frames")?)?;
            users.insert(user.username.clone(), user);
        }
        let mut channels = std::collections::BTreeMap::new();
        for c in field(snap, "channels")?.as_array().into_iter().flatten() {
            let s = field(c, "settings")?;
            let flag = |k: &str| {
                s.get(k)
                    .and_then(Value::as_bool)
                    .ok_or_else(|| SnapshotError(format!("settings.{k}")))
            };
            let config = ChannelConfig {
                notify_presence: flag("notify_presence")?,
                store_history: flag("store_history")?,
                history_size: uint(s, "history_size")?,
                broadcast_presence_with_user_lists: flag("broadcast_presence_with_user_lists")?,
                notify_state: flag("notify_state")?,
                store_frames: flag("store_frames")?,
            };
            let name = string(c, "name")?;
            let mut ch = Channel::new(
                uuid(c, "uuid")?,
                &name,
                config,
                Time(uint(c, "last_active")?),
            );
            ch.history = field(c, "history")?
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_object().map(Stored::new))
                        .collect()
                })
                .ok_or_else(|| SnapshotError("history".into()))?;
            ch.frames = frames_from(field(c, "frames")?)?;
            channels.insert(name, ch);
        }
        let stats = field(snap, "stats")?;
        self.stats.total_messages = uint(stats, "total_messages")?;
        self.stats.total_unique_messages = uint(stats, "total_unique_messages")?;
        self.users = users;
        self.channels = channels;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::ConnectParams;
    use std::time::Duration;

    #[test]
    fn snapshot_round_trips_users_channels_and_counters() {
        let t = Time(1_700_000_000_000_000);
        let mut h = Hub::new(t, Duration::from_secs(5), 3);
        let cfg = ChannelConfig {
            store_history: true,
            history_size: 3,
            ..Default::default()
        };
        let p = ConnectParams {
            username: "u".into(),
            channels: vec!["room".into()],
            channel_configs: [("room".to_string(), cfg)].into_iter().collect(),
            user_state: json!({"a": 1}).as_object().cloned().unwrap_or_default(),
            state_public_keys: vec!["a".into()],
            ..Default::default()
        };
        h.connect(&p, t);
        let msg = json!({"channel": "room", "user": "u", "pm_users": [], "exclude_users": [], "no_history": false});
        h.pass_message(msg.as_object().cloned().unwrap_or_default(), t);
        let pm = json!({"channel": null, "user": "x", "pm_users": ["u"], "exclude_users": [], "no_history": false});
        h.pass_message(pm.as_object().cloned().unwrap_or_default(), t);
        let snap = h.snapshot();

        let mut restored = Hub::new(t, Duration::from_secs(5), 4);
        assert_eq!(restored.restore(&snap), Ok(()));
        assert_eq!(restored.snapshot(), snap);
        assert!(
            restored.connections.is_empty(),
            "connections are not restored"
        );
        assert!(restored.channels["room"].connections.is_empty());
        assert_eq!(
            restored.users["u"].public_state(),
            h.users["u"].public_state()
        );
        assert_eq!(restored.stats, h.stats);
    }

    #[test]
    fn restore_refuses_malformed_snapshots_and_keeps_state() {
        let t = Time(0);
        let mut h = Hub::new(t, Duration::from_secs(5), 3);
        h.connect(
            &ConnectParams {
                username: "keep".into(),
                ..Default::default()
            },
            t,
        );
        for bad in [
            json!({}),
            json!({"version": 2}),
            json!({"version": 1, "users": [{"username": 5}]}),
        ] {
            assert!(h.restore(&bad).is_err(), "{bad}");
            assert!(h.users.contains_key("keep"));
        }
    }
}
