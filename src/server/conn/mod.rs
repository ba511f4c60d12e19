//! One client connection: its socket, input buffer, out queue and protocol state. Drives
//! the codecs and calls the app; knows nothing of polls, slabs or other connections (sends
//! to other connections are handed back to the worker through [`Env::deferred`]).
//!
//! This file holds the state machine and the socket I/O; `request.rs` and `websocket.rs` add
//! what each protocol does with decoded input.

mod request;
mod websocket;

use super::admission::{Standing, HOLD_MAX};
use super::out_queue::OutQueue;
use super::{App, ConnId, Handle, Limits};
use crate::decoded::Decoded;
use crate::http::{HttpEvent, HttpLimits, RequestDecoder, CONTINUE_100};
use crate::ws::{HandshakeError, MessageReader};
use mio::net::TcpStream;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a closing connection may take to flush its last bytes and see the peer's EOF
/// (the peer's close frame, then FIN). Past it: the socket is dropped.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
/// How long shutdown waits for the app to answer a `Reply::Later` request; then 503.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// What a worker lends a connection while driving it.
pub(crate) struct Env<A> {
    pub app: Arc<A>,
    pub handle: Handle,
    pub limits: Limits,
    pub shutting_down: bool,
    /// `Ctx::send` calls made during one callback, to this worker's connections.
    pub local: Vec<(ConnId, Arc<[u8]>)>,
    /// Of those, the ones for other connections: the worker delivers them.
    pub deferred: Vec<(ConnId, Arc<[u8]>)>,
    /// Read buffer shared by the worker's connections (one read at a time).
    pub scratch: Box<[u8]>,
    /// Some worker is congested: new HTTP requests wait (`admission.rs`).
    pub hold_requests: bool,
}

/// An upgrade request's handshake check, done before the request goes to the app.
type Handshake = Option<Result<String, HandshakeError>>;

/// Where a connection is. [`Conn::enter`] is the one place that moves it on.
enum ConnState {
    /// Call: `RequestDecoder::decode`. Next: AwaitingApp, Responding, WebSocket, Closing.
    Reading(RequestDecoder),
    /// The app answered `Reply::Later`; reads paused. Next: Responding, WebSocket, Closing.
    AwaitingApp {
        keep_alive: bool,
        handshake: Handshake,
        grace: Option<Instant>,
    },
    /// A response is leaving; reads paused, pipelined requests wait in `inbuf`.
    /// Next: Reading (keep-alive, queue drained), Closing.
    Responding { keep_alive: bool },
    /// Call: `MessageReader::decode`. Next: Closing.
    WebSocket(MessageReader),
    /// Last bytes leaving, then the write side is shut and input discarded until the
    /// peer's EOF or `deadline`. Next: Done.
    Closing { deadline: Instant },
    /// Finished: the worker deregisters and drops the connection.
    Done,
}

/// A client connection owned by one worker.
pub(crate) struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnId,
    state: ConnState,
    /// Received bytes the codecs have not consumed yet.
    inbuf: Vec<u8>,
    out: OutQueue,
    http_limits: HttpLimits,
    /// The socket may hold unread bytes (set by readable events, cleared on WouldBlock).
    readable: bool,
    eof: bool,
    write_shut: bool,
    last_read: Instant,
    last_write: Instant,
    /// A websocket that stayed silent for half the idle timeout was pinged at this time;
    /// cleared by any byte from the peer (its pong, for one).
    ping_sent: Option<Instant>,
    /// When the current request's first byte arrived (or the connection was accepted).
    request_started: Option<Instant>,
    /// Since when reading a new request has been held back by admission control.
    held_since: Option<Instant>,
    /// Upgraded or awaited a `Later` reply, and the app has not had `on_close` yet.
    pub(crate) notify_close: bool,
    /// The live timer entry's deadline (see `timers.rs`).
    pub(crate) armed: Option<Instant>,
    /// Interest currently registered with the poll.
    pub(crate) registered: Option<mio::Interest>,
}

