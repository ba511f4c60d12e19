//! [`Session`]: one Redis connection's protocol state, sans-IO (like `server::conn::Conn`,
//! after quinn-proto's `Connection`). It takes bytes, connect/close notices and `now`,
//! and gives back bytes to write, [`RedisEvent`]s and its next deadline. It owns no
//! socket and reads no clock, so timeouts, back-off and resubscription are unit-tested
//! with a simulated clock. The driver (`link.rs`) owns the socket.
//!
//! Two roles share it. The command connection pipelines callers' commands and matches
//! replies to them in order (Redis answers in FIFO order on one connection). The
//! subscriber connection holds the wanted channel set, subscribes to all of it after every
//! connect (in batches of [`SUBSCRIBE_BATCH`]) and turns `message` pushes into events;
//! under RESP2 a subscribed connection can run nothing but pub/sub commands, hence two.

use super::{CommandError, LinkConfig, RedisEvent, Role, Script};
use crate::decoded::Decoded;
use crate::resp::{encode_command, Reply, ReplyDecoder};
use std::collections::{BTreeSet, VecDeque};
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Channels per `SUBSCRIBE` command when resubscribing, so one command (and Redis's
/// reply burst) stays small however many channels a node has (Centrifuge uses 512).
pub const SUBSCRIBE_BATCH: usize = 512;

/// Where the connection is. The `on_*` methods are the only places that move it on.
#[derive(Debug)]
enum Phase {
    /// No socket. When `now >= retry_at` the driver connects and calls
    /// [`Session::on_connect_started`]. Next: Connecting.
    Down { retry_at: Instant },
    /// The socket is connecting. Next: Up (`on_connected`), Down (failure, `deadline`).
    Connecting { deadline: Instant },
    /// Connected; the handshake is the front of `awaiting` until `ready`. Next: Down.
    Up { ready: bool },
}

/// A reply we are waiting for, in the order the commands were written.
#[derive(Debug)]
enum Awaiting {
    /// AUTH, SELECT or SCRIPT LOAD, sent by the session itself. An error reply resets.
    Handshake {
        what: &'static str,
        deadline: Instant,
    },
    /// A caller's command; `fallback` is the `EVAL` to send if `EVALSHA` meets `NOSCRIPT`.
    Command {
        tag: u64,
        /// When the caller gave it: the round trip measured for `/metrics` starts here.
        queued: Instant,
        deadline: Instant,
        fallback: Option<Vec<u8>>,
    },
    /// The subscriber's liveness `PING` (answered `["pong", ""]` on a subscribed
    /// connection).
    Ping { deadline: Instant },
}

impl Awaiting {
    fn deadline(&self) -> Instant {
        match self {
            Awaiting::Handshake { deadline, .. }
            | Awaiting::Command { deadline, .. }
            | Awaiting::Ping { deadline } => *deadline,
        }
    }
}

/// One Redis connection's state; see the module docs.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Arc<LinkConfig>,
    phase: Phase,
    /// Bytes to write, in command order.
    out: Vec<u8>,
    /// Bytes read but not yet a whole reply (bounded by `limits.max_reply`).
    input: Vec<u8>,
    decoder: ReplyDecoder,
    awaiting: VecDeque<Awaiting>,
    events: VecDeque<RedisEvent>,
    /// The wait before the next reconnect; doubles per failure up to `backoff_max`, back
    /// to `backoff_min` once a handshake completes.
    backoff: Duration,
    /// Subscriber: the channels wanted, resubscribed after every connect.
    channels: BTreeSet<Vec<u8>>,
    /// When a byte last arrived (subscriber liveness).
    last_input: Instant,
}

impl Session {
    /// A session about to connect (`wants_connect(now)` is true).
    pub fn new(role: Role, config: Arc<LinkConfig>, now: Instant) -> Session {
        Session {
            role,
            decoder: ReplyDecoder::new(config.limits),
            backoff: config.backoff_min,
            config,
            phase: Phase::Down { retry_at: now },
            out: Vec::new(),
            input: Vec::new(),
            awaiting: VecDeque::new(),
            events: VecDeque::new(),
            channels: BTreeSet::new(),
            last_input: now,
        }
    }

