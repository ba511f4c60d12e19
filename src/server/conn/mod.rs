//! One client connection as a sans-IO state machine, as quinn-proto's `Connection` is for
//! QUIC: bytes and `now` go in ([`Conn::on_read`], [`Conn::on_eof`], [`Conn::on_timeout`],
//! the app's answers); bytes to write ([`Conn::pending`], an [`OutQueue`] of shared and
//! owned chunks), events for the app ([`Conn::poll_event`]) and the next deadline
//! ([`Conn::deadline`]) come out. It owns no socket, reads no clock and calls no app: the
//! worker's `socket.rs` does those, so `tests.rs` drives it with a simulated clock.
//!
//! This file holds the states and the input side; `output.rs` the out queue and what a
//! finished write moves on, `timing.rs` deadlines and shutdown, `request.rs` and
//! `websocket.rs` what each protocol does with decoded input and with the app's answers.

mod input;
mod output;
mod request;
mod timing;
mod websocket;

#[cfg(test)]
mod tests;

use super::admission::{Standing, HOLD_MAX};
use super::out_queue::OutQueue;
use super::refusal::Refusal;
use super::{Limits, WsMessage};
use crate::decoded::Decoded;
use crate::http::{HttpEvent, HttpLimits, Request, RequestDecoder, Version, CONTINUE_100};
use crate::ws::MessageReader;
use input::Input;
use std::time::{Duration, Instant};

/// How long a closing connection may take to flush its last bytes and see the peer's EOF
/// (the peer's close frame, then FIN). Past it: the socket is dropped.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
/// How long shutdown waits for the app to answer a `Reply::Later` request; then 503.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// What the connection has for the app. The worker hands each to the app before asking
/// for the next, so what the app sends back keeps its place among later output.
#[derive(Debug)]
pub(crate) enum Event {
    /// A whole request; the app's answer goes to [`Conn::on_reply`] (nothing more is
    /// decoded until then). `upgrade`: it is a valid websocket handshake. A bad one is
    /// refused here and never reported.
    Request { req: Request, upgrade: bool },
    /// A whole websocket data message.
    Message(WsMessage),
    /// The app must hear `on_close` now: it knew the connection (an upgrade or a `Later`
    /// answer) and the connection is closing. Reported once, as early as possible, so the
    /// app stops addressing it while its last bytes (a close frame) are still leaving.
    Closed,
}

/// Where a connection is. [`Conn::enter`] is the one place that moves it on.
enum State {
    /// Call: `RequestDecoder::decode`. Next: AwaitingApp, Closing.
    Reading(Reading),
    /// A request went to the app, which has not answered yet (or answered `Later`);
    /// nothing more is decoded. Next: Responding, WebSocket, Closing.
    AwaitingApp(Pending),
    /// A response is leaving; pipelined requests wait in the input.
    /// Next: Reading (keep-alive, queue drained), Closing.
    Responding { keep_alive: bool },
    /// Call: `MessageReader::decode`. Next: Closing.
    WebSocket(Ws),
    /// Last bytes leaving; once they are gone the worker shuts the write side
    /// (`write_shut`) and input is discarded until the peer's EOF or `deadline`.
    /// Next: Done.
    Closing { deadline: Instant, write_shut: bool },
    /// Finished: the worker deregisters and drops the connection.
    Done,
}

/// Reading a request. The decoder (160 bytes) is boxed so that the other states, an open
/// websocket's above all, do not carry its size in every connection's slot.
struct Reading {
    decoder: Box<RequestDecoder>,
    /// When the header timeout started: the accept, or the request's first byte.
    started: Option<Instant>,
    /// Some byte of this request arrived (a timeout is then answered 408).
    partial: bool,
    /// Since when admission control has held back reading this request.
    held_since: Option<Instant>,
}

/// What answering the request in hand needs.
struct Pending {
    keep_alive: bool,
    version: Version,
    /// The request is a `HEAD`: the app's answer goes out without its body, framed as
    /// it would be for `GET` ([`crate::http::Response::encode_head_for`]), so handlers need not know.
    head: bool,
    /// The `Sec-WebSocket-Accept` value, if the request was a valid handshake.
    accept: Option<String>,
    /// Shutdown began: the app has until then to answer, then 503.
    grace: Option<Instant>,
}

