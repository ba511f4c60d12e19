//! The client endpoints: `GET /listen` (long-poll, with JSONP), `/disconnect`
//! (`server.py`), and the answer a long-poll gets. `/ws` is routed by
//! [`super::Api::route_ws`].

use super::fields::{msg, uuid, INVALID_INPUT, NULL};
use super::reply::{self, Cors, PageKind};
use super::{Kind, Outcome, Rejection};
use crate::conn_id::ConnId;
use crate::http::{query_param, Request, Response};
use crate::hub::{Hub, PollReply, Time, Uuid};
use serde_json::{json, Value};

/// A validated long-poll request.
#[derive(Debug)]
pub struct Listen {
    /// The connection to listen for.
    pub conn_id: Uuid,
    /// JSONP callback name.
    pub callback: Option<String>,
    /// Positions asked for, and the last ones seen ([`super::recover`]).
    pub recover: Option<crate::hub::Recover>,
}

/// `conn_id` must be a UUID: otherwise 422 `["Wrong UUID format"]` (`uuid_from_string`;
/// a missing id, a 500 in the reference, gets the same). A `callback` must be a
/// JavaScript identifier path (see [`is_callback_name`]): anything else is 400, since the
/// callback is written in front of the answer and run by the browser as script.
pub fn parse_listen(req: &Request) -> Result<Listen, Rejection> {
    let id = query_param(req.query(), "conn_id").and_then(|s| Uuid::parse(&s));
    let conn_id = id.ok_or_else(|| Rejection::Invalid(json!(["Wrong UUID format"])))?;
    let callback = query_param(req.query(), "callback").filter(|c| !c.is_empty());
    if let Some(cb) = &callback {
        if !is_callback_name(cb) {
            return Err(Rejection::BadRequest(json!({ "callback": [BAD_CALLBACK] })));
        }
    }
    let recover = super::recover::parse_recover(req).map_err(Rejection::Invalid)?;
    Ok(Listen {
        conn_id,
        callback,
        recover,
    })
}

/// The longest JSONP callback name accepted.
pub const MAX_CALLBACK_LEN: usize = 128;

/// Why a callback was refused (400).
pub const BAD_CALLBACK: &str =
    "Must be a JavaScript identifier path of at most 128 characters (like cb or jQuery.cb_1).";

/// `^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$`, at most
/// [`MAX_CALLBACK_LEN`] bytes: the names JSONP callers use, and nothing that could end the
/// call expression and start another statement.
pub fn is_callback_name(name: &str) -> bool {
    let start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b'$';
    name.len() <= MAX_CALLBACK_LEN
        && name.split('.').all(|part| {
            let bytes = part.as_bytes();
            bytes.first().is_some_and(|b| start(*b))
                && bytes.iter().all(|b| start(*b) || b.is_ascii_digit())
        })
}

/// Attaches the poll, which keeps `cors` for its answer ([`answer`]); an unknown
/// connection is 401 (`HTTPUnauthorized`).
pub fn run_listen(
    l: Listen,
    hub: &mut Hub,
    conn: ConnId,
    now: Time,
    page: PageKind,
    cors: Cors,
) -> Outcome {
    let reply = PollReply {
        callback: l.callback,
        headers: cors,
    };
    if hub.attach_poll_recovering(l.conn_id, conn, reply, l.recover.as_ref(), now) {
        Outcome::Waiting
    } else {
        Outcome::Respond(reply::unauthorized(page))
    }
}

/// The answer to a long-poll: the JSON list as `application/json`, or `callback(list)`
/// as `application/javascript` (the reference sends both as `text/html`, which let a
/// crafted callback run as HTML; the callback is checked by [`parse_listen`]).
pub fn answer(callback: Option<&str>, body: &str, cors: &Cors) -> Response {
    let (ctype, text) = match callback {
        Some(cb) => (
            "application/javascript; charset=UTF-8",
            format!("{cb}({body})"),
        ),
        None => ("application/json", body.to_string()),
    };
    let mut headers = vec![("Content-Type".to_string(), ctype.to_string())];
    headers.extend(cors.iter().cloned());
    Response {
        status: 200,
        headers,
        body: text.into_bytes(),
    }
}

/// `/disconnect`: `conn_id` from the JSON body for POST, from the query otherwise.
pub fn parse_disconnect(body: Option<&Value>, req: &Request) -> Result<Kind, Rejection> {
    let raw = match body {
        Some(Value::Object(o)) => o.get("conn_id").cloned().unwrap_or(Value::Null),
        // The reference fails with 500 on a body that is not an object.
        Some(_) => return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]}))),
        None => query_param(req.query(), "conn_id")
            .map(Value::String)
            .unwrap_or(Value::Null),
    };
    if raw.is_null() {
        return Err(Rejection::Invalid(json!({ "conn_id": msg(NULL) })));
    }
    uuid(&raw)
        .map(Kind::Disconnect)
        .map_err(|e| Rejection::Invalid(json!({ "conn_id": e })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_names_are_identifier_paths_and_nothing_else() {
        for good in ["cb", "cb_1", "$", "_x", "jQuery123.cb", "a.b.c", "$.ajax_4"] {
            assert!(is_callback_name(good), "{good}");
        }
        let long = "a".repeat(MAX_CALLBACK_LEN + 1);
        for bad in [
            "",
            "1cb",
            "a..b",
            "a.",
            ".a",
            "cb(1)",
            "a b",
            "<script>alert(document.domain)</script>",
            "alert(1);cb",
            "a-b",
            "caf\u{e9}",
            "cb\n",
            long.as_str(),
        ] {
            assert!(!is_callback_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn answers_are_json_or_javascript_never_html() {
        let plain = answer(None, "[]", &Vec::new());
        let jsonp = answer(Some("cb"), "[]", &Vec::new());
        let ctype = |r: &Response| r.headers[0].1.clone();
        assert_eq!(ctype(&plain), "application/json");
        assert_eq!(ctype(&jsonp), "application/javascript; charset=UTF-8");
        assert_eq!(jsonp.body, b"cb([])");
    }
}
