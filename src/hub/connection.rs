//! One channelstream connection (`connection.py`): an id a browser listens with, its owner,
//! its activity, and where its messages go right now. Pure: a delivery target is only an
//! engine [`ConnId`], never a socket.

use super::id::Uuid;
use super::message::Encoded;
use super::time::Time;
use crate::conn_id::ConnId;

/// Where a connection's messages go at this moment. The long-poll states are boxed: a
/// websocket's (or a detached) connection then takes 16 bytes here instead of 112, in a
/// table with an entry per connection (BENCHMARKS.md, "Kept targets").
#[derive(Debug)]
pub enum Target {
    /// Nobody listens: messages are only kept as frames for catch-up.
    Detached,
    /// An open websocket.
    Ws(ConnId),
    /// A waiting long-poll request.
    Poll(Box<Poll>),
    /// A long-poll client between two polls: its last poll was answered (or its request
    /// went away) and the next has not arrived. Messages wait here for the next poll, so
    /// a client that re-polls late misses nothing, whatever `store_frames` says.
    BetweenPolls(Box<PollQueue>),
}

/// Messages queued for a long-poll client between two polls, bounded by
/// [`POLL_QUEUE_MAX_MESSAGES`] and [`POLL_QUEUE_MAX_BYTES`]. Past either bound the
/// connection is cut (removed as if collected): its next poll is answered as for an
/// unknown connection, so the client connects again and can recover by position
/// (docs/RELIABILITY.md). Silently dropping the oldest would lose messages unseen.
#[derive(Debug, Default)]
pub struct PollQueue {
    /// Messages, oldest first.
    pub messages: Vec<Encoded>,
    /// Their total length in bytes.
    pub bytes: usize,
}

/// At most this many messages wait for a long-poll client between two polls.
pub const POLL_QUEUE_MAX_MESSAGES: usize = 1000;
/// At most this many bytes of messages wait for a long-poll client between two polls.
pub const POLL_QUEUE_MAX_BYTES: usize = 1 << 20;

impl PollQueue {
    /// A queue holding `messages` (those a poll gathered but could not hand over).
    pub fn holding(messages: Vec<Encoded>) -> PollQueue {
        let bytes = messages.iter().map(|m| m.len()).sum();
        PollQueue { messages, bytes }
    }

    /// Queues `msg`; false if that would pass a bound (the message is not queued).
    #[must_use = "a full queue means the connection must be cut"]
    pub fn push(&mut self, msg: &Encoded) -> bool {
        if self.messages.len() >= POLL_QUEUE_MAX_MESSAGES
            || self.bytes + msg.len() > POLL_QUEUE_MAX_BYTES
        {
            return false;
        }
        self.bytes += msg.len();
        self.messages.push(msg.clone());
        true
    }
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

/// Makes room for exactly one item in an empty, unallocated `v`, so that the short lists
/// every connection owns (its channels, a user's connections, a channel member's
/// connections) hold one item in one item's space: a plain first `push` reserves four,
/// 72 of the 96 bytes of a one-channel connection's list unused (BENCHMARKS.md, "Kept
/// targets"). A second item grows the list as usual.
pub(super) fn reserve_first<T>(v: &mut Vec<T>) {
    if v.capacity() == 0 {
        v.reserve_exact(1);
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
    /// The listener attached last asked for positions (a `recover` parameter): its
    /// channel messages carry `"pos"` (docs/API.md "Recovery after reconnect").
    pub positions: bool,
    /// Set by `/disconnect`: the next collection pass removes the connection whatever
    /// its activity. The reference only moves `last_active` back, so a poll or heartbeat
    /// in the second before the pass revived it (docs/COMPATIBILITY.md). Only a
    /// `/connect` with the same id clears it.
    pub disconnected: bool,
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
            positions: false,
            disconnected: false,
        }
    }

    /// Notes that it joined channel `name`.
    pub fn joined(&mut self, name: &str) {
        if let Err(at) = self.channels.binary_search_by(|c| c.as_str().cmp(name)) {
            reserve_first(&mut self.channels);
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
            Target::Detached | Target::BetweenPolls(_) => None,
            Target::Ws(c) => Some(*c),
            Target::Poll(p) => Some(p.http),
        }
    }
}
