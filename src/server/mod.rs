//! The engine: the only code that imports mio. Owns sockets, buffers and timers; runs one
//! `mio::Poll` loop per worker thread and drives the sans-IO codecs in [`crate::http`] and
//! [`crate::ws`]. Applications plug in through [`App`]; other threads reach connections
//! through a [`Handle`].
//!
//! Files: `listener.rs` (acceptor thread: accept, 503 when full, signals, shutdown
//! coordination), `worker.rs` (one poll loop per thread), `socket.rs` (a connection's
//! socket I/O and app calls), `conn/` (a connection's sans-IO state machine, unit-tested
//! with a simulated clock), `out_queue.rs`, `timers.rs`, `admission.rs`, `slots.rs` (slab
//! and generations), `mailbox.rs` and `handle.rs` (cross-thread messages), `refusal.rs`
//! (the engine's one way to refuse), `observe.rs` (request and websocket log lines, the
//! worker's counters), `sys.rs` (the only `unsafe`: signals, fd limit, listen backlog).

mod admission;
mod conn;
mod handle;
mod listener;
mod mailbox;
mod observe;
mod out_queue;
mod refusal;
mod slots;
mod socket;
mod sys;
mod timers;
mod worker;

pub use crate::conn_id::ConnId;
pub use handle::{Handle, Wakeups};
pub use refusal::Refusal;

use crate::http::{Request, Response};
use crate::metrics::{Endpoint, EngineCounters};
use conn::Conn;
use handle::{Post, Shared};
use mailbox::Mail;
use mio::net::TcpListener;
use mio::{Poll, Waker};
use socket::Env;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Hard limits, safe on a public port. Each says what happens past it. Fields may be
/// added, so other crates start from [`Limits::default`] and set fields.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Open client connections. Past it: the acceptor answers 503 `{"error":"server busy"}`
    /// at once and closes, so clients do not wait in the backlog.
    pub max_connections: usize,
    /// Request line plus headers. Past it: 431 and close.
    pub max_head: usize,
    /// Request body. Past it: 413 and close.
    pub max_body: usize,
    /// Websocket message (all fragments). Past it: close 1009.
    pub max_message: usize,
    /// Bytes queued to one socket. Past it: a websocket is closed with 1008 (an empty
    /// queue still takes any one frame, as frames are shared by their recipients). An HTTP
    /// answer is written at once; if more than this is still unsent after that write (its
    /// client does not read), the connection is closed and the rest freed. A websocket
    /// whose queue is over half full is not read from until it drains (back-pressure).
    pub max_outbound: usize,
    /// Time to receive a whole request (head and body), counted from the connection's
    /// accept or from the request's first byte. Past it: 408 and close if part of a request
    /// came (head or body), a silent close if nothing did.
    pub header_timeout: Duration,
    /// Time without any byte from the client. Keep-alive HTTP past it: close. A websocket
    /// silent for half of it gets a ping (browsers answer pings by themselves, so silent
    /// listeners stay connected); one that sends nothing back for the other half gets
    /// close 1001.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_head: 8 * 1024,
            max_body: 1024 * 1024,
            max_message: 1024 * 1024,
            max_outbound: 4 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// How to run the engine.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// Worker threads, each with its own poll loop; at least 1.
    pub workers: usize,
    /// Limits applied to every connection.
    pub limits: Limits,
}

/// A whole websocket data message, handed to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsMessage {
    /// Text (valid UTF-8).
    Text(String),
    /// Binary.
    Binary(Vec<u8>),
}

/// What the app answers to a request.
#[derive(Debug)]
pub enum Reply {
    /// Send this response now.
    Respond(Response),
    /// Complete the websocket handshake (the engine validated it and sends the 101), then
    /// queue `frames` (whole server frames) right behind it. For a request that is not a
    /// handshake ([`Ctx::is_upgrade`] false) the engine answers 400 and closes.
    Upgrade {
        /// Frames to send right after the handshake.
        frames: Vec<Arc<[u8]>>,
    },
    /// The app answers later through [`Handle::respond`] or [`Handle::upgrade`] (a hub
    /// round-trip, a long-poll). The connection reads nothing more until then.
    Later,
}

