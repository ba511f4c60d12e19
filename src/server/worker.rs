//! One worker thread: a `mio::Poll`, the connections it owns (in [`Slots`]), their
//! timers and its mailbox. Registers sockets and arms timers; the socket I/O of one
//! connection is in `socket.rs`, its protocol decisions in `conn/`.

use super::admission::{Backlog, Congestion, Standing, HOLD_CHECK};
use super::conn::Conn;
use super::mailbox::{Addr, Mail};
use super::slots::Slots;
use super::socket::{notify_close, Env, Socket};
use super::timers::Timers;
use super::{App, ConnId, Limits};
use crate::metrics::bump;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Poll, Token};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

/// The waker's token; connection tokens are slab keys, which never get this large.
pub(crate) const MAILBOX: Token = Token(usize::MAX);

/// While flushing, mail that arrived meanwhile is fetched after every this many sockets.
const MAIL_CHECK_EVERY: usize = 64;

/// While flushing, socket readiness is polled (without waiting) after every this many
/// sockets, so requests that came in meanwhile (a `POST /message`) are read during the
/// pass and their deliveries join it ([`JOIN_PASS_WITHIN`]). One `epoll_wait` per 128
/// writes is well under 1 % of the writes' own system time. Measured against 512, 64 and
/// 32 (issue 14, BENCHMARKS.md "Passes that take in new mail"): reading the next
/// publishes sooner lets more of their frames join sockets whose queues are not yet
/// written (sends per delivery at 1 x 1 000 with 4 publishers 0.19 at 512, 0.07 at 128,
/// 0.05 at 64); 128 keeps the many-channels p99 where it was.
const POLL_CHECK_EVERY: usize = 128;

/// Mail that arrives while a flush pass is younger than this joins the pass: a socket
/// the pass has still to write takes the new frames in the same write, any other is put
/// at the end of the pass. Later mail waits for the next pass, so a pass ends. This keeps
/// writes in the order the frames came (a fresh delivery never jumps ahead of older ones
/// still waiting in the pass, which made the many-channels p99 worse) while the frames of
/// publishes that arrive during a broadcast share each socket's write instead of each
/// costing a write of its own (in a broadcast to 1 000 websockets, 16 frames per write
/// instead of 5). 20 ms covers a pass of the many-channels shape (~2 000 sockets); the
/// hub's heartbeat is spread over its period, so no pass is that long by itself.
const JOIN_PASS_WITHIN: std::time::Duration = std::time::Duration::from_millis(20);

/// An answer that arrives while a flush pass has lasted less than this is written at
/// once; later, it waits for the end of the pass. Publishers answered at once send more
/// while the pass is still writing: in a short pass (a broadcast to 1 000 websockets,
/// ~2 ms) that next message's frames join the sockets not yet written, so more frames
/// share a send; in a long one (many channels under load) its fresh deliveries are
/// written first and the rest of the pass waits behind them, 50–200 ms (BENCHMARKS.md,
/// issue 14, the many-channels tail). Waiting for the pass's end makes a publisher
/// wait for what the server owes, as a single-threaded server that writes before it
/// answers does. (Capping the wait at 25 ms lost the gain in many channels. 5 ms rather
/// than 10: p99 36–38 against 49–50 ms at 19 000 websockets, broadcasts unchanged; on a
/// loaded machine a broadcast pass can pass 5 ms, and then fewer frames merge. Measured
/// in BENCHMARKS.md.)
const ANSWER_NOW_WITHIN: std::time::Duration = std::time::Duration::from_millis(5);

