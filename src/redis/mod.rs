//! Several nodes sharing state through Redis (issue 12; the design is `docs/SCALING.md`).
//! Wired into the hub thread by `app::redis_bridge`:
//!
//! - `url`: the `redis_url` setting ([`RedisUrl`]).
//! - `session`: one connection's protocol state, sans-IO ([`Session`]): pipelined commands
//!   with deadlines, handshake, reconnect back-off, resubscription.
//! - `link`: the thread that drives a command session and a subscriber session over mio
//!   ([`RedisLink::spawn`] → [`RedisHandle`]). Like `server/`, it imports mio and reads
//!   the clock; nothing else here does.
//! - `script`, `publish`: Lua scripts run with `EVALSHA`, and the atomic publish
//!   ([`PublishScript`]).
//! - `presence`: presence over every node, with expiry ([`PresenceScripts`]).
//! - `stats`: what the link counts for `/metrics` and `/readyz` ([`LinkStats`]).
//!
//! The wire format is [`crate::resp`].

mod link;
mod presence;
mod publish;
mod script;
mod session;
mod stats;
mod url;

pub use link::{NotQueued, RedisHandle, RedisLink};
pub use presence::{PresenceScripts, REFRESH_BATCH, SWEEP_BATCH};
pub use publish::{
    new_epoch, PublishScript, Published, PublishedFrame, SeqFloor, CHANNEL_TTL_SECONDS,
    DEDUP_SECONDS,
};
pub use script::Script;
pub use session::{Session, SUBSCRIBE_BATCH};
pub use stats::{LinkStats, COMMAND_LATENCY_BOUNDS};
pub use url::{RedisUrl, RedisUrlError};

use crate::resp::{Reply, RespLimits};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which of a node's two Redis connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Pipelined commands and scripts.
    Commands,
    /// `SUBSCRIBE`d channels and their messages.
    Subscriber,
}

/// What the link tells its owner. The owner (later: the hub thread, as a `HubMsg`) must
/// take events without blocking the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisEvent {
    /// The outcome of the command or script tagged `tag`. Every command gets exactly one.
    Reply {
        /// The caller's tag.
        tag: u64,
        /// The reply, or why there is none.
        result: Result<Reply, CommandError>,
    },
    /// A message published on a subscribed channel.
    Message {
        /// The channel, as subscribed.
        channel: Vec<u8>,
        /// The published bytes.
        payload: Vec<u8>,
    },
    /// Redis confirmed a subscription: after `subscribe`, and again after every
    /// reconnect. Messages published from then on arrive; earlier ones must be read from
    /// the stored frames (gap repair, `docs/SCALING.md`).
    Subscribed {
        /// The channel.
        channel: Vec<u8>,
    },
    /// A connection finished its handshake (`up`) or was lost. While the subscriber was
    /// down, messages were missed.
    Link {
        /// Which connection.
        role: Role,
        /// Up or down.
        up: bool,
    },
}

/// Why a command has no reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Redis answered with an error (`-ERR ...`, `-WRONGTYPE ...`); the text is the server's.
    Server(String),
    /// No reply within `command_timeout`. The command may have run; the connection was
    /// reset, since later replies would be out of step.
    Timeout,
    /// Redis is down (connect refused or timed out, or waiting out a back-off); the
    /// command was not sent. Fails fast: the API answers 503.
    Unavailable,
    /// The connection broke after the command was sent: it may or may not have run.
    /// Retrying is safe for idempotent commands (the publish script, by message id).
    ConnectionLost,
    /// More than `max_pending` commands are waiting for replies.
    Busy,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(message) => write!(f, "redis error: {message}"),
            Self::Timeout => f.write_str("redis did not answer in time"),
            Self::Unavailable => f.write_str("redis is unavailable"),
            Self::ConnectionLost => f.write_str("redis connection lost"),
            Self::Busy => f.write_str("too many redis commands waiting"),
        }
    }
}

impl std::error::Error for CommandError {}

/// How the link talks to Redis. Start from [`LinkConfig::new`] and set fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LinkConfig {
    /// Where Redis is and how to log in (AUTH, SELECT).
    pub url: RedisUrl,
    /// Longest wait for one reply. Past it the command fails with `Timeout` and the
    /// connection is reset. Default 2 s.
    pub command_timeout: Duration,
    /// Longest wait for a TCP connect. Default 2 s.
    pub connect_timeout: Duration,
    /// First wait before reconnecting; doubles per failure. Default 100 ms.
    pub backoff_min: Duration,
    /// Longest wait before reconnecting. Default 5 s.
    pub backoff_max: Duration,
    /// The subscriber sends `PING` after this long without a byte, and resets when the
    /// answer does not come within `command_timeout`: a subscriber can otherwise starve
    /// silently on a dead or demoted server. Default 10 s.
    pub ping_interval: Duration,
    /// Most commands waiting for replies; past it `Busy`. Default 100 000.
    pub max_pending: usize,
    /// Requests queued from callers to the link thread; past it the handle answers
    /// `Busy` at once. Default 65 536.
    pub queue: usize,
    /// What we believe of a reply.
    pub limits: RespLimits,
    /// Scripts loaded with `SCRIPT LOAD` on every connect, before any caller command.
    pub scripts: Vec<Arc<Script>>,
    /// Where the link counts round trips and reconnects and says whether each
    /// connection is up; keep a clone to read them ([`RedisHandle::stats`] too).
    pub stats: Arc<LinkStats>,
}

impl LinkConfig {
    /// Defaults for `url`.
    pub fn new(url: RedisUrl) -> LinkConfig {
        LinkConfig {
            url,
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ping_interval: Duration::from_secs(10),
            max_pending: 100_000,
            queue: 65_536,
            limits: RespLimits::default(),
            scripts: Vec::new(),
            stats: Arc::new(LinkStats::default()),
        }
    }
}
