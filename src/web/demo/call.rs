//! The demo's calls on the hub thread: what a chat user may do, checked against hub state
//! (which user a connection belongs to, who wrote a message), then handed to the same
//! code a signed API call runs (`api::connect`, `api::subscribe`, `api::message`,
//! `api::user_state`). The browser never names the acting user after connecting: it is
//! always the owner of the connection id the server issued.

use super::{channel_config, Target, CHANNELS, MAX_USERS, PREFIX};
use crate::api::reply::{self, Cors};
use crate::api::{connect, message, subscribe, user_state, Outcome};
use crate::hub::{ConnectParams, Hub, InfoConfig, Time, Uuid};
use serde_json::{json, Map, Value};

/// A demo call, validated on the worker (field types, lengths, channel names).
#[derive(Debug)]
pub enum Call {
    /// Connect as `PREFIX + name`.
    Connect {
        /// The name picked (without [`PREFIX`]).
        name: String,
        /// Demo channels to join.
        channels: Vec<String>,
        /// The page's earlier connection id: lets it connect again while that connection
        /// still holds the name (a reload, a lost websocket).
        previous: Option<Uuid>,
        /// The user's status.
        status: Option<String>,
    },
    /// Join (`unsubscribe: false`) or leave demo channels.
    Subscribe {
        /// The acting connection.
        conn: Uuid,
        /// Demo channels.
        channels: Vec<String>,
        /// Leave instead of join.
        unsubscribe: bool,
    },
    /// Say `text` in a channel or privately.
    Post {
        /// The acting connection.
        conn: Uuid,
        /// Where to.
        to: Target,
        /// The text.
        text: String,
    },
    /// Replace the text of one of the user's messages.
    Edit {
        /// The acting connection.
        conn: Uuid,
        /// The message.
        uuid: Uuid,
        /// Where it was sent.
        to: Target,
        /// The new text.
        text: String,
    },
    /// Delete one of the user's messages.
    Delete {
        /// The acting connection.
        conn: Uuid,
        /// The message.
        uuid: Uuid,
        /// Where it was sent.
        to: Target,
    },
    /// Set the user's public status.
    Status {
        /// The acting connection.
        conn: Uuid,
        /// The status (may be empty).
        status: String,
    },
}

/// Why the hub refused a call: the status and the field the error object names.
struct Refused(u16, &'static str, &'static str);

impl Refused {
    fn response(self, cors: &Cors) -> Outcome {
        let Refused(status, field, text) = self;
        Outcome::Respond(reply::rendered(status, &json!({ field: [text] }), cors))
    }
}

impl Call {
    /// Checks the call against the hub and runs it as the API would.
    pub fn run(self, hub: &mut Hub, now: Time, cors: &Cors) -> Outcome {
        match self.run_checked(hub, now, cors) {
            Ok(outcome) => outcome,
            Err(refused) => refused.response(cors),
        }
    }

    fn run_checked(self, hub: &mut Hub, now: Time, cors: &Cors) -> Result<Outcome, Refused> {
        let ok = |v: Value| Outcome::Respond(reply::rendered(200, &v, cors));
        let api = |r: Result<Value, Value>| match r {
            Ok(v) => Outcome::Respond(reply::rendered(200, &v, cors)),
            Err(e) => Outcome::Respond(reply::invalid(e)),
        };
        match self {
            Call::Connect {
                name,
                channels,
                previous,
                status,
            } => {
                let params = connect_params(hub, name, channels, previous, status)?;
                let c = connect::Connect {
                    params,
                    info: public_info(),
                };
                Ok(ok(connect::run(c, hub, now)))
            }
            Call::Subscribe {
                conn,
                channels,
                unsubscribe,
            } => {
                owner(hub, conn)?;
                let s = subscribe::Subscribe {
                    unsubscribe,
                    conn_id: Some(conn),
                    configs: channels
                        .iter()
                        .map(|c| (c.clone(), channel_config()))
                        .collect(),
                    channels,
                    info: public_info(),
                    errors: Map::new(),
                };
                Ok(api(subscribe::run(s, hub, now)))
            }
            Call::Post { conn, to, text } => {
                let user = owner(hub, conn)?;
                let mut item = json!({"user": user, "message": message_of(&to, text)});
                route_to(hub, conn, &user, &to, &mut item)?;
                Ok(send(hub, now, cors, item, "POST"))
            }
            Call::Edit {
                conn,
                uuid,
                to,
                text,
            } => {
                let user = owner(hub, conn)?;
                authored(hub, &user, uuid, &to)?;
                let mut item = json!({
                    "uuid": uuid.to_string(),
                    "user": user,
                    "message": message_of(&to, text),
                });
                route_to(hub, conn, &user, &to, &mut item)?;
                Ok(send(hub, now, cors, item, "PATCH"))
            }
            Call::Delete { conn, uuid, to } => {
                let user = owner(hub, conn)?;
                authored(hub, &user, uuid, &to)?;
                let mut item = json!({"uuid": uuid.to_string()});
                route_to(hub, conn, &user, &to, &mut item)?;
                Ok(send(hub, now, cors, item, "DELETE"))
            }
            Call::Status { conn, status } => {
                let user = owner(hub, conn)?;
                let body = json!({"user": user, "user_state": {"status": status}});
                match user_state::parse(&body) {
                    Ok(u) => Ok(api(user_state::run(u, hub, now))),
                    Err(_) => Err(Refused(422, "status", "Not a valid status.")),
                }
            }
        }
    }
}

