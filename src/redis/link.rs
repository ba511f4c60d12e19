//! The Redis link thread: owns a node's two Redis sockets (commands, subscriber) and
//! drives their [`Session`]s over one mio `Poll`. Callers talk to it through a
//! [`RedisHandle`]: requests go on a bounded std channel plus a `mio::Waker` wake, so no
//! call on the handle ever blocks (a full queue answers `Busy`). Replies and messages go
//! to the `on_event` callback, on this thread; it must not block either (later: a send
//! on the hub thread's channel).
//!
//! Like `server/`, this file imports mio and reads the clock; the protocol lives in
//! `session.rs`. Host names in `redis_url` are resolved here, on this thread, at each
//! connect: a slow resolver delays only the link.

use super::{LinkConfig, LinkStats, RedisEvent, Role, Script, Session};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WAKER: Token = Token(0);
const COMMANDS: Token = Token(1);
const SUBSCRIBER: Token = Token(2);

/// Bytes read per `read` call; reads repeat until `WouldBlock`.
const READ_CHUNK: usize = 64 * 1024;

/// A request from a [`RedisHandle`] to the link thread.
enum Request {
    Command {
        tag: u64,
        args: Vec<Vec<u8>>,
    },
    Eval {
        tag: u64,
        script: Arc<Script>,
        keys: Vec<Vec<u8>>,
        args: Vec<Vec<u8>>,
    },
    Subscribe(Vec<u8>),
    Unsubscribe(Vec<u8>),
}

/// Why a [`RedisHandle`] call queued nothing (and no event will come for it). The hub
/// answers the request 503 either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotQueued {
    /// `LinkConfig::queue` requests are already waiting for the link thread.
    Full,
    /// The link thread has stopped.
    Stopped,
}

impl std::fmt::Display for NotQueued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full => "redis link queue full",
            Self::Stopped => "redis link stopped",
        })
    }
}

impl std::error::Error for NotQueued {}

/// Starts link threads.
pub struct RedisLink;

impl RedisLink {
    /// Starts the link thread for `config`: it connects both connections at once and keeps
    /// reconnecting (with back-off) until the handle is dropped. Every event goes to
    /// `on_event` on the link thread.
    pub fn spawn<F>(config: LinkConfig, on_event: F) -> io::Result<RedisHandle>
    where
        F: FnMut(RedisEvent) + Send + 'static,
    {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = mpsc::sync_channel(config.queue);
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(config);
        let now = Instant::now();
        let driver = Driver {
            poll,
            rx,
            stop: stop.clone(),
            config: config.clone(),
            sides: [
                Side::new(Role::Commands, COMMANDS, &config, now),
                Side::new(Role::Subscriber, SUBSCRIBER, &config, now),
            ],
            on_event,
        };
        let thread = std::thread::Builder::new()
            .name("channelstream-redis".into())
            .spawn(move || driver.run())?;
        Ok(RedisHandle {
            stats: config.stats.clone(),
            tx,
            waker,
            stop,
            thread: Some(thread),
        })
    }
}

/// The caller's side of a link. Dropping it stops the thread (and closes both sockets).
pub struct RedisHandle {
    stats: Arc<LinkStats>,
    tx: SyncSender<Request>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RedisHandle {
    /// Sends `args` (command name first) on the command connection; its
    /// [`RedisEvent::Reply`] carries `tag`. Pipelined: replies come in the order the
    /// commands were given. `Err` means it was not queued (no event will come for it).
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A], tag: u64) -> Result<(), NotQueued> {
        let args = args.iter().map(|a| a.as_ref().to_vec()).collect();
        self.send(Request::Command { tag, args })
    }

    /// Runs `script` with `EVALSHA` (falling back to `EVAL` on `NOSCRIPT`) on the command
    /// connection. Scripts in `LinkConfig::scripts` are loaded at every connect, so the
    /// fallback is needed only after a `SCRIPT FLUSH`.
    pub fn eval(
        &self,
        script: &Arc<Script>,
        keys: Vec<Vec<u8>>,
        args: Vec<Vec<u8>>,
        tag: u64,
    ) -> Result<(), NotQueued> {
        self.send(Request::Eval {
            tag,
            script: script.clone(),
            keys,
            args,
        })
    }

    /// Subscribes to `channel` now and after every reconnect; confirmed by
    /// [`RedisEvent::Subscribed`].
    pub fn subscribe(&self, channel: &[u8]) -> Result<(), NotQueued> {
        self.send(Request::Subscribe(channel.to_vec()))
    }

    /// Stops receiving `channel`.
    pub fn unsubscribe(&self, channel: &[u8]) -> Result<(), NotQueued> {
        self.send(Request::Unsubscribe(channel.to_vec()))
    }

    /// The link's counters and connection states (`LinkConfig::stats`).
    pub fn stats(&self) -> &Arc<LinkStats> {
        &self.stats
    }

    fn send(&self, request: Request) -> Result<(), NotQueued> {
        match self.tx.try_send(request) {
            Ok(()) => self.waker.wake().map_err(|_| NotQueued::Stopped),
            Err(TrySendError::Full(_)) => Err(NotQueued::Full),
            Err(TrySendError::Disconnected(_)) => Err(NotQueued::Stopped),
        }
    }
}

