//! The demo chat (`demo = true`): the page at `/demo`, its script and stylesheet, and the
//! calls the page makes, under `/demo/`. The server is the demo's application: where a
//! real application would check a signed-in user and sign its calls to the API, the
//! demo restricts the browser's JSON to what a chat user may do and builds the API
//! command itself ([`call::Call`], run on the hub thread).
//!
//! What the demo may touch is fenced off from the applications that share the server:
//! every user it creates is named `demo:NAME` and it only knows the channels in
//! [`CHANNELS`]. After `/demo/connect`, a page acts only through the connection id the
//! server gave it, which stands for the name it connected with.
//!
//! Bounds: names of 1 to [`MAX_NAME_CHARS`] letters, digits, `_`, `-` or `.`; messages of
//! up to [`MAX_TEXT_CHARS`] characters; statuses of up to [`MAX_STATUS_CHARS`]; three
//! channels keeping [`HISTORY_SIZE`] messages each; [`CALLS_PER_WINDOW`] calls per
//! connection and [`CONNECTS_PER_WINDOW`] connects per address every [`WINDOW_SECS`]
//! seconds (429 past them); no new demo user while the server holds [`MAX_USERS`] (503).

pub mod call;
mod page;
pub mod rate;

use crate::api::fields::{msg, string_list, uuid, Form, INVALID_INPUT};
use crate::api::reply;
use crate::api::{Command, Kind, Rejection, Routed};
use crate::http::{Request, Response};
use crate::hub::ChannelConfig;
use call::Call;
use rate::{Caller, RateBook};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// Prefix of every user the demo creates and every channel it knows.
pub const PREFIX: &str = "demo:";
/// The channels a demo page may join.
pub const CHANNELS: [&str; 3] = ["demo:lobby", "demo:random", "demo:help"];
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 24;
/// Longest message, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest status, in characters.
pub const MAX_STATUS_CHARS: usize = 64;
/// Messages each demo channel keeps and shows to whoever joins.
pub const HISTORY_SIZE: u64 = 50;
/// Calls one connection may make per window.
pub const CALLS_PER_WINDOW: u32 = 40;
/// `/demo/connect` calls one address may make per window.
pub const CONNECTS_PER_WINDOW: u32 = 30;
/// The rate window, in seconds.
pub const WINDOW_SECS: u64 = 10;
/// Users the server may hold (any application's too) for the demo to create another:
/// users are kept a day after their last connection, so connects from many addresses
/// must not grow the hub without end. Past it, a new name gets 503; known names connect.
pub const MAX_USERS: usize = 10_000;
/// Callers counted at once (see [`RateBook`]).
pub const MAX_CALLERS: usize = 10_000;

/// The settings of every demo channel: presence with user lists, status changes, history.
pub fn channel_config() -> ChannelConfig {
    ChannelConfig {
        notify_presence: true,
        store_history: true,
        history_size: HISTORY_SIZE,
        broadcast_presence_with_user_lists: true,
        notify_state: true,
        store_frames: true,
    }
}

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A demo channel.
    Channel(String),
    /// Privately to a demo user (full name, with [`PREFIX`]).
    User(String),
}

/// The demo's worker half: its rate counters.
#[derive(Debug)]
pub struct Demo {
    calls: RateBook,
    connects: RateBook,
}

impl Default for Demo {
    fn default() -> Self {
        Demo::new()
    }
}

impl Demo {
    /// A demo with empty rate counters.
    pub fn new() -> Demo {
        Demo {
            calls: RateBook::new(CALLS_PER_WINDOW, WINDOW_SECS, MAX_CALLERS),
            connects: RateBook::new(CONNECTS_PER_WINDOW, WINDOW_SECS, MAX_CALLERS),
        }
    }