/// Channel listings as a demo page needs them: users with their public state only.
fn public_info() -> InfoConfig {
    InfoConfig {
        return_public_state: true,
        ..InfoConfig::default()
    }
}

/// What `/connect` gets for a demo connect: the prefixed name, the page's earlier
/// connection if it still belongs to that name, `status` as the one public state key.
/// A name held by someone else's live connection is refused (409); a new name while the
/// server holds [`MAX_USERS`] users too (503).
fn connect_params(
    hub: &Hub,
    name: String,
    channels: Vec<String>,
    previous: Option<Uuid>,
    status: Option<String>,
) -> Result<ConnectParams, Refused> {
    let username = format!("{PREFIX}{name}");
    let previous = previous.filter(|id| {
        hub.connections
            .get(id)
            .is_some_and(|c| c.username == username)
    });
    let held = hub
        .users
        .get(&username)
        .is_some_and(|u| !u.connections.is_empty());
    if previous.is_none() && held {
        return Err(Refused(
            409,
            "username",
            "This name is in use; pick another.",
        ));
    }
    if !hub.users.contains_key(&username) && hub.users.len() >= MAX_USERS {
        return Err(Refused(
            503,
            "username",
            "The demo is full; try again later.",
        ));
    }
    let mut user_state = Map::new();
    if let Some(s) = status {
        user_state.insert("status".into(), json!(s));
    }
    Ok(ConnectParams {
        username,
        conn_id: previous,
        channel_configs: CHANNELS
            .iter()
            .map(|c| (c.to_string(), channel_config()))
            .collect(),
        channels,
        state_public_keys: vec!["status".into()],
        fresh_user_state: Map::new(),
        user_state,
    })
}

/// The user a demo connection belongs to; 422 for an unknown connection or one that
/// is not the demo's (an application's connection id gives no power here).
fn owner(hub: &Hub, conn: Uuid) -> Result<String, Refused> {
    match hub.connections.get(&conn) {
        Some(c) if c.username.starts_with(PREFIX) => Ok(c.username.clone()),
        _ => Err(Refused(422, "conn_id", "Unknown connection")),
    }
}

/// A message's `message` object: the text, and for a private message whom it is to (so
/// the sender's own copy says so).
fn message_of(to: &Target, text: String) -> Value {
    match to {
        Target::Channel(_) => json!({ "text": text }),
        Target::User(name) => json!({ "text": text, "to": name }),
    }
}

/// Sets where a message goes: a channel the connection is in, or privately to an
/// existing demo user and the sender (who sees their own private messages too).
fn route_to(
    hub: &Hub,
    conn: Uuid,
    user: &str,
    to: &Target,
    item: &mut Value,
) -> Result<(), Refused> {
    match to {
        Target::Channel(name) => {
            if !hub.conn_channels(conn).contains(name) {
                return Err(Refused(422, "channel", "Join this channel first."));
            }
            item["channel"] = json!(name);
        }
        Target::User(name) => {
            if !hub.users.contains_key(name) {
                return Err(Refused(422, "to", "Unknown user"));
            }
            let mut pm = vec![name.as_str()];
            if name != user {
                pm.push(user);
            }
            item["pm_users"] = json!(pm);
        }
    }
    Ok(())
}

/// Checks that message `uuid`, still kept where `to` says it was sent (the channel's
/// history, or the sender's own private frames), was written by `user`: 422 if it is not
/// kept there, 403 if someone else wrote it.
fn authored(hub: &Hub, user: &str, uuid: Uuid, to: &Target) -> Result<(), Refused> {
    let id = json!(uuid.to_string());
    let found = match to {
        Target::Channel(name) => hub.channels.get(name).and_then(|ch| {
            ch.history
                .iter()
                .find(|m| m.has_uuid(Some(&id)))
                .map(|m| m.map())
        }),
        Target::User(_) => hub.users.get(user).and_then(|u| {
            u.frames
                .iter()
                .find(|(_, m)| m.has_uuid(Some(&id)) && m.is_message())
                .map(|(_, m)| m.map())
        }),
    };
    match found {
        None => Err(Refused(422, "uuid", "No such message is kept here.")),
        Some(m) if m.get("user").and_then(Value::as_str) == Some(user) => Ok(()),
        Some(_) => Err(Refused(403, "uuid", "This message is not yours.")),
    }
}

/// Validates `item` as `/message` does for `method` and runs it.
fn send(hub: &mut Hub, now: Time, cors: &Cors, item: Value, method: &str) -> Outcome {
    match message::parse(Value::Array(vec![item]), method) {
        Ok(m) => Outcome::Respond(reply::rendered_body(200, message::run(m, hub, now), cors)),
        Err(_) => Outcome::Respond(reply::invalid(json!({"message": ["Not a valid message."]}))),
    }
}
