//! Attaching listeners to connections: websockets (`ws_app.py`) and long-polls
//! (`server.py` `listen`), the catch-up they get, and what happens when they go away.

use super::channel::Positioned;
use super::connection::{Poll, PollQueue, PollReply, Target};
use super::id::Uuid;
use super::message::{encode, list_of, with_pos, Encoded};
use super::recovery::{Recover, RecoveryReport};
use super::time::Time;
use super::{Hub, POLL_GATHER};
use crate::conn_id::ConnId;
use std::sync::Arc;

impl Hub {
    /// Catch-up for a connection being attached: frames of its channels stored since its
    /// last activity, then the user's private frames (`get_catchup_messages`). With
    /// `recover` (the listener asked for positions), a channel it names a position for
    /// is replayed from that position instead, every channel message carries its `pos`,
    /// and a `recovery` report ends the list ([`super::recovery`]).
    fn catchup(&self, id: Uuid, recover: Option<&Recover>) -> Vec<Encoded> {
        let Some(c) = self.connections.get(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut report = RecoveryReport::default();
        let add = |out: &mut Vec<Encoded>, msgs: Positioned| {
            for (pos, m) in msgs {
                let text = encode(&m);
                out.push(match recover {
                    Some(_) if pos > 0 => with_pos(&text, pos),
                    _ => text,
                });
            }
        };
        for name in self.conn_channels(id) {
            let Some(ch) = self.channels.get(&name) else {
                continue;
            };
            match recover.and_then(|r| r.get(&name)) {
                Some(&since) => {
                    let (msgs, complete) = ch.replay(since, &c.username);
                    add(&mut out, msgs);
                    report.channel(&name, ch.last_pos, Some(complete));
                }
                None => {
                    add(&mut out, ch.catchup(c.last_active, &c.username));
                    report.channel(&name, ch.last_pos, None);
                }
            }
        }
        if let Some(u) = self.users.get(&c.username) {
            out.extend(u.catchup(c.last_active).iter().map(encode));
        }
        if recover.is_some() {
            out.push(encode(&report.message()));
        }
        out
    }

    /// Attaches websocket `ws` to connection `id` and returns the catch-up payloads, one
    /// JSON list `[msg]` per frame, as the reference sends them. `None` if the id is
    /// unknown: the caller completes the handshake and closes at once, as the reference.
    ///
    /// A websocket or poll already attached is let go (closed / answered): the reference
    /// keeps the old socket open but silent, and its later close collects the connection.
    #[must_use = "the catch-up must be sent, and `None` must close the websocket"]
    pub fn attach_ws(&mut self, id: Uuid, ws: ConnId, now: Time) -> Option<Vec<Arc<str>>> {
        self.attach_ws_recovering(id, ws, None, now)
    }

    /// [`Hub::attach_ws`] for a listener that asked for positions (`Some`) and names the
    /// last position it saw per channel ([`super::recovery`]).
    #[must_use = "the catch-up must be sent, and `None` must close the websocket"]
    pub fn attach_ws_recovering(
        &mut self,
        id: Uuid,
        ws: ConnId,
        recover: Option<&Recover>,
        now: Time,
    ) -> Option<Vec<Arc<str>>> {
        let c = self.connections.get_mut(&id)?;
        c.positions = recover.is_some();
        let frames: Vec<Arc<str>> = self
            .catchup(id, recover)
            .iter()
            .map(|m| Arc::from(list_of(std::slice::from_ref(m))))
            .collect();
        self.set_target(id, Target::Ws(ws));
        if !frames.is_empty() {
            // Sending marks activity (`connection.py` `add_message`), so a later attach
            // does not replay the same frames.
            self.mark_active(id, now);
        }
        Some(frames)
    }

    /// Attaches a long-poll request to connection `id`, its queue starting with the
    /// catch-up; `reply` comes back with the answer. False if the id is unknown (the
    /// caller answers 401, as the reference).
    #[must_use = "an unknown id must be answered (401), or the request hangs"]
    pub fn attach_poll(&mut self, id: Uuid, http: ConnId, reply: PollReply, now: Time) -> bool {
        self.attach_poll_recovering(id, http, reply, None, now)
    }

    /// [`Hub::attach_poll`] for a listener that asked for positions (`Some`) and names
    /// the last position it saw per channel ([`super::recovery`]). Between two polls of
    /// a living connection nothing was lost (the queue kept it), so only the queue is
    /// sent then, and no report.
    #[must_use = "an unknown id must be answered (401), or the request hangs"]
    pub fn attach_poll_recovering(
        &mut self,
        id: Uuid,
        http: ConnId,
        reply: PollReply,
        recover: Option<&Recover>,
        now: Time,
    ) -> bool {
        let Some(c) = self.connections.get_mut(&id) else {
            return false;
        };
        c.positions = recover.is_some();
        // A client between polls gets what queued for it since its last answer; that
        // already holds everything the time-based catch-up would repeat.
        let queued = self.connections.get_mut(&id).and_then(|c| {
            match std::mem::replace(&mut c.target, Target::Detached) {
                Target::BetweenPolls(q) => Some(q.messages),
                other => {
                    c.target = other;
                    None
                }
            }
        });
        let messages: Vec<_> = match queued {
            Some(q) => q,
            None => self.catchup(id, recover),
        };
        let quiet_until = (!messages.is_empty()).then(|| now.plus(POLL_GATHER));
        let deadline = now.plus(self.wake_after);
        let poll = Box::new(Poll {
            http,
            reply,
            deadline,
            quiet_until,
            messages,
        });
        self.set_target(id, Target::Poll(poll));
        self.polling.insert(id);
        true
    }

    fn set_target(&mut self, id: Uuid, target: Target) {
        let engine = match &target {
            Target::Ws(c) => Some(*c),
            Target::Poll(p) => Some(p.http),
            Target::Detached | Target::BetweenPolls(_) => None,
        };
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        let is_ws = matches!(target, Target::Ws(_));
        let old = std::mem::replace(&mut c.target, target);
        self.release_target(old);
        if let Some(e) = engine {
            self.attached.insert(e, id);
            if is_ws {
                self.ws_slices.join(e);
            }
        }
    }

    /// The engine connection `conn` is gone. A websocket's connection is marked for
    /// collection (`ws_app.py` `closed`); a poll's connection just stops listening, and
    /// what it had gathered waits for the next poll.
    pub fn on_engine_close(&mut self, conn: ConnId) {
        self.ws_slices.leave(conn); // whatever it was attached to: it hears nothing more
        let Some(id) = self.attached.remove(&conn) else {
            return;
        };
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        if c.engine_conn() != Some(conn) {
            return;
        }
        match std::mem::replace(&mut c.target, Target::Detached) {
            Target::Ws(_) => c.last_active = c.last_active.minus(super::ops::GC_MARK_SHIFT),
            // What the poll gathered was never handed over: it waits for the next poll.
            Target::Poll(p) => {
                c.target = Target::BetweenPolls(Box::new(PollQueue::holding(p.messages)))
            }
            Target::Detached | Target::BetweenPolls(_) => {}
        }
    }

    /// A message from websocket `conn` (any content: client heartbeats) marks its
    /// connection and user active (`ws_app.py` `received_message`).
    pub fn on_ws_activity(&mut self, conn: ConnId, now: Time) {
        if let Some(id) = self.attached.get(&conn).copied() {
            self.mark_active(id, now);
        }
    }

    /// Marks a connection and its user active.
    fn mark_active(&mut self, id: Uuid, now: Time) {
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        c.last_active = now;
        if let Some(u) = self.users.get_mut(&c.username) {
            u.last_active = now;
        }
    }
}
