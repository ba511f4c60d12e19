//! A connection's received bytes: what the codecs have not consumed yet.

/// Received bytes the codecs have not consumed yet: `buf[pos..]`. Consumed bytes are
/// dropped in one go when the decoder needs more, not after every message.
#[derive(Default)]
pub(super) struct Input {
    buf: Vec<u8>,
    pos: usize,
}

impl Input {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    pub(super) fn unread(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    pub(super) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
    /// Drops the consumed bytes; a large buffer left empty is given back.
    pub(super) fn compact(&mut self) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
    }
    /// Drops the consumed bytes and gives the buffer back if nothing is left unread. Called
    /// once, when a connection becomes a websocket: the handshake's bytes (about 200) would
    /// otherwise stay allocated for the websocket's life, most of which is idle
    /// (BENCHMARKS.md, "Kept targets").
    pub(super) fn shed(&mut self) {
        if self.is_empty() {
            self.clear();
        } else {
            self.compact();
        }
    }
    pub(super) fn clear(&mut self) {
        self.buf = Vec::new();
        self.pos = 0;
    }
}
