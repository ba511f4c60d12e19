//! The acceptor thread: owns the listening socket and the signal self-pipe, hands accepted
//! sockets to workers round-robin, answers 503 past `max_connections`, and coordinates
//! shutdown (stop accepting, `App::on_shutdown`, then tell every worker).

use super::handle::Handle;
use super::mailbox::Mail;
use super::refusal::Refusal;
use super::{sys, App};
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Token of the listening socket.
const LISTENER: Token = Token(0);
/// Token of the signal self-pipe.
const SIGNAL: Token = Token(1);
/// Token of the waker `Handle::shutdown` uses.
pub(crate) const WAKE: Token = Token(2);

/// How long accepting pauses after running out of file descriptors: the backlog keeps
/// its connections, and the loop does not spin on an error that will not go away at once.
const FD_BACKOFF: Duration = Duration::from_millis(100);

/// The acceptor and what it owns.
pub(crate) struct Acceptor<A> {
    pub(crate) poll: Poll,
    pub(crate) listener: TcpListener,
    pub(crate) handle: Handle,
    pub(crate) app: Arc<A>,
    pub(crate) open: Arc<AtomicUsize>,
    pub(crate) workers: usize,
    /// Read end of the signal self-pipe, if handlers could be installed.
    pub(crate) signal_fd: Option<RawFd>,
}

impl<A: App> Acceptor<A> {
    /// Accepts until shutdown is requested; then stops accepting, calls
    /// `App::on_shutdown` once and posts `Mail::Shutdown` to every worker.
    pub(crate) fn run(mut self) -> io::Result<()> {
        self.poll
            .registry()
            .register(&mut self.listener, LISTENER, Interest::READABLE)?;
        if let Some(fd) = self.signal_fd {
            self.poll
                .registry()
                .register(&mut SourceFd(&fd), SIGNAL, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(64);
        let mut next = 0usize;
        let mut paused_until: Option<Instant> = None;
        let mut logged_fd_shortage = false;
        loop {
            if sys::signalled() {
                self.handle.shutdown();
            }
            if sys::take_reload() {
                let app = &self.app;
                if panic::catch_unwind(AssertUnwindSafe(|| app.on_reload())).is_err() {
                    crate::log!(Error, "App::on_reload panicked");
                }
            }
            if self.handle.shutdown_requested() {
                break;
            }
            let wait = paused_until.map(|t| t.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            }
            let mut try_accept = false;
            for event in &events {
                match event.token() {
                    LISTENER => try_accept = true,
                    SIGNAL => self.signal_fd.into_iter().for_each(sys::drain_pipe),
                    _ => {}
                }
            }
            if paused_until.is_some_and(|t| t <= Instant::now()) {
                paused_until = None;
                try_accept = true; // edge-triggered: the backlog gives no new event
            }
            if try_accept && paused_until.is_none() {
                if let Err(e) = self.accept_all(&mut next) {
                    if !logged_fd_shortage {
                        crate::log!(Error, "accept failed ({e}); pausing accepts for 100 ms");
                        logged_fd_shortage = true;
                    }
                    paused_until = Some(Instant::now() + FD_BACKOFF);
                }
            }
        }
        let _ = self.poll.registry().deregister(&mut self.listener);
        drop(self.listener);
        let app = &self.app;
        if panic::catch_unwind(AssertUnwindSafe(|| app.on_shutdown())).is_err() {
            crate::log!(Error, "App::on_shutdown panicked");
        }
        for worker in 0..self.workers {
            self.handle.post(worker as u16, Mail::Shutdown);
        }
        Ok(())
    }

    /// Accepts until the backlog is empty. Errors that a retry cannot fix right away
    /// (out of descriptors or memory, anything unexpected) are returned for back-off.
    fn accept_all(&mut self, next: &mut usize) -> io::Result<()> {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if self.open.load(Ordering::SeqCst) >= self.handle.max_connections() {
                        refuse_busy(stream);
                        continue;
                    }
                    self.open.fetch_add(1, Ordering::SeqCst);
                    let worker = *next % self.workers.max(1);
                    *next = next.wrapping_add(1);
                    self.handle.post(worker as u16, Mail::Adopt(stream, peer));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) || e.raw_os_error() == Some(libc::EPROTO) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Answers `503 {"error":"server busy"}` and closes, so a full server does not leave
/// clients hanging in the backlog. The socket is fresh, so the few bytes fit its buffer.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.write_all(&Refusal::Busy.encode());
    let _ = stream.shutdown(Shutdown::Write);
    // Read what already arrived so closing does not reset the connection (an RST can
    // make the client lose the 503 before reading it).
    // Bounded: a client streaming bytes must not hold the acceptor.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}
