//! Every bound the REST layer puts on one request, in one place: the lengths of names
//! (the reference's `validate.Length` values, applied on every route that takes the name),
//! the largest `history_size`, and the counts per request from the config. Going past a
//! length or `history_size` is a field error (422); past a count, the request is too large
//! (413) and changes nothing. `docs/RELIABILITY.md` lists them with their tests.

use super::json_limits::TooMany;
use super::Rejection;
use crate::config::Config;
use serde_json::{json, Map, Value};

/// Characters of a user name: `username`, `user`, `pm_users`, `exclude_users`.
pub const USERNAME_CHARS: usize = 512;

/// Characters of a channel name: `channels`, `channel`, `info.channels`,
/// `info.exclude_channels`, the keys of `channel_configs` and of a `/channel_config` body.
pub const CHANNEL_CHARS: usize = 256;

/// Characters of a user state key: `state_public_keys` and the keys of `user_state` and
/// `fresh_user_state` (a key longer than this could never be made public).
pub const STATE_KEY_CHARS: usize = 256;

/// Largest `history_size`. A channel keeps this many messages, each up to
/// `max_body_bytes`, and lists them in every `/info` and `/connect` answer that includes
/// history; 1000 is 100 times the default (10) and ten times the catch-up frames a channel
/// keeps (100).
pub const MAX_HISTORY_SIZE: u64 = 1000;

/// The per-request counts, from the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBounds {
    /// `max_channels_per_request`.
    pub max_channels: usize,
    /// `max_messages_per_request`.
    pub max_messages: usize,
}

impl RequestBounds {
    /// The counts `config` sets.
    pub fn new(config: &Config) -> RequestBounds {
        RequestBounds {
            max_channels: config.max_channels_per_request,
            max_messages: config.max_messages_per_request,
        }
    }

    /// Most items any list or object the API reads may hold: the larger count. The body's
    /// bytes are checked against it before they are parsed ([`super::json_limits`]).
    pub fn max_items(&self) -> usize {
        self.max_channels.max(self.max_messages)
    }

    /// Checks the counted fields of a parsed body for `path`: the messages of `/message`,
    /// the channels of `/channel_config`, and `channels`, `channel_configs`,
    /// `info.channels` and `info.exclude_channels` elsewhere. Every field past its count
    /// is named in the 413 errors.
    pub fn check(&self, path: &str, body: &Value) -> Result<(), Rejection> {
        let channels = format!("At most {} channels per request.", self.max_channels);
        let mut errors = Map::new();
        match path {
            "/message" if body.as_array().map_or(0, Vec::len) > self.max_messages => {
                let m = format!("At most {} messages per request.", self.max_messages);
                errors.insert("_schema".into(), json!([m]));
            }
            "/channel_config" if len(Some(body)) > self.max_channels => {
                errors.insert("_schema".into(), json!([channels]));
            }
            "/connect" | "/subscribe" | "/unsubscribe" | "/info" => {
                for field in ["channels", "channel_configs"] {
                    if len(body.get(field)) > self.max_channels {
                        errors.insert(field.into(), json!([channels]));
                    }
                }
                let mut info = Map::new();
                for field in ["channels", "exclude_channels"] {
                    if len(body.get("info").and_then(|i| i.get(field))) > self.max_channels {
                        info.insert(field.into(), json!([channels]));
                    }
                }
                if !info.is_empty() {
                    errors.insert("info".into(), Value::Object(info));
                }
            }
            _ => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Rejection::TooMany(Value::Object(errors)))
        }
    }
}

/// Items of a list or keys of an object; 0 for anything else.
fn len(v: Option<&Value>) -> usize {
    match v {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        _ => 0,
    }
}