impl Drop for RedisHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connection: its session and, while connecting or connected, its socket.
struct Side {
    session: Session,
    socket: Option<TcpStream>,
    token: Token,
    /// The non-blocking connect has not been seen to complete yet.
    connecting: bool,
    /// Which of the host's addresses to try next: a connect that fails moves on to the
    /// next one (`localhost` may resolve to `::1` first while Redis listens on IPv4).
    next_addr: usize,
}

impl Side {
    fn new(role: Role, token: Token, config: &Arc<LinkConfig>, now: Instant) -> Side {
        Side {
            session: Session::new(role, config.clone(), now),
            socket: None,
            token,
            connecting: false,
            next_addr: 0,
        }
    }
}

/// The link thread's state.
struct Driver<F> {
    poll: Poll,
    rx: Receiver<Request>,
    stop: Arc<AtomicBool>,
    config: Arc<LinkConfig>,
    sides: [Side; 2],
    on_event: F,
}

impl<F: FnMut(RedisEvent)> Driver<F> {
    fn run(mut self) {
        let mut events = Events::with_capacity(16);
        let mut buf = vec![0u8; READ_CHUNK];
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            self.connect_due(now);
            let wait = self.next_wait(now);
            match self.poll.poll(&mut events, wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::log!(Critical, "redis link poll failed: {e}");
                    return;
                }
                Ok(()) => {}
            }
            let now = Instant::now();
            for event in &events {
                match event.token() {
                    WAKER => self.drain_requests(now),
                    COMMANDS => self.on_socket(0, &mut buf, now),
                    SUBSCRIBER => self.on_socket(1, &mut buf, now),
                    _ => {}
                }
            }
            for side in &mut self.sides {
                if side.session.deadline().is_some_and(|d| now >= d) {
                    side.session.on_timeout(now);
                }
            }
            self.flush_all(now);
            self.deliver();
        }
    }

    /// Opens a socket for every session that wants one.
    fn connect_due(&mut self, now: Instant) {
        let url = &self.config.url;
        for side in &mut self.sides {
            if side.socket.is_some() || !side.session.wants_connect(now) {
                continue;
            }
            side.session.on_connect_started(now);
            let addrs: Vec<_> = (url.host.as_str(), url.port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default();
            let addr = match addrs.len() {
                0 => None,
                n => addrs.get(side.next_addr % n).copied(),
            };
            let socket = addr.map(TcpStream::connect).and_then(Result::ok);
            match socket {
                Some(mut socket) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut socket, side.token, interest)
                        .is_ok()
                    {
                        let _ = socket.set_nodelay(true);
                        side.socket = Some(socket);
                        side.connecting = true;
                    } else {
                        side.next_addr += 1;
                        side.session.on_closed(now);
                    }
                }
                None => {
                    side.next_addr += 1;
                    side.session.on_closed(now);
                }
            }
        }
        self.deliver();
    }

    fn next_wait(&self, now: Instant) -> Option<Duration> {
        self.sides
            .iter()
            .filter_map(|s| s.session.deadline())
            .min()
            .map(|d| d.saturating_duration_since(now))
    }

    fn drain_requests(&mut self, now: Instant) {
        while let Ok(request) = self.rx.try_recv() {
            let [commands, subscriber] = &mut self.sides;
            match request {
                Request::Command { tag, args } => commands.session.command(tag, &args, now),
                Request::Eval {
                    tag,
                    script,
                    keys,
                    args,
                } => commands.session.eval(tag, &script, &keys, &args, now),
                Request::Subscribe(channel) => subscriber.session.subscribe(channel),
                Request::Unsubscribe(channel) => subscriber.session.unsubscribe(&channel),
            }
        }
    }

    /// Readiness on side `i`: finish a connect, then read until `WouldBlock`.
    fn on_socket(&mut self, i: usize, buf: &mut [u8], now: Instant) {
        let side = &mut self.sides[i];
        let Some(socket) = side.socket.as_mut() else {
            return;
        };
        if side.connecting {
            // mio: a connect is done when the socket has no error and a peer address.
            match socket.take_error() {
                Ok(None) => {}
                _ => return side.session.on_closed(now),
            }
            match socket.peer_addr() {
                Ok(_) => {
                    side.connecting = false;
                    side.session.on_connected(now);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => return side.session.on_closed(now),
            }
        }
        loop {
            match socket.read(buf) {
                Ok(0) => return side.session.on_closed(now),
                Ok(n) => {
                    side.session.on_read(&buf[..n], now);
                    if side.session.is_down() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return side.session.on_closed(now),
            }
        }
    }

    /// Writes what each session has queued, and drops the sockets of sessions that went
    /// down.
    fn flush_all(&mut self, now: Instant) {
        for side in &mut self.sides {
            if let (Some(socket), false) = (side.socket.as_mut(), side.connecting) {
                while !side.session.pending_output().is_empty() {
                    match socket.write(side.session.pending_output()) {
                        Ok(0) => {
                            side.session.on_closed(now);
                            break;
                        }
                        Ok(n) => side.session.on_written(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            side.session.on_closed(now);
                            break;
                        }
                    }
                }
            }
            if side.session.is_down() {
                if let Some(mut socket) = side.socket.take() {
                    let _ = self.poll.registry().deregister(&mut socket);
                    if side.connecting {
                        side.next_addr += 1;
                    }
                }
                side.connecting = false;
            }
        }
    }

    fn deliver(&mut self) {
        for side in &mut self.sides {
            while let Some(event) = side.session.poll_event() {
                (self.on_event)(event);
            }
        }
    }
}
