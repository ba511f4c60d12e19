//! One channelstream connection (`connection.py`): an id a browser listens with, its owner,
//! its activity, and where its messages go right now. Pure: a delivery target is only an
//! engine [`ConnId`], never a socket.

use super::id::Uuid;
use super::message::Encoded;
use super::time::Time;
use crate::conn_id::ConnId;

/// Where a connection's messages go at this moment.
#[derive(Debug)]
pub enum Target {
    /// Nobody listens: messages are only kept as frames for catch-up.
    Detached,
    /// An open websocket.
    Ws(ConnId),
    /// A waiting long-poll request.
    Poll(Poll),
}

/// How a long-poll's answer is to be wrapped, decided by the API when the request
/// arrived. The hub does not read it: it keeps it with the [`Poll`] and hands it back in
/// the [`Effect::Answer`](super::Effect::Answer), so everything about a waiting poll has
/// one owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReply {
    /// JSONP callback name.
    pub callback: Option<String>,
    /// Extra response headers (CORS).
    pub headers: Vec<(String, String)>,
}

/// A long-poll request waiting for messages (`server.py` `await_data`).
#[derive(Debug)]
pub struct Poll {
    /// The HTTP request to answer.
    pub http: ConnId,
    /// How to wrap the answer, passed back untouched.
    pub reply: PollReply,
    /// When to stop waiting for a first message (`wake_connections_after`).
    pub deadline: Time,
    /// Once anything arrived (a heartbeat counts): answer when this passes without more.
    pub quiet_until: Option<Time>,
    /// Messages gathered so far.
    pub messages: Vec<Encoded>,
}

impl Poll {
    /// When this poll next needs attention.
    pub fn due(&self) -> Time {
        self.quiet_until.unwrap_or(self.deadline)
    }
}

/// A connection.
#[derive(Debug)]
pub struct Connection {
    /// The id clients use (`conn_id`).
    pub id: Uuid,
    /// The owning user's name.
    pub username: String,
    /// Last activity; the reference marks a connection for GC by moving this 60 days back.
    pub last_active: Time,
    /// Where messages go.
    pub target: Target,
    /// Names of the channels it is in, sorted. Mirrors the channels' own member lists,
    /// so that finding a connection's channels (on every websocket attach, subscribe and
    /// removal) costs its own channel count, not a scan of every channel on the server.
    pub channels: Vec<String>,
}

impl Connection {
    /// A new, detached connection.
    pub fn new(id: Uuid, username: &str, now: Time) -> Connection {
        Connection {
            id,
            username: username.to_string(),
            last_active: now,
            target: Target::Detached,
            channels: Vec::new(),
        }
    }

    /// Notes that it joined channel `name`.
    pub fn joined(&mut self, name: &str) {
        if let Err(at) = self.channels.binary_search_by(|c| c.as_str().cmp(name)) {
            self.channels.insert(at, name.to_string());
        }
    }

    /// Notes that it left channel `name`.
    pub fn left(&mut self, name: &str) {
        if let Ok(at) = self.channels.binary_search_by(|c| c.as_str().cmp(name)) {
            self.channels.remove(at);
        }
    }

    /// The engine connection delivering to this one, if any.
    pub fn engine_conn(&self) -> Option<ConnId> {
        match &self.target {
            Target::Detached => None,
            Target::Ws(c) => Some(*c),
            Target::Poll(p) => Some(p.http),
        }
    }
}
