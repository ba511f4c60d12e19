//! One socket's outbound bytes: a bounded queue of whole chunks (responses, frames) that
//! is flushed with vectored writes. Owns no socket: `flush` takes any `Write`.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

/// How many chunks one `write_vectored` call offers; Linux accepts up to 1024 (IOV_MAX),
/// 64 already fills a socket buffer with small frames while keeping the array on the stack.
const MAX_SLICES: usize = 64;

/// A queued chunk: shared frames are never copied per recipient; a response encoded for
/// one socket is kept as the `Vec` it was encoded into.
#[derive(Debug)]
enum Chunk {
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Owned(b) => b,
        }
    }
}

/// The queue would go past its limit; the caller closes the connection (1008 on a
/// websocket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QueueFull;

impl std::fmt::Display for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("outbound queue full")
    }
}

impl std::error::Error for QueueFull {}

/// Bytes waiting for one socket. Shared frames are held to `limit`, except that an empty
/// queue takes any one frame: the limit bounds a backlog, not the size of one frame.
/// Owned chunks (an HTTP answer, a close frame) are never refused: their caller decides
/// what may stay queued (`Conn::on_written` drops an answer whose client does not take it).
#[derive(Debug)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    offset: usize,
    /// Unwritten bytes in the queue; `queued <= limit` unless one frame alone exceeds it
    /// or owned chunks were added.
    queued: usize,
    limit: usize,
}

