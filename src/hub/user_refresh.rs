//! Shared mode: closing the window between reading a user's copy in Redis
//! (`Pu{name}:user`) and listening to the user's stream (`docs/SCALING.md`). A change
//! another node publishes between the two is in the hash but never reaches this node
//! as a frame. So once the node's subscription to the stream is confirmed, the bridge
//! reads the hash again; meanwhile every `user_state` change applied here (a frame of
//! the stream, or a change made here) marks its keys, and the answer sets only the
//! keys nothing marked: for those the hash is at least as new as this node's copy,
//! since the hash holds every change up to the read and frames of one stream are
//! applied in order. Marked keys keep the value the newer change gave them. The
//! user's stored frames are not replayed (they hold private messages). Pure.

use super::shared_user::SharedUser;
use super::user::User;
use super::{Hub, USER_STATE_TYPE};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// The re-read of a user's hash that is out, and what changed here since it was asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Refresh {
    /// Which re-read (the bridge's number): only the latest one asked is applied.
    read: u64,
    /// State keys changed here since.
    keys: HashSet<String>,
    /// The public keys were replaced here since.
    public_keys: bool,
}

impl Hub {
    /// The subscription to user `name`'s stream is confirmed and the bridge asks for
    /// the user's hash again, as read number `read`: from now on changes applied here
    /// are marked. False if this node does not hold the user (nothing to refresh).
    pub fn begin_user_refresh(&mut self, name: &str, read: u64) -> bool {
        let Some(u) = self.users.get_mut(name) else {
            return false;
        };
        u.refresh = Some(Box::new(Refresh {
            read,
            ..Refresh::default()
        }));
        true
    }

    /// The answer to re-read `read` of user `name` (`None`: Redis does not know the
    /// user or did not answer): sets the state keys, and the public keys, that nothing
    /// changed here since it was asked. An answer to an older re-read than the latest
    /// is left out (the latest one comes after it).
    pub fn finish_user_refresh(&mut self, name: &str, read: u64, shared: Option<SharedUser>) {
        let Some(u) = self.users.get_mut(name) else {
            return;
        };
        if u.refresh.as_ref().map(|r| r.read) != Some(read) {
            return;
        }
        let Some(refresh) = u.refresh.take() else {
            return;
        };
        let Some(shared) = shared else {
            return;
        };
        for (key, value) in shared.state {
            if !refresh.keys.contains(&key) {
                u.state.insert(key, value);
            }
        }
        if shared.public_keys_known && !refresh.public_keys {
            u.state_public_keys = shared.public_keys;
        }
    }
}

/// Marks the keys a `user_state` change (its `state` and `public_keys`,
/// [`super::Shared::user_state`]) sets on `user`, if a re-read of the user is out:
/// called for the frames of the user's stream as they are applied, and for the changes
/// made here as they are shared.
pub(super) fn mark_change(user: &mut User, msg: &Map<String, Value>) {
    let Some(refresh) = user.refresh.as_mut() else {
        return;
    };
    if msg.get("type").and_then(Value::as_str) != Some(USER_STATE_TYPE) {
        return;
    }
    if let Some(Value::Object(state)) = msg.get("state") {
        refresh.keys.extend(state.keys().cloned());
    }
    if let Some(Value::Array(_)) = msg.get("public_keys") {
        refresh.public_keys = true;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, hub};
    use super::super::{Shared, Stream};
    use super::*;
    use serde_json::json;

    fn shared(state: Value, keys: &[&str]) -> SharedUser {
        SharedUser {
            state: state.as_object().cloned().unwrap_or_default(),
            public_keys: keys.iter().map(|k| k.to_string()).collect(),
            public_keys_known: true,
        }
    }

    fn state_of(h: &Hub, name: &str) -> Value {
        Value::Object(h.users[name].state.clone())
    }

    /// A frame of amy's stream, as another node published it.
    fn frame(h: &mut Hub, state: Value, keys: Option<Vec<String>>, seq: u64) {
        let map = state.as_object().cloned().unwrap_or_default();
        let Shared::Publish { msg, .. } = Shared::user_state("amy", &map, keys) else {
            panic!("not a publish");
        };
        h.apply_published(&Stream::User("amy".into()), &msg, seq, at(1.0));
    }

    #[test]
    fn the_reread_sets_what_was_missed_and_keeps_what_changed_since() {
        let mut h = hub();
        h.set_shared();
        h.seed_user(
            "amy",
            shared(json!({"mood": "ok", "n": 1}), &["mood"]),
            at(0.0),
        );
        assert!(h.begin_user_refresh("amy", 7));
        // After the confirmation, a frame changes `n`; the hash read before it arrived
        // has a missed `mood`, an older `n` and the public keys another node set.
        frame(&mut h, json!({"n": 3}), None, 1);
        h.finish_user_refresh(
            "amy",
            7,
            Some(shared(json!({"mood": "busy", "n": 2}), &["n"])),
        );
        assert_eq!(state_of(&h, "amy"), json!({"mood": "busy", "n": 3}));
        assert_eq!(h.users["amy"].state_public_keys, ["n"]);
        // A change made here while a re-read is out is kept too.
        assert!(h.begin_user_refresh("amy", 8));
        let _ = h.take_shared();
        let mine = json!({"mood": "mine"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let _ = h.change_user_state("amy", &mine, None, at(1.0));
        h.finish_user_refresh(
            "amy",
            8,
            Some(shared(json!({"mood": "busy", "n": 4}), &["n"])),
        );
        assert_eq!(state_of(&h, "amy"), json!({"mood": "mine", "n": 4}));
        // Done: later frames win as usual, and a late answer changes nothing.
        frame(&mut h, json!({"mood": "away"}), None, 2);
        h.finish_user_refresh("amy", 8, Some(shared(json!({"mood": "old"}), &[])));
        assert_eq!(state_of(&h, "amy"), json!({"mood": "away", "n": 4}));
    }

    #[test]
    fn replaced_public_keys_and_older_rereads_are_kept_and_left_out() {
        let mut h = hub();
        h.set_shared();
        h.seed_user("amy", shared(json!({"a": 1}), &["a"]), at(0.0));
        assert!(h.begin_user_refresh("amy", 1));
        assert!(h.begin_user_refresh("amy", 2));
        frame(&mut h, json!({}), Some(vec!["b".into()]), 1);
        // The answer to the first read is left out: the second one is on its way.
        h.finish_user_refresh("amy", 1, Some(shared(json!({"a": 5}), &["a"])));
        assert_eq!(state_of(&h, "amy"), json!({"a": 1}));
        h.finish_user_refresh("amy", 2, Some(shared(json!({"a": 6}), &["a"])));
        assert_eq!(state_of(&h, "amy"), json!({"a": 6}));
        assert_eq!(h.users["amy"].state_public_keys, ["b"]);
        // A hash without public keys, or no hash, leaves them as they are.
        assert!(h.begin_user_refresh("amy", 3));
        let mut no_keys = shared(json!({"a": 7}), &[]);
        no_keys.public_keys_known = false;
        h.finish_user_refresh("amy", 3, Some(no_keys));
        assert_eq!(h.users["amy"].state_public_keys, ["b"]);
        assert!(h.begin_user_refresh("amy", 4));
        h.finish_user_refresh("amy", 4, None);
        assert_eq!(state_of(&h, "amy"), json!({"a": 7}));
        // A user this node does not hold is not refreshed.
        assert!(!h.begin_user_refresh("bob", 5));
    }
}
