//! `POST /channel_config` (`server.py` `channel_config`) and the channel settings object
//! other endpoints accept (`ChannelConfigSchema`).

use super::bounded_errors::ErrorMap;
use super::bounds::{CHANNEL_CHARS, MAX_HISTORY_SIZE};
use super::fields::{boolean, dict_of, integer, length, msg, Form, INVALID_INPUT};
use super::Rejection;
use crate::hub::{ChannelConfig, Hub, InfoConfig, Time};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Validated `POST /channel_config` body: settings by channel name.
#[derive(Debug)]
pub struct ChannelConfigs(pub BTreeMap<String, ChannelConfig>);

/// Parses one settings object; missing keys take the defaults (so reconfiguring resets
/// what is not given, as in the reference).
pub fn parse_config(v: &Value) -> Result<ChannelConfig, Value> {
    let Value::Object(obj) = v else {
        return Err(json!({"_schema": [INVALID_INPUT]}));
    };
    let mut f = Form::new(obj);
    let d = ChannelConfig::default();
    let notify_presence = f.optional("notify_presence", boolean);
    let store_history = f.optional("store_history", boolean);
    let history_size = f.optional("history_size", |v| {
        let n = integer(v)?;
        // The reference's message for negatives; ours past the bound it lacks.
        let n = u64::try_from(n).map_err(|_| msg("Must be at least 0."))?;
        if n > MAX_HISTORY_SIZE {
            return Err(msg(&format!("Must be between 0 and {MAX_HISTORY_SIZE}.")));
        }
        Ok(n)
    });
    let lists = f.optional("broadcast_presence_with_user_lists", boolean);
    let notify_state = f.optional("notify_state", boolean);
    let store_frames = f.optional("store_frames", boolean);
    if !f.errors.is_empty() {
        return Err(Value::Object(f.errors));
    }
    Ok(ChannelConfig {
        notify_presence: notify_presence.flatten().unwrap_or(d.notify_presence),
        store_history: store_history.flatten().unwrap_or(d.store_history),
        history_size: history_size.flatten().unwrap_or(d.history_size),
        broadcast_presence_with_user_lists: lists
            .flatten()
            .unwrap_or(d.broadcast_presence_with_user_lists),
        notify_state: notify_state.flatten().unwrap_or(d.notify_state),
        store_frames: store_frames.flatten().unwrap_or(d.store_frames),
    })
}

/// `channel_configs` of connect/subscribe: `{name: settings}` (`BackportedDict`).
pub fn parse_configs(f: &mut Form<'_>) -> Option<BTreeMap<String, ChannelConfig>> {
    f.optional("channel_configs", |v| {
        dict_of(v, CHANNEL_CHARS, parse_config, false)
    })
    .map(|o| o.unwrap_or_default().into_iter().collect())
}

/// Parses the body. Channel names must have 1 to [`CHANNEL_CHARS`] characters, as on
/// every other route: if some do not, 422 with `{name: ["Length must be between 1 and
/// 256."]}` for each (the reference accepts any name). Then the first channel whose
/// settings are invalid answers 422 with its errors alone, as the reference. A body that
/// is not an object is 422 (the reference fails with 500).
pub fn parse(body: &Value) -> Result<ChannelConfigs, Rejection> {
    let Value::Object(obj) = body else {
        return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]})));
    };
    let mut bad_names = ErrorMap::new();
    for name in obj.keys() {
        if let Err(e) = length(name, 1, CHANNEL_CHARS) {
            bad_names.insert(name, e);
        }
    }
    if !bad_names.is_empty() {
        return Err(Rejection::Invalid(bad_names.into_value()));
    }
    let mut out = BTreeMap::new();
    for (name, v) in obj {
        out.insert(name.clone(), parse_config(v).map_err(Rejection::Invalid)?);
    }
    Ok(ChannelConfigs(out))
}

/// Applies the settings; answers with the channels' info, without history or users.
pub fn run(c: ChannelConfigs, hub: &mut Hub, now: Time) -> Value {
    hub.set_channel_config(&c.0, now);
    let cfg = InfoConfig {
        channels: Some(c.0.keys().cloned().collect()),
        include_history: false,
        include_users: false,
        ..InfoConfig::default()
    };
    // A `Value` because `Command::run` renders this endpoint's answer from one; the listing
    // names only the channels in the request and carries no history or users.
    serde_json::to_value(hub.channels_info(&cfg)).unwrap_or_default()
}
