//! A connection's HTTP side: handing requests to the app, encoding its answers, checking
//! and completing websocket upgrades, and the engine's own refusals.

use super::{Conn, ConnState, Env, Handshake};
use crate::http::{Request, Response};
use crate::server::refusal::refusal;
use crate::server::{App, Ctx, Reply};
use crate::ws::{self, HandshakeError, MessageReader};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

impl Conn {
    /// Queues an engine refusal and closes after it has left.
    pub(super) fn refuse(&mut self, status: u16, now: Instant) {
        let mut bytes = Vec::new();
        refusal(status).encode(false, &mut bytes);
        self.out.push_over_limit(bytes);
        self.close_after_flush(now);
    }

    /// `Handle::respond` for a `Reply::Later` request.
    pub(crate) fn respond_later(&mut self, response: Response, now: Instant) {
        if let ConnState::AwaitingApp { keep_alive, .. } = self.state {
            self.respond(&response, keep_alive && !self.eof, now);
        }
    }

    /// `Handle::upgrade` for a `Reply::Later` request.
    pub(crate) fn upgrade_later<A: App>(
        &mut self,
        frames: Vec<Arc<[u8]>>,
        env: &Env<A>,
        now: Instant,
    ) {
        if let ConnState::AwaitingApp { handshake, .. } = &mut self.state {
            let handshake = handshake.take();
            self.upgrade(handshake, frames, env, now);
        }
    }

    pub(super) fn respond(&mut self, response: &Response, keep_alive: bool, now: Instant) {
        let mut bytes = Vec::with_capacity(response.body.len() + 256);
        response.encode(keep_alive, &mut bytes);
        if self.out.push_owned(bytes).is_err() {
            self.enter(ConnState::Done, now);
            return;
        }
        self.enter(ConnState::Responding { keep_alive }, now);
    }

    pub(super) fn upgrade<A: App>(
        &mut self,
        handshake: Handshake,
        frames: Vec<Arc<[u8]>>,
        env: &Env<A>,
        now: Instant,
    ) {
        let accept = match handshake.unwrap_or(Err(HandshakeError::NotUpgrade)) {
            Ok(accept) => accept,
            Err(e) => return self.refuse(e.status(), now),
        };
        if env.shutting_down {
            return self.refuse(503, now);
        }
        let mut head = Vec::with_capacity(160);
        ws::handshake_response(&accept, &mut head);
        self.out.push_over_limit(head);
        self.enter(
            ConnState::WebSocket(MessageReader::new(env.limits.max_message)),
            now,
        );
        for frame in frames {
            self.send_frame(frame, now);
        }
    }

    pub(super) fn on_request<A: App>(&mut self, req: Request, env: &mut Env<A>, now: Instant) {
        let handshake = ws::is_upgrade_request(&req).then(|| ws::validate_handshake(&req));
        let keep_alive = req.keep_alive && !env.shutting_down && !self.eof;
        let reply = {
            let mut ctx = Ctx {
                conn: self.id,
                peer: self.peer,
                handle: &env.handle,
                local: &mut env.local,
            };
            // A panicking app costs this request a 500, not the worker and its sockets.
            panic::catch_unwind(AssertUnwindSafe(|| env.app.on_request(req, &mut ctx)))
        };
        let Ok(reply) = reply else {
            env.local.clear();
            return self.refuse(500, now);
        };
        match reply {
            Reply::Respond(response) => self.respond(&response, keep_alive, now),
            Reply::Upgrade { frames } => self.upgrade(handshake, frames, env, now),
            Reply::Later => self.enter(
                ConnState::AwaitingApp {
                    keep_alive,
                    handshake,
                    grace: None,
                },
                now,
            ),
        }
        self.take_local_sends(env, now);
    }
}