/// An application running on the engine. Callbacks run on worker threads and must not
/// block.
pub trait App: Send + Sync + 'static {
    /// A complete HTTP request arrived on `ctx.conn()`.
    fn on_request(&self, req: Request, ctx: &mut Ctx<'_>) -> Reply;
    /// A whole text or binary websocket message arrived on `ctx.conn()`.
    fn on_ws_message(&self, msg: WsMessage, ctx: &mut Ctx<'_>);
    /// The connection is gone (peer closed, error, limit, timeout, shutdown). Called once
    /// for every connection that was upgraded or was awaiting a `Later` reply, as soon as
    /// it starts closing (a close frame may still be leaving); sends to it are then dropped.
    fn on_close(&self, conn: ConnId);
    /// Shutdown began (SIGTERM/SIGINT or [`Handle::shutdown`]): called once, before
    /// websockets get close 1001, so the app can answer waiting requests and save state.
    fn on_shutdown(&self) {}
    /// `SIGHUP` arrived: re-read whatever settings can change while running. Called on
    /// the acceptor thread; must not block for long.
    fn on_reload(&self) {}
}

/// What a callback may use: the connection it is about, its own out queue, and a way to
/// reach any other.
pub struct Ctx<'a> {
    conn: ConnId,
    peer: SocketAddr,
    handle: &'a Handle,
    core: &'a mut Conn,
    now: Instant,
    upgrade: bool,
    /// Set by [`Ctx::describe`].
    described: Option<(Endpoint, IpAddr)>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        conn: ConnId,
        peer: SocketAddr,
        handle: &'a Handle,
        core: &'a mut Conn,
        now: Instant,
    ) -> Self {
        Ctx {
            conn,
            peer,
            handle,
            core,
            now,
            upgrade: false,
            described: None,
        }
    }
    /// In `on_request`: what the request is for and who sent it (the client behind any
    /// trusted proxy), for the request's log line and the metrics. Without it the engine
    /// uses the path's endpoint and the socket's peer.
    pub fn describe(&mut self, endpoint: Endpoint, client: IpAddr) {
        self.described = Some((endpoint, client));
    }
    /// The connection this callback is about.
    pub fn conn(&self) -> ConnId {
        self.conn
    }
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    /// A handle for reaching connections from other threads.
    pub fn handle(&self) -> &Handle {
        self.handle
    }
    /// In `on_request`: the request is a valid websocket handshake, so `Reply::Upgrade`
    /// will succeed. The engine refuses an invalid handshake before the app sees it.
    pub fn is_upgrade(&self) -> bool {
        self.upgrade
    }
    /// Queues a whole server frame to `conn`. This connection's own frames go straight
    /// into its out queue, in order with what it sends next; any other connection's go
    /// through [`Handle::send`]. Frames to a connection that is not a websocket (yet:
    /// during `on_request`, use `Reply::Upgrade { frames }`) are dropped.
    pub fn send(&mut self, conn: ConnId, frame: Arc<[u8]>) {
        if conn == self.conn {
            self.core.send_frame(frame, self.now);
        } else {
            self.handle.send(conn, frame)
        }
    }
    /// True at most once per `period` on this connection: a per-connection slot, kept by
    /// the engine, for work an app does at a bounded rate (forwarding activity, say)
    /// without a shared map or a lock.
    pub fn once_per(&mut self, period: Duration) -> bool {
        match self.core.once_mark {
            Some(t) if self.now.saturating_duration_since(t) < period => false,
            _ => {
                self.core.once_mark = Some(self.now);
                true
            }
        }
    }
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    local_addr: SocketAddr,
    listener: TcpListener,
    acceptor_poll: Poll,
    /// Each worker's poll and mailbox, created at bind so the handle works before `run`.
    workers: Vec<(Poll, Receiver<Mail>)>,
    handle: Handle,
    /// Read end of the signal self-pipe, if the handlers could be installed.
    signal_fd: Option<std::os::fd::RawFd>,
    /// Each worker's counters (`GET /metrics`).
    counters: Arc<EngineCounters>,
}

