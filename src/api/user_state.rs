//! `POST /user_state` (`server.py` `user_state`, `UserStateBodySchema`).

use super::bounds::{STATE_KEY_CHARS, USERNAME_CHARS};
use super::fields::{msg, string_list, user_state, Errors, Form, INVALID_INPUT, MISSING, NULL};
use super::Rejection;
use crate::hub::{Hub, Time};
use serde_json::{json, Map, Value};

/// A (partly) validated request; the user's existence is checked on the hub.
#[derive(Debug)]
pub struct UserState {
    /// The user, if the field is a string (its length may still be wrong).
    pub user: Option<String>,
    /// State updates.
    pub state: Map<String, Value>,
    /// New public keys, if given (an empty list clears them).
    pub public_keys: Option<Vec<String>>,
    /// Errors found on the worker.
    pub errors: Errors,
}

/// Validates what needs no state.
pub fn parse(body: &Value) -> Result<UserState, Rejection> {
    let Value::Object(obj) = body else {
        return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]})));
    };
    let mut f = Form::new(obj);
    let user = match obj.get("user") {
        None => {
            f.errors.insert("user".into(), msg(MISSING));
            None
        }
        Some(Value::Null) => {
            f.errors.insert("user".into(), msg(NULL));
            None
        }
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if !(1..=USERNAME_CHARS).contains(&n) {
                f.add(
                    "user",
                    &format!("Length must be between 1 and {USERNAME_CHARS}."),
                );
            }
            Some(s.clone())
        }
        Some(_) => {
            f.errors.insert("user".into(), msg("Not a valid string."));
            None
        }
    };
    let state = f.optional("user_state", user_state);
    let public_keys = f.nullable("state_public_keys", |v| string_list(v, 1, STATE_KEY_CHARS));
    if user.is_none() && !f.errors.is_empty() {
        return Err(Rejection::Invalid(Value::Object(f.errors)));
    }
    Ok(UserState {
        user,
        state: state.flatten().unwrap_or_default(),
        public_keys: public_keys.flatten(),
        errors: f.errors,
    })
}

/// Checks the user, applies the state and answers with the result.
pub fn run(u: UserState, hub: &mut Hub, now: Time) -> Result<Value, Value> {
    let mut f_errors = u.errors;
    let name = u.user.unwrap_or_default();
    if !hub.users.contains_key(&name) {
        match f_errors.get_mut("user") {
            Some(Value::Array(list)) => list.push(json!("Unknown user")),
            _ => {
                f_errors.insert("user".into(), msg("Unknown user"));
            }
        }
    }
    if !f_errors.is_empty() {
        return Err(Value::Object(f_errors));
    }
    let changed = hub.change_user_state(&name, &u.state, u.public_keys, now);
    let user = hub.users.get(&name);
    Ok(json!({
        "user_state": user.map(|u| u.state.clone()).unwrap_or_default(),
        "changed_state": changed,
        "public_keys": user.map(|u| u.state_public_keys.clone()).unwrap_or_default(),
    }))
}
