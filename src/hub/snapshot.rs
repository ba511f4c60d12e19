//! Saving and restoring the hub's durable state as JSON: users (state, public keys,
//! private frames), channels (settings, history, frames) and counters. Connections are
//! not saved: they belong to sockets that do not survive a restart, so clients
//! `/connect` again. Pure: the app reads and writes the file.
//!
//! The `Saved*` types are the file format, derived with serde; they are kept apart from
//! the hub's own types so that a change to the hub cannot silently change the format.
//! `tests/fixtures/state_v1_release_0.1.0.json` is a file written by release 0.1.0 and
//! must keep loading.

use super::channel::{Channel, ChannelConfig};
use super::id::Uuid;
use super::stored::{Frames, Stored};
use super::time::Time;
use super::user::User;
use super::Hub;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Format version written into every snapshot.
const VERSION: u64 = 1;

/// Why a snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The text is not JSON, or not a snapshot (a key missing, a value of the wrong type).
    Malformed(String),
    /// Written by a format this build does not know.
    UnknownVersion(u64),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "bad state snapshot: {why}"),
            Self::UnknownVersion(v) => write!(f, "bad state snapshot: unknown version {v}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The durable state, as written to the state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    version: u64,
    users: Vec<SavedUser>,
    channels: Vec<SavedChannel>,
    stats: SavedStats,
}