/// The 413 errors for a body the pre-scan refused.
pub fn too_many_items(t: TooMany) -> Rejection {
    Rejection::TooMany(json!({"_schema": [t.message()]}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::signature::Signer;
    use crate::api::{Api, Outcome, Routed};
    use crate::http::{Request, Version};
    use crate::hub::{Hub, Time};
    use crate::server::ConnId;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000;

    fn api(max_channels: usize, max_messages: usize) -> Api {
        Api::new(&Config {
            secret: "secret".into(),
            allow_posting_from: vec!["127.0.0.1".into()],
            max_channels_per_request: max_channels,
            max_messages_per_request: max_messages,
            ..Config::default()
        })
    }

    /// A signed request routed and, if it gets that far, run: status and JSON body.
    fn call(api: &Api, hub: &mut Hub, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let token = Signer::new("secret").sign("x", NOW).into_bytes();
        let req = Request {
            method: method.into(),
            target: path.into(),
            version: Version::Http11,
            headers: vec![("x-channelstream-secret".into(), token)],
            body: body.to_vec(),
            keep_alive: true,
        };
        let conn = ConnId {
            worker: 0,
            key: 1,
            gen: 0,
        };
        let r = match api.route(&req, IpAddr::V4(Ipv4Addr::LOCALHOST), NOW) {
            Routed::Respond(r) | Routed::After(_, r) => r,
            Routed::Hub(cmd) => match cmd.run(hub, conn, Time(NOW * 1_000_000)) {
                Outcome::Respond(r) => r,
                other => panic!("{path}: {other:?}"),
            },
        };
        let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, v)
    }

    fn hub() -> Hub {
        Hub::new(Time(NOW * 1_000_000), Duration::from_secs(5), 1)
    }

    const CONN: &str = "aaaaaaaa-0000-4000-8000-000000000001";

    fn post(api: &Api, hub: &mut Hub, path: &str, body: Value) -> (u16, Value) {
        call(api, hub, "POST", path, body.to_string().as_bytes())
    }

    #[test]
    fn history_size_past_1000_is_422_on_connect_subscribe_and_channel_config() {
        let (api, mut hub) = (api(1000, 1000), hub());
        let big = |n: Value| json!({"a": {"history_size": n}});
        let between = json!(["Must be between 0 and 1000."]);
        let nested = |e: &Value| json!({"channel_configs": {"a": {"value": {"history_size": e}}}});
        let connect = |n| json!({"username": "u", "conn_id": CONN, "channel_configs": big(n)});
        for n in [
            json!(1001),
            json!(i64::MAX),
            json!("9223372036854775807"),
            json!(1e18),
        ] {
            assert_eq!(
                post(&api, &mut hub, "/connect", connect(n.clone())),
                (422, nested(&between)),
                "{n}"
            );
            assert_eq!(
                post(&api, &mut hub, "/channel_config", big(n.clone())),
                (422, json!({ "history_size": between })),
                "{n}"
            );
        }
        assert_eq!(
            post(&api, &mut hub, "/connect", connect(json!(1000))).0,
            200
        );
        let sub = json!({"conn_id": CONN, "channels": ["b"], "channel_configs": big(json!(5000))});
        assert_eq!(
            post(&api, &mut hub, "/subscribe", sub),
            (422, nested(&between))
        );
        let (status, info) = post(&api, &mut hub, "/channel_config", big(json!(1000)));
        let settings = &info["channels"]["a"]["settings"];
        assert_eq!((status, &settings["history_size"]), (200, &json!(1000)));
        // negatives keep the reference's message
        assert_eq!(
            post(&api, &mut hub, "/channel_config", big(json!(-1))),
            (422, json!({"history_size": ["Must be at least 0."]}))
        );
    }

    #[test]
    fn channel_names_are_1_to_256_characters_in_channel_config_and_channel_configs() {
        let (api, mut hub) = (api(1000, 1000), hub());
        let length = json!(["Length must be between 1 and 256."]);
        let long = "c".repeat(257);
        let (status, body) = post(
            &api,
            &mut hub,
            "/channel_config",
            json!({"": {}, long.clone(): {}, "ok": {}}),
        );
        assert_eq!(status, 422);
        let cut = format!("{}...", "c".repeat(61));
        assert_eq!(body, json!({"": length, cut.clone(): length}));
        assert!(hub.channels.is_empty(), "nothing configured");
        let ok = "é".repeat(256);
        assert_eq!(
            post(&api, &mut hub, "/channel_config", json!({ ok: {} })).0,
            200
        );
        let connect = json!({"username": "u", "channel_configs": {long: {}}});
        assert_eq!(
            post(&api, &mut hub, "/connect", connect),
            (422, json!({"channel_configs": {cut: {"key": length}}}))
        );
    }

    #[test]
    fn user_state_keys_are_1_to_256_characters() {
        let (api, mut hub) = (api(1000, 1000), hub());
        let length = json!(["Length must be between 1 and 256."]);
        let connect = json!({"username": "u", "user_state": {"": 1, "k": 2}});
        assert_eq!(
            post(&api, &mut hub, "/connect", connect),
            (422, json!({"user_state": {"": {"key": length}}}))
        );
        assert_eq!(
            post(&api, &mut hub, "/connect", json!({"username": "u"})).0,
            200
        );
        let key = "k".repeat(257);
        let state = json!({"user": "u", "user_state": {key: [1]}});
        let cut = format!("{}...", "k".repeat(61));
        let not_scalar = json!(["Value is not type of string, integer, boolean or float."]);
        assert_eq!(
            post(&api, &mut hub, "/user_state", state),
            (
                422,
                json!({"user_state": {cut: {"key": length, "value": not_scalar}}})
            )
        );
    }

    #[test]
    fn lists_past_the_larger_count_get_413_before_parsing() {
        let (api, mut hub) = (api(1000, 1000), hub());
        let list = json!({"_schema": ["A list in the body holds more than 1000 items."]});
        let object = json!({"_schema": ["An object in the body holds more than 1000 keys."]});
        let messages = format!("[{}]", vec!["{}"; 1001].join(","));
        assert_eq!(
            call(&api, &mut hub, "POST", "/message", messages.as_bytes()),
            (413, list.clone())
        );
        // 1001 items that are not even JSON values: refused before serde_json sees them
        let junk = format!("[{}]", vec!["x"; 1001].join(","));
        assert_eq!(
            call(&api, &mut hub, "DELETE", "/message", junk.as_bytes()).0,
            413
        );
        let channels: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
        let connect = json!({"username": "u", "channels": channels});
        assert_eq!(
            post(&api, &mut hub, "/connect", connect),
            (413, list.clone())
        );
        assert!(hub.users.is_empty(), "nothing connected");
        let state: Map<String, Value> = (0..1001).map(|i| (format!("k{i}"), json!(i))).collect();
        let connect = json!({"username": "u", "user_state": state});
        assert_eq!(post(&api, &mut hub, "/connect", connect), (413, object));
        let pm: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
        let message = json!([{"user": "u", "pm_users": pm}]);
        assert_eq!(post(&api, &mut hub, "/message", message).0, 413);
        // message payloads are the application's: a long list inside one is fine
        let payload = json!([{"user": "u", "channel": "c", "message": {"xs": vec![0; 5000]}}]);
        assert_eq!(post(&api, &mut hub, "/message", payload).0, 200);
    }

    #[test]
    fn counts_past_the_config_get_413_naming_the_field() {
        let mut hub = hub();
        let two_channels = api(2, 5);
        let at = json!(["At most 2 channels per request."]);
        let connect = json!({"username": "u", "channels": ["a", "b", "c"]});
        assert_eq!(
            post(&two_channels, &mut hub, "/connect", connect),
            (413, json!({ "channels": at }))
        );
        let info = json!({"info": {"channels": ["a", "b", "c"]}});
        assert_eq!(
            post(&two_channels, &mut hub, "/info", info),
            (413, json!({"info": {"channels": at}}))
        );
        let configs = json!({"a": {}, "b": {}, "c": {}});
        assert_eq!(
            post(&two_channels, &mut hub, "/channel_config", configs),
            (413, json!({ "_schema": at }))
        );
        assert!(hub.channels.is_empty() && hub.users.is_empty());
        let two_messages = api(5, 2);
        let three = json!([{"user": "u", "channel": "c"}, {"user": "u", "channel": "c"}, {"user": "u", "channel": "c"}]);
        for method in ["POST", "PATCH", "DELETE"] {
            assert_eq!(
                call(
                    &two_messages,
                    &mut hub,
                    method,
                    "/message",
                    three.to_string().as_bytes()
                ),
                (413, json!({"_schema": ["At most 2 messages per request."]})),
                "{method}"
            );
        }
        assert!(hub.channels.is_empty(), "no message went anywhere");
    }

    #[test]
    fn a_thousand_invalid_messages_get_100_errors_and_a_count() {
        let (api, mut hub) = (api(1000, 1000), hub());
        let items = vec![json!({"channel": 5, "pm_users": "x"}); 1000];
        let (status, body) = post(&api, &mut hub, "/message", Value::Array(items));
        assert_eq!(status, 422);
        // each item: channel, pm_users and the missing user
        assert_eq!(body["_more_errors"], json!(2900));
        assert_eq!(
            body["0"]["user"],
            json!(["Missing data for required field."])
        );
        assert!(crate::api::reply::pretty(&body).len() < 64 * 1024);
    }

    fn bounds() -> RequestBounds {
        RequestBounds {
            max_channels: 2,
            max_messages: 3,
        }
    }

    fn errors(path: &str, body: Value) -> Option<Value> {
        match bounds().check(path, &body) {
            Ok(()) => None,
            Err(Rejection::TooMany(e)) => Some(e),
            Err(other) => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn counts_past_the_config_are_named_in_413_errors() {
        let at = "At most 2 channels per request.";
        let cases: &[(&str, Value, Option<Value>)] = &[
            ("/message", json!([{}, {}, {}]), None),
            (
                "/message",
                json!([{}, {}, {}, {}]),
                Some(json!({"_schema": ["At most 3 messages per request."]})),
            ),
            ("/message", json!({"a": 1, "b": 2, "c": 3, "d": 4}), None),
            ("/channel_config", json!({"a": {}, "b": {}}), None),
            (
                "/channel_config",
                json!({"a": {}, "b": {}, "c": {}}),
                Some(json!({"_schema": [at]})),
            ),
            ("/connect", json!({"channels": ["a", "b"]}), None),
            (
                "/connect",
                json!({"channels": ["a", "b", "c"], "channel_configs": {"a": {}, "b": {}, "c": {}}}),
                Some(json!({"channels": [at], "channel_configs": [at]})),
            ),
            (
                "/subscribe",
                json!({"info": {"channels": [1, 2, 3], "exclude_channels": []}}),
                Some(json!({"info": {"channels": [at]}})),
            ),
            (
                "/unsubscribe",
                json!({"channels": "abc", "info": "x"}),
                None,
            ),
            (
                "/info",
                json!({"info": {"exclude_channels": ["a", "b", "c"]}}),
                Some(json!({"info": {"exclude_channels": [at]}})),
            ),
            (
                "/user_state",
                json!({"state_public_keys": ["a", "b", "c"]}),
                None,
            ),
        ];
        for (path, body, want) in cases {
            assert_eq!(&errors(path, body.clone()), want, "{path} {body}");
        }
    }

    #[test]
    fn the_pre_scan_limit_is_the_larger_count() {
        assert_eq!(bounds().max_items(), 3);
        let b = RequestBounds {
            max_channels: 9,
            max_messages: 4,
        };
        assert_eq!(b.max_items(), 9);
        assert_eq!(
            RequestBounds::new(&Config::default()),
            RequestBounds {
                max_channels: 1000,
                max_messages: 1000
            }
        );
    }
}
