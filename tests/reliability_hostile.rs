//! Hostile-input battery against the real server: every REST endpoint and the websocket
//! get malformed, oversized, mistyped and unauthenticated input; each case's answer is
//! checked (status or close code), then a bystander websocket subscribed to a channel
//! must still receive a message published after it.

mod server_common;

use server_common::*;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

const KNOWN: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const UNKNOWN: &str = "bbbbbbbb-0000-4000-8000-000000000002";

/// What a case must get back.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// This HTTP status; a JSON body if `json`.
    Status(u16, bool),
    /// A websocket close frame with this code.
    Close(u16),
}

/// The input of a case.
enum Input {
    /// A signed request with this method, target and body.
    Signed(&'static str, &'static str, Vec<u8>),
    /// These bytes on a fresh TCP connection.
    Bytes(Vec<u8>),
    /// These bytes after a websocket handshake for `KNOWN`.
    Ws(Vec<u8>),
}

fn nested(depth: usize) -> Vec<u8> {
    let mut v = vec![b'['; depth];
    v.extend(std::iter::repeat_n(b']', depth));
    v
}

fn huge_string_json(key: &str, wrap_list: bool) -> Vec<u8> {
    let s = "x".repeat(10_000);
    let obj = format!(
        r#"{{"{key}":"{s}","user":"{s}","channel":"{s}","conn_id":"{KNOWN}","channels":["{s}"]}}"#
    );
    if wrap_list {
        format!("[{obj}]").into_bytes()
    } else {
        obj.into_bytes()
    }
}

