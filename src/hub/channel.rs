//! One channel: its six settings, who is in it, its history and its catch-up frames
//! (`channel.py`). Pure: knows connections only by id; delivery is the hub's job.

use super::id::Uuid;
use super::message::{catchup_copy, str_field, str_list};
use super::stored::{delete_message_frame, edit_message_frame, Frames, Stored};
use super::time::Time;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// Stored messages as catch-up copies, each with its position (0: none).
pub type Positioned = Vec<(u64, Map<String, Value>)>;

/// Catch-up frames kept per channel (`channel.py` `add_frame`).
pub const MAX_FRAMES: usize = 100;

/// The settings a channel is created or reconfigured with (`ChannelConfigSchema`); the
/// defaults are the reference's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Emit `presence` messages when a user joins or parts.
    pub notify_presence: bool,
    /// Keep `message`s in `history`.
    pub store_history: bool,
    /// How many history messages to keep; 0 keeps none.
    pub history_size: u64,
    /// Presence messages carry the list of users present.
    pub broadcast_presence_with_user_lists: bool,
    /// Emit `user_state_change` messages.
    pub notify_state: bool,
    /// Keep frames for catch-up on (re)connection.
    pub store_frames: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            notify_presence: false,
            store_history: false,
            history_size: 10,
            broadcast_presence_with_user_lists: false,
            notify_state: false,
            store_frames: true,
        }
    }
}

impl ChannelConfig {
    /// The `settings` object of channel info.
    pub fn to_json(&self) -> Value {
        json!({
            "notify_presence": self.notify_presence,
            "store_history": self.store_history,
            "history_size": self.history_size,
            "broadcast_presence_with_user_lists": self.broadcast_presence_with_user_lists,
            "notify_state": self.notify_state,
            "store_frames": self.store_frames,
        })
    }

    /// Reads back what [`ChannelConfig::to_json`] wrote (a config that travelled through
    /// Redis); `None` if a key is missing or of another type.
    pub fn from_json(v: &Value) -> Option<ChannelConfig> {
        let flag = |k: &str| v.get(k).and_then(Value::as_bool);
        Some(ChannelConfig {
            notify_presence: flag("notify_presence")?,
            store_history: flag("store_history")?,
            history_size: v.get("history_size").and_then(Value::as_u64)?,
            broadcast_presence_with_user_lists: flag("broadcast_presence_with_user_lists")?,
            notify_state: flag("notify_state")?,
            store_frames: flag("store_frames")?,
        })
    }
}

/// The `type` of a channel-config change published on the channel's stream (shared
/// mode): applied by every node that has the channel, delivered to nobody. It takes a
/// position in Redis's numbering that holds no frame.
pub const CHANNEL_CONFIG_TYPE: &str = "channel_config";

/// A channel. `connections` maps each present user to their connections here; a user is
/// present while that list is non-empty.
#[derive(Debug)]
pub struct Channel {
    /// Random id shown in channel info.
    pub uuid: Uuid,
    /// The channel's name.
    pub name: String,
    /// Settings.
    pub config: ChannelConfig,
    /// Last time a message passed or presence changed.
    pub last_active: Time,
    /// Present users (sorted, so presence user lists are deterministic) and their
    /// connections in this channel.
    pub connections: BTreeMap<String, Vec<Uuid>>,
    /// Stored `message`s, oldest first, with their delivery keys (as the reference keeps).
    pub history: VecDeque<Stored>,
    /// Catch-up frames with the time they were stored, oldest first.
    pub frames: Frames,
    /// Connections in `connections`, kept by every change to it: channel info reports it
    /// on each `/connect`, and summing a channel of 19 000 users each time made
    /// connecting quadratic.
    pub(super) conn_count: usize,
    /// Position of the last message sent in this channel (the first is 1); kept in the
    /// state file. See docs/API.md "Recovery after reconnect".
    pub last_pos: u64,
    /// The highest position no longer held (or never held) in history or frames: a
    /// client that saw up to an earlier position cannot be fully caught up.
    pub lost_through: u64,
}

impl Channel {
    /// A new, empty channel.
    pub fn new(uuid: Uuid, name: &str, config: ChannelConfig, now: Time) -> Channel {
        Channel {
            uuid,
            name: name.to_string(),
            config,
            last_active: now,
            connections: BTreeMap::new(),
            history: VecDeque::new(),
            frames: VecDeque::new(),
            conn_count: 0,
            last_pos: 0,
            lost_through: 0,
        }
    }

