//! Backpressure between nodes (issue 12, `docs/SCALING.md` "Backpressure between
//! nodes"), with a real `redis-server`: a publisher on node A sends as fast as A answers
//! to a channel whose subscriber is on node B and reads nothing for a while. Without
//! backpressure A takes every message and B cuts its subscriber with 1008 once its out
//! queue passes `max_outbound_bytes`. With it, B says it is behind as soon as its worker
//! is strained, A holds each message (200 ms) and then answers 503 (JSON error,
//! `Retry-After`) instead of publishing, and
//! once the subscriber reads again A answers 200 again; the subscriber, and another on
//! B that read all along, got every acknowledged message, once, in order, and neither
//! was cut.

mod redis_common;
mod redis_node_common;
mod server_common;

use channelstream::app::Running;
use channelstream::resp::Reply;
use redis_common::{redis_or_skip, RedisServer};
use redis_node_common::node_config;
use serde_json::{json, Value};
use server_common::{body_of, post, raw, raw_ws, signed, status_of};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const CAROL: &str = "cccccccc-0000-4000-8000-000000000003";
/// B's out-queue limit (the default): B is behind from a quarter of it (1 MiB) queued to
/// a socket, or a sixteenth (256 KiB) waiting for B's hub thread; cut at all of it.
const MAX_OUTBOUND: usize = 4 * 1024 * 1024;
/// Each message's text is this long (plus its number): one fills B's "behind" mark.
const FILL: usize = 16 * 1024;

fn node(redis: &RedisServer, workers: usize) -> Running {
    let mut c = node_config(redis);
    c.workers = workers;
    c.limits.max_outbound = MAX_OUTBOUND;
    server_common::start(c)
}

fn subscribers(redis: &RedisServer, pubsub: &str) -> i64 {
    match redis.call(None, &["PUBSUB", "NUMSUB", pubsub]) {
        Reply::Array(items) => match items.get(1) {
            Some(Reply::Integer(n)) => *n,
            _ => -1,
        },
        _ => -1,
    }
}

fn wait_subscribed(redis: &RedisServer, pubsub: &str, n: i64) {
    let until = Instant::now() + Duration::from_secs(10);
    while subscribers(redis, pubsub) < n {
        assert!(Instant::now() < until, "{pubsub}: not {n} subscribers");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
}

/// A `/message` to `room` with text `text`: status, head and JSON body.
fn send(addr: SocketAddr, text: &str) -> (u16, String, Value) {
    let body = json!([{"channel": "room", "user": "sys", "message": {"text": text}}]);
    let out = raw(
        addr,
        &signed("POST", "/message", body.to_string().as_bytes()),
    );
    let head_end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..head_end]).to_lowercase();
    let json = serde_json::from_slice(body_of(&out)).unwrap_or(Value::Null);
    (status_of(&out), head, json)
}

/// What the subscriber read: the texts of its channel messages in order, and the code of
/// a close frame if one came.
#[derive(Default)]
struct Received {
    texts: Vec<String>,
    close: Option<u16>,
}

/// Reads server frames (unmasked) from `s` until a message with text `last`, a close
/// frame, or `within`.
fn read_until(s: &mut TcpStream, last: &str, within: Duration) -> Received {
    let end = Instant::now() + within;
    let mut got = Received::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while Instant::now() < end {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        while let Some((op, payload, used)) = frame(&buf) {
            buf.drain(..used);
            if op == 8 {
                got.close = Some(u16::from_be_bytes([payload[0], payload[1]]));
                return got;
            }
            if op != 1 {
                continue;
            }
            let items: Value = serde_json::from_slice(&payload).expect("a JSON list");
            for item in items.as_array().into_iter().flatten() {
                if item["type"] == "message" {
                    let text = item["message"]["text"].as_str().unwrap_or("");
                    got.texts.push(text.to_string());
                    if text == last {
                        return got;
                    }
                }
            }
        }
    }
    got
}

/// One whole server frame at the start of `b`: (opcode, payload, bytes used).
fn frame(b: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let op = b.first()? & 0x0f;
    let (len, head) = match b.get(1)? & 0x7f {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = b.get(head..head + len)?.to_vec();
    Some((op, payload, head + len))
}

#[test]
fn a_fast_publisher_gets_503_instead_of_a_slow_nodes_subscribers_getting_1008() {
    let Some(redis) = redis_or_skip("redis_backpressure", &[]) else {
        return;
    };
    let a = node(&redis, 2);
    let b = node(&redis, 1);
    for (user, id) in [("bob", BOB), ("carol", CAROL)] {
        post(
            b.addr,
            "/connect",
            json!({"username": user, "conn_id": id, "channels": ["room"]}),
        );
    }
    wait_subscribed(&redis, "t:{room}:pub", 1);
    wait_subscribed(&redis, "t:nodes:pub", 2);
    // carol on B reads all the time; bob's socket, on the same worker, is not read for
    // now: B's out queue to bob grows once the kernel's buffers are full. One socket
    // behind in two is no majority (admission control would not hold anything), but
    // it is a strain B tells the other nodes about.
    let mut healthy = raw_ws(b.addr, CAROL);
    let carol =
        std::thread::spawn(move || read_until(&mut healthy, "end", Duration::from_secs(60)));
    let mut sub = raw_ws(b.addr, BOB);
    let fill = "x".repeat(FILL);
    let mut acked = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    let refused = loop {
        n += 1;
        let text = format!("{n}:{fill}");
        let (status, head, body) = send(a.addr, &text);
        match status {
            200 => acked.push(text),
            503 => break (head, body),
            other => panic!("{other}: {body}"),
        }
        if Instant::now() >= until {
            let bob = read_until(&mut sub, "", Duration::from_secs(2));
            panic!(
                "A took {} messages and never refused one; bob then read {} and close {:?}",
                acked.len(),
                bob.texts.len(),
                bob.close
            );
        }
    };
    let (head, body) = refused;
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("behind")),
        "{body}"
    );
    assert!(head.contains("retry-after: 1"), "{head}");
    // B holds its own publishers too, by the same rule. (The kernel may take more of
    // bob's bytes now and then, so B may catch up for a moment: a message it takes then
    // is one more bob must get.)
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        n += 1;
        let text = format!("{n}:on b:{fill}");
        match send(b.addr, &text).0 {
            200 => acked.push(text),
            503 => break,
            other => panic!("{other}"),
        }
        assert!(Instant::now() < until, "B never refused its own publisher");
    }
    // bob reads again; B catches up and says so, and A takes messages again.
    let reader = std::thread::spawn(move || read_until(&mut sub, "end", Duration::from_secs(30)));
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        n += 1;
        let text = format!("{n}:again");
        match send(a.addr, &text).0 {
            200 => {
                acked.push(text);
                break;
            }
            503 => {}
            other => panic!("{other}"),
        }
        assert!(Instant::now() < until, "A never took messages again");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(send(a.addr, "end").0, 200);
    acked.push("end".into());
    for (who, got) in [("bob", reader), ("carol", carol)] {
        let got = got.join().expect("reader");
        assert_eq!(got.close, None, "{who} was cut");
        assert_eq!(
            got.texts.len(),
            acked.len(),
            "{who}: every acknowledged message, once"
        );
        assert!(got.texts == acked, "{who}: in order");
    }
    a.shutdown().expect("a stops");
    b.shutdown().expect("b stops");
}
