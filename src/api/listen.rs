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
}

/// `conn_id` must be a UUID: otherwise 422 `["Wrong UUID format"]` (`uuid_from_string`;
/// a missing id, a 500 in the reference, gets the same).
pub fn parse_listen(req: &Request) -> Result<Listen, Rejection> {
    let id = query_param(req.query(), "conn_id").and_then(|s| Uuid::parse(&s));
    let conn_id = id.ok_or_else(|| Rejection::Invalid(json!(["Wrong UUID format"])))?;
    let callback = query_param(req.query(), "callback").filter(|c| !c.is_empty());
    Ok(Listen { conn_id, callback })
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
    if hub.attach_poll(l.conn_id, conn, reply, now) {
        Outcome::Waiting
    } else {
        Outcome::Respond(reply::unauthorized(page))
    }
}

/// The answer to a long-poll: the JSON list, or `callback(list)`. The reference returns
/// its `request.response` directly, so the content type is pyramid's default.
pub fn answer(callback: Option<&str>, body: &str, cors: &Cors) -> Response {
    let text = match callback {
        Some(cb) => format!("{cb}({body})"),
        None => body.to_string(),
    };
    let mut headers = vec![(
        "Content-Type".to_string(),
        "text/html; charset=UTF-8".to_string(),
    )];
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
