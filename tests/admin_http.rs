//! The admin sign-in, sessions and CSRF tokens over the real server, in raw HTTP: what a
//! browser with the right password gets, and what forged, expired or foreign cookies,
//! missing tokens and password guessing get instead.

mod server_common;

use channelstream::config::Config;
use channelstream::web::session::{Keys, SESSION_LIFETIME};
use serde_json::Value;
use server_common::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PASSWORD: &str = "correct horse";
const COOKIE_SECRET: &str = "cookie secret for tests";

fn admin_config() -> Config {
    let mut c = loopback_config();
    c.admin_secret = PASSWORD.into();
    c.cookie_secret = COOKIE_SECRET.into();
    c
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Every value of header `name` in the first response of `bytes`.
fn headers(bytes: &[u8], name: &str) -> Vec<String> {
    let head = &bytes[..bytes.len() - body_of(bytes).len()];
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .collect()
}

fn header(bytes: &[u8], name: &str) -> Option<String> {
    headers(bytes, name).into_iter().next()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(body_of(bytes)).into_owned()
}

/// `name=value` from a `Set-Cookie` for `name` in the response.
fn cookie_from(bytes: &[u8], name: &str) -> Option<String> {
    headers(bytes, "set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or("").to_string())
}

fn get(path: &str, cookie: &str, extra: &str) -> Vec<u8> {
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{cookie}{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

fn post(path: &str, cookie: &str, extra: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nCookie: {cookie}\r\n{extra}Content-Type: {ctype}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The sign-in form's token and its cookie (`channelstream_form=...`).
fn form(addr: SocketAddr) -> (String, String) {
    let out = raw(addr, &get("/admin/sign_in", "", ""));
    assert_eq!(status_of(&out), 200);
    let cookie = cookie_from(&out, "channelstream_form").expect("form cookie");
    let page = text(&out);
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf_token field")
        .to_string();
    (token, cookie)
}

/// Posts the sign-in form with a fresh token; returns the raw answer.
fn sign_in_as(addr: SocketAddr, user: &str, password: &str) -> Vec<u8> {
    let (token, cookie) = form(addr);
    let body = format!("csrf_token={token}&username={user}&password={password}").replace(' ', "+");
    exchange_long(addr, &post("/admin/sign_in", &cookie, "", FORM, &body))
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Like `raw`, waiting up to 10 s (sign-in answers may be held back).
fn exchange_long(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    read_until_close(&mut s, Duration::from_secs(10))
}

/// Signs in with the right password; returns `channelstream_admin=...`.
fn session(addr: SocketAddr) -> String {
    let out = sign_in_as(addr, "admin", PASSWORD);
    assert_eq!(status_of(&out), 302, "{}", String::from_utf8_lossy(&out));
    cookie_from(&out, "channelstream_admin").expect("session cookie")
}

/// The CSRF token the panel page carries for `cookie`.
fn csrf_of(addr: SocketAddr, cookie: &str) -> String {
    let out = raw(addr, &get("/admin", cookie, ""));
    assert_eq!(status_of(&out), 200);
    text(&out)
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf meta")
        .to_string()
}

#[test]
fn the_right_password_gives_a_strict_http_only_session_that_opens_the_admin_pages() {
    let running = start(admin_config());
    let addr = running.addr;
    let out = raw(addr, &get("/admin", "", "Accept: text/html\r\n"));
    assert_eq!(status_of(&out), 302);
    assert_eq!(header(&out, "location").as_deref(), Some("/admin/sign_in"));

    let out = sign_in_as(addr, "admin", PASSWORD);
    assert_eq!(status_of(&out), 302);
    assert_eq!(header(&out, "location").as_deref(), Some("/admin"));
    let set = headers(&out, "set-cookie");
    let session = set
        .iter()
        .find(|c| c.starts_with("channelstream_admin="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    let cookie = cookie_from(&out, "channelstream_admin").unwrap_or_default();

    for path in ["/admin", "/api-explorer"] {
        let out = raw(addr, &get(path, &cookie, ""));
        assert_eq!(status_of(&out), 200, "{path}");
        let csp = header(&out, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(text(&out).contains("name=\"csrf-token\""), "{path}");
    }
    let out = raw(addr, &get("/admin/admin.json", &cookie, ""));
    assert_eq!(status_of(&out), 200);
    let v: Value = serde_json::from_slice(body_of(&out)).expect("admin.json");
    assert_eq!(v["version"], "0.7.1");
    let out = raw(addr, &get("/openapi.json", &cookie, ""));
    assert_eq!(status_of(&out), 200);
    let v: Value = serde_json::from_slice(body_of(&out)).expect("openapi.json");
    assert!(v["openapi"].as_str().unwrap_or("").starts_with("3."));
}

#[test]
fn forged_expired_and_foreign_cookies_open_nothing() {
    let running = start(admin_config());
    let addr = running.addr;
    let now = unix_now();
    let ours = Keys::new(COOKIE_SECRET);
    let good = ours.issue_session("admin", now, 1);
    let expired = ours.issue_session("admin", now - SESSION_LIFETIME - 5, 2);
    let foreign = Keys::new("some other secret").issue_session("admin", now, 3);
    let longer = good.replacen(
        &(now + SESSION_LIFETIME).to_string(),
        &(now + 100 * SESSION_LIFETIME).to_string(),
        1,
    );
    let cases = [
        ("expired", expired),
        ("other secret", foreign),
        ("expiry altered", longer),
        ("junk", "v1.YWRtaW4.99999999999.1.AAAA".to_string()),
        ("empty", String::new()),
    ];
    for (name, value) in &cases {
        let cookie = format!("channelstream_admin={value}");
        // The CSRF header is the right one for the value sent: only the cookie is wrong.
        let csrf = format!("X-CSRF-Token: {}\r\n", ours.csrf_token(value));
        for path in ["/admin", "/api-explorer", "/admin/admin.json"] {
            let out = raw(addr, &get(path, &cookie, &csrf));
            assert_eq!(status_of(&out), 302, "{name}: {path}");
            assert_eq!(header(&out, "location").as_deref(), Some("/admin/sign_in"));
            assert!(!text(&out).contains("csrf-token"), "{name}: {path}");
        }
        let out = raw(
            addr,
            &get("/openapi.json", &cookie, "Accept: application/json\r\n"),
        );
        assert_eq!(status_of(&out), 403, "{name}: openapi");
        assert!(!text(&out).contains("openapi"), "{name}");
        let out = raw(
            addr,
            &post(
                "/connect",
                &cookie,
                &csrf,
                "application/json",
                r#"{"username":"u"}"#,
            ),
        );
        assert_eq!(status_of(&out), 403, "{name}: connect");
    }
    // The same requests with the genuine cookie work, so the refusals above are the
    // cookie's doing.
    let cookie = format!("channelstream_admin={good}");
    assert_eq!(status_of(&raw(addr, &get("/admin", &cookie, ""))), 200);
}

#[test]
fn the_api_takes_a_session_only_with_its_csrf_token() {
    let running = start(admin_config());
    let addr = running.addr;
    let cookie = session(addr);
    let csrf = csrf_of(addr, &cookie);
    let other_csrf = csrf_of(addr, &session(addr));
    assert_ne!(csrf, other_csrf);
    let body = r#"{"username":"via-session","channels":["c"]}"#;
    let json = "application/json";
    for (name, extra) in [
        ("no token", String::new()),
        ("empty token", "X-CSRF-Token: \r\n".to_string()),
        (
            "another session's token",
            format!("X-CSRF-Token: {other_csrf}\r\n"),
        ),
        ("junk", "X-CSRF-Token: abc\r\n".to_string()),
    ] {
        let out = raw(addr, &post("/connect", &cookie, &extra, json, body));
        assert_eq!(status_of(&out), 403, "{name}");
        let v: Value = serde_json::from_slice(body_of(&out)).unwrap_or(Value::Null);
        assert_eq!(v["request"], "Bad CSRF token", "{name}");
        let out = raw(addr, &post("/admin/admin.json", &cookie, &extra, json, ""));
        assert_eq!(status_of(&out), 403, "{name}: POST admin.json");
    }
    let extra = format!("X-CSRF-Token: {csrf}\r\n");
    let out = raw(addr, &post("/connect", &cookie, &extra, json, body));
    assert_eq!(status_of(&out), 200, "{}", text(&out));
    let v: Value = serde_json::from_slice(body_of(&out)).expect("json");
    assert_eq!(v["username"], "via-session");
    let out = raw(addr, &post("/admin/admin.json", &cookie, &extra, json, ""));
    assert_eq!(status_of(&out), 200);
}

#[test]
fn the_sign_in_form_needs_its_own_token_in_field_and_cookie() {
    let running = start(admin_config());
    let addr = running.addr;
    let (token, cookie) = form(addr);
    let (other_token, other_cookie) = form(addr);
    let foreign = Keys::new("other").issue_form_token(unix_now(), 1);
    let creds = format!("username=admin&password={}", PASSWORD.replace(' ', "+"));
    let cases = [
        ("no token", cookie.clone(), creds.clone()),
        (
            "no cookie",
            String::new(),
            format!("csrf_token={token}&{creds}"),
        ),
        (
            "cookie of another form",
            other_cookie.clone(),
            format!("csrf_token={token}&{creds}"),
        ),
        (
            "foreign token in both",
            format!("channelstream_form={foreign}"),
            format!("csrf_token={foreign}&{creds}"),
        ),
    ];
    for (name, cookie, body) in cases {
        let out = raw(addr, &post("/admin/sign_in", &cookie, "", FORM, &body));
        assert_eq!(status_of(&out), 403, "{name}");
        assert!(cookie_from(&out, "channelstream_admin").is_none(), "{name}");
        assert!(text(&out).contains("expired"), "{name}");
    }
    let body = format!("csrf_token={other_token}&{creds}");
    let out = raw(
        addr,
        &post("/admin/sign_in", &other_cookie, "", FORM, &body),
    );
    assert_eq!(status_of(&out), 302);
}

#[test]
fn a_wrong_password_is_answered_late_without_blocking_and_locks_the_address() {
    let mut config = admin_config();
    config.workers = 1;
    let running = start(config);
    let addr = running.addr;
    // The wrong password is on the wire before anything else happens; only its answer
    // is awaited in another thread.
    let (token, cookie) = form(addr);
    let body = format!("csrf_token={token}&username=admin&password=wrong");
    let mut socket = std::net::TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    std::io::Write::write_all(
        &mut socket,
        &post("/admin/sign_in", &cookie, "", FORM, &body),
    )
    .expect("write");
    let started = Instant::now();
    let guess = std::thread::spawn(move || {
        let out = read_until_close(&mut socket, Duration::from_secs(10));
        (out, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    // The only worker answers others while the wrong password's answer is held.
    let out = raw(addr, &get("/admin/sign_in", "", ""));
    assert_eq!(status_of(&out), 200);
    assert!(
        !guess.is_finished(),
        "the wrong password was answered at once"
    );
    // During the lock even the right password is refused unread.
    let out = sign_in_as(addr, "admin", PASSWORD);
    assert_eq!(status_of(&out), 429, "{}", text(&out));
    assert!(cookie_from(&out, "channelstream_admin").is_none());
    let (out, took) = guess.join().expect("guess thread");
    assert_eq!(status_of(&out), 200);
    assert!(text(&out).contains("Wrong user name or password"));
    assert!(cookie_from(&out, "channelstream_admin").is_none());
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
    // Once the lock is over, the right password works.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(status_of(&sign_in_as(addr, "admin", PASSWORD)), 302);
}

#[test]
fn with_the_default_admin_secret_sign_in_is_refused_and_the_form_names_the_key() {
    let mut config = loopback_config();
    config.admin_secret = "admin_secret".into();
    let running = start(config);
    let out = raw(running.addr, &get("/admin/sign_in", "", ""));
    assert_eq!(status_of(&out), 200);
    let page = text(&out);
    assert!(
        page.contains("admin_secret") && page.contains("disabled"),
        "{page}"
    );
    let out = sign_in_as(running.addr, "admin", "admin_secret");
    assert_eq!(status_of(&out), 403);
    assert!(cookie_from(&out, "channelstream_admin").is_none());
}

#[test]
fn cookies_are_secure_when_the_scheme_is_https_and_sign_out_deletes_the_session() {
    let mut config = admin_config();
    config.http_scheme = "https".into();
    let running = start(config);
    let addr = running.addr;
    let out = sign_in_as(addr, "admin", PASSWORD);
    let set = headers(&out, "set-cookie");
    assert!(set.iter().all(|c| c.contains("; Secure")), "{set:?}");
    let cookie = cookie_from(&out, "channelstream_admin").unwrap_or_default();
    let out = raw(addr, &get("/admin/sign_out", &cookie, ""));
    assert_eq!(status_of(&out), 302);
    assert_eq!(header(&out, "location").as_deref(), Some("/admin/sign_in"));
    let cleared = cookie_from(&out, "channelstream_admin");
    assert_eq!(cleared.as_deref(), Some("channelstream_admin="));
    let set = headers(&out, "set-cookie");
    assert!(set.iter().any(|c| c.contains("Max-Age=0")), "{set:?}");
}

#[test]
fn admin_pages_escape_and_serve_nothing_without_a_session() {
    let running = start(admin_config());
    let addr = running.addr;
    // The sign-in form is the only admin page served to anyone; it echoes nothing from
    // the request.
    let out = raw(
        addr,
        &get(
            "/admin/sign_in?notice=%3Cscript%3E",
            "",
            "Accept: text/html\r\n",
        ),
    );
    assert_eq!(status_of(&out), 200);
    assert!(!text(&out).contains("<script"), "{}", text(&out));
    for path in [
        "/admin/",
        "/admin/debug",
        "/admin/admin.json/x",
        "/api-explorer/x",
    ] {
        assert_eq!(status_of(&raw(addr, &get(path, "", ""))), 404, "{path}");
    }
}

#[test]
fn behind_a_prefix_sign_in_leads_to_the_prefixed_panel_and_never_off_site() {
    let running = start(admin_config());
    let addr = running.addr;
    let creds = format!("username=admin&password={}", PASSWORD.replace(' ', "+"));
    for (prefix, want) in [("/cs", "/cs/admin"), ("//evil.example", "/admin")] {
        let (token, cookie) = form(addr);
        let body = format!("csrf_token={token}&{creds}");
        let extra = format!("X-Script-Name: {prefix}\r\n");
        let out = raw(
            addr,
            &post(
                &format!("{prefix}/admin/sign_in"),
                &cookie,
                &extra,
                FORM,
                &body,
            ),
        );
        assert_eq!(status_of(&out), 302, "{prefix}");
        assert_eq!(header(&out, "location").as_deref(), Some(want), "{prefix}");
    }
}
