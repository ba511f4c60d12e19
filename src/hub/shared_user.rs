//! Shared mode: a user's state as Redis keeps it (`Pu{name}:user`, `docs/SCALING.md`),
//! so that every node shows the same state for a user, also a node that never held
//! the user. The hash has one field per state key, `s:<key>` holding the value as
//! JSON, and `k` holding the public keys (a JSON list). It is written by the publish
//! script of the user's state changes ([`Shared::user_state`]), in the same script as
//! the change's frame, so Redis's order of the hash writes is the order every node
//! applies the changes in. Pure: encoding, decoding, and seeding a user here.

use super::shared::{Shared, Stream};
use super::time::Time;
use super::user::User;
use super::Hub;
use serde_json::{Map, Value};

/// The hash field of the public keys.
const KEYS_FIELD: &str = "k";
/// What the hash field of a state key starts with.
const STATE_PREFIX: &str = "s:";

/// A user as Redis knows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharedUser {
    /// State values, by key.
    pub state: Map<String, Value>,
    /// The public state keys.
    pub public_keys: Vec<String>,
    /// The hash holds the public keys (its `k` field was read).
    pub public_keys_known: bool,
}

impl SharedUser {
    /// Reads `HGETALL Pu{name}:user`'s (field, value) pairs; fields of another shape
    /// and values that are not JSON are left out. `None` when the hash is empty: Redis
    /// does not know the user.
    pub fn from_fields(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Option<SharedUser> {
        if pairs.is_empty() {
            return None;
        }
        let mut user = SharedUser::default();
        for (field, value) in pairs {
            let Ok(field) = String::from_utf8(field) else {
                continue;
            };
            if field == KEYS_FIELD {
                if let Ok(keys) = serde_json::from_slice::<Vec<String>>(&value) {
                    user.public_keys = keys;
                    user.public_keys_known = true;
                }
            } else if let Some(key) = field.strip_prefix(STATE_PREFIX) {
                if let Ok(value) = serde_json::from_slice::<Value>(&value) {
                    user.state.insert(key.to_string(), value);
                }
            }
        }
        Some(user)
    }

    /// The hash fields a user-state change (the `state` and `public_keys` of a
    /// [`Shared::user_state`] message) sets: only the keys it changed, and the public
    /// keys if it replaced them.
    pub fn fields_of_change(msg: &Map<String, Value>) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = match msg.get("state") {
            Some(Value::Object(state)) => state
                .iter()
                .map(|(k, v)| (format!("{STATE_PREFIX}{k}"), v.to_string()))
                .collect(),
            _ => Vec::new(),
        };
        if let Some(keys @ Value::Array(_)) = msg.get("public_keys") {
            fields.push((KEYS_FIELD.to_string(), keys.to_string()));
        }
        fields
    }
}

impl Hub {
    /// A user new to this node whom Redis knows (connected or changed state on another
    /// node): made here with the state Redis holds, so that `/connect` then applies its
    /// `user_state` over it and leaves out `fresh_user_state`, as the reference does
    /// for a user it has. Nothing happens if this node has the user already.
    pub fn seed_user(&mut self, name: &str, shared: SharedUser, now: Time) {
        if self.users.contains_key(name) {
            return;
        }
        let mut user = User::new(self.new_uuid(), name, now);
        user.state = shared.state;
        user.state_public_keys = shared.public_keys;
        self.users.insert(name.to_string(), user);
        self.share(|| Shared::Watch(Stream::User(name.to_string())));
    }
}

/// The changes [`User::update_state`] reports (`[{"key", "value"}]`) as a map, the
/// later of two changes of one key winning.
pub(super) fn changes_as_map(changes: &[Value]) -> Map<String, Value> {
    changes
        .iter()
        .filter_map(|c| Some((c.get("key")?.as_str()?.to_string(), c.get("value")?.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, hub};
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        items
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_change_writes_its_keys_and_reads_back_as_the_same_state() {
        let msg = json!({"type": "user_state", "state": {"mood": "ok", "n": 2, "gone": null},
                         "public_keys": ["mood"]});
        let fields = SharedUser::fields_of_change(msg.as_object().expect("object"));
        let read: Vec<(&str, &str)> = fields
            .iter()
            .map(|(f, v)| (f.as_str(), v.as_str()))
            .collect();
        let user = SharedUser::from_fields(pairs(&read)).expect("known");
        assert_eq!(
            Value::Object(user.state),
            json!({"mood": "ok", "n": 2, "gone": null})
        );
        assert_eq!(user.public_keys, ["mood"]);
        // Public keys not replaced: no `k` field.
        let msg = json!({"state": {"a": 1}, "public_keys": null});
        let fields = SharedUser::fields_of_change(msg.as_object().expect("object"));
        assert_eq!(fields, [("s:a".to_string(), "1".to_string())]);
    }

    #[test]
    fn an_empty_hash_is_an_unknown_user_and_bad_fields_are_left_out() {
        assert_eq!(SharedUser::from_fields(Vec::new()), None);
        let user = SharedUser::from_fields(pairs(&[
            ("s:a", "not json"),
            ("x", "1"),
            ("k", "{}"),
            ("s:b", "true"),
        ]))
        .expect("known");
        assert_eq!(Value::Object(user.state), json!({"b": true}));
        assert!(user.public_keys.is_empty());
    }

    #[test]
    fn a_seeded_user_keeps_redis_state_and_connect_applies_only_user_state() {
        let mut h = hub();
        h.set_shared();
        let shared = SharedUser {
            state: json!({"mood": "ok", "n": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            public_keys: vec!["mood".into()],
            public_keys_known: true,
        };
        h.seed_user("amy", shared, at(0.0));
        let out = h.take_shared();
        assert_eq!(out, [Shared::Watch(Stream::User("amy".into()))]);
        let p = crate::hub::ConnectParams {
            username: "amy".into(),
            conn_id: None,
            channels: vec![],
            state_public_keys: vec!["mood".into()],
            fresh_user_state: json!({"fresh": 1}).as_object().cloned().unwrap_or_default(),
            user_state: json!({"n": 2}).as_object().cloned().unwrap_or_default(),
            channel_configs: Default::default(),
        };
        let _ = h.connect(&p, at(1.0));
        assert_eq!(
            Value::Object(h.users["amy"].state.clone()),
            json!({"mood": "ok", "n": 2})
        );
        // Only the change travels (and is written to Redis's hash).
        let published: Vec<Value> = h
            .take_shared()
            .into_iter()
            .filter_map(|s| match s {
                Shared::Publish { msg, .. } => Some(Value::Object(msg)),
                _ => None,
            })
            .collect();
        assert_eq!(published.len(), 1, "{published:?}");
        assert_eq!(published[0]["state"], json!({"n": 2}));
        // The same connect again changes nothing: nothing is published.
        let _ = h.connect(&p, at(2.0));
        let again = h.take_shared();
        assert!(
            !again.iter().any(|s| matches!(s, Shared::Publish { .. })),
            "{again:?}"
        );
    }
}
