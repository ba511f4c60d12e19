//! `/info` (`server.py` `info`) and the info-resolution options other endpoints accept
//! (`InfoResolutionSchema`). Worker side only: the listing itself is
//! [`crate::hub::Hub::channels_info`].

use super::bounds::CHANNEL_CHARS;
use super::fields::{boolean, msg, string_list, Form, INVALID_INPUT, MISSING, NULL};
use super::Rejection;
use crate::hub::InfoConfig;
use serde_json::{json, Value};

/// What `/info` with an empty body lists: everything.
pub fn everything() -> InfoConfig {
    InfoConfig::default()
}

/// Parses an `info` object (`InfoResolutionSchema`); errors as a nested error object.
pub fn parse_resolution(v: &Value) -> Result<InfoConfig, Value> {
    let Value::Object(obj) = v else {
        return Err(json!({"_schema": [INVALID_INPUT]}));
    };
    let mut f = Form::new(obj);
    let include_history = f.optional("include_history", boolean);
    let include_users = f.optional("include_users", boolean);
    let channels = f.optional("channels", |v| string_list(v, 1, CHANNEL_CHARS));
    let exclude_channels = f.optional("exclude_channels", |v| string_list(v, 1, CHANNEL_CHARS));
    let _include_connections = f.optional("include_connections", boolean);
    let return_public_state = f.optional("return_public_state", boolean);
    if !f.errors.is_empty() {
        return Err(Value::Object(f.errors));
    }
    Ok(InfoConfig {
        channels: channels.flatten(),
        include_history: include_history.flatten().unwrap_or(true),
        include_users: include_users.flatten().unwrap_or(true),
        exclude_channels: exclude_channels.flatten().unwrap_or_default(),
        return_public_state: return_public_state.flatten().unwrap_or(false),
    })
}

/// An optional `info` field of a body: defaults when absent, errors under `info`.
pub fn optional_info(f: &mut Form<'_>, obj: &serde_json::Map<String, Value>) -> Option<InfoConfig> {
    match obj.get("info") {
        None => Some(InfoConfig::default()),
        Some(Value::Null) => {
            f.errors.insert("info".into(), msg(NULL));
            None
        }
        Some(v) => parse_resolution(v)
            .map_err(|e| f.errors.insert("info".into(), e))
            .ok(),
    }
}

/// `/info` with a body (`ChannelInfoBodySchema`): `info` is required. A JSON `null` body
/// lists everything, as the reference's schema lets it through.
pub fn parse(body: &Value) -> Result<InfoConfig, Rejection> {
    let obj = match body {
        Value::Null => return Ok(everything()),
        Value::Object(o) => o,
        _ => return Err(Rejection::Invalid(json!({"_schema": ["Invalid type."]}))),
    };
    match obj.get("info") {
        None => Err(Rejection::Invalid(json!({"info": [MISSING]}))),
        Some(Value::Null) => Err(Rejection::Invalid(json!({"info": [NULL]}))),
        Some(v) => parse_resolution(v).map_err(|e| Rejection::Invalid(json!({ "info": e }))),
    }
}
