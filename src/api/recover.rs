//! The `recover` query parameter of `/ws` and `/listen` (beyond the reference; docs/API.md
//! "Recovery after reconnect"): a JSON object mapping channel names to the last position
//! the client saw, e.g. `recover=%7B%22room%22%3A12%7D` for `{"room": 12}`. Its presence,
//! even as `{}`, asks for positions on channel messages.

use crate::http::{query_param, Request};
use crate::hub::Recover;
use serde_json::{json, Value};

/// At most this many channels may be named (the request head limit bounds it too).
pub const MAX_RECOVER_CHANNELS: usize = 1000;

/// Why a `recover` value was refused (422).
pub const BAD_RECOVER: &str =
    "Must be a JSON object of at most 1000 channel names, each mapped to a position (an integer >= 0).";

/// The `recover` parameter: `None` if absent; the error object of a 422 if malformed.
pub fn parse_recover(req: &Request) -> Result<Option<Recover>, Value> {
    let Some(text) = query_param(req.query(), "recover") else {
        return Ok(None);
    };
    let refused = || json!({ "recover": [BAD_RECOVER] });
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
        return Err(refused());
    };
    if map.len() > MAX_RECOVER_CHANNELS {
        return Err(refused());
    }
    map.into_iter()
        .map(|(channel, pos)| pos.as_u64().map(|p| (channel, p)).ok_or_else(refused))
        .collect::<Result<Recover, Value>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    fn parsed(query: &str) -> Result<Option<Recover>, Value> {
        parse_recover(&Request {
            method: "GET".into(),
            target: format!("/ws?conn_id=x{query}"),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            keep_alive: true,
        })
    }

    #[test]
    fn recover_is_an_object_of_positions_or_refused() {
        assert_eq!(parsed(""), Ok(None));
        assert_eq!(parsed("&recover=%7B%7D"), Ok(Some(Recover::new())));
        let want: Recover = [("room".to_string(), 12), ("a b".to_string(), 0)]
            .into_iter()
            .collect();
        assert_eq!(
            parsed("&recover=%7B%22room%22%3A12%2C%22a%20b%22%3A0%7D"),
            Ok(Some(want))
        );
        for bad in [
            "&recover=",
            "&recover=12",
            "&recover=%5B%5D",
            "&recover=%7B%22r%22%3A-1%7D",
            "&recover=%7B%22r%22%3A1.5%7D",
            "&recover=%7B%22r%22%3A%221%22%7D",
            "&recover=%7B",
        ] {
            assert_eq!(parsed(bad), Err(json!({"recover": [BAD_RECOVER]})), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_RECOVER_CHANNELS)
            .map(|i| format!("%22c{i}%22%3A1"))
            .collect();
        let too_many = format!("&recover=%7B{}%7D", many.join("%2C"));
        assert!(parsed(&too_many).is_err());
    }
}