/// An open websocket.
struct Ws {
    reader: MessageReader,
    /// The peer stayed silent for half the idle timeout and was pinged at this time;
    /// cleared by any byte from it (its pong, for one).
    ping_sent: Option<Instant>,
}

/// What one decoding step did.
enum Step {
    Event(Event),
    /// Something was decoded or the state moved: look again.
    Again,
    /// Nothing to do until more bytes arrive or the state moves.
    Idle,
}

/// A client connection's protocol state.
pub(crate) struct Conn {
    state: State,
    input: Input,
    out: OutQueue,
    limits: Limits,
    http_limits: HttpLimits,
    /// The peer closed its side.
    eof: bool,
    /// Shutdown began: no keep-alive, no new websockets.
    shutting_down: bool,
    last_read: Instant,
    last_write: Instant,
    /// The app knows this connection (upgraded, or answered `Later`) and has not had
    /// `on_close` yet.
    app_knows: bool,
    /// The app's per-connection rate slot (`Ctx::once_per`).
    pub(crate) once_mark: Option<Instant>,
    /// The websocket close code sent (or received first), for the close log line.
    pub(crate) close_code: Option<u16>,
    /// The websocket was closed because its out queue passed `max_outbound`.
    pub(crate) cut_slow: bool,
    /// Times admission control began holding a request; the worker takes and counts them.
    pub(crate) new_holds: u32,
}

