//! A connection's clock: its next deadline given its state, what passing it means, and
//! shutdown's grace. Time is always an argument.

use super::{Conn, State, SHUTDOWN_GRACE};
use crate::server::refusal::Refusal;
use std::time::Instant;

impl Conn {
    /// When this connection next needs [`Conn::on_timeout`], given its state.
    #[must_use]
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let idle = self.limits.idle_timeout;
        match &self.state {
            State::Reading(r) => Some(match r.started {
                Some(t) => (self.last_read + idle).min(t + self.limits.header_timeout),
                None => self.last_read + idle,
            }),
            State::AwaitingApp(p) => p.grace,
            State::Responding { .. } => Some(self.last_read.max(self.last_write) + idle),
            // Silent listeners are normal (browsers only receive), so silence is first
            // answered with a ping at half the timeout; only a peer that does not answer
            // it within the other half is closed.
            State::WebSocket(ws) => Some(match ws.ping_sent {
                None => self.last_read + idle / 2,
                Some(t) => t + idle / 2,
            }),
            State::Closing { deadline, .. } => Some(*deadline),
            State::Done => None,
        }
    }

    /// Acts on a passed deadline (nothing if it has not passed): header timeout (408 if
    /// part of a request came, else a silent close), idle (close; a websocket is pinged
    /// first and gets close 1001 if the ping brings nothing back), shutdown grace (503),
    /// linger.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if self.deadline().is_none_or(|d| d > now) {
            return;
        }
        match &mut self.state {
            State::Reading(r) if r.partial => self.refuse(Refusal::Timeout, now),
            State::AwaitingApp(_) => self.refuse(Refusal::Busy, now),
            State::WebSocket(ws) if ws.ping_sent.is_none() => {
                ws.ping_sent = Some(now);
                self.out
                    .push_owned(crate::ws::shared_frame(crate::ws::OpCode::Ping, &[]).to_vec());
            }
            State::WebSocket(_) => self.close_ws(1001, now),
            _ => self.enter(State::Done),
        }
    }

    /// Shutdown began: websockets get close 1001, idle HTTP closes, responses finish,
    /// `Later` requests get a short grace.
    pub(crate) fn on_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        match &mut self.state {
            State::Reading(_) => self.enter(State::Done),
            State::AwaitingApp(p) => {
                p.grace = Some(now + SHUTDOWN_GRACE);
                p.keep_alive = false;
            }
            State::Responding { keep_alive } => *keep_alive = false,
            State::WebSocket(_) => self.close_ws(1001, now),
            State::Closing { .. } | State::Done => {}
        }
    }
}
