//! The REST layer end to end without sockets: route on the "worker", run on the "hub".
//! Expected bodies were recorded from channelstream 0.7.1 (marshmallow 2.18).

use super::*;
use crate::http::Version;
use crate::hub::Hub;
use serde_json::json;
use std::net::Ipv4Addr;
use std::time::Duration;

const NOW: u64 = 1_700_000_000;
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn api() -> Api {
    let config = Config {
        secret: "secret".into(),
        allow_posting_from: vec!["127.0.0.1".into()],
        ..Config::default()
    };
    Api::new(&config)
}

fn request(method: &str, target: &str, body: &[u8], secret: Option<&str>) -> Request {
    let mut headers = vec![("host".to_string(), b"example.test".to_vec())];
    if let Some(s) = secret {
        headers.push(("x-channelstream-secret".into(), s.as_bytes().to_vec()));
    }
    Request {
        method: method.into(),
        target: target.into(),
        version: Version::Http11,
        headers,
        body: body.to_vec(),
        keep_alive: true,
    }
}

fn token() -> String {
    Signer::new("secret").sign("x", NOW)
}

fn hub() -> Hub {
    Hub::new(Time(NOW * 1_000_000), Duration::from_secs(5), 1)
}

/// Routes and runs one signed JSON request; returns status and parsed body.
fn call(api: &Api, hub: &mut Hub, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let req = request(method, path, &body, Some(&token()));
    let resp = match api.route(&req, LOCAL, NOW) {
        Routed::Respond(r) | Routed::After(_, r) => r,
        Routed::Hub(cmd) => match cmd.run(
            hub,
            ConnId {
                worker: 0,
                key: 1,
                gen: 0,
            },
            Time(NOW * 1_000_000),
        ) {
            Outcome::Respond(r) => r,
            other => panic!("unexpected {other:?}"),
        },
    };
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

#[test]
fn invalid_bodies_get_the_references_422_errors() {
    let cases: &[(&str, &str, Value, Value)] = &[
        (
            "/connect",
            "POST",
            json!({}),
            json!({"username": ["Missing data for required field."]}),
        ),
        (
            "/connect",
            "POST",
            json!([]),
            json!({"_schema": ["Invalid input type."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": ""}),
            json!({"username": ["Length must be between 1 and 512."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": 5}),
            json!({"username": ["Not a valid string."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": null}),
            json!({"username": ["Field may not be null."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "conn_id": "x"}),
            json!({"conn_id": ["Not a valid UUID."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "conn_id": null}),
            json!({"conn_id": ["Field may not be null."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "channels": "abc"}),
            json!({"channels": ["Not a valid list."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "channels": ["", "b", 5, null]}),
            json!({"channels": {"0": ["Length must be between 1 and 256."], "2": ["Not a valid string."], "3": ["Field may not be null."]}}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "user_state": {"a": [1], "b": {"c": 1}, "d": null, "e": 1.5}}),
            json!({"user_state": {"a": {"value": ["Value is not type of string, integer, boolean or float."]},
                                  "b": {"value": ["Value is not type of string, integer, boolean or float."]}}}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "user_state": [1]}),
            json!({"user_state": ["Not a valid mapping type."]}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "channel_configs": {"a": {"history_size": -1, "notify_presence": "x", "store_history": "yes"}}}),
            json!({"channel_configs": {"a": {"value": {"notify_presence": ["Not a valid boolean."],
                "store_history": ["Not a valid boolean."], "history_size": ["Must be at least 0."]}}}}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "channel_configs": {"a": 5}}),
            json!({"channel_configs": {"a": {"value": {"_schema": ["Invalid input type."]}}}}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "channel_configs": {"a": null}}),
            json!({"channel_configs": {"a": {"value": ["Field may not be null."]}}}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "info": 5}),
            json!({"info": {"_schema": ["Invalid input type."]}}),
        ),
        (
            "/connect",
            "POST",
            json!({"username": "u", "info": {"channels": [""], "include_history": "x"}}),
            json!({"info": {"include_history": ["Not a valid boolean."], "channels": {"0": ["Length must be between 1 and 256."]}}}),
        ),
        (
            "/subscribe",
            "POST",
            json!({"conn_id": "12345678-1234-1234-1234-000000000000", "channels": []}),
            json!({"conn_id": ["Unknown connection"], "channels": ["Shorter than minimum length 1."]}),
        ),
        (
            "/subscribe",
            "POST",
            json!({"conn_id": "zz", "channels": ["a"]}),
            json!({"conn_id": ["Not a valid UUID."]}),
        ),
        (
            "/unsubscribe",
            "POST",
            json!({"conn_id": "12345678-1234-1234-1234-000000000000"}),
            json!({"conn_id": ["Unknown connection"], "channels": ["Missing data for required field."]}),
        ),
        (
            "/user_state",
            "POST",
            json!({}),
            json!({"user": ["Missing data for required field."]}),
        ),
        (
            "/user_state",
            "POST",
            json!({"user": ""}),
            json!({"user": ["Length must be between 1 and 512.", "Unknown user"]}),
        ),
        (
            "/user_state",
            "POST",
            json!({"user": "nobody"}),
            json!({"user": ["Unknown user"]}),
        ),
        (
            "/message",
            "POST",
            json!({}),
            json!({"_schema": ["Invalid input type."]}),
        ),
        (
            "/message",
            "POST",
            json!([{}]),
            json!({"0": {"user": ["Missing data for required field."]}}),
        ),
        (
            "/message",
            "POST",
            json!([5]),
            json!({"0": {}, "_schema": ["Invalid input type."]}),
        ),
        (
            "/message",
            "POST",
            json!([{"user": "u", "channel": "", "uuid": "x", "timestamp": "bad", "message": 5, "pm_users": "x", "no_history": "x"}]),
            json!({"0": {"pm_users": ["Not a valid list."], "channel": ["Length must be between 1 and 256."],
                "no_history": ["Not a valid boolean."], "uuid": ["Not a valid UUID."],
                "timestamp": ["Not a valid datetime."], "message": ["Not a valid mapping type."]}}),
        ),
        (
            "/message",
            "POST",
            json!([{"user": "u", "message": null}]),
            json!({"0": {"message": ["Field may not be null."]}}),
        ),
        (
            "/message",
            "POST",
            json!([{"user": "u", "timestamp": 1234}]),
            json!({"0": {"timestamp": ["Not a valid datetime."]}}),
        ),
        (
            "/message",
            "PATCH",
            json!([{}]),
            json!({"0": {"uuid": ["Missing data for required field."]}}),
        ),
        (
            "/message",
            "DELETE",
            json!([{"uuid": "x"}]),
            json!({"0": {"uuid": ["Not a valid UUID."]}}),
        ),
        (
            "/channel_config",
            "POST",
            json!({"a": {"history_size": -1}}),
            json!({"history_size": ["Must be at least 0."]}),
        ),
        (
            "/channel_config",
            "POST",
            json!({"c": 5}),
            json!({"_schema": ["Invalid input type."]}),
        ),
        (
            "/info",
            "POST",
            json!({}),
            json!({"info": ["Missing data for required field."]}),
        ),
        (
            "/info",
            "POST",
            json!([]),
            json!({"_schema": ["Invalid type."]}),
        ),
        (
            "/disconnect",
            "POST",
            json!({}),
            json!({"conn_id": ["Field may not be null."]}),
        ),
        (
            "/disconnect",
            "POST",
            json!({"conn_id": "x"}),
            json!({"conn_id": ["Not a valid UUID."]}),
        ),
    ];
    let api = api();
    for (path, method, body, want) in cases {
        let mut h = hub();
        h.connect(
            &crate::hub::ConnectParams {
                username: "u".into(),
                ..Default::default()
            },
            Time(0),
        );
        let (status, got) = call(&api, &mut h, method, path, body);
        assert_eq!((status, &got), (422, want), "{method} {path} {body}");
    }
}

#[test]
fn lenient_values_are_coerced_like_marshmallow() {
    let api = api();
    let mut h = hub();
    let body = json!({"username": "u", "channels": ["a"],
        "channel_configs": {"a": {"history_size": "5", "notify_presence": 1, "store_frames": "false"}}});
    let (status, got) = call(&api, &mut h, "POST", "/connect", &body);
    assert_eq!(status, 200);
    let settings = &got["channels_info"]["channels"]["a"]["settings"];
    assert_eq!(settings["history_size"], 5);
    assert_eq!(settings["notify_presence"], true);
    assert_eq!(settings["store_frames"], false);
}

#[test]
fn connect_answers_with_the_references_shape() {
    let api = api();
    let mut h = hub();
    let body = json!({"username": "u", "channels": ["b", "a"], "conn_id": "12345678-1234-1234-1234-123456789012",
        "user_state": {"x": 1, "y": 2}, "state_public_keys": ["x"],
        "channel_configs": {"a": {"notify_presence": true, "store_history": true}}});
    let (status, got) = call(&api, &mut h, "POST", "/connect", &body);
    assert_eq!(status, 200);
    assert_eq!(got["conn_id"], "12345678-1234-1234-1234-123456789012");
    assert_eq!(got["state"], json!({"x": 1, "y": 2}));
    assert_eq!(got["public_state"], json!({"x": 1}));
    assert_eq!(got["username"], "u");
    assert_eq!(got["channels"], json!(["a", "b"]));
    let a = &got["channels_info"]["channels"]["a"];
    for key in [
        "uuid",
        "name",
        "long_name",
        "settings",
        "history",
        "last_active",
        "total_connections",
        "total_users",
        "users",
    ] {
        assert!(a.get(key).is_some(), "channel info lacks {key}");
    }
    assert_eq!(
        (a["total_connections"].clone(), a["users"].clone()),
        (json!(1), json!(["u"]))
    );
    assert_eq!(
        got["channels_info"]["users"],
        json!([{"user": "u", "state": {"x": 1, "y": 2}}])
    );
}

#[test]
fn subscribe_message_and_info_round_trip() {
    let api = api();
    let mut h = hub();
    let (_, c) = call(&api, &mut h, "POST", "/connect", &json!({"username": "u"}));
    let conn = c["conn_id"].clone();
    let (status, s) = call(
        &api,
        &mut h,
        "POST",
        "/subscribe",
        &json!({"conn_id": conn, "channels": ["z", "a"], "channel_configs": {"a": {"store_history": true}}}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (s["channels"].clone(), s["subscribed_to"].clone()),
        (json!(["a", "z"]), json!(["a", "z"]))
    );
    let (status, m) = call(
        &api,
        &mut h,
        "POST",
        "/message",
        &json!([{"user": "u", "channel": "a", "message": {"t": 1}, "extra": 5}, {"user": "u"}]),
    );
    assert_eq!(status, 200);
    let list = m.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "a message with no destination is dropped");
    assert_eq!(list[0]["edited"], Value::Null);
    assert!(
        list[0].get("extra").is_none(),
        "unknown keys are dropped, as marshmallow 2 does"
    );
    let (_, info) = call(
        &api,
        &mut h,
        "POST",
        "/info",
        &json!({"info": {"channels": ["a"]}}),
    );
    assert_eq!(
        info["channels"]["a"]["history"][0]["message"],
        json!({"t": 1})
    );
    let (_, u) = call(
        &api,
        &mut h,
        "POST",
        "/unsubscribe",
        &json!({"conn_id": conn, "channels": ["z", "q"]}),
    );
    assert_eq!(
        (u["channels"].clone(), u["unsubscribed_from"].clone()),
        (json!(["a"]), json!(["z"]))
    );
    let (_, d) = call(
        &api,
        &mut h,
        "POST",
        "/disconnect",
        &json!({"conn_id": conn}),
    );
    assert_eq!(d, json!(true));
}

#[test]
fn signature_and_address_checks_give_the_references_statuses() {
    let api = api();
    let body = br#"{"username": "u"}"#;
    let status = |req: &Request, peer: IpAddr| match api.route(req, peer, NOW) {
        Routed::Respond(r) | Routed::After(_, r) => {
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        }
        Routed::Hub(_) => (200, String::new()),
    };
    let expired = Signer::new("secret").sign("x", NOW - 61);
    let skewed = Signer::new("secret").sign("x", NOW + signature::MAX_CLOCK_SKEW);
    let future = Signer::new("secret").sign("x", NOW + signature::MAX_CLOCK_SKEW + 1);
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let cases: &[(&str, Request, IpAddr, u16)] = &[
        (
            "valid",
            request("POST", "/connect", body, Some(&token())),
            LOCAL,
            200,
        ),
        (
            "empty secret",
            request("POST", "/connect", body, Some("")),
            LOCAL,
            403,
        ),
        (
            "bad secret",
            request("POST", "/connect", body, Some("a.b.c")),
            LOCAL,
            401,
        ),
        (
            "expired",
            request("POST", "/connect", body, Some(&expired)),
            LOCAL,
            401,
        ),
        (
            "ahead by the clock skew allowance",
            request("POST", "/connect", body, Some(&skewed)),
            LOCAL,
            200,
        ),
        (
            "from the future",
            request("POST", "/connect", body, Some(&future)),
            LOCAL,
            401,
        ),
        (
            "from the future on a public route",
            request("GET", "/listen?conn_id=x", b"", Some(&future)),
            LOCAL,
            401,
        ),
        (
            "bad secret from a foreign address",
            request("POST", "/connect", body, Some("a.b.c")),
            other,
            403,
        ),
        (
            "bad secret on a public route",
            request("POST", "/disconnect", b"{}", Some("a.b.c")),
            LOCAL,
            401,
        ),
        (
            "wrong method",
            request("GET", "/connect", b"", Some(&token())),
            LOCAL,
            404,
        ),
        (
            "unknown path",
            request("GET", "/nope", b"", Some(&token())),
            LOCAL,
            404,
        ),
        (
            "admin without secret",
            request("GET", "/admin/admin.json", b"", Some("")),
            LOCAL,
            302,
        ),
        (
            "admin with secret",
            request("GET", "/admin/admin.json", b"", Some(&token())),
            LOCAL,
            200,
        ),
        (
            "v4-mapped v6 peer",
            request("POST", "/connect", body, Some(&token())),
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            200,
        ),
        (
            "options anywhere",
            request("OPTIONS", "/whatever", b"", None),
            LOCAL,
            200,
        ),
    ];
    for (name, req, peer, want) in cases {
        let (got, body) = status(req, *peer);
        assert_eq!(got, *want, "{name}: {body}");
        if *want == 401 {
            assert_eq!(body, "{\n    \"request\": \"Bad Signature\"\n}", "{name}");
        }
    }
}

#[test]
fn future_signatures_are_refused_even_with_validate_requests_off() {
    let api = Api::new(&Config {
        secret: "secret".into(),
        allow_posting_from: vec!["127.0.0.1".into()],
        validate_requests: false,
        ..Config::default()
    });
    let body = br#"{"username": "u"}"#;
    let status = |stamp: u64| {
        let token = Signer::new("secret").sign("x", stamp);
        match api.route(&request("POST", "/connect", body, Some(&token)), LOCAL, NOW) {
            Routed::Respond(r) | Routed::After(_, r) => r.status,
            Routed::Hub(_) => 200,
        }
    };
    assert_eq!(
        status(NOW - 86_400),
        200,
        "old is fine without validate_requests"
    );
    assert_eq!(status(NOW + 60), 200, "within the skew");
    assert_eq!(status(NOW + 61), 401, "past the skew");
    assert_eq!(status(u64::MAX), 401, "the far future");
}

#[test]
fn malformed_and_deeply_nested_json_get_400_not_500() {
    let api = api();
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for body in [
        b"{bad".to_vec(),
        b"".to_vec(),
        deep.into_bytes(),
        vec![0xff, 0xfe],
    ] {
        let req = request("POST", "/connect", &body, Some(&token()));
        match api.route(&req, LOCAL, NOW) {
            Routed::Respond(r) | Routed::After(_, r) => assert_eq!(r.status, 400),
            Routed::Hub(_) => panic!("malformed body accepted"),
        }
    }
}

#[test]
fn enforce_https_refuses_everything_and_script_name_prefixes_are_stripped() {
    let config = Config {
        secret: "secret".into(),
        enforce_https: true,
        ..Config::default()
    };
    let req = request("POST", "/info", b"", Some(&token()));
    match Api::new(&config).route(&req, LOCAL, NOW) {
        Routed::Respond(r) | Routed::After(_, r) => {
            assert_eq!(r.status, 406);
            assert_eq!(r.body, b"406 Not Acceptable\n\n\n\n\nSSL is required\n\n");
        }
        Routed::Hub(_) => panic!("accepted without https"),
    }
    let mut req = request("POST", "/prefix/info", b"", Some(&token()));
    req.headers
        .push(("x-script-name".into(), b"/prefix".to_vec()));
    assert!(matches!(api().route(&req, LOCAL, NOW), Routed::Hub(_)));
}

/// Routes a request and runs it on `hub` if it needs the hub.
fn outcome(api: &Api, hub: &mut Hub, req: &Request) -> Outcome {
    match api.route(req, LOCAL, NOW) {
        Routed::Respond(r) | Routed::After(_, r) => Outcome::Respond(r),
        Routed::Hub(cmd) => cmd.run(
            hub,
            ConnId {
                worker: 0,
                key: 7,
                gen: 0,
            },
            Time(NOW * 1_000_000),
        ),
    }
}

fn status_and_body(o: Outcome) -> (u16, String) {
    match o {
        Outcome::Respond(r) => (r.status, String::from_utf8_lossy(&r.body).into_owned()),
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn query_string_carries_secret_conn_id_and_callback() {
    let api = api();
    let mut h = hub();
    let id = "00000000-0000-4000-8000-000000000001";
    let (_, _) = call(
        &api,
        &mut h,
        "POST",
        "/connect",
        &json!({"username": "u", "conn_id": id}),
    );
    let secret = token();
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "secret in query",
            &format!("/info?secret={secret}"),
            200,
            "\"channels\"",
        ),
        (
            "bad secret in query",
            "/info?secret=x.y.z",
            401,
            "Bad Signature",
        ),
        (
            "subscribe id from query",
            &format!("/subscribe?conn_id={id}"),
            200,
            "\"subscribed_to\"",
        ),
        (
            "disconnect by query",
            &format!("/disconnect?conn_id={id}"),
            200,
            "true",
        ),
        (
            "disconnect unknown",
            "/disconnect?conn_id=00000000-0000-4000-8000-000000000002",
            200,
            "false",
        ),
        (
            "disconnect without id",
            "/disconnect",
            422,
            "Field may not be null.",
        ),
        (
            "listen bad id",
            "/listen?conn_id=garbage",
            422,
            "Wrong UUID format",
        ),
        (
            "listen unknown id",
            "/listen?conn_id=00000000-0000-4000-8000-000000000002",
            401,
            "401 Unauthorized",
        ),
    ];
    for (name, target, want, needle) in cases {
        let (method, body): (&str, &[u8]) = match *name {
            "subscribe id from query" => ("POST", br#"{"channels": ["a"]}"#),
            n if n.starts_with("disconnect") || n.starts_with("listen") => ("GET", b""),
            _ => ("POST", b""),
        };
        let signed = if name.contains("secret") {
            None
        } else {
            Some(secret.as_str())
        };
        let req = request(method, target, body, signed);
        let (status, body) = status_and_body(outcome(&api, &mut h, &req));
        assert_eq!(status, *want, "{name}: {body}");
        assert!(body.contains(needle), "{name}: {body}");
    }
}

#[test]
fn listen_waits_in_the_hub_and_jsonp_wraps_the_answer() {
    let api = api();
    let mut h = hub();
    let id = "00000000-0000-4000-8000-000000000001";
    call(
        &api,
        &mut h,
        "POST",
        "/connect",
        &json!({"username": "u", "conn_id": id}),
    );
    let req = request(
        "GET",
        &format!("/listen?conn_id={id}&callback=cb_1"),
        b"",
        None,
    );
    assert!(matches!(outcome(&api, &mut h, &req), Outcome::Waiting));
    let r = listen::answer(Some("cb_1"), "[]", &Vec::new());
    assert_eq!((r.status, r.body.as_slice()), (200, b"cb_1([])".as_slice()));
    assert_eq!(
        r.headers[0],
        (
            "Content-Type".into(),
            "application/javascript; charset=UTF-8".into()
        )
    );
}

#[test]
fn listen_refuses_a_callback_that_is_not_a_name_with_400_json() {
    let api = api();
    let id = "00000000-0000-4000-8000-000000000001";
    for cb in [
        "%3Cscript%3Ealert(document.domain)%3C%2Fscript%3E",
        "a;b",
        "x(1)",
        "1a",
    ] {
        let req = request(
            "GET",
            &format!("/listen?conn_id={id}&callback={cb}"),
            b"",
            None,
        );
        let Routed::Respond(r) = api.route(&req, LOCAL, NOW) else {
            panic!("{cb} reached the hub");
        };
        let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        assert_eq!(r.status, 400, "{cb}");
        assert_eq!(body["callback"][0], listen::BAD_CALLBACK, "{cb}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("<script"),
            "{cb}"
        );
    }
}

#[test]
fn websocket_route_parses_the_id_and_unknown_ids_upgrade_then_close() {
    let api = api();
    let mut h = hub();
    let id = "00000000-0000-4000-8000-000000000001";
    call(
        &api,
        &mut h,
        "POST",
        "/connect",
        &json!({"username": "u", "conn_id": id}),
    );
    let conn = ConnId {
        worker: 0,
        key: 9,
        gen: 0,
    };
    let now = Time(NOW * 1_000_000);
    let known = api.route_ws(&request("GET", &format!("/ws?conn_id={id}"), b"", None));
    assert!(matches!(
        known.map(|c| c.run(&mut h, conn, now)),
        Some(Outcome::Upgrade(_))
    ));
    for target in [
        "/ws?conn_id=00000000-0000-4000-8000-000000000002",
        "/ws?conn_id=bad",
        "/ws",
    ] {
        let cmd = api.route_ws(&request("GET", target, b"", None));
        assert!(
            matches!(
                cmd.map(|c| c.run(&mut h, conn, now)),
                Some(Outcome::UpgradeAndClose)
            ),
            "{target}"
        );
    }
    assert!(api
        .route_ws(&request("GET", "/listen", b"", None))
        .is_none());
}

#[test]
fn admin_redirect_is_relative_whatever_the_host_header_says() {
    let location = |api: &Api, host: &[u8], prefix: Option<&[u8]>| {
        let mut req = request("GET", "/cs/admin/admin.json", b"", None);
        req.headers[0].1 = host.to_vec();
        if let Some(p) = prefix {
            req.headers.push(("x-script-name".into(), p.to_vec()));
        }
        match api.route(&req, LOCAL, NOW) {
            Routed::Respond(r) | Routed::After(_, r) => r
                .headers
                .iter()
                .find(|(k, _)| k == "Location")
                .map(|(_, v)| v.clone()),
            Routed::Hub(_) => None,
        }
    };
    let https = Api::new(&Config {
        http_scheme: "https".into(),
        ..Config::default()
    });
    for api in [api(), https] {
        for host in [b"evil.example".as_slice(), b"example.test", b""] {
            assert_eq!(
                location(&api, host, Some(b"/cs")).as_deref(),
                Some("/cs/admin/sign_in")
            );
            assert_eq!(
                location(&api, host, Some(b"//evil.example")).as_deref(),
                None,
                "a prefix the path does not start with is not routed"
            );
        }
    }
    let mut req = request("GET", "/admin/admin.json", b"", None);
    req.headers[0].1 = b"evil.example".to_vec();
    let Routed::Respond(r) = api().route(&req, LOCAL, NOW) else {
        panic!("unsigned admin request reached the hub");
    };
    assert_eq!(r.status, 302);
    assert!(r
        .headers
        .contains(&("Location".into(), "/admin/sign_in".into())));
    assert!(!String::from_utf8_lossy(&r.body).contains("evil"));
}

#[test]
fn strict_mode_accepts_only_request_signatures_and_each_nonce_once() {
    use nonce_book::NonceBook;
    use strict_signature::{Signed, StrictSigner};
    let api = Api::new(&Config {
        secret: "secret".into(),
        allow_posting_from: vec!["127.0.0.1".into()],
        strict_signatures: true,
        validate_requests: false,
        ..Config::default()
    });
    let body = br#"{"username": "u"}"#;
    let strict = |method: &str, target: &str, body: &[u8], stamp: u64, nonce: &str| {
        let signed = Signed {
            method,
            target,
            body,
        };
        StrictSigner::new("secret").sign(signed, stamp, nonce)
    };
    let nonce = "0123456789abcdefXYZ";
    let good = strict("POST", "/connect", body, NOW, nonce);
    let mut book = NonceBook::new(1);
    let conn = ConnId {
        worker: 0,
        key: 1,
        gen: 0,
    };
    // Routes and, if it reaches the hub, claims the nonce and runs.
    let mut status = |req: &Request| match api.route(req, LOCAL, NOW) {
        Routed::Respond(r) | Routed::After(_, r) => r.status,
        Routed::Hub(cmd) => match cmd.claim_nonce(&mut book, NOW) {
            Err(r) => r.status,
            Ok(()) => match cmd.run(&mut hub(), conn, Time(NOW * 1_000_000)) {
                Outcome::Respond(r) => r.status,
                _ => 200,
            },
        },
    };
    let mut query = request("POST", "/connect?secret=x", body, None);
    query.target = format!("/connect?secret={good}");
    let cases: &[(&str, Request, u16)] = &[
        (
            "signed",
            request("POST", "/connect", body, Some(&good)),
            200,
        ),
        (
            "replayed",
            request("POST", "/connect", body, Some(&good)),
            401,
        ),
        (
            "another body",
            request("POST", "/connect", br#"{"username": "v"}"#, Some(&good)),
            401,
        ),
        (
            "legacy token",
            request("POST", "/connect", body, Some(&token())),
            401,
        ),
        ("in the query", query, 401),
        (
            "stale, even with validate_requests off",
            request(
                "POST",
                "/connect",
                body,
                Some(&strict(
                    "POST",
                    "/connect",
                    body,
                    NOW - 61,
                    "n0123456789abcdef",
                )),
            ),
            401,
        ),
        ("no secret", request("POST", "/connect", body, None), 403),
        (
            "book full of live nonces",
            request(
                "POST",
                "/connect",
                body,
                Some(&strict("POST", "/connect", body, NOW, "n0123456789abcdef")),
            ),
            503,
        ),
    ];
    for (name, req, want) in cases {
        assert_eq!(status(req), *want, "{name}");
    }
}
