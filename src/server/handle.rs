//! [`Handle`]: how any thread reaches connections. Owns the senders of every worker's
//! mailbox and their wakers; never touches a socket or a connection directly.

use super::mailbox::{group_by_worker, Mail};
use super::ConnId;
use crate::http::Response;
use mio::Waker;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// One worker's mailbox, as seen from other threads.
pub(crate) struct Post {
    pub(crate) tx: Sender<Mail>,
    pub(crate) waker: Arc<Waker>,
}

/// State every clone of a [`Handle`] shares.
pub(crate) struct Shared {
    pub(crate) posts: Vec<Post>,
    /// Wakes the acceptor thread, which coordinates shutdown.
    pub(crate) acceptor: Arc<Waker>,
    /// Set once by [`Handle::shutdown`] (or a signal, via the acceptor).
    pub(crate) shutdown: AtomicBool,
    /// `Limits::max_connections`, changeable while running
    /// ([`Handle::set_max_connections`]).
    pub(crate) max_connections: AtomicUsize,
    /// Each worker's congestion (admission control), also read by [`Handle::congested`].
    pub(crate) congestion: super::admission::Congestion,
}

/// A cloneable, `Send + Sync` way for any thread to act on connections. Each call is one
/// mailbox message per worker involved, followed by a `mio::Waker` wake.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.posts.len())
            .finish()
    }
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Handle { shared }
    }

    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shared.shutdown.load(Ordering::SeqCst)
    }

    /// The open-connection limit in force.
    pub(crate) fn max_connections(&self) -> usize {
        self.shared.max_connections.load(Ordering::Relaxed)
    }

    /// Changes `max_connections` while running (`SIGHUP`): safe in both directions, as
    /// the acceptor compares at each accept; lowering it closes nobody, it only refuses
    /// new connections (503) until enough have gone.
    pub fn set_max_connections(&self, limit: usize) {
        self.shared
            .max_connections
            .store(limit.max(1), Ordering::Relaxed);
    }

    /// At least one websocket in sixteen of some worker has a quarter of `max_outbound`
    /// queued (admission control holds requests when a majority has a sixty-fourth,
    /// `admission.rs`): this node delivers slower than messages come. Shared mode tells
    /// the other nodes (`docs/SCALING.md`, "Backpressure between nodes").
    pub fn strained(&self) -> bool {
        self.shared.congestion.any_strained()
    }

    /// The flags the workers set.
    pub(crate) fn congestion(&self) -> &super::admission::Congestion {
        &self.shared.congestion
    }

    /// Shutdown has begun (`GET /readyz` then says not ready).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown_requested()
    }

    /// Posts `mail` to worker `worker` and wakes it. A worker that has stopped drops it.
    pub(crate) fn post(&self, worker: u16, mail: Mail) {
        if let Some(post) = self.shared.posts.get(worker as usize) {
            if post.tx.send(mail).is_ok() {
                let _ = post.waker.wake();
            }
        }
    }

    /// Answers a request that got [`Reply::Later`](super::Reply::Later). Ignored if the
    /// connection is gone.
    pub fn respond(&self, conn: ConnId, response: Response) {
        self.post(conn.worker, Mail::Respond(conn.addr(), response));
    }

    /// Completes the websocket upgrade of a request that got
    /// [`Reply::Later`](super::Reply::Later).
    pub fn upgrade(&self, conn: ConnId, frames: Vec<Arc<[u8]>>) {
        self.post(conn.worker, Mail::Upgrade(conn.addr(), frames));
    }

    /// Queues a whole server frame to one websocket connection.
    pub fn send(&self, conn: ConnId, frame: Arc<[u8]>) {
        self.post(conn.worker, Mail::Send(conn.addr(), frame));
    }

    /// Queues the same frame to many websocket connections: one mailbox message per
    /// worker, the bytes shared, never copied.
    pub fn send_many(&self, conns: &[ConnId], frame: Arc<[u8]>) {
        let mut wakeups = Wakeups::default();
        self.send_many_unwoken(conns.to_vec(), frame, &mut wakeups);
        self.wake(&mut wakeups);
    }

    /// Like [`Handle::send_many`], but only notes which workers need waking; call
    /// [`Handle::wake`] after the burst. A wakeup is a system call per worker, so a hub
    /// fanning out a batch of 50 messages would otherwise pay 50 of them per worker.
    /// Order is unaffected: mail is queued at once, only the wakeup is delayed.
    pub fn send_many_unwoken(&self, conns: Vec<ConnId>, frame: Arc<[u8]>, wakeups: &mut Wakeups) {
        group_by_worker(conns, self.shared.posts.len(), |worker, group| {
            if let Some(post) = self.shared.posts.get(worker) {
                if post.tx.send(Mail::SendMany(group, frame.clone())).is_ok() {
                    wakeups.note(worker);
                }
            }
        });
    }

    /// Wakes the workers noted in `wakeups` and clears it.
    pub fn wake(&self, wakeups: &mut Wakeups) {
        for (worker, due) in wakeups.0.iter_mut().enumerate() {
            if std::mem::take(due) {
                if let Some(post) = self.shared.posts.get(worker) {
                    let _ = post.waker.wake();
                }
            }
        }
    }

    /// Sends a close frame with `code` and closes once it has left.
    pub fn close(&self, conn: ConnId, code: u16) {
        self.post(conn.worker, Mail::Close(conn.addr(), code));
    }

    /// Starts a clean shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        if !self.shared.shutdown.swap(true, Ordering::SeqCst) {
            let _ = self.shared.acceptor.wake();
        }
    }
}

/// Workers with mail posted but not yet woken ([`Handle::send_many_unwoken`]).
#[derive(Debug, Default)]
pub struct Wakeups(Vec<bool>);

impl Wakeups {
    fn note(&mut self, worker: usize) {
        if self.0.len() <= worker {
            self.0.resize(worker + 1, false);
        }
        if let Some(due) = self.0.get_mut(worker) {
            *due = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_is_clone_send_sync_for_any_thread() {
        fn usable_anywhere<T: Clone + Send + Sync + 'static>() {}
        usable_anywhere::<Handle>();
    }
}