/// A worker and everything it owns.
pub(crate) struct Worker<A> {
    pub(crate) id: u16,
    pub(crate) poll: Poll,
    pub(crate) mailbox: Receiver<Mail>,
    pub(crate) conns: Slots<Socket>,
    pub(crate) timers: Timers,
    pub(crate) env: Env<A>,
    pub(crate) limits: Limits,
    /// Shutdown began: no new connections; the loop ends once the last one is gone.
    pub(crate) shutting_down: bool,
    /// Open connections across all workers (the acceptor adds, workers subtract).
    pub(crate) open: Arc<AtomicUsize>,
    /// Connections touched from outside their own socket event (mail, other sends).
    pub(crate) dirty: Vec<u32>,
    /// This worker's websockets and how many are behind (admission control).
    pub(crate) backlog: Backlog,
    /// Every worker's congestion.
    pub(crate) congestion: Congestion,
    /// Connections whose next request is held back; looked at again each turn.
    pub(crate) held: Vec<u32>,
    /// Events polled in the middle of a long flush (`POLL_CHECK_EVERY`); `None` while
    /// they are being handled.
    pub(crate) pass_events: Option<Events>,
    /// When the flush pass under way began (`None` between passes).
    pub(crate) pass_began: Option<Instant>,
    /// Connections whose answer waits for the end of the pass under way
    /// ([`ANSWER_NOW_WITHIN`]).
    pub(crate) answer_after_pass: Vec<u32>,
    /// Connections put at the end of the pass under way and not written yet
    /// ([`Worker::join_pass`]): a socket that several mails touch while the pass runs is
    /// put there once, not once per mail check (in a broadcast, every check touches
    /// every socket).
    pub(crate) tail: KeySet,
}