    /// Whether `conn` of `user` is in this channel.
    pub fn has(&self, user: &str, conn: Uuid) -> bool {
        self.connections
            .get(user)
            .is_some_and(|c| c.contains(&conn))
    }

    /// Records a message at the next position ([`Channel::last_pos`]): history (if it is
    /// a `message` and not `no_history`) and frames; appends the connections it goes to
    /// to `to` (`channel.py` `add_message`), a list the caller reuses from message to
    /// message.
    pub fn add_message(&mut self, msg: &Map<String, Value>, now: Time, to: &mut Vec<Uuid>) {
        self.last_active = now;
        self.last_pos += 1;
        let pos = self.last_pos;
        let no_history = msg
            .get("no_history")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let keep_history =
            !no_history && self.config.store_history && str_field(msg, "type") == Some("message");
        let stored = (keep_history || self.config.store_frames).then(|| Stored::at(msg, pos));
        if stored.is_none() {
            self.lost(pos);
        }
        if let (true, Some(stored)) = (keep_history, &stored) {
            self.history.push_back(stored.clone());
            // The reference's `history[-size:]` keeps everything for size 0; we keep nothing.
            while self.history.len() as u64 > self.config.history_size {
                if let Some(gone) = self.history.pop_front() {
                    if !held(&self.frames, |(_, f)| f.pos(), gone.pos()) {
                        self.lost(gone.pos());
                    }
                }
            }
        }
        if let (true, Some(stored)) = (self.config.store_frames, stored) {
            self.frames.push_back((now, stored));
            while self.frames.len() > MAX_FRAMES {
                self.pop_frame();
            }
        }
        // Borrowed, not collected: most messages have neither list.
        let pm = msg.get("pm_users").and_then(Value::as_array);
        let exclude = msg.get("exclude_users").and_then(Value::as_array);
        let listed = |list: Option<&Vec<Value>>, user: &str| {
            list.is_some_and(|l| l.iter().any(|v| v.as_str() == Some(user)))
        };
        let pm_only = pm.is_some_and(|l| l.iter().any(Value::is_string));
        to.reserve(self.conn_count);
        for (user, conns) in &self.connections {
            if listed(exclude, user) || (pm_only && !listed(pm, user)) {
                continue;
            }
            to.extend_from_slice(conns);
        }
    }

    /// Shared mode: the next message recorded here gets position `seq` (its sequence
    /// number in Redis). Positions skipped on the way are noted as not held.
    pub fn continue_at(&mut self, seq: u64) {
        if seq > self.last_pos + 1 {
            self.lost(seq - 1);
        }
        self.last_pos = seq.saturating_sub(1);
    }

    /// Shared mode: position `seq` went to something that is not a frame (a config
    /// change): the next message gets `seq + 1`.
    pub fn skip_position(&mut self, seq: u64) {
        self.continue_at(seq);
        self.last_pos = self.last_pos.max(seq);
    }

    /// Shared mode: Redis numbers this channel at `seq` and this node holds nothing up
    /// to it. In a new epoch (Redis lost the channel) the numbering started again, so
    /// what is stored here under old positions is dropped, as Redis dropped it.
    pub fn restart_at(&mut self, seq: u64, new_epoch: bool) {
        if new_epoch {
            self.history.clear();
            self.frames.clear();
            self.last_pos = seq;
            self.lost_through = seq;
        } else if seq > self.last_pos {
            self.last_pos = seq;
            self.lost(seq);
        }
    }

