//! A connection's socket and the loop that moves bytes between it and the sans-IO
//! [`Conn`]: read into the worker's buffer, hand the core's events to the app, flush its
//! out queue with vectored writes, shut the write side when it asks. Protocol decisions
//! stay in `conn/`; poll registration and timers stay in `worker.rs`.

use super::conn::{Conn, Event};
use super::observe::{Exchange, WsRecord};
use super::{App, ConnId, Ctx, Handle, Reply};
use crate::metrics::{bump, EngineCounters, WorkerCounters};
use mio::net::TcpStream;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// What a worker lends its sockets while driving them.
pub(crate) struct Env<A> {
    pub app: Arc<A>,
    pub handle: Handle,
    /// Read buffer shared by the worker's connections (one read at a time).
    pub scratch: Box<[u8]>,
    /// Some worker is congested: new HTTP requests wait (`admission.rs`).
    pub hold_requests: bool,
    /// Every worker's counters; this worker writes only its own.
    pub counters: Arc<EngineCounters>,
    /// This worker's index.
    pub worker: usize,
}

impl<A> Env<A> {
    /// This worker's counters.
    pub(crate) fn mine(&self) -> &WorkerCounters {
        self.counters.worker(self.worker)
    }
}

/// A client connection owned by one worker: the socket and its protocol core.
pub(crate) struct Socket {
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnId,
    pub(crate) conn: Conn,
    /// The socket may hold unread bytes (set by readable events, cleared on WouldBlock).
    readable: bool,
    /// The live timer entry's deadline (see `timers.rs`).
    pub(crate) armed: Option<Instant>,
    /// Interest currently registered with the poll.
    pub(crate) registered: Option<mio::Interest>,
    /// The request the app has and has not answered yet; boxed, as an open websocket has
    /// none and would otherwise carry its 88 bytes.
    exchange: Option<Box<Exchange>>,
    /// Set while the connection is an open websocket.
    ws: Option<WsRecord>,
}

impl Socket {
    pub(crate) fn new(stream: TcpStream, peer: SocketAddr, id: ConnId, conn: Conn) -> Self {
        Socket {
            stream,
            peer,
            id,
            conn,
            readable: true,
            armed: None,
            registered: None,
            exchange: None,
            ws: None,
        }
    }

    /// The app's answer to the pending request left: `Some(status)` for a response,
    /// `None` for an upgrade (101 if it became a websocket, else the engine's 400).
    pub(crate) fn answered(&mut self, status: Option<u16>, counters: &WorkerCounters) {
        let Some(exchange) = self.exchange.take() else {
            return;
        };
        let status = status.unwrap_or(if self.conn.standing().websocket {
            101
        } else {
            400
        });
        if let Some(ws) = exchange.finish(status, counters) {
            self.ws = Some(ws);
        }
    }

    /// The connection started closing (or is dropped): a websocket's close is counted
    /// and logged, once.
    pub(crate) fn released(&mut self, now: Instant, counters: &WorkerCounters) {
        if let Some(ws) = self.ws.take() {
            let code = self.conn.close_code.unwrap_or(1006);
            ws.closed(code, self.conn.cut_slow, now, counters);
        }
    }

    pub(crate) fn id(&self) -> ConnId {
        self.id
    }

    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub(crate) fn mark_readable(&mut self) {
        self.readable = true;
    }

    /// Readable but held back by admission control: the worker must look again.
    pub(crate) fn is_held(&self) -> bool {
        self.readable && self.conn.is_held()
    }

    /// READABLE always (EOF and errors arrive that way), WRITABLE while bytes wait.
    pub(crate) fn interest(&self) -> mio::Interest {
        if self.conn.wants_write() {
            mio::Interest::READABLE | mio::Interest::WRITABLE
        } else {
            mio::Interest::READABLE
        }
    }

    /// Hands events to the app, writes and reads until nothing moves. Afterwards the
    /// connection is waiting for readiness, a timer or mail, or it is done.
    pub(crate) fn drive<A: App>(&mut self, env: &mut Env<A>, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(event) = self.conn.poll_event(now) {
                self.dispatch(event, env, now);
            }
            if self.conn.wants_write() {
                match self.conn.pending().flush(&mut self.stream) {
                    Ok(n) => {
                        bump(&env.mine().bytes_out, n as u64);
                        progress |= self.conn.on_written(n, now)
                    }
                    Err(_) => self.conn.on_io_error(),
                }
            }
            if self.conn.poll_shutdown() {
                progress = true;
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    self.conn.on_io_error();
                }
            }
            if self.conn.is_done() {
                return;
            }
            if self.readable && self.conn.read_allowed(env.hold_requests, now) {
                progress |= self.read_some(env, now);
            }
            if !progress || self.conn.is_done() {
                return;
            }
        }
    }

    /// One read into the shared buffer. Returns whether anything happened.
    fn read_some<A: App>(&mut self, env: &mut Env<A>, now: Instant) -> bool {
        match self.stream.read(&mut env.scratch) {
            Ok(0) => self.conn.on_eof(),
            Ok(n) => self
                .conn
                .on_read(env.scratch.get(..n).unwrap_or_default(), now),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                return false;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.conn.on_io_error(),
        }
        true
    }

    /// Calls the app for one event. A panicking app costs its request a 500 or its
    /// websocket a close 1011, never the worker and its other sockets.
    fn dispatch<A: App>(&mut self, event: Event, env: &Env<A>, now: Instant) {
        let app = &*env.app;
        match event {
            Event::Request { req, upgrade } => {
                let (method, target) = (req.method.clone(), req.target.clone());
                let mut ctx = Ctx::new(self.id, self.peer, &env.handle, &mut self.conn, now);
                ctx.upgrade = upgrade;
                let call = panic::catch_unwind(AssertUnwindSafe(|| app.on_request(req, &mut ctx)));
                let described = ctx.described;
                self.exchange = Some(Box::new(Exchange::new(
                    method,
                    target,
                    now,
                    described,
                    self.peer.ip(),
                )));
                let answered = match call {
                    Ok(reply) => {
                        let answered = match &reply {
                            Reply::Respond(r) => Some(Some(r.status)),
                            Reply::Upgrade { .. } => Some(None),
                            Reply::Later => None,
                        };
                        self.conn.on_reply(reply, now);
                        answered
                    }
                    Err(_) => {
                        self.conn.on_app_panic(now);
                        Some(Some(500))
                    }
                };
                if let Some(status) = answered {
                    self.answered(status, env.mine());
                }
            }
            Event::Message(msg) => {
                let mut ctx = Ctx::new(self.id, self.peer, &env.handle, &mut self.conn, now);
                let call = AssertUnwindSafe(|| app.on_ws_message(msg, &mut ctx));
                if panic::catch_unwind(call).is_err() {
                    self.conn.on_app_panic(now);
                }
            }
            Event::Closed => {
                self.released(now, env.mine());
                notify_close(app, self.id)
            }
        }
    }
}

/// Calls `App::on_close`; a panicking app must not take the worker's other connections
/// down with it.
pub(crate) fn notify_close<A: App>(app: &A, id: ConnId) {
    if panic::catch_unwind(AssertUnwindSafe(|| app.on_close(id))).is_err() {
        crate::log!(Error, "App::on_close panicked");
    }
}
