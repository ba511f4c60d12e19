//! The engine: the only code that imports mio. Owns sockets, buffers and timers; runs one
//! `mio::Poll` loop per worker thread and drives the sans-IO codecs in [`crate::http`] and
//! [`crate::ws`]. Applications plug in through [`App`]; other threads reach connections
//! through a [`Handle`].
//!
//! STUB: the public interface below is the contract apps and the echo example code
//! against. The owner of this module fills in the bodies (and splits it into files)
//! without changing the signatures marked CONTRACT.

use crate::http::{Request, Response};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Hard limits, safe on a public port. Each says what happens past it. CONTRACT.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open client connections. Past it: 503 with a JSON body, then close.
    pub max_connections: usize,
    /// Request line plus headers. Past it: 431 and close.
    pub max_head: usize,
    /// Request body. Past it: 413 and close.
    pub max_body: usize,
    /// Websocket message (all fragments). Past it: close 1009.
    pub max_message: usize,
    /// Bytes queued to one socket. Past it: close 1008 (websocket) or drop (HTTP).
    pub max_outbound: usize,
    /// Time to receive a whole request head. Past it: the socket is closed (408 if idle).
    pub header_timeout: Duration,
    /// Time without any byte from the client (keep-alive HTTP or websocket). Past it: close.
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

/// How to run the engine. CONTRACT.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// Worker threads, each with its own poll loop; at least 1.
    pub workers: usize,
    /// Limits applied to every connection.
    pub limits: Limits,
}

/// A connection's address anywhere in the process. Slab keys are reused at once, so
/// anything that crosses a thread carries `gen`, and the worker checks it. CONTRACT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Index of the worker that owns the socket.
    pub worker: u16,
    /// Slab key within that worker.
    pub key: u32,
    /// Generation, bumped each time a slab key is reused.
    pub gen: u32,
}

/// A whole websocket data message, handed to the app. CONTRACT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsMessage {
    /// Text (valid UTF-8).
    Text(String),
    /// Binary.
    Binary(Vec<u8>),
}

/// What the app answers to a request. CONTRACT.
#[derive(Debug)]
pub enum Reply {
    /// Send this response now.
    Respond(Response),
    /// Complete the websocket handshake (the engine validated it and sends the 101), then
    /// queue `frames` (whole server frames) right behind it.
    Upgrade {
        /// Frames to send right after the handshake.
        frames: Vec<Arc<[u8]>>,
    },
    /// The app answers later through [`Handle::respond`] or [`Handle::upgrade`] (a hub
    /// round-trip, a long-poll). The connection reads nothing more until then.
    Later,
}

/// An application running on the engine. Callbacks run on worker threads and must not
/// block. CONTRACT.
pub trait App: Send + Sync + 'static {
    /// A complete HTTP request arrived on `ctx.conn()`.
    fn on_request(&self, req: Request, ctx: &mut Ctx<'_>) -> Reply;
    /// A whole text or binary websocket message arrived on `ctx.conn()`.
    fn on_ws_message(&self, msg: WsMessage, ctx: &mut Ctx<'_>);
    /// The connection is gone (peer closed, error, limit, timeout, shutdown). Called once
    /// for every connection that was upgraded or was awaiting a `Later` reply.
    fn on_close(&self, conn: ConnId);
    /// Shutdown began (SIGTERM/SIGINT or [`Handle::shutdown`]): called once, before
    /// websockets get close 1001, so the app can answer waiting requests and save state.
    fn on_shutdown(&self) {}
}

/// What a callback may use: the connection it is about and a way to reach any other.
/// CONTRACT.
pub struct Ctx<'a> {
    conn: ConnId,
    peer: SocketAddr,
    handle: &'a Handle,
}

impl<'a> Ctx<'a> {
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
    /// Queues a whole server frame to `conn` (on this worker: directly, no mailbox hop).
    pub fn send(&mut self, conn: ConnId, frame: Arc<[u8]>) {
        self.handle.send(conn, frame)
    }
}

/// A cloneable, `Send + Sync` way for any thread to act on connections. Each call is one
/// mailbox message per worker involved, followed by a `mio::Waker` wake. CONTRACT.
#[derive(Clone, Debug)]
pub struct Handle {}

impl Handle {
    /// Answers a request that got [`Reply::Later`]. Ignored if the connection is gone.
    pub fn respond(&self, conn: ConnId, response: Response) {
        let _ = (conn, response);
        todo!("server::Handle::respond")
    }
    /// Completes the websocket upgrade of a request that got [`Reply::Later`].
    pub fn upgrade(&self, conn: ConnId, frames: Vec<Arc<[u8]>>) {
        let _ = (conn, frames);
        todo!("server::Handle::upgrade")
    }
    /// Queues a whole server frame to one websocket connection.
    pub fn send(&self, conn: ConnId, frame: Arc<[u8]>) {
        let _ = (conn, frame);
        todo!("server::Handle::send")
    }
    /// Queues the same frame to many websocket connections: one mailbox message per
    /// worker, the bytes shared, never copied.
    pub fn send_many(&self, conns: &[ConnId], frame: Arc<[u8]>) {
        let _ = (conns, frame);
        todo!("server::Handle::send_many")
    }
    /// Sends a close frame with `code` and closes once it has left.
    pub fn close(&self, conn: ConnId, code: u16) {
        let _ = (conn, code);
        todo!("server::Handle::close")
    }
    /// Starts a clean shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        todo!("server::Handle::shutdown")
    }
}

/// A bound, not yet running server. CONTRACT.
#[derive(Debug)]
pub struct Server {}

impl Server {
    /// Binds the listener and prepares the workers.
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        let _ = config;
        todo!("server::Server::bind")
    }
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        todo!("server::Server::local_addr")
    }
    /// A handle usable before and while the server runs.
    pub fn handle(&self) -> Handle {
        todo!("server::Server::handle")
    }
    /// Runs the workers until shutdown completes (SIGTERM/SIGINT or [`Handle::shutdown`]):
    /// stop accepting, call [`App::on_shutdown`], send close 1001 to websockets, finish
    /// in-flight responses, return.
    pub fn run<A: App>(self, app: Arc<A>) -> io::Result<()> {
        let _ = app;
        todo!("server::Server::run")
    }
}
