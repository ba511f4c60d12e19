//! One user: state, which state keys are public, connections and private frames
//! (`user.py`). Pure.

use super::id::Uuid;
use super::message::{catchup_copy, python_eq};
use super::stored::{Frames, Stored};
use super::time::Time;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// Private frames kept per user for catch-up (`user.py` `add_frame`).
pub const MAX_USER_FRAMES: usize = 50;

/// A user, remembered until a day of inactivity.
#[derive(Debug)]
pub struct User {
    /// Random id shown in admin info.
    pub uuid: Uuid,
    /// The name clients and the API use.
    pub username: String,
    /// State values (JSON scalars), in the order first set.
    pub state: Map<String, Value>,
    /// Which state keys other users may see.
    pub state_public_keys: Vec<String>,
    /// This user's connections, oldest first.
    pub connections: Vec<Uuid>,
    /// Private messages (already delivery copies) with the time they were stored.
    pub frames: Frames,
    /// Last activity, for user GC.
    pub last_active: Time,
    /// Shared mode: the re-read of this user's copy in Redis that is out, and the keys
    /// changed here since it was asked ([`super::user_refresh`]).
    /// Boxed: it exists only during a re-read, and every user carries the field.
    pub refresh: Option<Box<super::user_refresh::Refresh>>,
}

impl User {
    /// A new user with empty state.
    pub fn new(uuid: Uuid, username: &str, now: Time) -> User {
        User {
            uuid,
            username: username.to_string(),
            state: Map::new(),
            state_public_keys: Vec::new(),
            connections: Vec::new(),
            frames: VecDeque::new(),
            last_active: now,
            refresh: None,
        }
    }

    /// Sets every key whose value differs (Python equality) and returns the changes as
    /// `[{"key", "value"}]`, in input order (`state_from_dict`).
    pub fn update_state(&mut self, new: &Map<String, Value>) -> Vec<Value> {
        let mut changed = Vec::new();
        for (k, v) in new {
            let same = self.state.get(k).is_some_and(|old| python_eq(old, v));
            // Python's `dict.get(k) != v` also treats a missing key like `None`.
            let same = same || (!self.state.contains_key(k) && v.is_null());
            if !same {
                self.state.insert(k.clone(), v.clone());
                changed.push(json!({"key": k, "value": v}));
            }
        }
        changed
    }

    /// The state keys listed in `state_public_keys`.
    pub fn public_state(&self) -> Map<String, Value> {
        self.state
            .iter()
            .filter(|(k, _)| self.state_public_keys.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Stores a private frame, keeping the newest [`MAX_USER_FRAMES`].
    pub fn add_frame(&mut self, msg: &Map<String, Value>, now: Time) {
        self.frames.push_back((now, Stored::new(msg)));
        while self.frames.len() > MAX_USER_FRAMES {
            self.frames.pop_front();
        }
    }

    /// Private frames stored strictly after `newer_than`, as catch-up copies.
    pub fn catchup(&self, newer_than: Time) -> Vec<Map<String, Value>> {
        self.frames
            .iter()
            .filter(|(t, _)| *t > newer_than)
            .map(|(_, f)| catchup_copy(&f.map()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_state_reports_only_python_inequal_values() {
        let mut u = User::new(Uuid(1), "u", Time(0));
        let first = json!({"a": 1, "b": "x", "c": null});
        let changed = u.update_state(first.as_object().unwrap_or(&Map::new()));
        assert_eq!(
            changed,
            vec![
                json!({"key": "a", "value": 1}),
                json!({"key": "b", "value": "x"})
            ]
        );
        let again = json!({"a": true, "b": "y"});
        let changed = u.update_state(again.as_object().unwrap_or(&Map::new()));
        assert_eq!(changed, vec![json!({"key": "b", "value": "y"})]);
        assert_eq!(
            u.state.get("a"),
            Some(&json!(1)),
            "True == 1 leaves the old value"
        );
    }

    #[test]
    fn public_state_filters_by_public_keys() {
        let mut u = User::new(Uuid(1), "u", Time(0));
        u.update_state(json!({"a": 1, "b": 2}).as_object().unwrap_or(&Map::new()));
        u.state_public_keys = vec!["b".into(), "zz".into()];
        assert_eq!(Value::Object(u.public_state()), json!({"b": 2}));
    }
}
