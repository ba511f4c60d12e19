//! One client socket's byte plumbing: the mio stream, the bytes waiting to be written
//! and the unparsed tail of what was read. Owns no protocol; the state machines in
//! `sub.rs`, `control.rs` and `publisher.rs` decide what the bytes mean.

use mio::net::TcpStream;
use std::io::{self, Read, Write};

/// What a read pass ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// Drained until `WouldBlock`; the socket is still open.
    Open,
    /// Stopped after the read budget with data possibly left: call again without
    /// waiting for an event (edge-triggered readiness will not repeat).
    Budget,
    /// The peer closed (read returned 0).
    Eof,
    /// A read error other than `WouldBlock`/`Interrupted`.
    Error(io::ErrorKind),
}

/// A connected (or connecting) socket with its buffers.
pub struct Wire {
    /// The socket.
    pub stream: TcpStream,
    out: Vec<u8>,
    sent: usize,
    /// Bytes read but not yet consumed by the decoder (a partial frame or response).
    /// Usually empty: reads go to the loop's shared scratch buffer first, so tens of
    /// thousands of idle connections do not each hold a read buffer.
    pub pending: Vec<u8>,
    /// The TCP connect has completed.
    pub connected: bool,
}

impl Wire {
    /// Wraps a socket whose connect is in progress.
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            out: Vec::new(),
            sent: 0,
            pending: Vec::new(),
            connected: false,
        }
    }

    /// The buffer to append outgoing bytes to; `flush` sends them.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Writes queued bytes until done or `WouldBlock` (then the next writable event
    /// resumes). Does nothing before the connect has completed.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.connected && self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        Ok(())
    }

    /// Reads until `WouldBlock` or `budget` bytes, calling `on_bytes` with each chunk (the pending tail
    /// plus what was read). `on_bytes` returns how many bytes it consumed; the rest is
    /// kept in `pending`. `on_bytes` gets the wire's output buffer to queue replies.
    ///
    /// With `short_read_drains`, a read that returns less than asked for ends the pass
    /// as `Open` without the extra read that would only say `WouldBlock`: the kernel
    /// returned everything it had, and anything arriving later raises a new
    /// edge-triggered event. This halves the client's system calls per delivery. The
    /// caller must not set it when the event reported a peer close (`RDHUP`), since a
    /// FIN that came with the data raises no further event.
    pub fn read_all(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        short_read_drains: bool,
        mut on_bytes: impl FnMut(&[u8], &mut Vec<u8>) -> usize,
    ) -> ReadEnd {
        let mut taken = 0;
        loop {
            if taken >= budget {
                return ReadEnd::Budget;
            }
            let p = self.pending.len();
            // A short pending tail (the usual partial frame) is copied in front of the
            // read so `pending` never grows to the size of a read; only a message
            // longer than half the scratch buffer accumulates in `pending` itself.
            let (result, asked) = if p <= scratch.len() / 2 {
                scratch[..p].copy_from_slice(&self.pending);
                let asked = scratch.len() - p;
                (
                    self.stream.read(&mut scratch[p..]).map(|n| (n, true)),
                    asked,
                )
            } else {
                (self.stream.read(scratch).map(|n| (n, false)), scratch.len())
            };
            let drained = short_read_drains && matches!(result, Ok((n, _)) if n > 0 && n < asked);
            match result {
                Ok((0, _)) => return ReadEnd::Eof,
                Ok((n, true)) => {
                    taken += n;
                    let total = p + n;
                    let used = on_bytes(&scratch[..total], &mut self.out).min(total);
                    self.pending.clear();
                    self.pending.extend_from_slice(&scratch[used..total]);
                    if self.pending.capacity() > 64 * 1024 && self.pending.len() < 16 * 1024 {
                        self.pending.shrink_to(16 * 1024);
                    }
                }
                Ok((n, false)) => {
                    taken += n;
                    self.pending.extend_from_slice(&scratch[..n]);
                    let used = on_bytes(&self.pending, &mut self.out).min(self.pending.len());
                    self.pending.drain(..used);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadEnd::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadEnd::Error(e.kind()),
            }
            if drained {
                return ReadEnd::Open;
            }
        }
    }
}
