//! A connection's received bytes: what the codecs have not consumed yet.

/// Received bytes the codecs have not consumed yet: `buf[pos..]`. Consumed bytes are
/// dropped in one go when the decoder needs more, or when new bytes arrive after
/// everything was consumed; not after every message.
#[derive(Default)]
pub(super) struct Input {
    buf: Vec<u8>,
    pos: usize,
}

impl Input {
    /// Appends received bytes. If all earlier bytes were consumed they are dropped first:
    /// a client whose messages end where its reads end (a keep-alive client sending one
    /// request at a time, a websocket client) never makes the decoder ask for more, so
    /// without this its buffer grew by every byte it ever sent (2.6 MB on a loadgen
    /// `/connect` connection after 4 750 requests).
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.is_empty() {
            self.compact();
        }
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

#[cfg(test)]
mod tests {
    use super::Input;

    #[test]
    fn consumed_bytes_do_not_pile_up_when_reads_end_where_messages_end() {
        let mut input = Input::default();
        let message = [7u8; 300];
        for _ in 0..1000 {
            input.push(&message);
            assert_eq!(input.unread(), &message[..]);
            input.consume(message.len());
        }
        assert!(
            input.buf.capacity() < 2 * message.len(),
            "buffer holds {} bytes after 1000 consumed messages of 300",
            input.buf.capacity()
        );
    }

    #[test]
    fn unread_bytes_survive_a_push() {
        let mut input = Input::default();
        input.push(b"abcdef");
        input.consume(4);
        input.push(b"gh");
        assert_eq!(input.unread(), b"efgh");
        input.consume(4);
        input.push(b"ij");
        assert_eq!(input.unread(), b"ij");
    }
}
