//! Measures what issue 9's oversized bodies cost a running server: the answer's status,
//! size and time, and the server's VmRSS before the first and after each of `--repeats`
//! requests. Not a test: the figures go to docs/RELIABILITY.md.
//!
//! ```text
//! channelstream --port 8000 --workers 2 & # the server to measure
//! cargo run --release --example hostile_rss -- --pid $! [--addr 127.0.0.1:8000] \
//!     [--repeats 10] [--case message_500k|message_480k_errors|connect_100k|all] \
//!     [--secret secret]
//! ```
//!
//! Cases: `message_500k` POSTs a 1 000 001-byte `/message` body, a list of 500 000 zeros;
//! `message_480k_errors` POSTs 1000 messages (within the default count) naming 480 users
//! that are not strings each, 480 000 field errors in 997 KB; `connect_100k` POSTs an 852 KB `/connect` naming 100 000 channels (a new user each
//! time). One JSON line per case goes to stdout.

use channelstream::api::signature::Signer;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Args {
    addr: String,
    pid: u32,
    repeats: usize,
    case: String,
    secret: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8000".into(),
        pid: 0,
        repeats: 10,
        case: "all".into(),
        secret: "secret".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: {value:?}");
        match flag.as_str() {
            "--addr" => a.addr = value.clone(),
            "--pid" => a.pid = value.parse().map_err(|_| bad())?,
            "--repeats" => a.repeats = value.parse().map_err(|_| bad())?,
            "--case" => a.case = value.clone(),
            "--secret" => a.secret = value.clone(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.pid == 0 {
        return Err("--pid <server pid> is required".into());
    }
    Ok(a)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// One signed POST on a fresh connection: status, answer bytes, and the whole exchange's
/// time.
fn post(args: &Args, path: &str, body: &[u8]) -> (u16, usize, Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = Signer::new(&args.secret).sign("hostile_rss", now);
    let started = Instant::now();
    let mut s = TcpStream::connect(&args.addr).expect("connect to the server");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nX-Channelstream-Secret: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let elapsed = started.elapsed();
    let status = out
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok())
        .unwrap_or(0);
    let body_at = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    (status, out.len() - body_at, elapsed)
}

fn run(args: &Args, case: &str, path: &str, body: impl Fn(usize) -> Vec<u8>) {
    let before = rss_kib(args.pid);
    let mut after = Vec::new();
    let mut answers = Vec::new();
    for i in 0..args.repeats {
        let b = body(i);
        let (status, bytes, took) = post(args, path, &b);
        // let the server's threads finish freeing before sampling
        thread::sleep(Duration::from_millis(300));
        after.push(rss_kib(args.pid));
        answers.push(json!({"status": status, "bytes": bytes, "ms": took.as_millis()}));
        if i == 0 {
            eprintln!(
                "{case}: body {} bytes, first answer {status} of {bytes} bytes in {took:?}",
                b.len()
            );
        }
    }
    let line = json!({
        "case": case,
        "rss_kib_before": before,
        "rss_kib_after_each": after,
        "rss_kib_growth": after.last().map_or(0, |a| *a as i64 - before as i64),
        "answers": answers,
    });
    println!("{line}");
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hostile_rss: {e}");
            std::process::exit(2);
        }
    };
    if matches!(args.case.as_str(), "all" | "message_500k") {
        let zeros = format!("[{}0]", "0,".repeat(499_999)).into_bytes();
        run(&args, "message_500k", "/message", |_| zeros.clone());
    }
    if matches!(args.case.as_str(), "all" | "message_480k_errors") {
        let pm = vec!["1"; 480].join(",");
        let item = format!(r#"{{"user":"u","channel":"c","pm_users":[{pm}]}}"#);
        let items = format!("[{}]", vec![item.as_str(); 1000].join(",")).into_bytes();
        run(&args, "message_480k_errors", "/message", |_| items.clone());
    }
    if matches!(args.case.as_str(), "all" | "connect_100k") {
        let channels: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        run(&args, "connect_100k", "/connect", |i| {
            json!({"username": format!("many{i}"), "channels": channels})
                .to_string()
                .into_bytes()
        });
    }
}
