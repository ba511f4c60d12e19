//! A connection's websocket side: control frames (ping, close), data messages to the app,
//! frames from the app and other threads, and closing with a code.

use super::{Conn, ConnState, Env};
use crate::server::{App, Ctx, WsMessage};
use crate::ws::{self, OpCode, WsEvent};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

impl Conn {
    /// Queues a close frame (past the queue limit if need be) and starts closing.
    pub(super) fn close_ws(&mut self, code: u16, now: Instant) {
        self.out.push_over_limit(ws::close_frame(code, ""));
        self.close_after_flush(now);
    }

    /// Queues a frame to a websocket; a full queue closes it with 1008. Frames for a
    /// connection that is not (or no longer) a websocket are dropped.
    pub(crate) fn send_frame(&mut self, frame: Arc<[u8]>, now: Instant) {
        if matches!(self.state, ConnState::WebSocket(_)) && self.out.push_shared(frame).is_err() {
            self.close_ws(1008, now);
        }
    }

    /// `Handle::close`: a websocket gets a close frame, anything else closes after flushing.
    pub(crate) fn close(&mut self, code: u16, now: Instant) {
        match self.state {
            ConnState::WebSocket(_) => self.close_ws(code, now),
            _ => self.close_after_flush(now),
        }
    }

    /// Returns whether the state moved (a close).
    pub(super) fn on_ws_event<A: App>(
        &mut self,
        event: WsEvent,
        env: &mut Env<A>,
        now: Instant,
    ) -> bool {
        let msg = match event {
            WsEvent::Text(text) => WsMessage::Text(text),
            WsEvent::Binary(bytes) => WsMessage::Binary(bytes),
            WsEvent::Ping(payload) => {
                // RFC 6455 §5.5.3: a pong carries the ping's payload.
                self.send_frame(ws::shared_frame(OpCode::Pong, &payload), now);
                return false;
            }
            WsEvent::Pong(_) => return false,
            WsEvent::Close(code) => {
                // RFC 6455 §5.5.1: echo the status code; no code gets an empty close.
                let frame = match code {
                    Some((code, _)) => ws::close_frame(code, ""),
                    None => ws::shared_frame(OpCode::Close, &[]).to_vec(),
                };
                self.out.push_over_limit(frame);
                self.close_after_flush(now);
                return true;
            }
        };
        {
            let mut ctx = Ctx {
                conn: self.id,
                peer: self.peer,
                handle: &env.handle,
                local: &mut env.local,
            };
            let call = AssertUnwindSafe(|| env.app.on_ws_message(msg, &mut ctx));
            if panic::catch_unwind(call).is_err() {
                // RFC 6455 §7.4.1: 1011, the server hit an unexpected condition.
                env.local.clear();
                self.close_ws(1011, now);
                return true;
            }
        }
        self.take_local_sends(env, now);
        !matches!(self.state, ConnState::WebSocket(_))
    }

    /// Delivers `Ctx::send`s to this connection now (so they keep their order with what
    /// follows) and leaves the others to the worker.
    pub(super) fn take_local_sends<A: App>(&mut self, env: &mut Env<A>, now: Instant) {
        for (id, frame) in env.local.drain(..) {
            if id == self.id {
                self.send_frame(frame, now);
            } else {
                env.deferred.push((id, frame));
            }
        }
    }
}
