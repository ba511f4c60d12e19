//! A connection's output side: the out queue the worker flushes, what a finished write
//! moves on (the next request, a close, a dropped answer), and the write side's shutdown.

use super::{Conn, State};
use crate::server::out_queue::OutQueue;
use std::time::Instant;

impl Conn {
    /// Bytes waiting for the socket; the worker flushes them (one vectored write for many
    /// chunks) and reports with [`Conn::on_written`].
    pub(crate) fn pending(&mut self) -> &mut OutQueue {
        &mut self.out
    }

    /// Whether bytes wait for the socket (the worker then asks for writability).
    pub(crate) fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// The worker wrote `n` bytes of [`Conn::pending`]. Returns whether the state moved
    /// (a finished response, or one dropped).
    ///
    /// An HTTP answer counts against `max_outbound` like websocket frames do, once the
    /// socket has taken what it will: if more than the limit is still queued, the client
    /// is not reading (or the answer is far larger than the limit and the link slow), so
    /// the connection is closed and the memory freed rather than held for the idle
    /// timeout. (Nothing can be said to the client: part of the answer has left.)
    pub(crate) fn on_written(&mut self, n: usize, now: Instant) -> bool {
        if n > 0 {
            self.last_write = now;
        }
        if matches!(self.state, State::Responding { .. }) && self.out.queued() > self.out.limit() {
            self.enter(State::Done);
            return true;
        }
        self.out.is_empty() && self.on_drained(now)
    }

    /// The out queue is empty: a finished response moves on.
    pub(super) fn on_drained(&mut self, now: Instant) -> bool {
        match self.state {
            State::Responding { keep_alive: true } => {
                self.enter_reading(now);
                true
            }
            State::Responding { keep_alive: false } => {
                self.close_after_flush(now);
                true
            }
            _ => false,
        }
    }

    /// Whether the worker must shut the socket's write side now (FIN after our last
    /// byte); true once. A peer that already closed its side is simply dropped.
    #[must_use]
    pub(crate) fn poll_shutdown(&mut self) -> bool {
        let State::Closing { write_shut, .. } = &mut self.state else {
            return false;
        };
        if *write_shut || !self.out.is_empty() {
            return false;
        }
        if self.eof {
            self.enter(State::Done);
            return false;
        }
        *write_shut = true;
        true
    }
}
