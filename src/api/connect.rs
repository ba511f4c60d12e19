//! `POST /connect` (`server.py` `connect`, `ConnectBodySchema`).

use super::bounds::{CHANNEL_CHARS, STATE_KEY_CHARS, USERNAME_CHARS};
use super::channel_config::parse_configs;
use super::fields::{string, string_list, user_state, uuid, Form, INVALID_INPUT};
use super::info::optional_info;
use super::Rejection;
use crate::hub::{ConnectParams, Hub, InfoConfig, Time};
use serde_json::{json, Value};

/// A validated connect request.
#[derive(Debug)]
pub struct Connect {
    /// What to connect.
    pub params: ConnectParams,
    /// How much channel info to answer with.
    pub info: InfoConfig,
}

/// Validates the body field by field.
pub fn parse(body: &Value) -> Result<Connect, Rejection> {
    let Value::Object(obj) = body else {
        return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]})));
    };
    let mut f = Form::new(obj);
    let username = f.required("username", |v| string(v, 1, USERNAME_CHARS));
    let conn_id = f.optional("conn_id", uuid);
    let channels = f.optional("channels", |v| string_list(v, 1, CHANNEL_CHARS));
    let keys = f.optional("state_public_keys", |v| string_list(v, 1, STATE_KEY_CHARS));
    let fresh = f.optional("fresh_user_state", user_state);
    let state = f.optional("user_state", user_state);
    let configs = parse_configs(&mut f);
    let info = optional_info(&mut f, obj);
    match (
        username, conn_id, channels, keys, fresh, state, configs, info,
    ) {
        (
            Some(username),
            Some(conn_id),
            Some(ch),
            Some(keys),
            Some(fresh),
            Some(state),
            Some(configs),
            Some(info),
        ) if f.errors.is_empty() => {
            let mut channels = ch.unwrap_or_default();
            channels.sort();
            let params = ConnectParams {
                username,
                conn_id,
                channels,
                state_public_keys: keys.unwrap_or_default(),
                fresh_user_state: fresh.unwrap_or_default(),
                user_state: state.unwrap_or_default(),
                channel_configs: configs,
            };
            Ok(Connect { params, info })
        }
        _ => Err(Rejection::Invalid(Value::Object(f.errors))),
    }
}

/// Connects and answers with the connection, the user and the channels' info.
pub fn run(c: Connect, hub: &mut Hub, now: Time) -> Value {
    let (mut answer, info) = answer(c, hub, now);
    answer["channels_info"] = serde_json::to_value(hub.channels_info(&info)).unwrap_or_default();
    answer
}

/// Connects and answers with the connection and the user; `channels_info` is left
/// `null`, to fill with the listing the returned config asks for (from this node, or in
/// shared mode from Redis: `crate::api::listed`).
pub fn answer(c: Connect, hub: &mut Hub, now: Time) -> (Value, InfoConfig) {
    let id = hub.connect(&c.params, now);
    let info = InfoConfig {
        channels: Some(c.params.channels.clone()),
        ..c.info
    };
    let user = hub.users.get(&c.params.username);
    let answer = json!({
        "conn_id": id.to_string(),
        "state": user.map(|u| u.state.clone()).unwrap_or_default(),
        "username": c.params.username,
        "public_state": user.map(|u| u.public_state()).unwrap_or_default(),
        "channels": c.params.channels,
        "channels_info": Value::Null,
    });
    (answer, info)
}