fn cases() -> Vec<(&'static str, Input, Expect)> {
    use Expect::*;
    use Input::*;
    let j = |s: &str| s.as_bytes().to_vec();
    let bad_sig = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nX-Channelstream-Secret: x.AAAA.bogus\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
        .into_bytes()
    };
    let mut c: Vec<(&'static str, Input, Expect)> = vec![
        // /connect
        ("connect_wrong_types", Signed("POST", "/connect", j(r#"{"username":5,"channels":"a","conn_id":[],"user_state":3}"#)), Status(422, true)),
        ("connect_huge_strings", Signed("POST", "/connect", huge_string_json("username", false)), Status(422, true)),
        ("connect_deep_nesting_10000", Signed("POST", "/connect", nested(10_000)), Status(400, true)),
        ("connect_garbage_bytes", Signed("POST", "/connect", vec![0x00, 0x13, 0x37, b'{', 0x7f]), Status(400, true)),
        ("connect_non_utf8_body", Signed("POST", "/connect", b"{\"username\":\"\xff\xfe\"}".to_vec()), Status(400, true)),
        ("connect_bad_signature", Bytes(bad_sig("/connect")), Status(401, true)),
        ("connect_wrong_method", Signed("GET", "/connect", vec![]), Status(404, false)),
        // /subscribe
        ("subscribe_wrong_types", Signed("POST", "/subscribe", j(r#"{"conn_id":12,"channels":{"a":1}}"#)), Status(422, true)),
        ("subscribe_unknown_conn_id", Signed("POST", "/subscribe", format!(r#"{{"conn_id":"{UNKNOWN}","channels":["a"]}}"#).into_bytes()), Status(422, true)),
        ("subscribe_huge_strings", Signed("POST", "/subscribe", huge_string_json("x", false)), Status(422, true)),
        ("subscribe_deep_nesting_10000", Signed("POST", "/subscribe", nested(10_000)), Status(400, true)),
        ("subscribe_non_utf8_body", Signed("POST", "/subscribe", b"\xc3\x28\xa0\xa1".to_vec()), Status(400, true)),
        ("subscribe_bad_signature", Bytes(bad_sig("/subscribe")), Status(401, true)),
        ("subscribe_wrong_method", Signed("PUT", "/subscribe", vec![]), Status(404, false)),
        // /unsubscribe
        ("unsubscribe_wrong_types", Signed("POST", "/unsubscribe", j(r#"{"conn_id":true,"channels":[1,2]}"#)), Status(422, true)),
        ("unsubscribe_unknown_conn_id", Signed("POST", "/unsubscribe", format!(r#"{{"conn_id":"{UNKNOWN}","channels":["a"]}}"#).into_bytes()), Status(422, true)),
        ("unsubscribe_garbage_bytes", Signed("POST", "/unsubscribe", j("}}}}[[[")), Status(400, true)),
        ("unsubscribe_bad_signature", Bytes(bad_sig("/unsubscribe")), Status(401, true)),
        // /message
        ("message_object_not_list", Signed("POST", "/message", j(r#"{"channel":"c","user":"u"}"#)), Status(422, true)),
        ("message_wrong_types", Signed("POST", "/message", j(r#"[{"channel":1,"user":[],"pm_users":"x","timestamp":5}]"#)), Status(422, true)),
        ("message_huge_strings", Signed("POST", "/message", huge_string_json("message", true)), Status(422, true)),
        ("message_deep_nesting_10000", Signed("POST", "/message", nested(10_000)), Status(400, true)),
        ("message_non_utf8_body", Signed("POST", "/message", b"[\"\xed\xa0\x80\"]".to_vec()), Status(400, true)),
        ("message_patch_missing_uuid", Signed("PATCH", "/message", j(r#"[{"channel":"c"}]"#)), Status(422, true)),
        ("message_bad_signature", Bytes(bad_sig("/message")), Status(401, true)),
        ("message_wrong_method", Signed("PUT", "/message", j("[]")), Status(404, false)),
        // /user_state
        ("user_state_wrong_types", Signed("POST", "/user_state", j(r#"{"user":7,"user_state":[1],"state_public_keys":"k"}"#)), Status(422, true)),
        ("user_state_unknown_user", Signed("POST", "/user_state", j(r#"{"user":"nobody-here","user_state":{}}"#)), Status(422, true)),
        ("user_state_nested_value", Signed("POST", "/user_state", j(r#"{"user":"bystander","user_state":{"k":{"deep":[1]}}}"#)), Status(422, true)),
        ("user_state_deep_nesting_10000", Signed("POST", "/user_state", nested(10_000)), Status(400, true)),
        ("user_state_bad_signature", Bytes(bad_sig("/user_state")), Status(401, true)),
        ("user_state_wrong_method", Signed("GET", "/user_state", vec![]), Status(404, false)),
        // /channel_config
        ("channel_config_list_body", Signed("POST", "/channel_config", j("[1,2]")), Status(422, true)),
        ("channel_config_wrong_types", Signed("POST", "/channel_config", j(r#"{"c":{"history_size":"lots","notify_presence":"maybe"}}"#)), Status(422, true)),
        ("channel_config_negative_history", Signed("POST", "/channel_config", j(r#"{"c":{"history_size":-1}}"#)), Status(422, true)),
        ("channel_config_deep_nesting_10000", Signed("POST", "/channel_config", nested(10_000)), Status(400, true)),
        ("channel_config_bad_signature", Bytes(bad_sig("/channel_config")), Status(401, true)),
        // /info
        ("info_list_body", Signed("POST", "/info", j("[]")), Status(422, true)),
        ("info_wrong_types", Signed("POST", "/info", j(r#"{"info":{"channels":"all","include_history":"x"}}"#)), Status(422, true)),
        ("info_deep_nesting_10000", Signed("POST", "/info", nested(10_000)), Status(400, true)),
        ("info_non_utf8_body", Signed("POST", "/info", b"\x80\x81\x82".to_vec()), Status(400, true)),
        ("info_bad_signature", Bytes(bad_sig("/info")), Status(401, true)),
        // /admin/admin.json
        ("admin_json_bad_signature", Bytes(bad_sig("/admin/admin.json")), Status(401, true)),
        ("admin_json_wrong_method", Signed("DELETE", "/admin/admin.json", vec![]), Status(404, false)),
        // /disconnect (no secret needed)
        ("disconnect_wrong_types", Signed("POST", "/disconnect", j(r#"{"conn_id":[1]}"#)), Status(422, true)),
        ("disconnect_garbage_bytes", Signed("POST", "/disconnect", vec![0xde, 0xad, 0xbe, 0xef]), Status(400, true)),
        ("disconnect_deep_nesting_10000", Signed("POST", "/disconnect", nested(10_000)), Status(400, true)),
        // /listen
        ("listen_bad_conn_id", Bytes(j("GET /listen?conn_id=%ff%fe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")), Status(422, true)),
        ("listen_wrong_method", Bytes(j("POST /listen HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")), Status(404, false)),
        // HTTP framing
        ("http_garbage_request_line", Bytes(vec![0x16, 0x03, 0x01, 0x02, 0x00, b'\r', b'\n', b'\r', b'\n']), Status(400, false)),
        ("http_head_over_max_head", Bytes(format!("GET /info HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(4096)).into_bytes()), Status(431, false)),
        ("http_body_over_max_body_by_length", Bytes(j("POST /connect HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n")), Status(413, false)),
        ("http_bad_chunk_size", Bytes(j("POST /connect HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")), Status(400, false)),
        ("http_cl_and_te_smuggling", Bytes(j("POST /connect HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")), Status(400, false)),
        ("http_ws_upgrade_without_key", Bytes(j("GET /ws?conn_id=x HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")), Status(400, false)),
        ("http_ws_get_without_upgrade", Bytes(j("GET /ws?conn_id=x HTTP/1.1\r\nHost: t\r\n\r\n")), Status(400, true)),
    ];
    // Bounds on counts, names and sizes (docs/RELIABILITY.md "Hostile inputs and their
    // bounds"); every one of these was accepted or answered in full before.
    let items = |item: &str, n: usize| format!("[{}]", vec![item; n].join(",")).into_bytes();
    let channels: Vec<String> = (0..1001).map(|i| format!("c{i}")).collect();
    let name = "n".repeat(60_000);
    c.extend([
        (
            "message_1001_items_413",
            Signed("POST", "/message", items("{}", 1001)),
            Status(413, true),
        ),
        (
            "message_delete_1001_items_413",
            Signed("DELETE", "/message", items("1", 1001)),
            Status(413, true),
        ),
        (
            "connect_1001_channels_413",
            Signed(
                "POST",
                "/connect",
                serde_json::json!({"username": "u", "channels": channels})
                    .to_string()
                    .into_bytes(),
            ),
            Status(413, true),
        ),
        (
            "subscribe_1001_channel_configs_413",
            Signed(
                "POST",
                "/subscribe",
                format!(
                    r#"{{"conn_id":"{KNOWN}","channels":["a"],"channel_configs":{{{}}}}}"#,
                    (0..1001)
                        .map(|i| format!(r#""c{i}":{{}}"#))
                        .collect::<Vec<_>>()
                        .join(",")
                )
                .into_bytes(),
            ),
            Status(413, true),
        ),
        (
            "info_1001_channels_413",
            Signed(
                "POST",
                "/info",
                format!(
                    r#"{{"info":{{"channels":{}}}}}"#,
                    String::from_utf8_lossy(&items("\"c\"", 1001))
                )
                .into_bytes(),
            ),
            Status(413, true),
        ),
        (
            "channel_config_60k_name_422",
            Signed(
                "POST",
                "/channel_config",
                format!(r#"{{"{name}":{{}}}}"#).into_bytes(),
            ),
            Status(422, true),
        ),
        (
            "channel_config_empty_name_422",
            Signed("POST", "/channel_config", j(r#"{"":{}}"#)),
            Status(422, true),
        ),
        (
            "channel_config_history_size_i64_max_422",
            Signed(
                "POST",
                "/channel_config",
                j(r#"{"c":{"history_size":9223372036854775807}}"#),
            ),
            Status(422, true),
        ),
        (
            "connect_history_size_1001_422",
            Signed(
                "POST",
                "/connect",
                j(r#"{"username":"u","channel_configs":{"c":{"history_size":1001}}}"#),
            ),
            Status(422, true),
        ),
        (
            "connect_channel_configs_60k_key_422",
            Signed(
                "POST",
                "/connect",
                format!(r#"{{"username":"u","channel_configs":{{"{name}":{{}}}}}}"#).into_bytes(),
            ),
            Status(422, true),
        ),
        (
            "user_state_60k_key_422",
            Signed(
                "POST",
                "/user_state",
                format!(r#"{{"user":"bystander","user_state":{{"{name}":1}}}}"#).into_bytes(),
            ),
            Status(422, true),
        ),
    ]);
    // Websocket, after a good handshake for a known connection.
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    c.extend([
        ("ws_unmasked_frame", Ws(unmasked), Close(1002)),
        (
            "ws_reserved_bits",
            Ws(client_frame(0xC1, b"hi")),
            Close(1002),
        ),
        ("ws_bad_opcode", Ws(client_frame(0x83, b"hi")), Close(1002)),
        (
            "ws_bad_utf8_text",
            Ws(client_frame(0x81, b"\xff\xfe\xfd")),
            Close(1007),
        ),
        (
            "ws_oversized_ping",
            Ws(client_frame(0x89, &[b'p'; 126])),
            Close(1002),
        ),
        (
            "ws_fragmented_ping",
            Ws(client_frame(0x09, b"p")),
            Close(1002),
        ),
        (
            "ws_bad_close_code",
            Ws(client_frame(0x88, &[0x03, 0xe7])),
            Close(1002),
        ),
        (
            "ws_close_one_byte_payload",
            Ws(client_frame(0x88, &[0x03])),
            Close(1002),
        ),
        (
            "ws_continuation_without_start",
            Ws(client_frame(0x80, b"lost")),
            Close(1002),
        ),
        (
            "ws_new_text_inside_fragmented",
            Ws([client_frame(0x01, b"a"), client_frame(0x81, b"b")].concat()),
            Close(1002),
        ),
        (
            "ws_garbage_after_handshake",
            Ws(vec![0xff; 64]),
            Close(1002),
        ),
        (
            "ws_message_over_max_message",
            Ws(client_frame(0x82, &vec![0u8; 20_000])),
            Close(1009),
        ),
    ]);
    c
}

fn run_case(addr: SocketAddr, name: &str, input: &Input, expect: Expect) {
    let got = match input {
        Input::Signed(m, t, body) => raw(addr, &signed(m, t, body)),
        Input::Bytes(b) => raw(addr, b),
        Input::Ws(b) => {
            let mut s = raw_ws(addr, KNOWN);
            let _ = s.write_all(b);
            read_until_close(&mut s, Duration::from_secs(3))
        }
    };
    match expect {
        Expect::Status(status, json) => {
            assert_eq!(
                status_of(&got),
                status,
                "{name}: {}",
                String::from_utf8_lossy(&got)
            );
            if json {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(body_of(&got)).is_ok(),
                    "{name}: body is not JSON: {}",
                    String::from_utf8_lossy(body_of(&got))
                );
            }
        }
        Expect::Close(code) => {
            assert_eq!(close_code(&got), Some(code), "{name}: {got:?}");
        }
    }
}

#[test]
fn every_hostile_input_is_refused_and_a_bystander_keeps_receiving() {
    let server = start(small_config());
    let addr = server.addr;
    connect(
        addr,
        "bystander",
        "cccccccc-0000-4000-8000-000000000003",
        &["watch"],
    );
    let mut bystander = open_ws(addr, "cccccccc-0000-4000-8000-000000000003");
    let cases = cases();
    let names: std::collections::HashSet<_> = cases.iter().map(|c| c.0).collect();
    assert_eq!(names.len(), cases.len(), "case names are distinct");
    assert!(cases.len() >= 40);
    for (name, input, expect) in &cases {
        if matches!(input, Input::Ws(_)) {
            connect(addr, "victim", KNOWN, &["victim"]);
        }
        run_case(addr, name, input, *expect);
        publish(addr, "watch", name);
        assert!(
            sees_marker(&mut bystander, name, Duration::from_secs(3)),
            "bystander missed the message after {name}"
        );
    }
    server.shutdown().expect("clean shutdown");
}