impl Conn {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        id: ConnId,
        limits: &Limits,
        now: Instant,
    ) -> Self {
        let http_limits = HttpLimits {
            max_head: limits.max_head,
            max_body: limits.max_body,
            ..HttpLimits::default()
        };
        Conn {
            stream,
            peer,
            id,
            state: ConnState::Reading(RequestDecoder::new(http_limits)),
            inbuf: Vec::new(),
            out: OutQueue::new(limits.max_outbound),
            http_limits,
            readable: true,
            eof: false,
            write_shut: false,
            last_read: now,
            last_write: now,
            ping_sent: None,
            request_started: Some(now),
            held_since: None,
            notify_close: false,
            armed: None,
            registered: None,
        }
    }

    pub(crate) fn id(&self) -> ConnId {
        self.id
    }

    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, ConnState::Done)
    }

    /// Whether the app should hear `on_close` now: the connection was upgraded or awaited
    /// a `Later` reply, and it is closing. Reported once, as early as possible, so the app
    /// stops addressing it while its last bytes (a close frame) are still leaving.
    pub(crate) fn take_close_notice(&mut self) -> bool {
        let closing = matches!(self.state, ConnState::Closing { .. } | ConnState::Done);
        let notice = closing && self.notify_close;
        if notice {
            self.notify_close = false;
        }
        notice
    }

    pub(crate) fn mark_readable(&mut self) {
        self.readable = true;
    }

    /// READABLE always (EOF and errors arrive that way), WRITABLE while bytes wait.
    pub(crate) fn interest(&self) -> mio::Interest {
        if self.out.is_empty() {
            mio::Interest::READABLE
        } else {
            mio::Interest::READABLE | mio::Interest::WRITABLE
        }
    }

    /// The one function that changes state, with each state's entry actions.
    fn enter(&mut self, next: ConnState, now: Instant) {
        match &next {
            ConnState::Reading(_) => {
                self.request_started = (!self.inbuf.is_empty()).then_some(now);
            }
            ConnState::WebSocket(_) | ConnState::AwaitingApp { .. } => self.notify_close = true,
            ConnState::Closing { .. } => self.inbuf.clear(),
            ConnState::Done => self.out.clear(),
            ConnState::Responding { .. } => {}
        }
        self.state = next;
    }

    fn close_after_flush(&mut self, now: Instant) {
        if !matches!(self.state, ConnState::Closing { .. } | ConnState::Done) {
            self.enter(
                ConnState::Closing {
                    deadline: now + LINGER,
                },
                now,
            );
        }
    }

    /// When this connection next needs a look, given its state.
    pub(crate) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let idle = self.last_read + limits.idle_timeout;
        match &self.state {
            ConnState::Reading(_) => Some(match self.request_started {
                Some(t) => idle.min(t + limits.header_timeout),
                None => idle,
            }),
            ConnState::AwaitingApp { grace, .. } => *grace,
            ConnState::Responding { .. } => {
                Some(self.last_read.max(self.last_write) + limits.idle_timeout)
            }
            // Silent listeners are normal (browsers only receive), so silence is first
            // answered with a ping at half the timeout; only a peer that does not answer
            // it within the other half is closed.
            ConnState::WebSocket(_) => Some(match self.ping_sent {
                None => self.last_read + limits.idle_timeout / 2,
                Some(t) => t + limits.idle_timeout / 2,
            }),
            ConnState::Closing { deadline } => Some(*deadline),
            ConnState::Done => None,
        }
    }

    /// The deadline passed: header timeout (408 if part of a request came, else a silent
    /// close), idle (close; a websocket is pinged first and gets close 1001 if the ping
    /// brings nothing back), shutdown grace (503), linger.
    pub(crate) fn on_deadline(&mut self, now: Instant) {
        match &self.state {
            ConnState::Reading(_) if self.request_started.is_some() && !self.inbuf.is_empty() => {
                self.refuse(408, now)
            }
            ConnState::AwaitingApp { .. } => self.refuse(503, now),
            ConnState::WebSocket(_) if self.ping_sent.is_none() => {
                self.ping_sent = Some(now);
                self.out.push_over_limit(
                    crate::ws::shared_frame(crate::ws::OpCode::Ping, &[]).to_vec(),
                );
            }
            ConnState::WebSocket(_) => self.close_ws(1001, now),
            _ => self.enter(ConnState::Done, now),
        }
    }

    /// Shutdown began: websockets get close 1001, idle HTTP closes, responses finish,
    /// `Later` requests get a short grace.
    pub(crate) fn on_shutdown(&mut self, now: Instant) {
        match &mut self.state {
            ConnState::Reading(_) => self.enter(ConnState::Done, now),
            ConnState::AwaitingApp {
                grace, keep_alive, ..
            } => {
                *grace = Some(now + SHUTDOWN_GRACE);
                *keep_alive = false;
            }
            ConnState::Responding { keep_alive } => *keep_alive = false,
            ConnState::WebSocket(_) => self.close_ws(1001, now),
            ConnState::Closing { .. } | ConnState::Done => {}
        }
    }

    /// Reads, decodes, calls the app and writes until nothing moves. Afterwards the
    /// connection is either waiting for readiness, a timer or mail, or `Done`.
    pub(crate) fn drive<A: App>(&mut self, env: &mut Env<A>, now: Instant) {
        loop {
            let mut progress = self.process_input(env, now);
            if !self.out.is_empty() {
                match self.out.flush(&mut self.stream) {
                    Ok(0) => {}
                    Ok(_) => self.last_write = now,
                    Err(_) => self.enter(ConnState::Done, now),
                }
            }
            if self.out.is_empty() {
                progress |= self.on_drained(now);
            }
            if self.is_done() {
                return;
            }
            if self.readable && self.wants_read() && !self.holds_request(env, now) {
                progress |= self.read_some(env, now);
            }
            if !progress || self.is_done() {
                return;
            }
        }
    }

    /// Admission control: while some worker is congested, an HTTP connection between
    /// requests is not read, for at most `HOLD_MAX` per request (`admission.rs`).
    fn holds_request<A: App>(&mut self, env: &Env<A>, now: Instant) -> bool {
        if !matches!(self.state, ConnState::Reading(_)) || !env.hold_requests {
            self.held_since = None;
            return false;
        }
        let since = *self.held_since.get_or_insert(now);
        if now.saturating_duration_since(since) < HOLD_MAX {
            return true;
        }
        self.held_since = None;
        false
    }

    /// Readable but held back by admission control: the worker must look again.
    pub(crate) fn is_held(&self) -> bool {
        self.held_since.is_some() && self.readable && matches!(self.state, ConnState::Reading(_))
    }

    /// What it counts for in the worker's backlog.
    pub(crate) fn standing(&self) -> Standing {
        match self.state {
            ConnState::WebSocket(_) => Standing::websocket(self.out.queued(), self.out.limit()),
            _ => Standing::default(),
        }
    }

    fn wants_read(&self) -> bool {
        match self.state {
            ConnState::Reading(_) | ConnState::Closing { .. } => !self.eof,
            // Back-pressure: a peer that does not read its echoes stops being read.
            ConnState::WebSocket(_) => !self.eof && self.out.queued() <= self.out.limit() / 2,
            _ => false,
        }
    }

    /// One read into the shared buffer. Returns whether anything happened.
    fn read_some<A: App>(&mut self, env: &mut Env<A>, now: Instant) -> bool {
        match self.stream.read(&mut env.scratch) {
            Ok(0) => {
                self.eof = true;
                match self.state {
                    ConnState::Closing { .. } if !self.out.is_empty() => {}
                    _ => self.enter(ConnState::Done, now),
                }
                true
            }
            Ok(n) => {
                self.last_read = now;
                self.ping_sent = None;
                match self.state {
                    ConnState::Closing { .. } => {}
                    _ => {
                        if self.request_started.is_none()
                            && matches!(self.state, ConnState::Reading(_))
                        {
                            self.request_started = Some(now);
                        }
                        self.inbuf
                            .extend_from_slice(env.scratch.get(..n).unwrap_or(&[]));
                    }
                }
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(_) => {
                self.enter(ConnState::Done, now);
                true
            }
        }
    }

    /// The out queue is empty: a finished response moves on; a closing socket shuts its
    /// write side (FIN after our last byte) and waits for the peer's EOF.
    fn on_drained(&mut self, now: Instant) -> bool {
        match self.state {
            ConnState::Responding { keep_alive: true } => {
                self.enter(
                    ConnState::Reading(RequestDecoder::new(self.http_limits)),
                    now,
                );
                true
            }
            ConnState::Responding { keep_alive: false } => {
                self.close_after_flush(now);
                true
            }
            ConnState::Closing { .. } if !self.write_shut => {
                self.write_shut = true;
                if self.eof || self.stream.shutdown(Shutdown::Write).is_err() {
                    self.enter(ConnState::Done, now);
                }
                true
            }
            _ => false,
        }
    }

    /// Feeds buffered input to the state's decoder. Returns whether the state moved.
    fn process_input<A: App>(&mut self, env: &mut Env<A>, now: Instant) -> bool {
        let mut pos = 0;
        let mut moved = false;
        while pos < self.inbuf.len() {
            let rest = self.inbuf.get(pos..).unwrap_or(&[]);
            match &mut self.state {
                ConnState::Reading(decoder) => match decoder.decode(rest) {
                    Ok(Decoded::NeedMore { consumed }) => {
                        pos += consumed;
                        break;
                    }
                    Ok(Decoded::Done {
                        value: HttpEvent::ContinueExpected,
                        consumed,
                    }) => {
                        pos += consumed;
                        self.out.push_over_limit(CONTINUE_100.to_vec());
                    }
                    Ok(Decoded::Done {
                        value: HttpEvent::Request(req),
                        consumed,
                    }) => {
                        pos += consumed;
                        self.on_request(req, env, now);
                        moved = true;
                    }
                    Err(e) => {
                        self.refuse(e.status(), now);
                        moved = true;
                    }
                },
                ConnState::WebSocket(reader) => match reader.decode(rest) {
                    Ok(Decoded::NeedMore { consumed }) => {
                        pos += consumed;
                        break;
                    }
                    Ok(Decoded::Done { value, consumed }) => {
                        pos += consumed;
                        moved |= self.on_ws_event(value, env, now);
                    }
                    Err(e) => {
                        self.close_ws(e.close_code(), now);
                        moved = true;
                    }
                },
                _ => break,
            }
        }
        // `Closing`/`Done` cleared `inbuf` on entry; only drain what is still there.
        let pos = pos.min(self.inbuf.len());
        self.inbuf.drain(..pos);
        if self.inbuf.is_empty() && self.inbuf.capacity() > 64 * 1024 {
            self.inbuf = Vec::new();
        }
        moved
    }
}
