//! A connection's websocket side: control frames (ping, close), data messages for the
//! app, frames from the app and other threads, and closing with a code.

use super::{Conn, Event, State, Step};
use crate::server::WsMessage;
use crate::ws::{self, OpCode, WsEvent};
use std::sync::Arc;
use std::time::Instant;

impl Conn {
    /// Queues a close frame (past the queue limit if need be) and starts closing.
    pub(super) fn close_ws(&mut self, code: u16, now: Instant) {
        self.close_code.get_or_insert(code);
        self.out.push_owned(ws::close_frame(code, ""));
        self.close_after_flush(now);
    }

    /// Queues a frame to a websocket; a full queue closes it with 1008. Frames for a
    /// connection that is not (or no longer) a websocket are dropped.
    pub(crate) fn send_frame(&mut self, frame: Arc<[u8]>, now: Instant) {
        if matches!(self.state, State::WebSocket(_)) && self.out.push_shared(frame).is_err() {
            self.cut_slow = true;
            self.close_ws(1008, now);
        }
    }

    /// `Handle::close`: a websocket gets a close frame, anything else closes after flushing.
    pub(crate) fn close(&mut self, code: u16, now: Instant) {
        match self.state {
            State::WebSocket(_) => self.close_ws(code, now),
            _ => self.close_after_flush(now),
        }
    }

    /// A decoded frame or message: control frames are answered here, data goes to the app.
    pub(super) fn on_ws_event(&mut self, event: WsEvent, now: Instant) -> Step {
        match event {
            WsEvent::Text(text) => Step::Event(Event::Message(WsMessage::Text(text))),
            WsEvent::Binary(bytes) => Step::Event(Event::Message(WsMessage::Binary(bytes))),
            WsEvent::Ping(payload) => {
                // RFC 6455 §5.5.3: a pong carries the ping's payload.
                self.send_frame(ws::shared_frame(OpCode::Pong, &payload), now);
                Step::Again
            }
            WsEvent::Pong(_) => Step::Again,
            WsEvent::Close(code) => {
                // RFC 6455 §5.5.1: echo the status code; no code gets an empty close.
                // 1005 is "no status received" (§7.4.1), for the log.
                self.close_code
                    .get_or_insert(code.as_ref().map_or(1005, |(c, _)| *c));
                let frame = match code {
                    Some((code, _)) => ws::close_frame(code, ""),
                    None => ws::shared_frame(OpCode::Close, &[]).to_vec(),
                };
                self.out.push_owned(frame);
                self.close_after_flush(now);
                Step::Again
            }
        }
    }
}
