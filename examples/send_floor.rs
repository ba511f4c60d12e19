//! The floor under the many-channels shape of issue 14: what one websocket frame sent to
//! one of 19 000 loopback sockets costs the sending core when the sender does nothing else.
//!
//! In that shape every delivery is one `send` for any server (ours and uWS alike), and on
//! loopback the sender's core also runs the client's TCP receive path and its wakeup. A
//! sender with no user-space work at all (no HTTP, no JSON, no channels, frames built once)
//! is the cheapest server possible under the same measurement, so its CPU per send bounds
//! the deliveries per server CPU-second any one-send-per-delivery server can reach there.
//! `tools/bench/send_floor.sh` runs it beside uWebSockets.js in the real shape.
//!
//! ```text
//! send_floor serve --port P [--conns 19000] [--channels 3800] [--secs 8] [--frame 290]
//! send_floor read  --port P [--conns 19000] [--sources 127.0.0.1,127.0.0.2] [--spin-ns 0]
//! ```
//!
//! `serve` accepts `--conns` connections, then sends for `--secs` seconds the way a server
//! fans out the many-channels shape: a random channel, one frame to each of its subscribers
//! (socket `i` is in channel `i % channels`), and again. It prints one JSON line: sends, its
//! own CPU seconds (`/proc/self/stat`, which includes the softirq work charged to it) and
//! sends per CPU-second. `read` opens the connections, reads and counts everything in one
//! poll loop until the server closes them, and prints bytes and its own context switches.
#[path = "loadgen/procstat.rs"]
#[allow(dead_code)] // the load generator's reader; this uses only `Sample::read`
mod procstat;
#[path = "loadgen/rng.rs"]
#[allow(dead_code)] // the load generator's generator; this uses only `seeded`/`next_u64`
mod rng;

use channelstream::ws::{shared_frame, OpCode};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&Opts::parse(&args[1..])),
        Some("read") => read(&Opts::parse(&args[1..])),
        _ => {
            eprintln!("usage: send_floor serve|read --port P [--conns N] [--channels C] [--secs S] [--frame BYTES] [--sources A,B]");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("send_floor: {e}");
        std::process::exit(1);
    }
}

/// Command-line options shared by both sides.
struct Opts {
    port: u16,
    conns: usize,
    channels: usize,
    secs: f64,
    frame: usize,
    sources: Vec<IpAddr>,
    /// Busy time the reader spends on each read that returned data, standing in for a
    /// real client's parsing: a slower client is woken less often, which makes sends cheaper.
    spin: Duration,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut o = Opts {
            port: 0,
            conns: 19_000,
            channels: 3_800,
            secs: 8.0,
            frame: 290,
            sources: vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
            spin: Duration::ZERO,
        };
        for pair in args.chunks(2) {
            let value = pair.get(1).map(String::as_str).unwrap_or("");
            let bad = || -> ! {
                eprintln!("send_floor: bad value {value:?} for {}", pair[0]);
                std::process::exit(2)
            };
            match pair[0].as_str() {
                "--port" => o.port = value.parse().unwrap_or_else(|_| bad()),
                "--conns" => o.conns = value.parse().unwrap_or_else(|_| bad()),
                "--channels" => o.channels = value.parse().unwrap_or_else(|_| bad()),
                "--secs" => o.secs = value.parse().unwrap_or_else(|_| bad()),
                "--frame" => o.frame = value.parse().unwrap_or_else(|_| bad()),
                "--spin-ns" => {
                    o.spin = Duration::from_nanos(value.parse().unwrap_or_else(|_| bad()))
                }
                "--sources" => {
                    o.sources = value
                        .split(',')
                        .map(|s| s.parse().unwrap_or_else(|_| bad()))
                        .collect()
                }
                other => {
                    eprintln!("send_floor: unknown option {other}");
                    std::process::exit(2)
                }
            }
        }
        if o.port == 0
            || o.conns == 0
            || o.channels == 0
            || o.frame < 2
            || o.frame > 125 + 2 + 65_535
        {
            eprintln!(
                "send_floor: --port is required; --conns, --channels, --frame must be sensible"
            );
            std::process::exit(2);
        }
        o
    }
}