    /// Queues a command (name first). Its [`RedisEvent::Reply`] comes later, or at once
    /// with [`CommandError::Unavailable`] while Redis is known to be down (waiting out a
    /// back-off) and [`CommandError::Busy`] past `max_pending`.
    pub fn command(&mut self, tag: u64, args: &[Vec<u8>], now: Instant) {
        self.queue(tag, args, None, now);
    }

    /// Queues `EVALSHA` of `script`, to be re-sent as `EVAL` if Redis answers `NOSCRIPT`.
    pub fn eval(
        &mut self,
        tag: u64,
        script: &Script,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
        now: Instant,
    ) {
        let mut fallback = Vec::new();
        encode_command(&script.invocation(false, keys, args), &mut fallback);
        self.queue(
            tag,
            &script.invocation(true, keys, args),
            Some(fallback),
            now,
        );
    }

    fn queue(&mut self, tag: u64, args: &[Vec<u8>], fallback: Option<Vec<u8>>, now: Instant) {
        let refused = match self.phase {
            Phase::Down { retry_at } if now < retry_at => Some(CommandError::Unavailable),
            _ if self.awaiting.len() >= self.config.max_pending => Some(CommandError::Busy),
            _ => None,
        };
        if let Some(err) = refused {
            self.events.push_back(RedisEvent::Reply {
                tag,
                result: Err(err),
            });
            return;
        }
        encode_command(args, &mut self.out);
        self.awaiting.push_back(Awaiting::Command {
            tag,
            queued: now,
            deadline: now + self.config.command_timeout,
            fallback,
        });
    }

    /// Subscriber: adds `channel` to the wanted set and subscribes now if connected. Redis
    /// confirms with [`RedisEvent::Subscribed`].
    pub fn subscribe(&mut self, channel: Vec<u8>) {
        if self.channels.insert(channel.clone()) && matches!(self.phase, Phase::Up { .. }) {
            encode_command(&[&b"SUBSCRIBE"[..], &channel], &mut self.out);
        }
    }

    /// Subscriber: drops `channel` from the wanted set (and unsubscribes if connected).
    pub fn unsubscribe(&mut self, channel: &[u8]) {
        if self.channels.remove(channel) && matches!(self.phase, Phase::Up { .. }) {
            encode_command(&[&b"UNSUBSCRIBE"[..], channel], &mut self.out);
        }
    }

    /// Whether the driver should open a socket now.
    pub fn wants_connect(&self, now: Instant) -> bool {
        matches!(self.phase, Phase::Down { retry_at } if now >= retry_at)
    }

    /// Whether the session has no connection: the driver drops its socket if it has one.
    pub fn is_down(&self) -> bool {
        matches!(self.phase, Phase::Down { .. })
    }

    /// The driver started a non-blocking connect.
    pub fn on_connect_started(&mut self, now: Instant) {
        self.phase = Phase::Connecting {
            deadline: now + self.config.connect_timeout,
        };
    }