impl Conn {
    /// A connection accepted at `now`: the header timeout runs from here.
    pub(crate) fn new(limits: &Limits, now: Instant) -> Self {
        let http_limits = HttpLimits {
            max_head: limits.max_head,
            max_body: limits.max_body,
            ..HttpLimits::default()
        };
        Conn {
            state: State::Reading(Reading {
                decoder: Box::new(RequestDecoder::new(http_limits)),
                started: Some(now),
                partial: false,
                held_since: None,
            }),
            input: Input::default(),
            out: OutQueue::new(limits.max_outbound),
            limits: *limits,
            http_limits,
            eof: false,
            shutting_down: false,
            last_read: now,
            last_write: now,
            app_knows: false,
            once_mark: None,
            close_code: None,
            cut_slow: false,
            new_holds: 0,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn is_closing(&self) -> bool {
        matches!(self.state, State::Closing { .. } | State::Done)
    }

    /// The one function that changes state, with each state's entry actions.
    fn enter(&mut self, next: State) {
        match &next {
            State::WebSocket(_) => {
                self.app_knows = true;
                self.input.shed();
            }
            State::Closing { .. } => self.input.clear(),
            State::Done => {
                self.input.clear();
                self.out.clear();
            }
            State::Reading(_) | State::AwaitingApp(_) | State::Responding { .. } => {}
        }
        self.state = next;
    }

    /// Reading the next request on a kept-alive connection. Its header timeout runs
    /// from its first byte (already here if it was pipelined); until then only the idle
    /// timeout applies.
    fn enter_reading(&mut self, now: Instant) {
        let partial = !self.input.is_empty();
        self.enter(State::Reading(Reading {
            decoder: Box::new(RequestDecoder::new(self.http_limits)),
            started: partial.then_some(now),
            partial,
            held_since: None,
        }));
    }

    fn close_after_flush(&mut self, now: Instant) {
        if !self.is_closing() {
            self.enter(State::Closing {
                deadline: now + LINGER,
                write_shut: false,
            });
        }
    }

    /// Whether the app must hear `on_close` now; true once. The worker also asks when it
    /// drops a connection, so no path misses it.
    pub(crate) fn take_close_notice(&mut self) -> bool {
        let notice = self.app_knows && self.is_closing();
        if notice {
            self.app_knows = false;
        }
        notice
    }

    /// The peer sent `bytes`.
    pub(crate) fn on_read(&mut self, bytes: &[u8], now: Instant) {
        self.last_read = now;
        match &mut self.state {
            State::Closing { .. } | State::Done => return, // discarded
            State::Reading(r) => {
                r.started.get_or_insert(now);
                r.partial = true;
            }
            State::WebSocket(ws) => ws.ping_sent = None,
            State::AwaitingApp(_) | State::Responding { .. } => {}
        }
        self.input.push(bytes);
    }

    /// The peer closed its side. A closing connection still sends what is queued.
    pub(crate) fn on_eof(&mut self) {
        self.eof = true;
        match self.state {
            State::Closing { .. } if !self.out.is_empty() => {}
            _ => self.enter(State::Done),
        }
    }

    /// The socket failed: nothing more can be sent or received.
    pub(crate) fn on_io_error(&mut self) {
        self.enter(State::Done);
    }

    /// Whether the worker should read from the socket now. Back-pressure: a websocket
    /// whose peer does not read its queue is not read from either. Admission control:
    /// while `hold` (some worker is congested), a connection between requests is not
    /// read, for at most `HOLD_MAX` per request (`admission.rs`).
    pub(crate) fn read_allowed(&mut self, hold: bool, now: Instant) -> bool {
        if self.eof {
            return false;
        }
        match &mut self.state {
            State::Reading(r) => {
                if !hold {
                    r.held_since = None;
                    return true;
                }
                let since = match r.held_since {
                    Some(since) => since,
                    None => {
                        self.new_holds += 1;
                        *r.held_since.insert(now)
                    }
                };
                if now.saturating_duration_since(since) < HOLD_MAX {
                    return false;
                }
                r.held_since = None;
                true
            }
            State::Closing { .. } => true,
            State::WebSocket(_) => self.out.queued() <= self.out.limit() / 2,
            State::AwaitingApp(_) | State::Responding { .. } | State::Done => false,
        }
    }

    /// Held back by admission control: the worker must look again soon.
    pub(crate) fn is_held(&self) -> bool {
        matches!(&self.state, State::Reading(r) if r.held_since.is_some())
    }

    /// Decodes buffered input and moves finished responses on, until there is an event
    /// for the app (or nothing more to do).
    #[must_use]
    pub(crate) fn poll_event(&mut self, now: Instant) -> Option<Event> {
        loop {
            if self.take_close_notice() {
                return Some(Event::Closed);
            }
            match self.decode_one(now) {
                Step::Event(event) => return Some(event),
                Step::Again => continue,
                Step::Idle => {}
            }
            if !(self.out.is_empty() && self.on_drained(now)) {
                return None;
            }
        }
    }

    /// Feeds the unread input to the state's decoder, up to one item.
    fn decode_one(&mut self, now: Instant) -> Step {
        if self.input.is_empty() {
            return Step::Idle;
        }
        let rest = self.input.unread();
        match &mut self.state {
            State::Reading(r) => match r.decoder.decode(rest) {
                Ok(Decoded::NeedMore { consumed }) => {
                    self.input.consume(consumed);
                    self.input.compact();
                    Step::Idle
                }
                Ok(Decoded::Done {
                    value: HttpEvent::ContinueExpected,
                    consumed,
                }) => {
                    self.input.consume(consumed);
                    self.out.push_owned(CONTINUE_100.to_vec());
                    Step::Again
                }
                Ok(Decoded::Done {
                    value: HttpEvent::Request(req),
                    consumed,
                }) => {
                    self.input.consume(consumed);
                    self.on_request(req, now)
                }
                Err(e) => {
                    self.refuse(Refusal::Http(e), now);
                    Step::Again
                }
            },
            State::WebSocket(ws) => match ws.reader.decode(rest) {
                Ok(Decoded::NeedMore { consumed }) => {
                    self.input.consume(consumed);
                    self.input.compact();
                    Step::Idle
                }
                Ok(Decoded::Done { value, consumed }) => {
                    self.input.consume(consumed);
                    self.on_ws_event(value, now)
                }
                Err(e) => {
                    self.close_ws(e.close_code(), now);
                    Step::Again
                }
            },
            _ => Step::Idle,
        }
    }

    /// What it counts for in the worker's backlog.
    pub(crate) fn standing(&self) -> Standing {
        match self.state {
            State::WebSocket(_) => Standing::websocket(self.out.queued(), self.out.limit()),
            _ => Standing::default(),
        }
    }
}
