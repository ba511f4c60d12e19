//! Bounds on the API secret over real HTTP: a signature stamped more than the clock-skew
//! allowance in the future is refused on every route whether or not `validate_requests`
//! is on, and the secret or a token passed as `?secret=` never reaches the server's log.

mod server_common;

use channelstream::api::signature::{Signer, MAX_CLOCK_SKEW};
use server_common::*;
use std::net::SocketAddr;

use std::time::{SystemTime, UNIX_EPOCH};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sends `method target` with `body` and `token` in `X-Channelstream-Secret`; returns the
/// status and the body text.
fn send(addr: SocketAddr, method: &str, target: &str, body: &str, token: &str) -> (u16, String) {
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: t\r\nX-Channelstream-Secret: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let out = raw(addr, req.as_bytes());
    (
        status_of(&out),
        String::from_utf8_lossy(body_of(&out)).into_owned(),
    )
}

#[test]
fn future_timestamps_get_401_on_every_route_with_and_without_validate_requests() {
    for validate_requests in [true, false] {
        let mut config = loopback_config();
        config.validate_requests = validate_requests;
        let running = start(config);
        let addr = running.addr;
        let signer = Signer::new("secret");
        // A few seconds of margin below the allowance for a slow machine.
        let near = signer.sign("channelstream", unix_now() + MAX_CLOCK_SKEW - 5);
        let far = signer.sign("channelstream", unix_now() + 3600);
        let farthest = signer.sign("channelstream", u64::MAX);
        let connect = r#"{"username": "u", "conn_id": "00000000-0000-4000-8000-000000000001"}"#;
        let routes: &[(&str, &str, &str)] = &[
            ("POST", "/connect", connect),
            ("POST", "/info", "{}"),
            ("GET", "/admin/admin.json", ""),
            (
                "GET",
                "/listen?conn_id=00000000-0000-4000-8000-000000000001",
                "",
            ),
            ("POST", "/disconnect", "{}"),
            ("GET", "/nowhere", ""),
        ];
        for (method, target, body) in routes {
            let case = format!("{method} {target} validate_requests={validate_requests}");
            for token in [&far, &farthest] {
                let (status, text) = send(addr, method, target, body, token);
                assert_eq!(status, 401, "{case}: {text}");
                let json: serde_json::Value = serde_json::from_str(&text).expect("json");
                assert_eq!(
                    json,
                    serde_json::json!({"request": "Bad Signature"}),
                    "{case}"
                );
            }
        }
        let (status, text) = send(addr, "POST", "/connect", connect, &near);
        assert_eq!(status, 200, "within the allowance: {text}");
        running.shutdown().expect("shutdown");
    }
}

/// A secret no log line could contain by chance.
const LOGGED_NEVER: &str = "Zq7-never-logged-secret-4711";

#[test]
fn secrets_in_query_strings_never_reach_the_binarys_stderr() {
    for strict in [false, true] {
        let mut args = vec!["--secret", LOGGED_NEVER, "--log-level", "DEBUG"];
        if strict {
            args.push("--strict-signatures");
        }
        let mut server = Binary::start("", &args);
        let addr = server.addr;
        let good = Signer::new(LOGGED_NEVER).sign("channelstream", unix_now());
        let wrong = Signer::new("not it").sign(LOGGED_NEVER, unix_now());
        let connect = r#"{"username": "u"}"#;
        let mut statuses = Vec::new();
        for secret in [good.as_str(), wrong.as_str(), LOGGED_NEVER] {
            for (method, path, body) in [
                ("POST", "/connect", connect),
                ("POST", "/info", ""),
                ("GET", "/listen", ""),
                ("GET", "/admin/admin.json", ""),
                ("GET", "/nowhere", ""),
            ] {
                let req = format!(
                    "{method} {path}?secret={secret} HTTP/1.1\r\nHost: t\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                statuses.push(status_of(&raw(addr, req.as_bytes())));
            }
            // Requests the engine refuses: a bad header line, an oversized head.
            let bad = format!("GET /connect?secret={secret} HTTP/1.1\r\nno colon\r\n\r\n");
            statuses.push(status_of(&raw(addr, bad.as_bytes())));
            let big = format!(
                "GET /connect?secret={secret}&pad={} HTTP/1.1\r\nHost: t\r\n\r\n",
                "p".repeat(20_000)
            );
            statuses.push(status_of(&raw(addr, big.as_bytes())));
        }
        // The requests were served (the good token worked without strict mode) ...
        assert_eq!(statuses[0], if strict { 401 } else { 200 }, "{statuses:?}");
        assert!(
            statuses.contains(&401) && statuses.contains(&431),
            "{statuses:?}"
        );
        assert_eq!(server.terminate(), Some(0));
        // ... and the log, which does say something, names none of the secrets.
        let log = server.log();
        assert!(log.contains("serving on"), "{log}");
        for secret in [LOGGED_NEVER, &good, &wrong] {
            assert!(!log.contains(secret), "strict={strict}: {secret} in {log}");
        }
    }
}