/// One catch-up frame: `[stored at (microseconds since the epoch), message]`.
type SavedFrame = (u64, Map<String, Value>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SavedUser {
    username: String,
    #[serde(with = "uuid_text")]
    uuid: Uuid,
    state: Map<String, Value>,
    state_public_keys: Vec<String>,
    last_active: u64,
    frames: Vec<SavedFrame>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SavedChannel {
    name: String,
    #[serde(with = "uuid_text")]
    uuid: Uuid,
    settings: SavedSettings,
    last_active: u64,
    history: Vec<Map<String, Value>>,
    frames: Vec<SavedFrame>,
    /// Position of the channel's last message (absent in files written before positions:
    /// then 0, and stored messages have no position).
    #[serde(default)]
    last_pos: u64,
    /// [`Channel::lost_through`].
    #[serde(default)]
    lost_through: u64,
    /// The position of each `history` entry, in order (kept apart so that `history`
    /// stays the plain list of messages older files have).
    #[serde(default)]
    history_positions: Vec<u64>,
    /// The position of each `frames` entry, in order.
    #[serde(default)]
    frame_positions: Vec<u64>,
}

/// A channel's [`ChannelConfig`], every key required.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct SavedSettings {
    notify_presence: bool,
    store_history: bool,
    history_size: u64,
    broadcast_presence_with_user_lists: bool,
    notify_state: bool,
    store_frames: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct SavedStats {
    total_messages: u64,
    total_unique_messages: u64,
}

/// Uuids are saved in their text form (`8-4-4-4-12` hex digits).
mod uuid_text {
    use super::*;

    pub fn serialize<S: Serializer>(uuid: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(uuid)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        Uuid::parse(&text).ok_or_else(|| serde::de::Error::custom("not a uuid"))
    }
}

impl Snapshot {
    /// Parses a state file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        serde_json::from_slice(bytes).map_err(|e| SnapshotError::Malformed(e.to_string()))
    }

    /// The state file's bytes.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        // Maps with string keys and numbers from JSON cannot fail to serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn save_frames(frames: &Frames) -> Vec<SavedFrame> {
    frames.iter().map(|(t, m)| (t.0, m.map())).collect()
}

fn load_frames(frames: Vec<SavedFrame>) -> Frames {
    frames
        .into_iter()
        .map(|(t, m)| (Time(t), Stored::new(&m)))
        .collect()
}

/// Positions for `n` saved items: those saved, or none (0) if the file has none for
/// them (written before positions) or a list of another length.
fn positions(saved: Vec<u64>, n: usize) -> Vec<u64> {
    if saved.len() == n {
        saved
    } else {
        vec![0; n]
    }
}

impl From<ChannelConfig> for SavedSettings {
    fn from(c: ChannelConfig) -> Self {
        SavedSettings {
            notify_presence: c.notify_presence,
            store_history: c.store_history,
            history_size: c.history_size,
            broadcast_presence_with_user_lists: c.broadcast_presence_with_user_lists,
            notify_state: c.notify_state,
            store_frames: c.store_frames,
        }
    }
}

impl From<SavedSettings> for ChannelConfig {
    fn from(s: SavedSettings) -> Self {
        ChannelConfig {
            notify_presence: s.notify_presence,
            store_history: s.store_history,
            history_size: s.history_size,
            broadcast_presence_with_user_lists: s.broadcast_presence_with_user_lists,
            notify_state: s.notify_state,
            store_frames: s.store_frames,
        }
    }
}

impl Hub {
    /// The durable state.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let mut users: Vec<&User> = self.users.values().collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let users = users
            .into_iter()
            .map(|u| SavedUser {
                username: u.username.clone(),
                uuid: u.uuid,
                state: u.state.clone(),
                state_public_keys: u.state_public_keys.clone(),
                last_active: u.last_active.0,
                frames: save_frames(&u.frames),
            })
            .collect();
        let channels = self
            .channels
            .values()
            .map(|c| SavedChannel {
                name: c.name.clone(),
                uuid: c.uuid,
                settings: c.config.into(),
                last_active: c.last_active.0,
                history: c.history.iter().map(Stored::map).collect(),
                frames: save_frames(&c.frames),
                last_pos: c.last_pos,
                lost_through: c.lost_through,
                history_positions: c.history.iter().map(Stored::pos).collect(),
                frame_positions: c.frames.iter().map(|(_, f)| f.pos()).collect(),
            })
            .collect();
        Snapshot {
            version: VERSION,
            users,
            channels,
            stats: SavedStats {
                total_messages: self.stats.total_messages,
                total_unique_messages: self.stats.total_unique_messages,
            },
        }
    }

    /// Replaces users, channels and counters with those of `snap`. Nothing changes on
    /// error.
    pub fn restore(&mut self, snap: Snapshot) -> Result<(), SnapshotError> {
        if snap.version != VERSION {
            return Err(SnapshotError::UnknownVersion(snap.version));
        }
        let mut users = HashMap::new();
        for u in snap.users {
            let mut user = User::new(u.uuid, &u.username, Time(u.last_active));
            user.state = u.state;
            user.state_public_keys = u.state_public_keys;
            user.frames = load_frames(u.frames);
            users.insert(u.username, user);
        }
        let mut channels = BTreeMap::new();
        for c in snap.channels {
            let mut ch = Channel::new(c.uuid, &c.name, c.settings.into(), Time(c.last_active));
            let history_pos = positions(c.history_positions, c.history.len());
            ch.history = c
                .history
                .iter()
                .zip(history_pos)
                .map(|(m, pos)| Stored::at(m, pos))
                .collect();
            let frame_pos = positions(c.frame_positions, c.frames.len());
            ch.frames = c
                .frames
                .into_iter()
                .zip(frame_pos)
                .map(|((t, m), pos)| (Time(t), Stored::at(&m, pos)))
                .collect();
            ch.last_pos = c.last_pos;
            ch.lost_through = c.lost_through;
            channels.insert(c.name, ch);
        }
        self.stats.total_messages = snap.stats.total_messages;
        self.stats.total_unique_messages = snap.stats.total_unique_messages;
        self.users = users;
        self.channels = channels;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::ConnectParams;
    use serde_json::json;
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
        assert_eq!(restored.restore(snap.clone()), Ok(()));
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
    fn malformed_or_future_snapshots_are_refused_and_state_is_kept() {
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
            json!({"version": 1, "users": [{"username": 5}]}),
            json!({"version": 1, "users": [], "channels": [], "stats": {}}),
        ] {
            let err = Snapshot::from_json(bad.to_string().as_bytes());
            assert!(
                matches!(err, Err(SnapshotError::Malformed(_))),
                "{bad}: {err:?}"
            );
        }
        let mut future = h.snapshot();
        future.version = 2;
        assert_eq!(h.restore(future), Err(SnapshotError::UnknownVersion(2)));
        assert!(h.users.contains_key("keep"));
    }
}