    /// Answers a path under `/demo`; `None` for other paths and for methods a path does
    /// not take (the caller's usual 404). `now` is Unix time in seconds.
    pub fn route(&self, req: &Request, path: &str, peer: IpAddr, now: u64) -> Option<Routed> {
        let method = req.method.as_str();
        if let Some(r) = page::serve(req, path) {
            return Some(Routed::Respond(r));
        }
        let verb = match (path, method) {
            ("/demo/connect", "POST") => Verb::Connect,
            ("/demo/subscribe", "POST") => Verb::Subscribe,
            ("/demo/unsubscribe", "POST") => Verb::Unsubscribe,
            ("/demo/user_state", "POST") => Verb::Status,
            ("/demo/message", "POST") => Verb::Post,
            ("/demo/message", "PATCH") => Verb::Edit,
            ("/demo/message", "DELETE") => Verb::Delete,
            _ => return None,
        };
        Some(self.call(req, verb, peer, now))
    }

    fn call(&self, req: &Request, verb: Verb, peer: IpAddr, now: u64) -> Routed {
        let json_type = req
            .header("content-type")
            .is_some_and(|t| t.starts_with(b"application/json"));
        if !json_type {
            // Only a script can send this type, and only to its own origin (or after a
            // CORS preflight): a form on another site cannot make demo calls.
            let body = reply::pretty(&json!({"error": "Content-Type must be application/json"}));
            return Routed::Respond(Response::json(415, body));
        }
        let call = match parse(verb, &req.body) {
            Ok(call) => call,
            Err(Rejection::Json) => return Routed::Respond(reply::malformed_json()),
            Err(Rejection::Invalid(e) | Rejection::BadRequest(e)) => {
                return Routed::Respond(reply::invalid(e))
            }
            Err(Rejection::TooMany(e)) => return Routed::Respond(reply::too_large(e)),
        };
        let (book, caller) = match &call {
            Call::Connect { .. } => (&self.connects, Caller::Peer(peer)),
            Call::Subscribe { conn, .. }
            | Call::Post { conn, .. }
            | Call::Edit { conn, .. }
            | Call::Delete { conn, .. }
            | Call::Status { conn, .. } => (&self.calls, Caller::Conn(*conn)),
        };
        if !book.allow(caller, now) {
            let body = reply::pretty(&json!({"error": "Too many demo calls; wait a few seconds."}));
            let mut r = Response::json(429, body);
            r.headers
                .push(("Retry-After".into(), WINDOW_SECS.to_string()));
            return Routed::Respond(r);
        }
        Routed::Hub(Box::new(Command {
            kind: Kind::Demo(Box::new(call)),
            cors: Vec::new(),
            page: reply::negotiate(req.header("accept")),
            nonce: None,
        }))
    }
}

/// Which demo call a path and method name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Connect,
    Subscribe,
    Unsubscribe,
    Status,
    Post,
    Edit,
    Delete,
}

/// Validates a demo call's body (what the page's `ChannelStreamConnection` sends).
/// Most items of any list or object in a demo call's body (checked before parsing).
const DEMO_MAX_ITEMS: usize = 64;

fn parse(verb: Verb, body: &[u8]) -> Result<Call, Rejection> {
    // A demo call names a handful of things; no list or object in it needs more items.
    crate::api::json_limits::scan(body, DEMO_MAX_ITEMS)
        .map_err(crate::api::bounds::too_many_items)?;
    let body: Value = serde_json::from_slice(body).map_err(|_| Rejection::Json)?;
    let Value::Object(obj) = body else {
        return Err(Rejection::Invalid(json!({"_schema": [INVALID_INPUT]})));
    };
    let mut f = Form::new(&obj);
    let call = match verb {
        Verb::Connect => {
            let name = f.required("username", name);
            let channels = f.optional("channels", channels);
            let previous = f.nullable("conn_id", uuid);
            let status = f.nullable("status", status);
            match (name, channels, previous, status) {
                (Some(name), Some(channels), Some(previous), Some(status)) => Some(Call::Connect {
                    name,
                    channels: channels.unwrap_or_default(),
                    previous,
                    status,
                }),
                _ => None,
            }
        }
        Verb::Subscribe | Verb::Unsubscribe => {
            let conn = f.required("conn_id", uuid);
            let channels = f.required("channels", channels);
            match (conn, channels) {
                (Some(conn), Some(channels)) => Some(Call::Subscribe {
                    conn,
                    channels,
                    unsubscribe: verb == Verb::Unsubscribe,
                }),
                _ => None,
            }
        }
        Verb::Status => {
            let conn = f.required("conn_id", uuid);
            // The client sends `update_state` as given to `updateUserState`.
            let status = f.required("update_state", |v| match v.get("status") {
                Some(s) => status(s),
                None => Err(msg("Must hold a status.")),
            });
            match (conn, status) {
                (Some(conn), Some(status)) => Some(Call::Status { conn, status }),
                _ => None,
            }
        }
        Verb::Post | Verb::Edit | Verb::Delete => {
            let conn = f.required("conn_id", uuid);
            let to = target(&mut f, &obj);
            let id = match verb {
                Verb::Post => None,
                _ => f.required("uuid", uuid),
            };
            let text = match verb {
                Verb::Delete => None,
                _ => f.required("text", text),
            };
            match (verb, conn, to, id, text) {
                (Verb::Post, Some(conn), Some(to), _, Some(text)) => {
                    Some(Call::Post { conn, to, text })
                }
                (Verb::Edit, Some(conn), Some(to), Some(uuid), Some(text)) => Some(Call::Edit {
                    conn,
                    uuid,
                    to,
                    text,
                }),
                (Verb::Delete, Some(conn), Some(to), Some(uuid), _) => {
                    Some(Call::Delete { conn, uuid, to })
                }
                _ => None,
            }
        }
    };
    match call {
        Some(call) if f.errors.is_empty() => Ok(call),
        _ => Err(Rejection::Invalid(Value::Object(f.errors))),
    }
}

