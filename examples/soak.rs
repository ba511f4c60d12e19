//! Soak test: mixed, CPU-light traffic against a running channelstream server for a long
//! time, watching the server's memory and checking that everything it counts returns to
//! the baseline once every client has left.
//!
//! ```text
//! cargo run --release --example soak -- --url http://127.0.0.1:8000 --pid <server pid> \
//!     [--duration 600] [--clients 40] [--secret secret]
//! ```
//!
//! Each client thread loops over sessions until the deadline: `/connect` (fresh or an
//! earlier `conn_id`, so the server replays what was queued while it was away: catch-up),
//! then a websocket that reads for a while, subscribes and unsubscribes; or long-polls
//! `/listen`; then leaves (closing the socket, sometimes `/disconnect` too). A publisher
//! thread posts to 8 channels every 50 ms. The server's VmRSS (`/proc/<pid>/status`) is
//! sampled every 10 s. At the end, the run waits (up to 60 s) for `total_connections` in
//! `/admin/admin.json` to fall back to its value before the run. One JSON line of
//! results goes to stdout; exit status 1 if connections did not return to the baseline or
//! more than 1% of operations failed.

use channelstream::api::signature::Signer;
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::Message;

/// Longest run accepted, so a typo cannot leave load running for days.
const MAX_DURATION: u64 = 3600;
const CHANNELS: u64 = 8;

struct Args {
    url: String,
    pid: u32,
    duration: Duration,
    clients: usize,
    secret: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: "http://127.0.0.1:8000".into(),
        pid: 0,
        duration: Duration::from_secs(600),
        clients: 40,
        secret: "secret".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {value:?}"))
        };
        match flag.as_str() {
            "--url" => a.url = value.trim_end_matches('/').to_string(),
            "--pid" => a.pid = num()? as u32,
            "--duration" => {
                let s = num()?;
                if s == 0 || s > MAX_DURATION {
                    return Err(format!("--duration must be 1..={MAX_DURATION} seconds"));
                }
                a.duration = Duration::from_secs(s);
            }
            "--clients" => a.clients = num()?.clamp(1, 1000) as usize,
            "--secret" => a.secret = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.pid == 0 {
        return Err("--pid <server pid> is required (its RSS is sampled)".into());
    }
    Ok(a)
}

/// Operation counters, printed at the end.
#[derive(Default)]
struct Stats {
    connects: AtomicU64,
    reconnects: AtomicU64,
    ws_sessions: AtomicU64,
    polls: AtomicU64,
    subscribes: AtomicU64,
    disconnects: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    catchup_frames: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<String>,
}

impl Stats {
    fn fail(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = what;
        }
    }
}

struct Ctx {
    url: String,
    host: String,
    signer: Signer,
    agent: ureq::Agent,
    stats: Stats,
    stop: AtomicBool,
}

impl Ctx {
    fn token(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.signer.sign("soak", now)
    }

    /// A signed API call; `None` (and an error counted) unless it answers 200 JSON.
    fn api(&self, method: &str, path: &str, body: &Value) -> Option<Value> {
        let res = self
            .agent
            .request(method, &format!("{}{path}", self.url))
            .set("X-Channelstream-Secret", &self.token())
            .send_json(body.clone());
        match res.map(|r| r.into_json::<Value>()) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.stats.fail(format!("{path}: {e}"));
                None
            }
            Err(e) => {
                self.stats.fail(format!("{path}: {e}"));
                None
            }
        }
    }
}