impl Server {
    /// Binds the listener and prepares the workers (raising the open-file limit first).
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        // Installed here, not in `run`: a signal between the two is then not lost (it sets
        // the flag `run` checks first) and cannot kill the process mid-startup.
        let signal_fd = match sys::install_signal_handlers() {
            Ok(fd) => Some(fd),
            Err(e) => {
                crate::log!(Warning, "no signal handlers ({e}); use Handle::shutdown");
                None
            }
        };
        if let Err(e) = sys::raise_nofile_limit() {
            crate::log!(Warning, "could not raise the open-file limit: {e}");
        }
        let listener = TcpListener::bind(config.addr)?;
        if let Err(e) = sys::deepen_backlog(&listener) {
            crate::log!(Warning, "could not deepen the listen backlog: {e}");
        }
        let local_addr = listener.local_addr()?;
        let acceptor_poll = Poll::new()?;
        let acceptor = Arc::new(Waker::new(acceptor_poll.registry(), listener::WAKE)?);
        let mut workers = Vec::new();
        let mut posts = Vec::new();
        for _ in 0..config.workers.clamp(1, u16::MAX as usize) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), worker::MAILBOX)?);
            let (tx, rx) = mpsc::channel();
            posts.push(Post { tx, waker });
            workers.push((poll, rx));
        }
        let shared = Shared {
            posts,
            acceptor,
            shutdown: AtomicBool::new(false),
            max_connections: AtomicUsize::new(config.limits.max_connections),
            congestion: admission::Congestion::new(workers.len()),
        };
        let handle = Handle::new(Arc::new(shared));
        let counters = Arc::new(EngineCounters::new(workers.len()));
        Ok(Server {
            config,
            local_addr,
            listener,
            acceptor_poll,
            workers,
            handle,
            signal_fd,
            counters,
        })
    }

    /// The workers' counters, for a metrics page.
    pub fn counters(&self) -> Arc<EngineCounters> {
        self.counters.clone()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle usable before and while the server runs.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Runs the workers until shutdown completes (SIGTERM/SIGINT or [`Handle::shutdown`]):
    /// stop accepting, call [`App::on_shutdown`], send close 1001 to websockets, finish
    /// in-flight responses, return.
    pub fn run<A: App>(self, app: Arc<A>) -> io::Result<()> {
        let open = Arc::new(AtomicUsize::new(0));
        let limits = self.config.limits;
        let worker_count = self.workers.len();
        let congestion = self.handle.congestion().clone();
        let mut threads = Vec::new();
        for (i, (poll, mailbox)) in self.workers.into_iter().enumerate() {
            let worker = worker::Worker {
                id: i as u16,
                poll,
                mailbox,
                conns: slots::Slots::default(),
                timers: timers::Timers::default(),
                env: Env {
                    app: app.clone(),
                    handle: self.handle.clone(),
                    scratch: vec![0; 64 * 1024].into_boxed_slice(),
                    hold_requests: false,
                    counters: self.counters.clone(),
                    worker: i,
                },
                limits,
                shutting_down: false,
                open: open.clone(),
                dirty: Vec::new(),
                pass_events: Some(mio::Events::with_capacity(256)),
                pass_began: None,
                answer_after_pass: Vec::new(),
                tail: worker::KeySet::default(),
                backlog: admission::Backlog::default(),
                congestion: congestion.clone(),
                held: Vec::new(),
            };
            let thread = thread::Builder::new()
                .name(format!("cs-worker-{i}"))
                .spawn(move || worker.run())?;
            threads.push(thread);
        }
        let acceptor = listener::Acceptor {
            poll: self.acceptor_poll,
            listener: self.listener,
            handle: self.handle.clone(),
            app,
            open,
            workers: worker_count,
            signal_fd: self.signal_fd,
        };
        let accepted = acceptor.run();
        if accepted.is_err() {
            self.handle.shutdown();
            for w in 0..worker_count {
                self.handle.post(w as u16, Mail::Shutdown);
            }
        }
        let mut result = accepted;
        for thread in threads {
            let joined = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")));
            if result.is_ok() {
                result = joined;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle that reaches no worker (sends to other connections are dropped).
    fn detached_handle(poll: &Poll) -> Handle {
        let acceptor = Arc::new(Waker::new(poll.registry(), listener::WAKE).expect("waker"));
        Handle::new(Arc::new(Shared {
            posts: Vec::new(),
            acceptor,
            shutdown: AtomicBool::new(false),
            max_connections: AtomicUsize::new(1),
            congestion: admission::Congestion::new(0),
        }))
    }

    #[test]
    fn once_per_is_true_once_per_period_and_per_connection() {
        let poll = Poll::new().expect("poll");
        let handle = detached_handle(&poll);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let id = ConnId {
            worker: 0,
            key: 0,
            gen: 0,
        };
        let t0 = Instant::now();
        let limits = Limits::default();
        let (mut a, mut b) = (Conn::new(&limits, t0), Conn::new(&limits, t0));
        let second = Duration::from_secs(1);
        let at = |conn: &mut Conn, after_ms: u64| {
            let now = t0 + Duration::from_millis(after_ms);
            Ctx::new(id, peer, &handle, conn, now).once_per(second)
        };
        assert!(at(&mut a, 0));
        assert!(!at(&mut a, 999), "within the period");
        assert!(at(&mut b, 999), "another connection has its own slot");
        assert!(at(&mut a, 1000), "the next period");
        assert!(!at(&mut a, 1500));
    }
}
