#![no_main]
//! Invariant: any request, valid or not, signed or not, run through the API exactly as the
//! app runs it (`Api::route` on a worker, then `Command::run` against the hub) never panics,
//! always answers a status the API documents, and every `application/json` body is JSON.
//! State carries over between the requests of one input, so later requests see channels,
//! users and connections the earlier ones made.
//!
//! Input layout: requests separated by `\n--\n` (at most 8). Each request: byte 0 is flags
//! (bit 0: add a valid `X-Channelstream-Secret`; bit 1: the peer is not in
//! `allow_posting_from`), then `METHOD\nTARGET\n`, header lines `name: value\n`, an empty
//! line, and the body. Conn id `11111111-1111-4111-8111-111111111111` (user `alice`, channel
//! `pub` with presence and history) exists before the first request.

use channelstream::api::signature::Signer;
use channelstream::api::{Api, Outcome, Routed};
use channelstream::config::Config;
use channelstream::http::{Request, Response, Version};
use channelstream::hub::{Hub, Time};
use channelstream::server::ConnId;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const NOW_SECS: u64 = 1_764_000_000;
const SEED_CONN: &str = "11111111-1111-4111-8111-111111111111";

/// Splits one request out of its bytes; `None` if there is no method/target line.
fn parse(bytes: &[u8]) -> Option<(u8, Request)> {
    let (&flags, rest) = bytes.split_first()?;
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let method = String::from_utf8_lossy(lines.next()?).into_owned();
    let target = String::from_utf8_lossy(lines.next()?).into_owned();
    let headers = lines
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
            let value = l[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    Some((
        flags,
        Request {
            method,
            target,
            version: Version::Http11,
            headers,
            body: body.to_vec(),
            keep_alive: true,
        },
    ))
}

/// The response invariant: a documented status, and JSON where JSON is announced.
fn check(r: &Response, req: &Request) {
    assert!(
        matches!(r.status, 200 | 302 | 400 | 401 | 403 | 404 | 406 | 422),
        "status {} for {} {}",
        r.status,
        req.method,
        req.target
    );
    let ctype = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if ctype.starts_with("application/json") {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&r.body).is_ok(),
            "{} {}: body announced as JSON is not: {:?}",
            req.method,
            req.target,
            String::from_utf8_lossy(&r.body)
        );
    }
}

fn run(api: &Api, hub: &mut Hub, req: &Request, peer: IpAddr, conn: ConnId, now: Time) {
    let cmd = match api.route_ws(req) {
        Some(cmd) => Box::new(cmd),
        None => match api.route(req, peer, NOW_SECS) {
            Routed::Respond(r) | Routed::After(_, r) => return check(&r, req),
            Routed::Hub(cmd) => cmd,
        },
    };
    match cmd.run(hub, conn, now) {
        Outcome::Respond(r) => check(&r, req),
        Outcome::Upgrade(frames) => {
            for f in frames {
                assert!(serde_json::from_str::<serde_json::Value>(&f).is_ok());
            }
        }
        Outcome::UpgradeAndClose | Outcome::Waiting => {}
    }
    // Effects (frames, poll answers) must be producible without panicking.
    let _ = hub.take_effects();
}

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let api = Api::new(&config);
    let signer = Signer::new(&config.secret);
    let mut now = Time(NOW_SECS * 1_000_000);
    let mut hub = Hub::new(now, Duration::from_secs(5), 7);
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let seed = format!(
        r#"{{"username":"alice","conn_id":"{SEED_CONN}","channels":["pub"],
            "channel_configs":{{"pub":{{"notify_presence":true,"store_history":true}}}}}}"#
    );
    let seed_req = Request {
        method: "POST".into(),
        target: "/connect".into(),
        version: Version::Http11,
        headers: vec![(
            "x-channelstream-secret".into(),
            signer.sign("x", NOW_SECS).into_bytes(),
        )],
        body: seed.into_bytes(),
        keep_alive: true,
    };
    run(
        &api,
        &mut hub,
        &seed_req,
        local,
        ConnId {
            worker: 0,
            key: 0,
            gen: 0,
        },
        now,
    );

    let mut rest = data;
    for key in 1..=8u32 {
        let (piece, tail) = match rest.windows(4).position(|w| w == b"\n--\n") {
            Some(i) => (&rest[..i], Some(&rest[i + 4..])),
            None => (rest, None),
        };
        if let Some((flags, mut req)) = parse(piece) {
            if flags & 1 == 1 {
                let token = signer.sign("fuzz", NOW_SECS).into_bytes();
                req.headers.push(("x-channelstream-secret".into(), token));
            }
            let peer = if flags & 2 == 2 {
                IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7))
            } else {
                local
            };
            now = Time(now.0 + u64::from(flags >> 2) * 1_000_000);
            hub.tick(now);
            let _ = hub.take_effects();
            run(
                &api,
                &mut hub,
                &req,
                peer,
                ConnId {
                    worker: 0,
                    key,
                    gen: 0,
                },
                now,
            );
        }
        match tail {
            Some(t) => rest = t,
            None => break,
        }
    }
});
