//! The real binary's request and websocket log lines with `log_format = json`: one JSON
//! object per line, one line per API request (method, path without query string,
//! status, duration, client) and per websocket open and close (with the close code),
//! and never the API token, a `?secret=` value or a cookie.

mod server_common;

use serde_json::{json, Value};
use server_common::{body_of, raw, status_of, token, Binary};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

#[test]
fn json_lines_name_each_request_and_websocket_and_keep_secrets_out() {
    let mut server = Binary::start(
        "",
        &[
            "--log-format",
            "json",
            "--secret",
            "secret",
            "--log-level",
            "INFO",
        ],
    );
    let addr = server.addr;
    let secret = token();
    let cookie = "session=cookie-value-that-must-not-be-logged";
    let conn_id = "7d3c1f0e-2b7a-4e8e-9d1c-1a2b3c4d5e6f";
    let body = json!({"username": "bob", "conn_id": conn_id, "channels": ["c"]}).to_string();
    let req = format!(
        "POST /connect?secret={secret} HTTP/1.1\r\nHost: t\r\nX-Channelstream-Secret: {secret}\r\n\
         Cookie: {cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = raw(addr, req.as_bytes());
    assert_eq!(
        status_of(&out),
        200,
        "{}",
        String::from_utf8_lossy(body_of(&out))
    );
    let mut ws = server_common::open_ws(addr, conn_id);
    ws.close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "".into(),
    }))
    .expect("close");
    let _ = ws.flush();

    let end = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("websocket closed") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.terminate(), Some(0));
    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |msg: &str, path: Option<&str>| {
        lines
            .iter()
            .find(|l| l["msg"] == msg && path.is_none_or(|p| l["path"] == p))
            .unwrap_or_else(|| panic!("no {msg} {path:?} line in {log}"))
    };
    let connect = find("request", Some("/connect"));
    assert_eq!(connect["method"], "POST");
    assert_eq!(connect["status"], 200);
    assert_eq!(connect["client"], "127.0.0.1");
    assert_eq!(connect["level"], "INFO");
    assert!(connect["duration_ms"].as_f64().is_some_and(|d| d >= 0.0));
    assert_eq!(find("request", Some("/ws"))["status"], 101);
    assert_eq!(find("websocket open", None)["client"], "127.0.0.1");
    assert_eq!(find("websocket closed", None)["code"], 1001);
    assert!(!log.contains(&secret), "the token reached the log: {log}");
    assert!(
        !log.contains("cookie-value"),
        "the cookie reached the log: {log}"
    );
    assert!(
        !log.contains("secret="),
        "a query string reached the log: {log}"
    );
}