    /// Shared mode: frames read from Redis (`(seq, stored at, message)`, oldest first)
    /// for a channel new on this node, up to sequence number `top`. Ignored when the
    /// channel already holds frames or history, or is past `top`. History is filled
    /// from the same frames, as this channel's settings keep it.
    pub fn preload(&mut self, top: u64, frames: Vec<(u64, Time, Map<String, Value>)>) {
        if !self.frames.is_empty() || !self.history.is_empty() || self.last_pos >= top {
            return;
        }
        let first = frames.first().map_or(top + 1, |(seq, _, _)| *seq);
        for (seq, at, msg) in frames.into_iter().rev().take(MAX_FRAMES).rev() {
            if msg.get("type").and_then(Value::as_str) == Some(CHANNEL_CONFIG_TYPE) {
                // The last config change kept in Redis is the channel's config.
                if let Some(config) = msg.get("config").and_then(ChannelConfig::from_json) {
                    self.config = config;
                }
                continue;
            }
            let stored = Stored::at(&msg, seq);
            let no_history = msg.get("no_history").and_then(Value::as_bool) == Some(true);
            if self.config.store_history && !no_history && stored.is_message() {
                self.history.push_back(stored.clone());
            }
            if self.config.store_frames {
                self.frames.push_back((at, stored));
            }
        }
        while self.history.len() as u64 > self.config.history_size {
            self.history.pop_front();
        }
        self.last_pos = top;
        self.lost(first.saturating_sub(1));
    }

    /// Frames stored at or after `newer_than` that `user` may see (`get_catchup_frames`),
    /// as catch-up copies with their positions.
    pub fn catchup(&self, newer_than: Time, user: &str) -> Positioned {
        visible_copies(
            self.frames
                .iter()
                .filter(|(t, _)| *t >= newer_than)
                .map(|(_, f)| f),
            user,
        )
    }

    /// What this channel still holds after position `since` that `user` may see, from
    /// history and frames, in position order, as catch-up copies; and whether that is
    /// everything sent after `since` (false also when `since` is beyond the last
    /// position: the channel was forgotten and made anew).
    pub fn replay(&self, since: u64, user: &str) -> (Positioned, bool) {
        let recovered = since >= self.lost_through && since <= self.last_pos;
        let mut held: Vec<&Stored> = self
            .history
            .iter()
            .chain(self.frames.iter().map(|(_, f)| f))
            .filter(|f| f.pos() > since)
            .collect();
        held.sort_by_key(|f| f.pos());
        held.dedup_by_key(|f| f.pos());
        (visible_copies(held.into_iter(), user), recovered)
    }

    /// Drops the frames stored before `horizon`.
    pub fn drop_frames_before(&mut self, horizon: Time) {
        while self.frames.front().is_some_and(|(t, _)| *t < horizon) {
            self.pop_frame();
        }
    }

    /// Drops the oldest frame, noting its position as lost unless history keeps it.
    fn pop_frame(&mut self) {
        if let Some((_, gone)) = self.frames.pop_front() {
            if !held(&self.history, Stored::pos, gone.pos()) {
                self.lost(gone.pos());
            }
        }
    }

    fn lost(&mut self, pos: u64) {
        self.lost_through = self.lost_through.max(pos);
    }

    /// Applies an edit to the stored message with the same uuid (history, then the
    /// `message` frame), as `alter_message` does.
    pub fn edit_stored(&mut self, edit: &Map<String, Value>) {
        let uuid = edit.get("uuid");
        if let Some(m) = self.history.iter_mut().find(|m| m.has_uuid(uuid)) {
            m.edit(edit);
        }
        // In the reference history and frames share the object, so both change.
        edit_message_frame(&mut self.frames, edit);
    }

    /// Removes the stored message with the same uuid from history and frames.
    pub fn delete_stored(&mut self, uuid: &Value) {
        if let Some(i) = self.history.iter().position(|m| m.has_uuid(Some(uuid))) {
            self.history.remove(i);
        }
        delete_message_frame(&mut self.frames, uuid);
    }

    /// Sorted names of the users present.
    pub fn users(&self) -> Vec<String> {
        self.connections.keys().cloned().collect()
    }
}

/// Whether `items` (in position order) hold position `pos`.
fn held<T>(items: &VecDeque<T>, pos_of: impl Fn(&T) -> u64, pos: u64) -> bool {
    items.binary_search_by_key(&pos, pos_of).is_ok()
}

/// Catch-up copies, with positions, of the stored messages `user` may see (not
/// excluded, and not a private message to others).
fn visible_copies<'a>(stored: impl Iterator<Item = &'a Stored>, user: &str) -> Positioned {
    let user = user.to_string();
    stored
        .map(|f| (f.pos(), f.map()))
        .filter(|(_, f)| {
            let exclude = str_list(f, "exclude_users");
            let pm = str_list(f, "pm_users");
            !exclude.contains(&user) && (pm.is_empty() || pm.contains(&user))
        })
        .map(|(pos, f)| (pos, catchup_copy(&f)))
        .collect()
}
