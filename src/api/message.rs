//! `POST|PATCH|DELETE /message` (`server.py` `message`, `messages_patch`,
//! `messages_delete`; `MessageBodySchema`, `MessageEditBodySchema`,
//! `MessagesDeleteBodySchema`, all with `many=True`).

use super::bounded_errors::ErrorMap;
use super::bounds::{CHANNEL_CHARS, USERNAME_CHARS};
use super::fields::{
    boolean, checked_string, datetime, is_mapping, string_list, uuid, Form, INVALID_INPUT,
};
use super::reply::pretty_sized;
use super::Rejection;
use crate::hub::{Hub, Time};
use serde_json::{json, Map, Value};

/// Which of the three requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Send new messages.
    Post,
    /// Edit sent messages.
    Patch,
    /// Delete sent messages.
    Delete,
}

/// Validated messages. Defaults that need the hub (a fresh uuid, the current time) are
/// filled in by [`run`].
#[derive(Debug)]
pub struct Messages {
    /// The request.
    pub verb: Verb,
    /// Validated objects, unknown keys dropped (marshmallow 2 does).
    pub items: Vec<Map<String, Value>>,
}

/// Validates a JSON list of message objects; errors keyed by list index. Takes the body,
/// so that each message's `message` object moves into the validated item rather than
/// being copied (a map, its keys and values per message).
pub fn parse(body: Value, method: &str) -> Result<Messages, Rejection> {
    let verb = match method {
        "PATCH" => Verb::Patch,
        "DELETE" => Verb::Delete,
        _ => Verb::Post,
    };
    let Value::Array(list) = body else {
        return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]})));
    };
    let mut errors = ErrorMap::new();
    let mut items = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let Value::Object(obj) = v else {
            errors.insert(&i.to_string(), json!({}));
            errors.insert_always("_schema", json!([INVALID_INPUT]));
            continue;
        };
        match parse_item(obj, verb) {
            Ok(m) => items.push(m),
            Err(e) => errors.insert(&i.to_string(), e),
        }
    }
    if errors.is_empty() {
        Ok(Messages { verb, items })
    } else {
        Err(Rejection::Invalid(errors.into_value()))
    }
}

// Strings go into the items as `Value::String`, moved: `json!` of a `String` serializes a
// copy of it (an allocation per field per message, on the worker and on the hub). The
// fields passed on as they came (`channel`, `user`, `message`) are checked in place and
// then moved out of `obj` with their keys, once the form passed: copies of the key and
// the value were two allocations per field per message on the worker.
fn parse_item(mut obj: Map<String, Value>, verb: Verb) -> Result<Map<String, Value>, Value> {
    let mut f = Form::new(&obj);
    let mut out = Map::new();
    let users = |v: &Value| string_list(v, 1, USERNAME_CHARS);
    let name = |max: usize| move |v: &Value| checked_string(v, 1, max).map(drop);
    let pm = f.optional("pm_users", users).map(Option::unwrap_or_default);
    let exclude = f
        .optional("exclude_users", users)
        .map(Option::unwrap_or_default);
    let channel = f.nullable("channel", name(CHANNEL_CHARS));
    let no_history = f.optional("no_history", boolean);
    out.insert("pm_users".into(), Value::from(pm));
    out.insert("exclude_users".into(), Value::from(exclude));
    out.insert(
        "no_history".into(),
        json!(no_history.flatten().unwrap_or(false)),
    );
    let id = match verb {
        Verb::Post => f.optional("uuid", uuid).flatten(),
        Verb::Patch | Verb::Delete => f.required("uuid", uuid),
    };
    if let Some(id) = id {
        out.insert("uuid".into(), Value::String(id.to_string()));
    }
    // Which of `user` and `message` are moved over once the form passed.
    let mut take_user = false;
    let mut take_message = false;
    if verb != Verb::Delete {
        if let Some(Some(ts)) = f.optional("timestamp", datetime) {
            out.insert("timestamp".into(), Value::String(ts));
        }
        take_user = match verb {
            Verb::Post => f.required("user", name(USERNAME_CHARS)).is_some(),
            _ => matches!(f.optional("user", name(USERNAME_CHARS)), Some(Some(()))),
        };
        take_message = matches!(f.optional("message", is_mapping), Some(Some(())));
    }
    match verb {
        Verb::Post => {
            out.insert("edited".into(), Value::Null);
        }
        Verb::Patch => {
            if let Some(Some(ts)) = f.optional("edited", datetime) {
                out.insert("edited".into(), Value::String(ts));
            }
        }
        Verb::Delete => {}
    }
    let errors = f.errors;
    if !errors.is_empty() {
        return Err(Value::Object(errors));
    }
    match channel.flatten() {
        Some(()) => move_entry(&mut obj, &mut out, "channel"),
        None => {
            out.insert("channel".into(), Value::Null);
        }
    }
    for (key, take) in [("user", take_user), ("message", take_message)] {
        if take {
            move_entry(&mut obj, &mut out, key);
        }
    }
    Ok(out)
}

/// Moves `key` and its value from `from` to `to`, the key's string and the value as they
/// are.
fn move_entry(from: &mut Map<String, Value>, to: &mut Map<String, Value>, key: &str) {
    if let Some((k, v)) = from.remove_entry(key) {
        to.insert(k, v);
    }
}

/// Bytes reserved per message for the answer that echoes them: a pretty-printed chat
/// message (nine keys, a short text) is 400 to 500 bytes.
const ECHO_BYTES_PER_MESSAGE: usize = 512;

/// Fills hub-made defaults, answers with the accepted objects, then passes, edits or
/// deletes each (the reference answers before its greenlets run, so the answer has no
/// `type` or `catchup`).
pub fn run(m: Messages, hub: &mut Hub, now: Time) -> Vec<u8> {
    let mut items = m.items;
    for item in &mut items {
        match m.verb {
            Verb::Post => {
                if !item.contains_key("uuid") {
                    item.insert("uuid".into(), Value::String(hub.new_uuid().to_string()));
                }
                if !item.contains_key("timestamp") {
                    item.insert("timestamp".into(), Value::String(now.isoformat()));
                }
            }
            Verb::Patch => {
                if !item.contains_key("edited") {
                    item.insert("edited".into(), Value::String(now.isoformat()));
                }
            }
            Verb::Delete => {}
        }
    }
    if m.verb == Verb::Post {
        // Messages with neither a channel nor pm_users go nowhere and are not echoed.
        items.retain(|i| {
            i.get("channel").is_some_and(|c| !c.is_null())
                || i.get("pm_users")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
        });
    }
    // Rendered before the hub takes the items: cloning them into a `Value` to render
    // later cost the hub thread a map clone per message.
    // Sized for the echo, so that a batch's answer is not regrown a dozen times.
    let answer = pretty_sized(&items, items.len() * ECHO_BYTES_PER_MESSAGE);
    for item in items {
        match m.verb {
            Verb::Post => hub.pass_message(item, now),
            Verb::Patch => hub.edit_message(item, now),
            Verb::Delete => hub.delete_message(item, now),
        }
    }
    answer
}