impl<A: App> Worker<A> {
    /// Runs until shutdown has closed every connection.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let recheck = (!self.held.is_empty()).then(|| now + HOLD_CHECK);
            match self
                .poll
                .poll(&mut events, self.timers.next_wait(now, recheck))
            {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => other?,
            }
            let now = Instant::now();
            for event in &events {
                match event.token() {
                    MAILBOX => self.drain_mailbox(now),
                    Token(key) => self.on_socket_event(key as u32, event, now),
                }
            }
            self.fire_timers(now);
            self.flush_dirty(now);
            self.admit(now);
            if self.shutting_down && self.conns.is_empty() {
                return Ok(());
            }
        }
    }

    fn drain_mailbox(&mut self, now: Instant) {
        loop {
            match self.mailbox.try_recv() {
                Ok(mail) => {
                    self.on_mail(mail, now);
                    // While the hub sends faster than this worker drains, this loop may
                    // not end for a long time: the strain the hub thread reads (shared
                    // mode's backpressure) follows the queues from here too, not only
                    // from `admit`. Usually one load and no store.
                    self.congestion.set_strained(self.id, &self.backlog);
                }
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return,
            }
        }
    }

    fn on_mail(&mut self, mail: Mail, now: Instant) {
        match mail {
            Mail::Adopt(stream, peer) => self.adopt(stream, peer, now),
            Mail::Respond(addr, response) => {
                let status = Some(response.status);
                if self
                    .pass_began
                    .is_some_and(|began| began.elapsed() >= ANSWER_NOW_WITHIN)
                {
                    self.answer_later(addr, |c| c.respond(&response), status)
                } else {
                    self.touch_now(addr, |c| c.respond(&response), status, now)
                }
            }
            Mail::Upgrade(addr, frames) => {
                self.touch_now(addr, |c| c.upgrade(frames, now), None, now)
            }
            Mail::Send(addr, frame) => self.touch(addr, |c| c.send_frame(frame, now)),
            Mail::SendMany(conns, frame) => {
                for conn in conns {
                    self.touch(conn.addr(), |c| c.send_frame(frame.clone(), now));
                }
            }
            Mail::Close(addr, code) => self.touch(addr, |c| c.close(code, now)),
            Mail::Shutdown => {
                self.shutting_down = true;
                for key in self.conns.keys() {
                    if let Some((gen, _)) = self.conns.get_any_mut(key) {
                        self.touch((key, gen), |c| c.on_shutdown(now));
                    }
                }
            }
        }
    }

    /// Publishes this worker's congestion, reads everyone's, and looks again at held
    /// connections: each is read once nobody is congested or its hold ran out.
    fn admit(&mut self, now: Instant) {
        self.congestion.set(self.id, &self.backlog);
        self.env.hold_requests = self.congestion.any();
        if self.held.is_empty() {
            return;
        }
        for key in std::mem::take(&mut self.held) {
            if self
                .conns
                .get_any_mut(key)
                .is_some_and(|(_, s)| s.is_held())
            {
                self.settle(key, now);
            }
        }
        self.flush_dirty(now);
    }

    /// Applies `f` to the connection at `addr` if it still exists, and marks it dirty.
    fn touch(&mut self, (key, gen): Addr, f: impl FnOnce(&mut Conn)) {
        if let Some(socket) = self.conns.get_mut(key, gen) {
            tracked(&mut self.backlog, &mut socket.conn, f);
            self.dirty.push(key);
        }
    }

    /// Like `touch`, but drives the connection at once instead of in the next flush.
    /// Used for answers: a `POST /message` must not wait behind the fan-out writes
    /// queued in this round (hundreds of sockets), and the publisher's next request,
    /// read in the same drive, reaches the hub sooner, so more messages share each
    /// socket's next write.
    /// `status` is the answer's, for the request's log line and metrics (`None`: an
    /// upgrade).
    fn touch_now(
        &mut self,
        (key, gen): Addr,
        f: impl FnOnce(&mut Conn),
        status: Option<u16>,
        now: Instant,
    ) {
        if let Some(socket) = self.conns.get_mut(key, gen) {
            tracked(&mut self.backlog, &mut socket.conn, f);
            socket.answered(status, self.env.mine());
            self.settle(key, now);
        }
    }

    /// Like `touch_now`, but the connection is driven (its answer written) only at the
    /// end of the flush pass under way ([`ANSWER_NOW_WITHIN`]).
    fn answer_later(&mut self, (key, gen): Addr, f: impl FnOnce(&mut Conn), status: Option<u16>) {
        if let Some(socket) = self.conns.get_mut(key, gen) {
            tracked(&mut self.backlog, &mut socket.conn, f);
            socket.answered(status, self.env.mine());
            self.answer_after_pass.push(key);
        }
    }

    fn adopt(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        if self.shutting_down {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let worker = self.id;
        let conn = Conn::new(&self.limits, now);
        let (key, _) = self
            .conns
            .insert_with(|key, gen| Socket::new(stream, peer, ConnId { worker, key, gen }, conn));
        self.settle(key, now);
    }

    fn on_socket_event(&mut self, key: u32, event: &Event, now: Instant) {
        if let Some((_, socket)) = self.conns.get_any_mut(key) {
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                socket.mark_readable();
            }
            self.settle(key, now);
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(due) = self.timers.pop_due(now) {
            let Some(socket) = self.conns.get_mut(due.key, due.gen) else {
                continue;
            };
            if socket.armed != Some(due.at) {
                continue; // superseded by an earlier entry
            }
            socket.armed = None;
            tracked(&mut self.backlog, &mut socket.conn, |c| c.on_timeout(now));
            self.dirty.push(due.key);
        }
    }

    /// Writes every dirty connection, in passes: each pass takes the dirty set (in key
    /// order), and mail arriving in the pass's first [`JOIN_PASS_WITHIN`] joins it.
    fn flush_dirty(&mut self, now: Instant) {
        while !self.dirty.is_empty() {
            let began = Instant::now();
            self.pass_began = Some(began);
            let mut pass = std::mem::take(&mut self.dirty);
            pass.sort_unstable();
            pass.dedup();
            let sorted = pass.len();
            let mut i = 0;
            while let Some(&key) = pass.get(i) {
                if i >= sorted {
                    self.tail.remove(key);
                }
                if i % POLL_CHECK_EVERY == POLL_CHECK_EVERY - 1 {
                    self.poll_mid_pass(now);
                }
                if i % MAIL_CHECK_EVERY == MAIL_CHECK_EVERY - 1
                    && began.elapsed() < JOIN_PASS_WITHIN
                {
                    self.drain_mailbox(now);
                    self.join_pass(&mut pass, sorted, i);
                }
                self.settle(key, now);
                i += 1;
            }
            self.pass_began = None;
            for key in std::mem::take(&mut self.answer_after_pass) {
                self.settle(key, now);
            }
        }
    }

    /// Handles the socket events and mail that are ready now, without waiting (see
    /// [`POLL_CHECK_EVERY`]). Not re-entered: the events buffer is out while in use.
    fn poll_mid_pass(&mut self, now: Instant) {
        let Some(mut events) = self.pass_events.take() else {
            return;
        };
        if self
            .poll
            .poll(&mut events, Some(std::time::Duration::ZERO))
            .is_ok()
        {
            for event in &events {
                match event.token() {
                    MAILBOX => self.drain_mailbox(now),
                    Token(key) => self.on_socket_event(key as u32, event, now),
                }
            }
        }
        self.pass_events = Some(events);
    }

    /// Moves what mail made dirty into the pass under way, which has written up to (not
    /// including) `pass[at]`; `pass[..sorted]` is the pass's own sorted key set. A key the
    /// pass has still to reach stays where it is (its new frames leave with the older ones
    /// in one write); any other goes to the end. A socket's own frames keep their order
    /// (one out queue); only the order in which sockets are written changes.
    fn join_pass(&mut self, pass: &mut Vec<u32>, sorted: usize, at: usize) {
        if self.dirty.is_empty() {
            return;
        }
        let mut fresh = std::mem::take(&mut self.dirty);
        fresh.sort_unstable();
        fresh.dedup();
        for key in fresh {
            match pass[..sorted].binary_search(&key) {
                Ok(place) if place >= at => {}
                _ if self.tail.insert(key) => pass.push(key),
                _ => {} // already waiting at the end of the pass
            }
        }
    }

    /// Drives one connection, then brings poll interest and timer in line with its new
    /// state, or releases it if it is done.
    fn settle(&mut self, key: u32, now: Instant) {
        let Some((gen, socket)) = self.conns.get_any_mut(key) else {
            return;
        };
        let before = socket.conn.standing();
        socket.drive(&mut self.env, now);
        self.backlog.note(before, socket.conn.standing());
        let holds = std::mem::take(&mut socket.conn.new_holds);
        if holds > 0 {
            bump(&self.env.mine().admission_holds, u64::from(holds));
        }
        if socket.is_held() {
            self.held.push(key);
        }
        if socket.conn.is_done() {
            return self.release(key, now);
        }
        let interest = socket.interest();
        if socket.registered != Some(interest) {
            let token = Token(key as usize);
            let registry = self.poll.registry();
            let done = match socket.registered {
                None => registry.register(socket.stream(), token, interest),
                Some(_) => registry.reregister(socket.stream(), token, interest),
            };
            match done {
                Ok(()) => socket.registered = Some(interest),
                Err(_) => return self.release(key, now),
            }
        }
        if let Some(at) = socket.conn.deadline() {
            if socket.armed.is_none_or(|armed| at < armed) {
                socket.armed = Some(at);
                self.timers.arm(at, key, gen);
            }
        }
    }

    fn release(&mut self, key: u32, now: Instant) {
        let Some(mut socket) = self.conns.remove(key) else {
            return;
        };
        socket.released(now, self.env.mine());
        self.backlog
            .note(socket.conn.standing(), Standing::default());
        if socket.registered.is_some() {
            let _ = self.poll.registry().deregister(socket.stream());
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
        socket.conn.on_io_error(); // dropped: closing, whatever it was doing
        if socket.conn.take_close_notice() {
            notify_close(&*self.env.app, socket.id());
        }
    }
}

/// Applies `f` to `conn`, keeping the worker's backlog count in step with what `f` did
/// to the connection's state and out queue.
fn tracked(backlog: &mut Backlog, conn: &mut Conn, f: impl FnOnce(&mut Conn)) {
    let before = conn.standing();
    f(conn);
    backlog.note(before, conn.standing());
}

/// A set of slab keys, one bit each (grows to the largest key inserted).
#[derive(Debug, Default)]
pub(crate) struct KeySet(Vec<u64>);

impl KeySet {
    /// Adds `key`; true if it was not in the set.
    fn insert(&mut self, key: u32) -> bool {
        let (word, bit) = (key as usize / 64, 1u64 << (key % 64));
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    /// Removes `key` if present.
    fn remove(&mut self, key: u32) {
        if let Some(w) = self.0.get_mut(key as usize / 64) {
            *w &= !(1u64 << (key % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KeySet;

    #[test]
    fn key_set_inserts_once_until_removed() {
        let mut set = KeySet::default();
        assert!(set.insert(3));
        assert!(!set.insert(3), "already in");
        assert!(set.insert(70_000), "grows to a far key");
        set.remove(3);
        set.remove(1_000_000); // never inserted, beyond the end: nothing happens
        assert!(set.insert(3), "in again after removal");
        assert!(!set.insert(70_000));
    }
}