/// xorshift64*: enough randomness for choosing actions, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Reads frames for `for_` (or until stop), counting delivered messages.
fn read_for(ctx: &Ctx, ws: &mut tungstenite::WebSocket<TcpStream>, for_: Duration) -> u64 {
    let end = Instant::now() + for_;
    let mut got = 0;
    while Instant::now() < end && !ctx.stop.load(Ordering::Relaxed) {
        match ws.read() {
            Ok(Message::Text(t)) => {
                if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&t) {
                    got += items.len() as u64;
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // The end of our own close handshake.
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => break,
            Err(e) => {
                ctx.stats.fail(format!("ws read: {e}"));
                break;
            }
        }
    }
    ctx.stats.received.fetch_add(got, Ordering::Relaxed);
    got
}

fn ws_session(ctx: &Ctx, rng: &mut Rng, conn_id: &str, reconnect: bool) {
    let stream = match TcpStream::connect(&ctx.host) {
        Ok(s) => s,
        Err(e) => return ctx.stats.fail(format!("tcp: {e}")),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let url = format!("ws://{}/ws?conn_id={conn_id}", ctx.host);
    let mut ws = match tungstenite::client(url, stream) {
        Ok((ws, _)) => ws,
        Err(e) => return ctx.stats.fail(format!("handshake: {e}")),
    };
    ctx.stats.ws_sessions.fetch_add(1, Ordering::Relaxed);
    let first = read_for(ctx, &mut ws, Duration::from_millis(300));
    if reconnect {
        ctx.stats.catchup_frames.fetch_add(first, Ordering::Relaxed);
    }
    let extra = format!("c{}", rng.below(CHANNELS));
    let body = json!({"conn_id": conn_id, "channels": [extra]});
    if ctx.api("POST", "/subscribe", &body).is_some() {
        ctx.stats.subscribes.fetch_add(1, Ordering::Relaxed);
    }
    read_for(ctx, &mut ws, Duration::from_millis(500 + rng.below(2500)));
    let _ = ctx.api("POST", "/unsubscribe", &body);
    read_for(ctx, &mut ws, Duration::from_millis(200));
    let _ = ws.close(None);
    let _ = read_for(ctx, &mut ws, Duration::from_millis(100));
}

fn poll_session(ctx: &Ctx, conn_id: &str) {
    let url = format!("{}/listen?conn_id={conn_id}", ctx.url);
    match ctx.agent.get(&url).call() {
        Ok(r) => {
            ctx.stats.polls.fetch_add(1, Ordering::Relaxed);
            if let Ok(Value::Array(items)) = r.into_json::<Value>() {
                ctx.stats
                    .received
                    .fetch_add(items.len() as u64, Ordering::Relaxed);
            }
        }
        Err(e) => ctx.stats.fail(format!("listen: {e}")),
    }
}

fn client(ctx: Arc<Ctx>, id: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1).wrapping_mul(0x1234_5678_9abc));
    let user = format!("soak{id}");
    let mut previous: Option<String> = None;
    while !ctx.stop.load(Ordering::Relaxed) {
        // A third of the sessions come back as an earlier connection (catch-up).
        let reconnect = previous.is_some() && rng.below(3) == 0;
        let conn_id = match (&previous, reconnect) {
            (Some(p), true) => p.clone(),
            _ => rng.uuid(),
        };
        let channels = [format!("c{}", rng.below(CHANNELS))];
        let body = json!({"username": user, "conn_id": conn_id, "channels": channels,
                          "fresh_user_state": {"id": id}, "state_public_keys": ["id"]});
        if ctx.api("POST", "/connect", &body).is_none() {
            thread::sleep(Duration::from_millis(200));
            continue;
        }
        let counter = if reconnect {
            &ctx.stats.reconnects
        } else {
            &ctx.stats.connects
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if rng.below(4) == 0 {
            poll_session(&ctx, &conn_id);
        } else {
            ws_session(&ctx, &mut rng, &conn_id, reconnect);
        }
        if rng.below(3) == 0 {
            let _ = ctx.api("POST", "/disconnect", &json!({"conn_id": conn_id}));
            ctx.stats.disconnects.fetch_add(1, Ordering::Relaxed);
            previous = None;
        } else {
            previous = Some(conn_id);
        }
        thread::sleep(Duration::from_millis(rng.below(300)));
    }
    if let Some(p) = previous {
        let _ = ctx.api("POST", "/disconnect", &json!({"conn_id": p}));
    }
}

fn publisher(ctx: Arc<Ctx>) {
    let mut rng = Rng(42);
    let mut seq = 0u64;
    while !ctx.stop.load(Ordering::Relaxed) {
        let channel = format!("c{}", rng.below(CHANNELS));
        let msg = json!([{"channel": channel, "user": "publisher", "message": {"seq": seq}}]);
        if ctx.api("POST", "/message", &msg).is_some() {
            ctx.stats.published.fetch_add(1, Ordering::Relaxed);
        }
        seq += 1;
        thread::sleep(Duration::from_millis(50));
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn total_connections(ctx: &Ctx) -> Option<u64> {
    ctx.api("GET", "/admin/admin.json", &json!({}))?["total_connections"].as_u64()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    let host = args
        .url
        .strip_prefix("http://")
        .unwrap_or(&args.url)
        .to_string();
    let ctx = Arc::new(Ctx {
        url: args.url.clone(),
        host,
        signer: Signer::new(&args.secret),
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(40))
            .build(),
        stats: Stats::default(),
        stop: AtomicBool::new(false),
    });
    let baseline = total_connections(&ctx).unwrap_or(0);
    let started = Instant::now();
    let mut threads: Vec<_> = (0..args.clients)
        .map(|i| {
            let c = ctx.clone();
            thread::spawn(move || client(c, i))
        })
        .collect();
    let c = ctx.clone();
    threads.push(thread::spawn(move || publisher(c)));

    let mut samples = Vec::new();
    while started.elapsed() < args.duration {
        if let Some(r) = rss_kib(args.pid) {
            samples.push(r);
            eprintln!(
                "soak: {:>4} s rss {r} KiB errors {}",
                started.elapsed().as_secs(),
                ctx.stats.errors.load(Ordering::Relaxed)
            );
        }
        let left = args.duration.saturating_sub(started.elapsed());
        thread::sleep(left.min(Duration::from_secs(10)));
    }
    ctx.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let left_at = Instant::now();
    let mut after = total_connections(&ctx);
    while after != Some(baseline) && left_at.elapsed() < Duration::from_secs(60) {
        thread::sleep(Duration::from_millis(500));
        after = total_connections(&ctx);
    }
    let settled = left_at.elapsed().as_secs_f64();
    if let Some(r) = rss_kib(args.pid) {
        samples.push(r);
    }
    let s = &ctx.stats;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let ops = get(&s.connects) + get(&s.reconnects) + get(&s.published) + get(&s.subscribes);
    let ok = after == Some(baseline) && get(&s.errors) * 100 <= ops.max(1);
    let result = json!({
        "ok": ok,
        "duration_s": args.duration.as_secs(),
        "clients": args.clients,
        "connects": get(&s.connects),
        "reconnects": get(&s.reconnects),
        "ws_sessions": get(&s.ws_sessions),
        "long_polls": get(&s.polls),
        "subscribes": get(&s.subscribes),
        "disconnects": get(&s.disconnects),
        "published": get(&s.published),
        "received": get(&s.received),
        "catchup_frames": get(&s.catchup_frames),
        "errors": get(&s.errors),
        "last_error": s.last_error.lock().map(|e| e.clone()).unwrap_or_default(),
        "rss_kib": {
            "first": samples.first(),
            "max": samples.iter().max(),
            "last": samples.last(),
            "samples": samples,
        },
        "connections_baseline": baseline,
        "connections_after": after,
        "settled_after_s": (settled * 10.0).round() / 10.0,
    });
    println!("{result}");
    if !ok {
        std::process::exit(1);
    }
}
