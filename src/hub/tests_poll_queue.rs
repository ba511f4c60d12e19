//! The queue a long-poll client has between two polls, with a simulated clock.

use super::tests::{at, detached, hub, msg, ws};
use super::*;
use serde_json::json;

/// Answers the poll now waiting (after its gathering window) and returns its body.
fn answered(h: &mut Hub, now: Time) -> Vec<Value> {
    h.tick(now);
    let answers: Vec<String> = h
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Answer { body, .. } => Some(body),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    serde_json::from_str::<Vec<Value>>(&answers[0]).unwrap_or_default()
}

fn numbers(body: &[Value]) -> Vec<u64> {
    body.iter()
        .filter_map(|m| m["message"]["n"].as_u64())
        .collect()
}

fn publish(h: &mut Hub, channel: &str, n: u64, now: Time) {
    h.pass_message(msg(json!({"channel": channel, "message": {"n": n}})), now);
}

fn configured(h: &mut Hub, store_frames: bool) {
    let cfg = ChannelConfig {
        store_frames,
        ..ChannelConfig::default()
    };
    h.set_channel_config(&[("r".to_string(), cfg)].into_iter().collect(), at(0.0));
}

#[test]
fn a_late_poll_gets_every_message_published_between_polls_once_with_or_without_frames() {
    for store_frames in [false, true] {
        let mut h = hub();
        configured(&mut h, store_frames);
        let id = detached(&mut h, "a", &["r"], at(0.0));
        assert!(h.attach_poll(id, ws(1), PollReply::default(), at(0.0)));
        publish(&mut h, "r", 1, at(0.1));
        assert_eq!(numbers(&answered(&mut h, at(0.35))), [1]);
        // No poll is open: these wait in the connection's queue.
        publish(&mut h, "r", 2, at(0.4));
        publish(&mut h, "r", 3, at(0.6));
        assert!(h.attach_poll(id, ws(2), PollReply::default(), at(0.7)));
        publish(&mut h, "r", 4, at(0.8));
        let body = answered(&mut h, at(1.05));
        assert_eq!(numbers(&body), [2, 3, 4], "store_frames {store_frames}");
        let catchup: Vec<&Value> = body.iter().map(|m| &m["catchup"]).collect();
        assert_eq!(
            catchup,
            [&json!(true), &json!(true), &json!(false)],
            "what waited is catch-up, as the reference's frames"
        );
        assert!(h.attach_poll(id, ws(3), PollReply::default(), at(1.1)));
        h.tick(at(6.2));
        let _ = h.take_effects();
        assert_eq!(numbers(&answered(&mut h, at(7.0))), Vec::<u64>::new());
    }
}

#[test]
fn what_a_poll_gathered_before_its_request_went_away_comes_with_the_next_poll() {
    let mut h = hub();
    configured(&mut h, false);
    let id = detached(&mut h, "a", &["r"], at(0.0));
    assert!(h.attach_poll(id, ws(1), PollReply::default(), at(0.0)));
    publish(&mut h, "r", 1, at(0.1));
    h.on_engine_close(ws(1));
    publish(&mut h, "r", 2, at(0.2));
    assert!(h.attach_poll(id, ws(2), PollReply::default(), at(0.3)));
    assert_eq!(numbers(&answered(&mut h, at(0.55))), [1, 2]);
}

#[test]
fn past_the_message_bound_the_connection_is_cut_and_its_next_poll_refused() {
    let mut h = hub();
    configured(&mut h, false);
    let id = detached(&mut h, "a", &["r"], at(0.0));
    let other = detached(&mut h, "b", &["r"], at(0.0));
    assert!(h.attach_poll(id, ws(1), PollReply::default(), at(0.0)));
    publish(&mut h, "r", 0, at(0.1));
    let _ = answered(&mut h, at(0.35));
    for n in 0..POLL_QUEUE_MAX_MESSAGES as u64 {
        publish(&mut h, "r", n, at(0.4));
    }
    assert!(h.connections.contains_key(&id), "exactly at the bound");
    publish(&mut h, "r", 9999, at(0.4));
    assert!(!h.connections.contains_key(&id), "one past the bound: cut");
    assert!(!h.channels["r"].has("a", id));
    assert!(h.channels["r"].has("b", other), "others stay");
    assert!(!h.attach_poll(id, ws(2), PollReply::default(), at(0.5)));
}

#[test]
fn past_the_byte_bound_the_connection_is_cut() {
    let mut h = hub();
    configured(&mut h, true);
    let id = detached(&mut h, "a", &["r"], at(0.0));
    assert!(h.attach_poll(id, ws(1), PollReply::default(), at(0.0)));
    publish(&mut h, "r", 0, at(0.1));
    let _ = answered(&mut h, at(0.35));
    let big = "x".repeat(64 * 1024);
    let fits = POLL_QUEUE_MAX_BYTES / (big.len() + 200);
    for _ in 0..fits {
        h.pass_message(msg(json!({"channel": "r", "message": {"t": big}})), at(0.4));
    }
    assert!(h.connections.contains_key(&id), "{fits} messages fit");
    for _ in 0..2 {
        h.pass_message(msg(json!({"channel": "r", "message": {"t": big}})), at(0.4));
    }
    assert!(!h.connections.contains_key(&id));
}