/// A name to connect as: 1 to [`MAX_NAME_CHARS`] letters, digits, `_`, `-` or `.`.
fn name(v: &Value) -> Result<String, Value> {
    let s = v.as_str().ok_or_else(|| msg("Not a valid string."))?;
    let n = s.chars().count();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !(1..=MAX_NAME_CHARS).contains(&n) || !s.chars().all(allowed) {
        return Err(msg(
            "1 to 24 letters, digits, '_', '-' or '.', without spaces.",
        ));
    }
    Ok(s.to_string())
}

/// Demo channel names, each known, without repeats.
fn channels(v: &Value) -> Result<Vec<String>, Value> {
    let mut list = string_list(v, 1, 64)?;
    if let Some(bad) = list.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
        return Err(msg(&format!("Not a demo channel: {bad}")));
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// A status of up to [`MAX_STATUS_CHARS`] characters (empty clears it).
fn status(v: &Value) -> Result<String, Value> {
    let s = v.as_str().ok_or_else(|| msg("Not a valid string."))?;
    if s.chars().count() > MAX_STATUS_CHARS || s.chars().any(char::is_control) {
        return Err(msg("Up to 64 characters, on one line."));
    }
    Ok(s.to_string())
}

/// A message's text: 1 to [`MAX_TEXT_CHARS`] characters, not only white space.
fn text(v: &Value) -> Result<String, Value> {
    let s = v.as_str().ok_or_else(|| msg("Not a valid string."))?;
    if s.trim().is_empty() || s.chars().count() > MAX_TEXT_CHARS {
        return Err(msg("1 to 2000 characters."));
    }
    Ok(s.to_string())
}

/// Exactly one of `channel` (a demo channel) and `to` (a demo user's full name).
fn target(f: &mut Form<'_>, obj: &Map<String, Value>) -> Option<Target> {
    let user = |v: &Value| -> Result<String, Value> {
        let s = v.as_str().ok_or_else(|| msg("Not a valid string."))?;
        match s.strip_prefix(PREFIX) {
            Some(rest) if name(&json!(rest)).is_ok() => Ok(s.to_string()),
            _ => Err(msg("Not a demo user.")),
        }
    };
    let channel = |v: &Value| -> Result<String, Value> {
        let s = v.as_str().ok_or_else(|| msg("Not a valid string."))?;
        if !CHANNELS.contains(&s) {
            return Err(msg("Not a demo channel."));
        }
        Ok(s.to_string())
    };
    match (obj.contains_key("channel"), obj.contains_key("to")) {
        (true, false) => f.required("channel", channel).map(Target::Channel),
        (false, true) => f.required("to", user).map(Target::User),
        _ => {
            f.add("channel", "Give either a channel or a user (to).");
            None
        }
    }
}

#[cfg(test)]
mod tests;
