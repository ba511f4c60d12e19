//! A connection's HTTP side: reporting requests (refusing a bad websocket handshake
//! before the app sees it), encoding the app's answers, completing upgrades, and the
//! engine's own refusals.

use super::{Conn, Event, Pending, State, Step, Ws};
use crate::http::{Request, Response};
use crate::server::refusal::Refusal;
use crate::server::Reply;
use crate::ws::{self, HandshakeError, MessageReader};
use std::sync::Arc;
use std::time::Instant;

impl Conn {
    /// Queues a refusal (past the queue limit if need be: it is small and tells the
    /// client why) and closes after it has left. A request known to be a `HEAD` gets only
    /// the refusal's head, with the length of its body: one awaiting its answer, and one
    /// still being read whose request line was whole ([`RequestDecoder::is_head`]: a 408
    /// for headers or a body that never came, a 413, a 431 or a 400 for a bad header
    /// after the line). Where the method is truly unknown the refusal keeps its body:
    /// a timeout or a head too large before the request line ended, a request line that
    /// is not HTTP/1.x (400, 505), and the 503 of a full server at accept
    /// (`listener.rs`), before any byte was read. Any client then gets the reason, and
    /// one that did send `HEAD` reads a body it did not ask for only when we could not
    /// tell what it asked.
    ///
    /// [`RequestDecoder::is_head`]: crate::http::RequestDecoder::is_head
    pub(crate) fn refuse(&mut self, refusal: Refusal, now: Instant) {
        let head = match &self.state {
            State::AwaitingApp(pending) => pending.head,
            State::Reading(r) => r.decoder.is_head(),
            _ => false,
        };
        self.refuse_as(refusal, head, now);
    }

    /// [`Conn::refuse`] where the caller knows whether the request is a `HEAD`.
    fn refuse_as(&mut self, refusal: Refusal, head: bool, now: Instant) {
        let bytes = if head {
            refusal.encode_head()
        } else {
            refusal.encode()
        };
        self.out.push_owned(bytes);
        self.close_after_flush(now);
    }

    /// A whole request was decoded: checks a websocket handshake, then reports it.
    pub(super) fn on_request(&mut self, req: Request, now: Instant) -> Step {
        let accept = if ws::is_upgrade_request(&req) {
            match ws::validate_handshake(&req) {
                Ok(accept) => Some(accept),
                Err(e) => {
                    // `HEAD` with `Upgrade`: refused (not a GET), without a body.
                    self.refuse_as(Refusal::Handshake(e), req.method == "HEAD", now);
                    return Step::Again;
                }
            }
        } else {
            None
        };
        let upgrade = accept.is_some();
        self.enter(State::AwaitingApp(Pending {
            keep_alive: req.keep_alive && !self.shutting_down && !self.eof,
            version: req.version,
            head: req.method == "HEAD",
            accept,
            grace: None,
        }));
        Step::Event(Event::Request { req, upgrade })
    }

    /// The app's answer to the request just reported.
    pub(crate) fn on_reply(&mut self, reply: Reply, now: Instant) {
        match reply {
            Reply::Respond(response) => self.respond(&response),
            Reply::Upgrade { frames } => self.upgrade(frames, now),
            Reply::Later => {
                if matches!(self.state, State::AwaitingApp(_)) {
                    self.app_knows = true;
                }
            }
        }
    }

    /// The app panicked while handling the current request or message: a request gets a
    /// 500, a websocket close 1011 (RFC 6455 §7.4.1: an unexpected condition).
    pub(crate) fn on_app_panic(&mut self, now: Instant) {
        match self.state {
            State::AwaitingApp(_) => self.refuse(Refusal::Internal, now),
            State::WebSocket(_) => self.close_ws(1011, now),
            _ => {}
        }
    }

    /// Queues the answer to the request awaiting one (`Reply::Respond`, or
    /// `Handle::respond` after `Later`), in the request's HTTP version; for a `HEAD`
    /// only its head, with the length of its body. The worker writes
    /// it at once; if more than `max_outbound` of it is still queued after that, the
    /// connection is dropped ([`Conn::on_written`]).
    pub(crate) fn respond(&mut self, response: &Response) {
        let State::AwaitingApp(pending) = &self.state else {
            return;
        };
        let keep_alive = pending.keep_alive && !self.eof && !self.shutting_down;
        let body_len = if pending.head { 0 } else { response.body.len() };
        let mut bytes = Vec::with_capacity(body_len + 256);
        if pending.head {
            response.encode_head_for(pending.version, keep_alive, &mut bytes);
        } else {
            response.encode_for(pending.version, keep_alive, &mut bytes);
        }
        self.out.push_owned(bytes);
        self.enter(State::Responding { keep_alive });
    }

    /// Completes the upgrade of the request awaiting an answer (`Reply::Upgrade`, or
    /// `Handle::upgrade` after `Later`): the 101, then `frames`.
    /// A request that was not a valid handshake is refused (400), as is any during
    /// shutdown (503).
    pub(crate) fn upgrade(&mut self, frames: Vec<Arc<[u8]>>, now: Instant) {
        let State::AwaitingApp(pending) = &mut self.state else {
            return;
        };
        let Some(accept) = pending.accept.take() else {
            return self.refuse(Refusal::Handshake(HandshakeError::NotUpgrade), now);
        };
        if self.shutting_down {
            return self.refuse(Refusal::Busy, now);
        }
        let mut head = Vec::with_capacity(160);
        ws::handshake_response(&accept, &mut head);
        self.out.reserve_first();
        self.out.push_owned(head);
        self.enter(State::WebSocket(Ws {
            reader: MessageReader::new(self.limits.max_message),
            ping_sent: None,
        }));
        for frame in frames {
            self.send_frame(frame, now);
        }
    }
}
