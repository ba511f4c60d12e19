//! Users as Redis keeps them (`Pu{name}:user`, [`SharedUser`]): a `/connect` or
//! `/user_state` of a user new to this node waits while the user's copy is read
//! ([`RedisBridge::load_user`]), so that a user who connected or changed state on
//! another node starts here with the state Redis holds: `/connect`'s `user_state` is
//! applied over it and its `fresh_user_state` left out, as the reference treats a user
//! it has, and `/user_state` finds the user. A user Redis does not know, or a read
//! that fails, is treated as on one node (`/user_state`: unknown user).
//!
//! Every time this node's subscription to a user's stream is confirmed (the first time,
//! and after each reconnect of the subscriber) the user's copy is read once more
//! ([`RedisBridge::refresh_user`]): a change another node published before the
//! subscription took effect is in the hash but never comes here as a frame. The hub
//! sets from the answer only the keys no change applied here since the confirmation
//! (`src/hub/user_refresh.rs`).

use super::{Pending, RedisBridge};
use crate::api::Command;
use crate::conn_id::ConnId;
use crate::hub::{Hub, SharedUser, Time};
use crate::redis::CommandError;
use crate::resp::Reply;

impl RedisBridge {
    /// Parks `cmd` (a `/connect` or `/user_state` of `name`, whom this node does not
    /// hold) while Redis's copy of the user is read. Gives it back to run at once if Redis cannot be asked.
    pub fn load_user(
        &mut self,
        engine: ConnId,
        cmd: Box<Command>,
        name: &str,
    ) -> Option<(ConnId, Box<Command>)> {
        self.next_tag += 1;
        let n = self.next_tag;
        let key = format!("{}:user", self.publish.user_base(name));
        let tag = self.tag(Pending::LoadUser(n, name.to_string()));
        if self.link.command(&["HGETALL", key.as_str()], tag).is_err() {
            self.pending.remove(&tag);
            return Some((engine, cmd));
        }
        self.user_loads.insert(n, (engine, cmd));
        None
    }

    /// The copy of user `name` for the command parked as `n`: the user is made here
    /// with it (if Redis knows the user), and the command given back to run.
    pub(super) fn on_user_loaded(
        &mut self,
        hub: &mut Hub,
        n: u64,
        name: &str,
        result: Result<Reply, CommandError>,
        now: Time,
    ) -> Option<(ConnId, Box<Command>)> {
        let parked = self.user_loads.remove(&n)?;
        match parse_user(result) {
            Some(Some(user)) => hub.seed_user(name, user, now),
            Some(None) => {}
            None => crate::log!(
                Warning,
                "redis read of a user failed: the user connects with this node's state"
            ),
        }
        Some(parked)
    }
}

impl RedisBridge {
    /// The subscription to user `name`'s stream is confirmed: reads the user's hash
    /// again, if this node holds the user.
    pub(super) fn refresh_user(&mut self, hub: &mut Hub, name: &str) {
        self.next_tag += 1;
        let read = self.next_tag;
        if !hub.begin_user_refresh(name, read) {
            return;
        }
        let key = format!("{}:user", self.publish.user_base(name));
        let tag = self.tag(Pending::RefreshUser(read, name.to_string()));
        if self.link.command(&["HGETALL", key.as_str()], tag).is_err() {
            self.pending.remove(&tag);
            hub.finish_user_refresh(name, read, None);
        }
    }

    /// The answer to the re-read `read` of user `name`.
    pub(super) fn on_user_refreshed(
        &mut self,
        hub: &mut Hub,
        read: u64,
        name: &str,
        result: Result<Reply, CommandError>,
    ) {
        hub.finish_user_refresh(name, read, parse_user(result).flatten());
    }
}

/// `HGETALL Pu{name}:user`: `Some(None)` when Redis does not know the user, `None` when
/// the read failed.
pub(super) fn parse_user(result: Result<Reply, CommandError>) -> Option<Option<SharedUser>> {
    let items = result.ok()?.into_array().ok()?;
    let mut bulks = items.into_iter().filter_map(|i| i.into_bulk().ok());
    let mut pairs = Vec::new();
    while let (Some(field), Some(value)) = (bulks.next(), bulks.next()) {
        pairs.push((field, value));
    }
    Some(SharedUser::from_fields(pairs))
}
