//! `POST /subscribe` and `POST /unsubscribe` (`server.py`, `SubscribeBodySchema`; the
//! unsubscribe schema is the same).

use super::bounds::CHANNEL_CHARS;
use super::channel_config::parse_configs;
use super::fields::{msg, string_list, uuid, Errors, Form, INVALID_INPUT, MISSING, NULL};
use super::info::optional_info;
use super::Rejection;
use crate::http::{query_param, Request};
use crate::hub::{ChannelConfig, Hub, InfoConfig, Time, Uuid};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A (partly) validated request; the connection's existence is checked on the hub.
#[derive(Debug)]
pub struct Subscribe {
    /// True for `/unsubscribe`.
    pub unsubscribe: bool,
    /// The connection, if it parsed.
    pub conn_id: Option<Uuid>,
    /// Channels (non-empty when valid).
    pub channels: Vec<String>,
    /// Settings for channels created here.
    pub configs: BTreeMap<String, ChannelConfig>,
    /// Info options.
    pub info: InfoConfig,
    /// Errors found on the worker.
    pub errors: Errors,
}

/// Validates what needs no state. `conn_id` may also come from the query string.
pub fn parse(body: &Value, req: &Request, unsubscribe: bool) -> Result<Subscribe, Rejection> {
    let Value::Object(obj) = body else {
        return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]})));
    };
    let mut f = Form::new(obj);
    let conn_id = match obj.get("conn_id") {
        Some(Value::Null) => {
            f.errors.insert("conn_id".into(), msg(NULL));
            None
        }
        Some(_) => f.required("conn_id", uuid),
        // `pre_load`: setdefault from the query string, which may be absent (null)
        None => match query_param(req.query(), "conn_id") {
            Some(q) => uuid(&Value::String(q))
                .map_err(|e| f.errors.insert("conn_id".into(), e))
                .ok(),
            None => {
                f.errors.insert("conn_id".into(), msg(NULL));
                None
            }
        },
    };
    let channels = match obj.get("channels") {
        None => {
            f.errors.insert("channels".into(), msg(MISSING));
            None
        }
        Some(_) => f.required("channels", |v| {
            let list = string_list(v, 1, CHANNEL_CHARS)?;
            if list.is_empty() {
                return Err(msg("Shorter than minimum length 1."));
            }
            Ok(list)
        }),
    };
    let info = optional_info(&mut f, obj);
    let configs = parse_configs(&mut f);
    // Without a usable id there is nothing the hub could add: answer from here.
    if conn_id.is_none() && !f.errors.is_empty() {
        return Err(Rejection::Invalid(Value::Object(f.errors)));
    }
    Ok(Subscribe {
        unsubscribe,
        conn_id,
        channels: channels.unwrap_or_default(),
        configs: configs.unwrap_or_default(),
        info: info.unwrap_or_default(),
        errors: f.errors,
    })
}

/// Checks the connection, (un)subscribes and answers with its channels and their info.
pub fn run(s: Subscribe, hub: &mut Hub, now: Time) -> Result<Value, Value> {
    let (mut answer, info) = answer(s, hub, now)?;
    answer["channels_info"] = serde_json::to_value(hub.channels_info(&info)).unwrap_or_default();
    Ok(answer)
}

/// [`run`] with `channels_info` left `null`, to fill with the listing the returned
/// config asks for (from this node, or in shared mode from Redis: `crate::api::listed`).
pub fn answer(s: Subscribe, hub: &mut Hub, now: Time) -> Result<(Value, InfoConfig), Value> {
    let mut errors = s.errors;
    let id = match s.conn_id {
        Some(id) if hub.connections.contains_key(&id) => id,
        _ => {
            errors.insert("conn_id".into(), msg("Unknown connection"));
            return Err(Value::Object(errors));
        }
    };
    if !errors.is_empty() {
        return Err(Value::Object(errors));
    }
    let (key, changed) = if s.unsubscribe {
        ("unsubscribed_from", hub.unsubscribe(id, &s.channels, now))
    } else {
        (
            "subscribed_to",
            hub.subscribe(id, &s.channels, &s.configs, now),
        )
    };
    let mut changed = changed;
    changed.sort();
    let current = hub.conn_channels(id);
    let info = InfoConfig {
        channels: Some(current.clone()),
        ..s.info
    };
    let answer = json!({
        "channels": current,
        "channels_info": Value::Null,
        key: changed,
    });
    Ok((answer, info))
}
