#![no_main]
//! Invariant: any request, valid or not, signed or not, run through the API exactly as the
//! app runs it (`Api::route` on a worker, then `Command::run` against the hub) never panics,
//! always answers a status the API documents, and every `application/json` body is JSON.
//! Every body also goes through the JSON pre-scan (`api::json_limits`) on its own: the same
//! answer in one piece as split, and for a body serde_json parses, the parsed tree's shape.
//! The per-request counts are small (4 channels, 3 messages) so 413 is within reach.
//! State carries over between the requests of one input, so later requests see channels,
//! users and connections the earlier ones made.
//!
//! Input layout: requests separated by `\n--\n` (at most 8). Each request: byte 0 is flags
//! (bit 0: add a valid `X-Channelstream-Secret`; bit 1: the peer is not in
//! `allow_posting_from`), then `METHOD\nTARGET\n`, header lines `name: value\n`, an empty
//! line, and the body. Conn id `11111111-1111-4111-8111-111111111111` (user `alice`, channel
//! `pub` with presence and history) exists before the first request.

use channelstream::api::json_limits::{self, Shape, ARRAY_DEPTH, OBJECT_DEPTH};
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
        matches!(
            r.status,
            200 | 302 | 400 | 401 | 403 | 404 | 406 | 413 | 422
        ),
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

/// The shape the pre-scan must find in a parsed tree (the same depth rules).
fn tree_shape(v: &serde_json::Value, depth: usize, s: &mut Shape) {
    match v {
        serde_json::Value::Array(items) => {
            if depth <= ARRAY_DEPTH {
                s.longest_array = s.longest_array.max(items.len());
            }
            items.iter().for_each(|i| tree_shape(i, depth + 1, s));
        }
        serde_json::Value::Object(map) => {
            if depth <= OBJECT_DEPTH {
                s.largest_object = s.largest_object.max(map.len());
            }
            map.values().for_each(|i| tree_shape(i, depth + 1, s));
        }
        _ => {}
    }
}

/// The pre-scan's invariants on one body.
fn check_scan(body: &[u8]) {
    let whole = json_limits::scan(body, usize::MAX).expect("nothing passes usize::MAX");
    for split in [
        1,
        body.len() / 3,
        body.len() / 2,
        body.len().saturating_sub(1),
    ] {
        let split = split.min(body.len());
        let mut s = json_limits::Scanner::new(usize::MAX);
        let fed = s.feed(&body[..split]).and_then(|()| s.feed(&body[split..]));
        assert_eq!(fed.map(|()| s.shape()), Ok(whole), "split at {split}");
    }
    for limit in [0, 1, 3] {
        let over = whole.longest_array > limit || whole.largest_object > limit;
        assert_eq!(
            json_limits::scan(body, limit).is_err(),
            over,
            "limit {limit}"
        );
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let mut tree = Shape::default();
        tree_shape(&v, 1, &mut tree);
        assert_eq!(whole.longest_array, tree.longest_array, "{v}");
        // duplicate keys: the scan counts each, the tree keeps the last
        assert!(whole.largest_object >= tree.largest_object, "{v}");
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
    let mut config = Config::default();
    config.max_channels_per_request = 4;
    config.max_messages_per_request = 3;
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
            check_scan(&req.body);
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
