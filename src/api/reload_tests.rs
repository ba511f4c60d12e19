//! A SIGHUP reload ([`Api::reloaded`]) takes new settings but keeps the state that
//! protects the server: the admin sign-in lockouts and the demo's rate counters.

use super::*;
use crate::http::Version;
use crate::web::demo::CONNECTS_PER_WINDOW;
use crate::web::session::FORM_COOKIE;
use std::net::Ipv4Addr;
use std::time::Duration;

const NOW: u64 = 1_700_000_000;
const GUESSER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));

fn config() -> Config {
    Config {
        secret: "secret".into(),
        admin_user: "admin".into(),
        admin_secret: "right password".into(),
        cookie_secret: "cookie secret".into(),
        demo: true,
        ..Config::default()
    }
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut all = vec![("host".to_string(), b"example.test".to_vec())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
    );
    Request {
        method: method.into(),
        target: target.into(),
        version: Version::Http11,
        headers: all,
        body: body.as_bytes().to_vec(),
        keep_alive: true,
    }
}

fn at(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Status of a sign-in from `peer` with `password`, on a fresh form of `api`.
fn sign_in(api: &Api, peer: IpAddr, password: &str, secs: u64) -> u16 {
    let form = match api.route_at(&request("GET", "/admin/sign_in", &[], ""), peer, at(secs)) {
        Routed::Respond(r) => r,
        other => panic!("sign-in form: {other:?}"),
    };
    let token = form
        .headers
        .iter()
        .find_map(|(n, v)| {
            let v = v.strip_prefix(&format!("{FORM_COOKIE}="))?;
            (n == "Set-Cookie").then(|| v.split(';').next().unwrap_or_default().to_string())
        })
        .expect("form cookie");
    let cookie = format!("{FORM_COOKIE}={token}");
    let post = request(
        "POST",
        "/admin/sign_in",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", &cookie),
        ],
        &format!("csrf_token={token}&username=admin&password={password}"),
    );
    match api.route_at(&post, peer, at(secs)) {
        Routed::Respond(r) | Routed::After(_, r) => r.status,
        Routed::Hub(cmd) => panic!("sign-in went to the hub: {cmd:?}"),
    }
}

#[test]
fn an_address_locked_out_of_the_admin_sign_in_stays_locked_out_after_a_reload() {
    let api = Api::new(&config());
    assert_eq!(sign_in(&api, GUESSER, "guess", NOW), 200, "wrong password");
    assert_eq!(sign_in(&api, GUESSER, "right+password", NOW), 429, "locked");
    let mut changed = config();
    changed.allow_cors = vec!["https://example.test".into()];
    let reloaded = api.reloaded(&changed);
    assert_eq!(
        sign_in(&reloaded, GUESSER, "right+password", NOW),
        429,
        "the reload did not lift the lock"
    );
    assert_eq!(sign_in(&reloaded, OTHER, "right+password", NOW), 302);
    assert_eq!(
        sign_in(&reloaded, GUESSER, "right+password", NOW + 2),
        302,
        "the lock ends when it would have without the reload"
    );
}

/// Routes `POST /demo/connect` from `peer`: 0 when it goes on to the hub, else the status.
fn demo_connect(api: &Api, peer: IpAddr) -> u16 {
    let req = request(
        "POST",
        "/demo/connect",
        &[("content-type", "application/json")],
        r#"{"username": "ann", "channels": ["demo:lobby"]}"#,
    );
    match api.route_at(&req, peer, at(NOW)) {
        Routed::Hub(_) => 0,
        Routed::Respond(r) | Routed::After(_, r) => r.status,
    }
}

#[test]
fn a_demo_caller_over_its_rate_stays_limited_after_a_reload_unless_the_demo_was_off() {
    let api = Api::new(&config());
    for i in 0..CONNECTS_PER_WINDOW {
        assert_eq!(demo_connect(&api, GUESSER), 0, "connect {i}");
    }
    assert_eq!(demo_connect(&api, GUESSER), 429);
    let reloaded = api.reloaded(&config());
    assert_eq!(demo_connect(&reloaded, GUESSER), 429, "still limited");
    assert_eq!(demo_connect(&reloaded, OTHER), 0, "others are not");

    let mut off = config();
    off.demo = false;
    let off = reloaded.reloaded(&off);
    assert_eq!(demo_connect(&off, GUESSER), 404, "demo switched off");
    let on = off.reloaded(&config());
    assert_eq!(
        demo_connect(&on, GUESSER),
        0,
        "switched on again: fresh counters"
    );
}
