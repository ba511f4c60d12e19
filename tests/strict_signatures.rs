//! `strict_signatures = true` against a live server, signed by the Python function in
//! `docs/API.md` (extracted from the file and run with `python3`), so the documented
//! scheme, the function users paste and the server agree. Without `python3` the Python
//! test says why and passes, unless `CI` is set.

mod server_common;

use channelstream::api::signature::Signer;
use channelstream::api::strict_signature::{Signed, StrictSigner};
use channelstream::config::Config;
use serde_json::{json, Value};
use server_common::*;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "strict s3cret \u{e9}";

fn strict_config() -> Config {
    let mut c = loopback_config();
    c.secret = SECRET.into();
    c.strict_signatures = true;
    c
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The first ```python block of docs/API.md.
fn documented_python() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md");
    let doc = std::fs::read_to_string(path).expect("docs/API.md");
    let start = doc
        .find("```python\n")
        .expect("a ```python block in docs/API.md")
        + 10;
    let len = doc[start..].find("```").expect("the block ends");
    doc[start..start + len].to_string()
}

/// Whether `python3` runs. Without it, say so; under `CI` that is a failure.
fn python_available() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is required under CI to check docs/API.md's signing function"
        );
        eprintln!("skipped: python3 not found, so docs/API.md's signing function is not run");
    }
    ok
}

/// What the documented function returns for these arguments (`None` = its default).
fn python_sign(
    method: &str,
    target: &str,
    body: &str,
    timestamp: Option<u64>,
    nonce: Option<&str>,
) -> String {
    let args = json!({
        "secret": SECRET, "method": method, "target": target, "body": body,
        "timestamp": timestamp, "nonce": nonce,
    });
    let script = format!(
        "{}\nimport json, sys\nprint(channelstream_signature(**json.loads(sys.argv[1])))\n",
        documented_python()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(args.to_string())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// Sends `method target` with `body` and `header` (if any) as `X-Channelstream-Secret`;
/// returns the status, the whole response head and the body parsed as JSON.
fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &str,
    header: Option<&str>,
) -> (u16, String, Value) {
    let secret = header.map_or(String::new(), |h| {
        format!("X-Channelstream-Secret: {h}\r\n")
    });
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: t\r\n{secret}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = raw(addr, req.as_bytes());
    let head_len = out.len() - body_of(&out).len();
    let head = String::from_utf8_lossy(&out[..head_len]).into_owned();
    let json = serde_json::from_slice(body_of(&out)).unwrap_or(Value::Null);
    (status_of(&out), head, json)
}

#[test]
fn documented_python_signer_is_accepted_once_and_only_for_what_it_signed() {
    if !python_available() {
        return;
    }
    // The Python function and ours agree on a fixed input, in both directions.
    let body = r#"{"username": "alice"}"#;
    let fixed = python_sign(
        "POST",
        "/connect",
        body,
        Some(1_700_000_000),
        Some("nonce-0123456789abcdef"),
    );
    let ours = StrictSigner::new(SECRET).sign(
        Signed {
            method: "POST",
            target: "/connect",
            body: body.as_bytes(),
        },
        1_700_000_000,
        "nonce-0123456789abcdef",
    );
    assert_eq!(fixed, ours);

    let running = start(strict_config());
    let addr = running.addr;
    let bad = json!({"request": "Bad Signature"});
    let conn_id = "00000000-0000-4000-8000-0000000000a1";
    let connect = json!({"username": "alice", "conn_id": conn_id, "channels": ["room"]});
    let connect = connect.to_string();
    let message = json!([{"channel": "room", "user": "alice", "message": {"text": "hi"}}]);
    let message = message.to_string();

    let header = python_sign("POST", "/connect", &connect, None, None);
    let (status, _, answer) = send(addr, "POST", "/connect", &connect, Some(&header));
    assert_eq!(status, 200, "signed /connect: {answer}");
    assert_eq!(answer["conn_id"], conn_id);

    let header = python_sign("POST", "/message", &message, None, None);
    let (status, _, answer) = send(addr, "POST", "/message", &message, Some(&header));
    assert_eq!(status, 200, "signed /message: {answer}");
    assert_eq!(answer[0]["message"], json!({"text": "hi"}));

    let (status, _, answer) = send(addr, "POST", "/message", &message, Some(&header));
    assert_eq!((status, answer), (401, bad.clone()), "replayed header");

    let now = unix_now();
    let other = r#"[{"channel": "room", "user": "mallory", "message": {}}]"#;
    let legacy = Signer::new(SECRET).sign("channelstream", now);
    let cases: &[(&str, &str, &str, String)] = &[
        (
            "signed for another body",
            "POST",
            "/message",
            python_sign("POST", "/message", other, None, None),
        ),
        (
            "signed for another path",
            "POST",
            "/message",
            python_sign("POST", "/user_state", &message, None, None),
        ),
        (
            "signed for another query",
            "POST",
            "/message",
            python_sign("POST", "/message?x=1", &message, None, None),
        ),
        (
            "signed for another method",
            "POST",
            "/message",
            python_sign("PATCH", "/message", &message, None, None),
        ),
        ("legacy itsdangerous token", "POST", "/message", legacy),
        (
            "stale timestamp",
            "POST",
            "/message",
            python_sign("POST", "/message", &message, Some(now - 120), None),
        ),
        (
            "far-future timestamp",
            "POST",
            "/message",
            python_sign("POST", "/message", &message, Some(now + 3600), None),
        ),
    ];
    // Each is sent as POST /message with `message`.
    for (name, method, target, header) in cases {
        let (status, _, answer) = send(addr, method, target, &message, Some(header));
        assert_eq!((status, answer), (401, bad.clone()), "{name}");
    }
    // The body that was signed "for another body" is still good for its own body.
    let header = python_sign("POST", "/message", other, None, None);
    let (status, _, answer) = send(addr, "POST", "/message", other, Some(&header));
    assert_eq!(status, 200, "{answer}");
    // A valid strict signature in the query is refused too.
    let header = python_sign("POST", "/message", &message, None, None);
    let target = format!("/message?secret={header}");
    let (status, _, answer) = send(addr, "POST", &target, &message, None);
    assert_eq!((status, answer), (401, bad), "?secret=");

    running.shutdown().expect("shutdown");
}

#[test]
fn a_full_nonce_book_answers_503_and_still_refuses_replays() {
    let mut config = strict_config();
    config.max_signature_nonces = 2;
    let running = start(config);
    let addr = running.addr;
    let signer = StrictSigner::new(SECRET);
    let sign = |nonce: &str| {
        let req = Signed {
            method: "POST",
            target: "/info",
            body: b"",
        };
        signer.sign(req, unix_now(), nonce)
    };
    let first = sign("first-nonce-0123456789");
    for header in [&first, &sign("second-nonce-012345678")] {
        let (status, _, answer) = send(addr, "POST", "/info", "", Some(header));
        assert_eq!(status, 200, "{answer}");
    }
    let (status, head, answer) = send(
        addr,
        "POST",
        "/info",
        "",
        Some(&sign("third-nonce-0123456789")),
    );
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer, json!({"request": "Too Many Signed Requests"}));
    assert!(head.contains("Retry-After: "), "{head}");
    // Full, but the live nonces were not forgotten to make room.
    let (status, _, answer) = send(addr, "POST", "/info", "", Some(&first));
    assert_eq!((status, answer), (401, json!({"request": "Bad Signature"})));
    // Requests without a signature do not touch the book.
    let (status, _, _) = send(addr, "POST", "/info", "", None);
    assert_eq!(status, 403);
    running.shutdown().expect("shutdown");
}
