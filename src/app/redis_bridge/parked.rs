//! `/message` requests waiting while some node is behind delivering (`backpressure.rs`).
//! A publisher is slowed to what the slowest node delivers, as admission control slows
//! one on a single node: its request waits here (the hub thread keeps the command; no
//! worker waits) until every node caught up, then runs in arrival order; after
//! [`HOLD_FOR`] it is answered 503 with `Retry-After` instead, having published
//! nothing. At most [`MAX_PARKED`] wait; past that a request is answered 503 at once.

use super::RedisBridge;
use crate::api::Command;
use crate::conn_id::ConnId;
use crate::server::Handle;
use std::time::{Duration, Instant};

/// The longest a `/message` waits for the nodes to catch up.
pub const HOLD_FOR: Duration = Duration::from_millis(200);

/// `/message` requests waiting at most.
pub const MAX_PARKED: usize = 1000;

/// One waiting request and when its hold ends.
pub(super) struct Parked {
    conn: ConnId,
    cmd: Box<Command>,
    until: Instant,
}

impl RedisBridge {
    /// A `/message` for the request on `conn`: given back to run now, unless some node
    /// is behind (or requests wait already, which it must not overtake); then it waits,
    /// or is answered 503 through `handle` when too many wait.
    pub fn admit_publish(
        &mut self,
        handle: &Handle,
        conn: ConnId,
        cmd: Box<Command>,
        now: Instant,
    ) -> Option<(ConnId, Box<Command>)> {
        if self.parked.is_empty() && !self.pressure.refusing(now) {
            return Some((conn, cmd));
        }
        if self.parked.len() >= MAX_PARKED {
            let refused = self.behind_response();
            handle.respond(conn, refused);
            return None;
        }
        let until = now + HOLD_FOR;
        self.parked.push_back(Parked { conn, cmd, until });
        None
    }

    /// The waiting requests that may run now (every node caught up), in arrival order;
    /// those whose hold ended meanwhile are answered 503 through `handle`.
    pub fn release_parked(&mut self, handle: &Handle, now: Instant) -> Vec<(ConnId, Box<Command>)> {
        if self.parked.is_empty() {
            return Vec::new();
        }
        if !self.pressure.refusing(now) {
            return self.parked.drain(..).map(|p| (p.conn, p.cmd)).collect();
        }
        while self.parked.front().is_some_and(|p| p.until <= now) {
            if let Some(p) = self.parked.pop_front() {
                let refused = self.behind_response();
                handle.respond(p.conn, refused);
            }
        }
        Vec::new()
    }

    /// Shutdown: every waiting request is answered 503.
    pub fn refuse_parked(&mut self, handle: &Handle) {
        while let Some(p) = self.parked.pop_front() {
            let refused = self.behind_response();
            handle.respond(p.conn, refused);
        }
    }

    /// When the first waiting request's hold ends.
    pub(super) fn parked_due(&self) -> Option<Instant> {
        self.parked.front().map(|p| p.until)
    }
}