impl OutQueue {
    /// An empty queue holding at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        OutQueue {
            chunks: VecDeque::new(),
            offset: 0,
            queued: 0,
            limit,
        }
    }

    /// Whether every byte has been written.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Unwritten bytes.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The configured limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Queues a frame shared with other recipients.
    pub(crate) fn push_shared(&mut self, bytes: Arc<[u8]>) -> Result<(), QueueFull> {
        self.check(bytes.len())?;
        self.append(Chunk::Shared(bytes));
        Ok(())
    }

    /// Queues bytes encoded for this socket alone, whatever the limit: an HTTP answer
    /// (bounded by its caller), or the small refusal or close frame that tells a peer why
    /// it is being dropped.
    pub(crate) fn push_owned(&mut self, bytes: Vec<u8>) {
        self.append(Chunk::Owned(bytes));
    }

    /// Makes room for exactly one chunk in a queue that never held one (a new websocket's
    /// 101): a first push would reserve four, 72 bytes an idle websocket keeps unused
    /// (BENCHMARKS.md, "Kept targets"). More chunks grow the queue as usual.
    pub(crate) fn reserve_first(&mut self) {
        if self.chunks.capacity() == 0 {
            self.chunks.reserve_exact(1);
        }
    }

    /// Drops everything not yet written (the connection is being torn down).
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.offset = 0;
        self.queued = 0;
    }

    fn check(&self, len: usize) -> Result<(), QueueFull> {
        // `queued <= limit` whenever the queue is non-empty and within bounds; an empty
        // queue takes any one frame. Written as `len > limit - queued` so it cannot wrap.
        if !self.chunks.is_empty() && (self.queued > self.limit || len > self.limit - self.queued) {
            return Err(QueueFull);
        }
        Ok(())
    }

    fn append(&mut self, chunk: Chunk) {
        if chunk.bytes().is_empty() {
            return;
        }
        self.queued += chunk.bytes().len();
        self.chunks.push_back(chunk);
    }

    /// Writes as much as `out` takes, up to [`MAX_SLICES`] chunks per call, until the queue
    /// is empty or `out` would block. Returns the bytes written; `WouldBlock` is not an
    /// error (the caller waits for writability while the queue is non-empty).
    pub(crate) fn flush<W: Write>(&mut self, out: &mut W) -> io::Result<usize> {
        let mut total = 0;
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut n = 0;
            for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
                let bytes = chunk.bytes();
                slices[n] = IoSlice::new(if i == 0 {
                    bytes.get(self.offset..).unwrap_or(&[])
                } else {
                    bytes
                });
                n += 1;
            }
            // One chunk (the usual case: one frame per socket per turn) goes out with a
            // plain `write`, which std turns into `send(MSG_NOSIGNAL)` on a socket. On Linux
            // `writev` on a socket takes the VFS path (file position lock, iovec import,
            // fsnotify), about 0.3 us more kernel time per call than `send` here.
            let done = if n == 1 {
                out.write(&slices[0])
            } else {
                out.write_vectored(&slices[..n])
            };
            match done {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    total += written;
                    self.consume(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    fn consume(&mut self, mut written: usize) {
        self.queued -= written.min(self.queued);
        while let Some(first) = self.chunks.front() {
            let left = first.bytes().len() - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.offset = 0;
            self.chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call, then blocks after `budget`.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
        budget: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.cap - n).min(self.budget);
                self.got.extend_from_slice(&b[..take]);
                n += take;
                self.budget -= take;
                if n == self.cap || self.budget == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn trickle(cap: usize, budget: usize) -> Trickle {
        Trickle {
            got: Vec::new(),
            cap,
            budget,
            calls: 0,
        }
    }

    #[test]
    fn queued_frames_leave_in_one_vectored_write() {
        let mut q = OutQueue::new(1024);
        let frame: Arc<[u8]> = Arc::from(&b"abc"[..]);
        for _ in 0..10 {
            q.push_shared(frame.clone()).unwrap();
        }
        let mut w = trickle(usize::MAX, usize::MAX);
        assert_eq!(q.flush(&mut w).unwrap(), 30);
        assert_eq!(w.calls, 1);
        assert!(q.is_empty());
        assert_eq!(w.got, b"abc".repeat(10));
    }

    #[test]
    fn partial_writes_resume_at_the_right_byte_at_every_size() {
        let chunks: Vec<Vec<u8>> = vec![b"hello ".to_vec(), b"w".to_vec(), b"orld, again".to_vec()];
        let whole: Vec<u8> = chunks.concat();
        for cap in 1..=whole.len() {
            let mut q = OutQueue::new(1024);
            for c in &chunks {
                q.push_owned(c.clone());
            }
            let mut w = trickle(cap, usize::MAX);
            q.flush(&mut w).unwrap();
            assert_eq!(w.got, whole, "cap {cap}");
            assert_eq!(q.queued(), 0);
        }
    }

    #[test]
    fn would_block_keeps_the_rest_for_later() {
        let mut q = OutQueue::new(1024);
        q.push_owned(b"0123456789".to_vec());
        let mut w = trickle(4, 7);
        assert_eq!(q.flush(&mut w).unwrap(), 7);
        assert_eq!(q.queued(), 3);
        w.budget = 100;
        assert_eq!(q.flush(&mut w).unwrap(), 3);
        assert_eq!(w.got, b"0123456789");
    }

    #[test]
    fn a_frame_past_the_limit_is_refused_but_an_empty_queue_takes_one() {
        let frame = |n: usize| -> Arc<[u8]> { vec![0; n].into() };
        let mut q = OutQueue::new(10);
        q.push_shared(frame(25)).unwrap();
        assert_eq!(q.push_shared(frame(1)), Err(QueueFull));
        let mut q = OutQueue::new(10);
        q.push_shared(frame(6)).unwrap();
        q.push_shared(frame(4)).unwrap();
        assert_eq!(q.push_shared(frame(1)), Err(QueueFull));
        q.push_owned(vec![0x88, 0x02, 0x03, 0xf0]);
        assert_eq!(q.queued(), 14, "owned chunks are the caller's to bound");
    }

    #[test]
    fn a_zero_byte_write_is_an_error() {
        let mut q = OutQueue::new(10);
        q.push_owned(vec![1]);
        let mut zero = trickle(0, usize::MAX);
        assert!(q.flush(&mut zero).is_err());
    }
}