    /// The connect completed: writes the handshake (AUTH, SELECT, SCRIPT LOAD or the
    /// subscriptions) ahead of any command queued while connecting.
    pub fn on_connected(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Connecting { .. }) {
            return;
        }
        let deadline = now + self.config.command_timeout;
        let mut first = Vec::new();
        let mut handshake = Vec::new();
        let url = &self.config.url;
        if let Some(password) = &url.password {
            let mut auth = vec![b"AUTH".to_vec()];
            auth.extend(url.user.iter().map(|u| u.as_bytes().to_vec()));
            auth.push(password.as_bytes().to_vec());
            encode_command(&auth, &mut first);
            handshake.push("AUTH");
        }
        if url.db != 0 {
            encode_command(
                &[b"SELECT".to_vec(), url.db.to_string().into_bytes()],
                &mut first,
            );
            handshake.push("SELECT");
        }
        if self.role == Role::Commands {
            for script in &self.config.scripts {
                encode_command(
                    &[&b"SCRIPT"[..], b"LOAD", script.source().as_bytes()],
                    &mut first,
                );
                handshake.push("SCRIPT LOAD");
            }
        }
        for what in handshake.into_iter().rev() {
            self.awaiting
                .push_front(Awaiting::Handshake { what, deadline });
        }
        if self.role == Role::Subscriber {
            let channels: Vec<&Vec<u8>> = self.channels.iter().collect();
            for batch in channels.chunks(SUBSCRIBE_BATCH) {
                let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
                args.extend(batch.iter().map(|c| c.as_slice()));
                encode_command(&args, &mut first);
            }
        }
        first.append(&mut self.out);
        self.out = first;
        self.last_input = now;
        self.phase = Phase::Up { ready: false };
        self.check_ready();
    }

    /// Bytes arrived from the socket.
    pub fn on_read(&mut self, bytes: &[u8], now: Instant) {
        if !matches!(self.phase, Phase::Up { .. }) {
            return;
        }
        self.last_input = now;
        self.input.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            match self.decoder.decode(&self.input[start..]) {
                Ok(Decoded::Done { value, consumed }) => {
                    start += consumed;
                    if let Err(why) = self.on_reply(value, now) {
                        crate::log!(Warning, "redis {:?} connection reset: {why}", self.role);
                        return self.reset(now, CommandError::ConnectionLost);
                    }
                }
                Ok(Decoded::NeedMore { consumed }) => {
                    start += consumed;
                    break;
                }
                Err(err) => {
                    crate::log!(Warning, "redis {:?} connection reset: {err}", self.role);
                    return self.reset(now, CommandError::ConnectionLost);
                }
            }
        }
        self.input.drain(..start);
    }

    /// The socket closed or failed (EOF, reset, refused connect).
    pub fn on_closed(&mut self, now: Instant) {
        match self.phase {
            Phase::Down { .. } => {}
            Phase::Connecting { .. } => self.reset(now, CommandError::Unavailable),
            Phase::Up { .. } => self.reset(now, CommandError::ConnectionLost),
        }
    }

    /// Call when `now` has reached [`deadline`](Self::deadline).
    pub fn on_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Down { .. } => {}
            Phase::Connecting { deadline } if now >= deadline => {
                self.reset(now, CommandError::Unavailable)
            }
            Phase::Connecting { .. } => {}
            Phase::Up { ready } => {
                if self.awaiting.front().is_some_and(|a| now >= a.deadline()) {
                    crate::log!(
                        Warning,
                        "redis {:?} command timed out; reconnecting",
                        self.role
                    );
                    return self.reset(now, CommandError::Timeout);
                }
                let quiet = now.saturating_duration_since(self.last_input);
                if ready
                    && self.role == Role::Subscriber
                    && self.awaiting.is_empty()
                    && quiet >= self.config.ping_interval
                {
                    encode_command(&["PING"], &mut self.out);
                    self.awaiting.push_back(Awaiting::Ping {
                        deadline: now + self.config.command_timeout,
                    });
                }
            }
        }
    }

    /// When [`on_timeout`](Self::on_timeout) should next be called.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Down { retry_at } => Some(retry_at),
            Phase::Connecting { deadline } => Some(deadline),
            Phase::Up { ready } => {
                let reply = self.awaiting.front().map(Awaiting::deadline);
                let ping = (ready && self.role == Role::Subscriber && self.awaiting.is_empty())
                    .then(|| self.last_input + self.config.ping_interval);
                reply.into_iter().chain(ping).min()
            }
        }
    }

    /// Bytes waiting to be written.
    pub fn pending_output(&self) -> &[u8] {
        &self.out
    }

    /// `n` bytes of [`pending_output`](Self::pending_output) were written.
    pub fn on_written(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// The next event for the caller.
    pub fn poll_event(&mut self) -> Option<RedisEvent> {
        self.events.pop_front()
    }

    /// Matches one reply to what we wait for. `Err` means the stream is not what we
    /// expect and the connection must be reset.
    fn on_reply(&mut self, reply: Reply, now: Instant) -> Result<(), &'static str> {
        let front_is_handshake = matches!(self.awaiting.front(), Some(Awaiting::Handshake { .. }));
        if self.role == Role::Subscriber && !front_is_handshake {
            return self.on_push(reply);
        }
        match self.awaiting.pop_front() {
            None => Err("a reply nobody asked for"),
            Some(Awaiting::Handshake { what, .. }) => match reply {
                Reply::Error(message) => {
                    // The server's words (e.g. WRONGPASS) name no secret.
                    crate::log!(Error, "redis {what} failed: {message}");
                    Err("handshake refused")
                }
                _ => {
                    self.check_ready();
                    Ok(())
                }
            },
            Some(Awaiting::Ping { .. }) => Err("a command reply on the subscriber"),
            Some(Awaiting::Command {
                tag,
                queued,
                deadline,
                fallback,
            }) => {
                let result = match reply {
                    Reply::Error(message) => {
                        if let (Some(eval), true) = (fallback, message.starts_with("NOSCRIPT")) {
                            self.out.extend_from_slice(&eval);
                            self.awaiting.push_back(Awaiting::Command {
                                tag,
                                queued,
                                deadline,
                                fallback: None,
                            });
                            return Ok(());
                        }
                        Err(CommandError::Server(message))
                    }
                    value => Ok(value),
                };
                self.config
                    .stats
                    .observe(now.saturating_duration_since(queued));
                self.events.push_back(RedisEvent::Reply { tag, result });
                Ok(())
            }
        }
    }

    /// A reply on the subscribed connection: `message`, `subscribe`, `unsubscribe` or
    /// `pong` arrays. Anything else is a broken stream.
    fn on_push(&mut self, reply: Reply) -> Result<(), &'static str> {
        let items = match reply {
            Reply::Array(items) => items,
            // A subscriber with no channel yet is not in subscribed state, and Redis
            // answers its PING as to any client.
            Reply::Simple(pong) if pong == "PONG" => {
                return match self.awaiting.pop_front() {
                    Some(Awaiting::Ping { .. }) => Ok(()),
                    _ => Err("a pong we did not ask for"),
                };
            }
            _ => return Err("a pub/sub reply that is not an array"),
        };
        let mut items = items.into_iter();
        let (kind, channel, payload) = (items.next(), items.next(), items.next());
        match (kind, channel, payload, items.next()) {
            (
                Some(Reply::Bulk(kind)),
                Some(Reply::Bulk(channel)),
                Some(Reply::Bulk(payload)),
                None,
            ) if kind == b"message" => {
                self.events
                    .push_back(RedisEvent::Message { channel, payload });
                Ok(())
            }
            (
                Some(Reply::Bulk(kind)),
                Some(Reply::Bulk(channel)),
                Some(Reply::Integer(_)),
                None,
            ) if kind == b"subscribe" => {
                self.events.push_back(RedisEvent::Subscribed { channel });
                Ok(())
            }
            (Some(Reply::Bulk(kind)), Some(_), Some(Reply::Integer(_)), None)
                if kind == b"unsubscribe" =>
            {
                Ok(())
            }
            (Some(Reply::Bulk(kind)), Some(Reply::Bulk(_)), None, None) if kind == b"pong" => {
                match self.awaiting.pop_front() {
                    Some(Awaiting::Ping { .. }) => Ok(()),
                    _ => Err("a pong we did not ask for"),
                }
            }
            _ => Err("an unexpected pub/sub reply"),
        }
    }

    /// Once no handshake reply is outstanding: the connection is ready, back-off resets.
    fn check_ready(&mut self) {
        let handshaking = self
            .awaiting
            .iter()
            .any(|a| matches!(a, Awaiting::Handshake { .. }));
        if let Phase::Up { ready: false } = self.phase {
            if !handshaking {
                self.phase = Phase::Up { ready: true };
                self.backoff = self.config.backoff_min;
                self.config.stats.on_up(self.role);
                self.events.push_back(RedisEvent::Link {
                    role: self.role,
                    up: true,
                });
            }
        }
    }

    /// Drops the connection: every waiting command fails with `why` (after a `Timeout`,
    /// only the first, which timed out; `ConnectionLost` for the rest),
    /// buffers are cleared and the next connect waits out the back-off.
    fn reset(&mut self, now: Instant, why: CommandError) {
        let was_ready = matches!(self.phase, Phase::Up { ready: true });
        let mut first = Some(why.clone());
        for awaiting in mem::take(&mut self.awaiting) {
            if let Awaiting::Command { tag, .. } = awaiting {
                let err = match (&why, first.take()) {
                    (CommandError::Timeout, None) => CommandError::ConnectionLost,
                    (_, first) => first.unwrap_or_else(|| why.clone()),
                };
                self.events.push_back(RedisEvent::Reply {
                    tag,
                    result: Err(err),
                });
            }
        }
        self.out.clear();
        self.input.clear();
        self.decoder = ReplyDecoder::new(self.config.limits);
        self.phase = Phase::Down {
            retry_at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
        if was_ready {
            self.config.stats.on_down(self.role);
            self.events.push_back(RedisEvent::Link {
                role: self.role,
                up: false,
            });
        }
    }
}

#[cfg(test)]
mod tests;