/// This process's user + system CPU seconds.
fn cpu_seconds() -> f64 {
    procstat::Sample::read("self").map_or(0.0, |s| s.cpu_s())
}

/// A text frame of `len` bytes in all (head included), built once as the server's
/// shared frames are.
fn frame(len: usize) -> std::sync::Arc<[u8]> {
    let head = if len - 2 <= 125 { 2 } else { 4 };
    let frame = shared_frame(OpCode::Text, &vec![b'x'; len - head]);
    if frame.len() != len {
        eprintln!("send_floor: no frame is {len} bytes long; take 127 or less, or 130 or more");
        std::process::exit(2);
    }
    frame
}

fn serve(o: &Opts) -> io::Result<()> {
    let frame = frame(o.frame);
    let listener = TcpListener::bind(("127.0.0.1", o.port))?;
    let mut socks = Vec::with_capacity(o.conns);
    while socks.len() < o.conns {
        let (s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        socks.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let members: Vec<Vec<usize>> = (0..o.channels)
        .map(|c| (c..o.conns).step_by(o.channels).collect())
        .collect();
    let mut rng = rng::Rng::seeded(0x9E37_79B9_7F4A_7C15);
    let (mut sends, mut short) = (0u64, 0u64);
    let cpu0 = cpu_seconds();
    let began = Instant::now();
    let until = Duration::from_secs_f64(o.secs);
    while began.elapsed() < until {
        for _ in 0..50 {
            for &i in &members[(rng.next_u64() % o.channels as u64) as usize] {
                match (&socks[i]).write(&frame) {
                    Ok(n) if n == frame.len() => sends += 1,
                    Ok(_) | Err(_) => short += 1,
                }
            }
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{{\"sends\":{sends},\"short_or_failed\":{short},\"secs\":{elapsed:.3},\"cpu_s\":{cpu:.2},\
         \"us_per_send\":{:.3},\"sends_per_cpu_s\":{:.0}}}",
        cpu * 1e6 / sends.max(1) as f64,
        sends as f64 / cpu.max(0.01)
    );
    Ok(())
}

fn read(o: &Opts) -> io::Result<()> {
    let server = SocketAddr::from(([127, 0, 0, 1], o.port));
    let mut poll = Poll::new()?;
    let mut socks = Vec::with_capacity(o.conns);
    for i in 0..o.conns {
        let source = o.sources[i % o.sources.len()];
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        sock.bind(&SocketAddr::new(source, 0).into())?;
        sock.connect(&server.into())?;
        let std_stream: TcpStream = sock.into();
        std_stream.set_nonblocking(true)?;
        let mut s = MioStream::from_std(std_stream);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        socks.push(Some(s));
    }
    eprintln!("read: {} open", o.conns);
    let (mut open, mut bytes) = (o.conns, 0u64);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while open > 0 {
        poll.poll(&mut events, Some(Duration::from_secs(30)))?;
        if events.is_empty() {
            return Err(io::Error::new(ErrorKind::TimedOut, "no data for 30 s"));
        }
        for ev in events.iter() {
            let Some(s) = socks[ev.token().0].as_mut() else {
                continue;
            };
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        socks[ev.token().0] = None;
                        open -= 1;
                        break;
                    }
                    Ok(n) => {
                        bytes += n as u64;
                        let spun = Instant::now();
                        while spun.elapsed() < o.spin {
                            std::hint::spin_loop();
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        socks[ev.token().0] = None;
                        open -= 1;
                        break;
                    }
                }
            }
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let switches = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    println!(
        "{{\"bytes\":{bytes},\"frames\":{},\"cpu_s\":{:.2},\"voluntary_switches\":{}}}",
        bytes / o.frame as u64,
        cpu_seconds(),
        switches("voluntary_ctxt_switches:")
    );
    Ok(())
}
