//! What a browser could be tricked into by a hostile link or header, over the real
//! server: the JSONP callback (reflected XSS), content types and `nosniff` on every kind of
//! answer, escaped error pages, and the admin redirect that must not follow `Host`.

mod server_common;

use serde_json::Value;
use server_common::*;

/// The value of header `name` in the first response of `bytes`.
fn header(bytes: &[u8], name: &str) -> Option<String> {
    let head = &bytes[..bytes.len() - body_of(bytes).len()];
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n").into_bytes()
}

#[test]
fn a_script_as_jsonp_callback_is_refused_with_400_json_and_never_echoed() {
    let running = start(loopback_config());
    let addr = running.addr;
    let conn = connect(addr, "u", "00000000-0000-4000-8000-00000000c0de", &["room"]);
    let id = conn["conn_id"].as_str().unwrap_or_default().to_string();
    for cb in [
        "%3Cscript%3Ealert(document.domain)%3C%2Fscript%3E",
        "alert(1)%3Bcb",
        "cb%0A%3Cimg",
        &"a".repeat(129),
    ] {
        let out = raw(
            addr,
            &get(&format!("/listen?conn_id={id}&callback={cb}"), ""),
        );
        assert_eq!(status_of(&out), 400, "{cb}");
        assert_eq!(
            header(&out, "content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            header(&out, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let body: Value = serde_json::from_slice(body_of(&out)).expect("JSON error body");
        assert!(body["callback"].is_array(), "{body}");
        let text = String::from_utf8_lossy(&out).to_lowercase();
        assert!(
            !text.contains("<script") && !text.contains("alert"),
            "{text}"
        );
    }
}

#[test]
fn long_poll_answers_are_json_or_javascript_with_nosniff() {
    let running = start(loopback_config());
    let addr = running.addr;
    let conn = connect(addr, "u", "00000000-0000-4000-8000-00000000c0df", &["room"]);
    let id = conn["conn_id"].as_str().unwrap_or_default().to_string();
    for (query, ctype, prefix) in [
        ("", "application/json", "["),
        (
            "&callback=jQuery.cb_1",
            "application/javascript; charset=UTF-8",
            "jQuery.cb_1([",
        ),
    ] {
        let target = format!("/listen?conn_id={id}{query}");
        let poll = std::thread::spawn(move || raw(addr, &get(&target, "")));
        std::thread::sleep(std::time::Duration::from_millis(200));
        publish(addr, "room", "hello");
        let out = poll.join().expect("poll thread");
        assert_eq!(status_of(&out), 200, "{}", String::from_utf8_lossy(&out));
        assert_eq!(header(&out, "content-type").as_deref(), Some(ctype));
        assert_eq!(
            header(&out, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert!(body_of(&out).starts_with(prefix.as_bytes()));
    }
}

#[test]
fn every_kind_of_answer_says_nosniff_and_pages_escape_the_path() {
    let running = start(loopback_config());
    let addr = running.addr;
    let hostile = "/<script>alert(1)</script>";
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("404 html page", get(hostile, "Accept: text/html\r\n"), 404),
        (
            "404 json page",
            get(hostile, "Accept: application/json\r\n"),
            404,
        ),
        ("404 plain page", get(hostile, ""), 404),
        ("403 unsigned", get("/info", "Accept: text/html\r\n"), 403),
        ("200 signed", signed("POST", "/info", b"null"), 200),
        ("422 invalid", signed("POST", "/connect", b"{}"), 422),
        ("400 engine refusal", b"garbage\r\n\r\n".to_vec(), 400),
        ("ws handshake refusal", get("/ws?conn_id=x", ""), 400),
    ];
    for (name, request, status) in cases {
        let out = raw(addr, &request);
        assert_eq!(
            status_of(&out),
            status,
            "{name}: {}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(
            header(&out, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{name}"
        );
        // JSON and plain text may carry the path as data; HTML must escape it.
        let text = String::from_utf8_lossy(&out);
        if header(&out, "content-type").is_some_and(|c| c.contains("html")) {
            assert!(!text.contains("<script>"), "{name}: {text}");
            assert!(
                status != 404 || text.contains("&lt;script&gt;"),
                "{name}: {text}"
            );
        }
    }
}

#[test]
fn admin_redirect_ignores_a_forged_host_header() {
    let running = start(loopback_config());
    let addr = running.addr;
    for host in ["evil.example", "evil.example:80", "127.0.0.1"] {
        let req = format!(
            "GET /admin/admin.json HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
        );
        let out = raw(addr, req.as_bytes());
        assert_eq!(status_of(&out), 302, "{}", String::from_utf8_lossy(&out));
        assert_eq!(header(&out, "location").as_deref(), Some("/admin/sign_in"));
        assert!(!String::from_utf8_lossy(&out).contains("evil"));
    }
}
