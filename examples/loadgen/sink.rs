//! A trivial in-process websocket "server" that does nothing but accept upgrades and
//! write pre-encoded message frames as fast as each socket takes them. It exists to
//! measure the load generator's own receive ceiling (`loadgen sink`), so that number
//! is never mistaken for a server's. Each connection gets its own sequence numbers;
//! only the seq and timestamp digits are patched per frame.

use crate::frame;
use crate::payload::{Probe, MARK};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);
/// Bytes one connection may write per loop turn, so one fast reader cannot starve
/// the others (edge-triggered sockets that never block would otherwise hog the loop).
const TURN_BYTES: usize = 256 * 1024;

struct Conn {
    stream: TcpStream,
    head: Vec<u8>,
    upgraded: bool,
    seq: u64,
    buf: Vec<u8>,
    pos: usize,
    /// Not blocked: write again next turn without waiting for an event.
    ready: bool,
}

/// The sink's template: `frames_per_write` copies of one server text frame shaped like
/// a channelstream delivery, and where each copy's probe starts.
struct Template {
    bytes: Vec<u8>,
    probes: Vec<usize>,
}

fn template(payload: usize, frames_per_write: usize) -> Template {
    let mut probe = Vec::new();
    Probe {
        channel: 0,
        seq: 0,
        sent_ns: 0,
    }
    .encode(payload, &mut probe);
    let text = format!(
        "[{{\"channel\":\"lg0\",\"uuid\":\"00000000-0000-4000-8000-000000000000\",\
         \"timestamp\":\"2026-01-01T00:00:00.000000\",\"user\":\"loadgen\",\
         \"message\":{{\"lg\":\"{}\"}},\"edited\":null,\"catchup\":false,\"type\":\"message\"}}]",
        String::from_utf8_lossy(&probe)
    );
    let mut one = Vec::new();
    frame::encode_server(frame::OP_TEXT, text.as_bytes(), &mut one);
    let at = one.windows(MARK.len()).position(|w| w == MARK).unwrap_or(0);
    let mut t = Template {
        bytes: Vec::new(),
        probes: Vec::new(),
    };
    for _ in 0..frames_per_write.max(1) {
        t.probes.push(t.bytes.len() + at);
        t.bytes.extend_from_slice(&one);
    }
    t
}

/// A running sink: its address, and how to stop it.
pub struct Sink {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    go: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Sink {
    /// Starts the sink on 127.0.0.1 (any port). `start` is the run's timestamp zero.
    /// `frames_per_write` frames are patched and handed to one `write` call: 64 is a
    /// busy server batching its output, 1 a server that writes each frame alone.
    pub fn start(payload: usize, frames_per_write: usize, start: Instant) -> io::Result<Self> {
        let mut listener = TcpListener::bind("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let (flag, go_flag) = (stop.clone(), go.clone());
        let thread = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || {
                let poll = Poll::new()?;
                poll.registry()
                    .register(&mut listener, LISTENER, Interest::READABLE)?;
                serve(
                    poll,
                    listener,
                    template(payload, frames_per_write),
                    start,
                    &flag,
                    &go_flag,
                )
            })?;
        Ok(Self {
            addr,
            stop,
            go,
            thread: Some(thread),
        })
    }

    /// Starts streaming frames (until then upgrades are answered and nothing else),
    /// so that setting up many connections does not compete with the measurement.
    pub fn go(&self) {
        self.go.store(true, Relaxed);
    }

    /// Stops the sink and waits for its thread.
    pub fn stop(mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    poll: Poll,
    listener: TcpListener,
    tpl: Template,
    start: Instant,
    stop: &AtomicBool,
    go: &AtomicBool,
) -> io::Result<()> {
    let mut poll = poll;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut streaming = false;
    while !stop.load(Relaxed) {
        if !streaming && go.load(Relaxed) {
            streaming = true;
            for c in conns.iter_mut().flatten() {
                c.ready = true;
            }
        }
        let any_ready = conns.iter().flatten().any(|c| c.ready);
        let timeout = if any_ready {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        };
        match poll.poll(&mut events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &mut poll, &mut conns)?;
            } else if let Some(Some(c)) = conns.get_mut(event.token().0) {
                c.ready = true;
            }
        }
        for slot in conns.iter_mut() {
            let Some(c) = slot else { continue };
            if c.ready && turn(c, &tpl, start, streaming).is_err() {
                let _ = poll.registry().deregister(&mut c.stream);
                *slot = None;
            }
        }
    }
    Ok(())
}

fn accept_all(
    listener: &TcpListener,
    poll: &mut Poll,
    conns: &mut Vec<Option<Conn>>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let k = conns.len();
                poll.registry().register(
                    &mut stream,
                    Token(k),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                conns.push(Some(Conn {
                    stream,
                    head: Vec::new(),
                    upgraded: false,
                    seq: 0,
                    buf: Vec::new(),
                    pos: 0,
                    ready: true,
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One connection's turn: finish the handshake, then write frames until the socket
/// blocks (ready = false) or the turn's byte budget is spent (ready stays true).
fn turn(c: &mut Conn, tpl: &Template, start: Instant, streaming: bool) -> io::Result<()> {
    let mut scratch = [0u8; 4096];
    // Drain input: the handshake, later the client's close frame (ignored).
    loop {
        match c.stream.read(&mut scratch) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) if !c.upgraded => c.head.extend_from_slice(&scratch[..n]),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if !c.upgraded {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&c.head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                c.ready = false;
                return Ok(());
            }
            Err(_) => return Err(io::ErrorKind::InvalidData.into()),
        }
        let key = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .ok_or(io::ErrorKind::InvalidData)?;
        c.buf = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            frame::accept_key(key.trim())
        )
        .into_bytes();
        c.pos = 0;
        c.upgraded = true;
    }
    let mut written = 0;
    while written < TURN_BYTES {
        if c.pos == c.buf.len() && !streaming {
            c.ready = false;
            return Ok(());
        }
        if c.pos == c.buf.len() {
            c.buf.clear();
            c.buf.extend_from_slice(&tpl.bytes);
            let now_ns = start.elapsed().as_nanos() as u64;
            for &at in &tpl.probes {
                Probe::patch(&mut c.buf, at, c.seq, now_ns);
                c.seq += 1;
            }
            c.pos = 0;
        }
        match c.stream.write(&c.buf[c.pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                c.pos += n;
                written += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.ready = false;
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload;

    #[test]
    fn template_frames_decode_and_carry_patched_probes() {
        let tpl = template(100, 64);
        let mut buf = tpl.bytes.clone();
        for (k, &at) in tpl.probes.iter().enumerate() {
            Probe::patch(&mut buf, at, k as u64 + 10, 5);
        }
        let mut at = 0;
        let mut seqs = Vec::new();
        while at < buf.len() {
            let Ok(channelstream::decoded::Decoded::Done { value, consumed }) =
                frame::decode(&buf[at..], 1 << 20)
            else {
                panic!("frame at {at}");
            };
            let body = &buf[at + value.start..at + value.start + value.len];
            payload::scan(body, |p| seqs.push(p.seq));
            at += consumed;
        }
        let want: Vec<u64> = (10..10 + 64).collect();
        assert_eq!(seqs, want);
    }
}
