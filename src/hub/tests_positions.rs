//! Positions and recovery after reconnect, with a simulated clock.

use super::tests::{at, detached, hub, msg, obj, ws};
use super::*;
use serde_json::json;

fn publish(h: &mut Hub, channel: &str, n: u64, now: Time) {
    h.pass_message(msg(json!({"channel": channel, "message": {"n": n}})), now);
}

fn recover(pairs: &[(&str, u64)]) -> Recover {
    pairs.iter().map(|(c, p)| (c.to_string(), *p)).collect()
}

/// The messages of websocket payloads (each a JSON list).
fn messages(payloads: &[Arc<str>]) -> Vec<Value> {
    payloads
        .iter()
        .flat_map(|p| serde_json::from_str::<Vec<Value>>(p).unwrap_or_default())
        .collect()
}

/// Every websocket send as (recipients, messages).
fn sent(h: &mut Hub) -> Vec<(Vec<ConnId>, Vec<Value>)> {
    h.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send { conns, payload } => Some((conns, messages(&[payload]))),
            _ => None,
        })
        .collect()
}

/// `(pos, n)` of each channel message, in order.
fn pos_and_n(msgs: &[Value]) -> Vec<(u64, u64)> {
    msgs.iter()
        .filter(|m| m["type"] != RECOVERY_TYPE)
        .map(|m| {
            (
                m["pos"].as_u64().unwrap_or(0),
                m["message"]["n"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn report(msgs: &[Value]) -> Value {
    let last = msgs.last().cloned().unwrap_or(Value::Null);
    assert_eq!(last["type"], RECOVERY_TYPE, "the report ends the catch-up");
    last["channels"].clone()
}

fn configure(h: &mut Hub, name: &str, cfg: ChannelConfig) {
    h.set_channel_config(&[(name.to_string(), cfg)].into_iter().collect(), at(0.0));
}

#[test]
fn positions_count_per_channel_and_only_listeners_that_ask_see_them() {
    let mut h = hub();
    let asks = detached(&mut h, "a", &["x", "y"], at(0.0));
    let plain = detached(&mut h, "b", &["x"], at(0.0));
    let first = h.attach_ws_recovering(asks, ws(1), Some(&Recover::new()), at(0.0));
    let first = messages(&first.unwrap_or_default());
    assert_eq!(
        report(&first),
        json!({"x": {"pos": 0}, "y": {"pos": 0}}),
        "positions so far, nothing asked, nothing reported lost"
    );
    assert!(h.attach_ws(plain, ws(2), at(0.0)).is_some());
    let _ = h.take_effects();
    publish(&mut h, "x", 10, at(1.0));
    publish(&mut h, "y", 20, at(1.0));
    publish(&mut h, "x", 11, at(1.0));
    let sends = sent(&mut h);
    let to = |conn: ConnId| -> Vec<Value> {
        sends
            .iter()
            .filter(|(c, _)| c.contains(&conn))
            .flat_map(|(_, m)| m.clone())
            .collect()
    };
    assert_eq!(pos_and_n(&to(ws(1))), [(1, 10), (1, 20), (2, 11)]);
    let seen_plain = to(ws(2));
    assert_eq!(seen_plain.len(), 2);
    assert!(
        seen_plain.iter().all(|m| m.get("pos").is_none()),
        "{seen_plain:?}"
    );
    assert_eq!((h.channels["x"].last_pos, h.channels["y"].last_pos), (2, 1));
    // Private messages have no channel and no position.
    h.pass_message(
        msg(json!({"pm_users": ["a"], "message": {"n": 30}})),
        at(2.0),
    );
    let private = sent(&mut h);
    assert_eq!(private.len(), 1);
    assert!(private[0].1[0].get("pos").is_none());
}

#[test]
fn a_new_connection_is_replayed_what_it_missed_after_its_position_then_the_report() {
    let mut h = hub();
    let old = detached(&mut h, "a", &["x"], at(0.0));
    assert!(h
        .attach_ws_recovering(old, ws(1), Some(&Recover::new()), at(0.0))
        .is_some());
    for n in 1..=3 {
        publish(&mut h, "x", n, at(1.0));
    }
    h.on_engine_close(ws(1)); // the socket drops; the page saw positions 1..=3
    for n in 4..=6 {
        publish(&mut h, "x", n, at(2.0));
    }
    h.tick(at(20.0)); // the old connection is collected
    assert!(!h.connections.contains_key(&old));
    let new = detached(&mut h, "a", &["x"], at(21.0));
    let got = h.attach_ws_recovering(new, ws(2), Some(&recover(&[("x", 3)])), at(21.0));
    let got = messages(&got.unwrap_or_default());
    assert_eq!(pos_and_n(&got), [(4, 4), (5, 5), (6, 6)]);
    assert!(got[..3].iter().all(|m| m["catchup"] == true));
    assert_eq!(report(&got), json!({"x": {"pos": 6, "recovered": true}}));
    // The same position over a long-poll gets the same replay.
    let polled = detached(&mut h, "a", &["x"], at(22.0));
    assert!(h.attach_poll_recovering(
        polled,
        ws(3),
        PollReply::default(),
        Some(&recover(&[("x", 5)])),
        at(22.0)
    ));
    h.tick(at(22.3));
    let body = h.take_effects().into_iter().find_map(|e| match e {
        Effect::Answer { body, .. } => Some(body),
        _ => None,
    });
    let body: Vec<Value> = serde_json::from_str(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!(pos_and_n(&body), [(6, 6)]);
    assert_eq!(report(&body), json!({"x": {"pos": 6, "recovered": true}}));
}

#[test]
fn replay_respects_exclusions_and_private_lists() {
    let mut h = hub();
    let a = detached(&mut h, "a", &["x"], at(0.0));
    for (n, extra) in [
        (1, json!({})),
        (2, json!({"exclude_users": ["a"]})),
        (3, json!({"pm_users": ["b"]})),
        (4, json!({"pm_users": ["a"]})),
    ] {
        let mut m = msg(json!({"channel": "x", "message": {"n": n}}));
        m.extend(obj(extra));
        h.pass_message(m, at(1.0));
    }
    let got = h.attach_ws_recovering(a, ws(1), Some(&recover(&[("x", 0)])), at(2.0));
    let got = messages(&got.unwrap_or_default());
    assert_eq!(pos_and_n(&got), [(1, 1), (4, 4)]);
    assert_eq!(
        report(&got)["x"]["recovered"],
        true,
        "nothing for a was lost"
    );
}

#[test]
fn recovered_is_false_when_what_is_held_no_longer_reaches_back() {
    // More messages than frames are kept.
    let mut h = hub();
    let a = detached(&mut h, "a", &["x"], at(0.0));
    let total = MAX_FRAMES as u64 + 5;
    for n in 1..=total {
        publish(&mut h, "x", n, at(1.0));
    }
    let got = h.attach_ws_recovering(a, ws(1), Some(&recover(&[("x", 2)])), at(2.0));
    let got = messages(&got.unwrap_or_default());
    let replayed = pos_and_n(&got);
    assert_eq!(replayed.len(), MAX_FRAMES, "what is still held is replayed");
    assert_eq!(replayed.first(), Some(&(6, 6)));
    assert_eq!(report(&got)["x"], json!({"pos": total, "recovered": false}));
    // From a position still held, it is complete.
    let got = h.attach_ws_recovering(a, ws(2), Some(&recover(&[("x", 5)])), at(3.0));
    assert_eq!(
        report(&messages(&got.unwrap_or_default()))["x"]["recovered"],
        true
    );

    // Nothing kept at all.
    let mut h = hub();
    let cfg = ChannelConfig {
        store_frames: false,
        ..ChannelConfig::default()
    };
    configure(&mut h, "x", cfg);
    let a = detached(&mut h, "a", &["x"], at(0.0));
    publish(&mut h, "x", 1, at(1.0));
    let got = h.attach_ws_recovering(a, ws(1), Some(&recover(&[("x", 0)])), at(2.0));
    let got = messages(&got.unwrap_or_default());
    assert_eq!(pos_and_n(&got), []);
    assert_eq!(report(&got)["x"], json!({"pos": 1, "recovered": false}));
    let got = h.attach_ws_recovering(a, ws(2), Some(&recover(&[("x", 1)])), at(3.0));
    assert_eq!(
        report(&messages(&got.unwrap_or_default()))["x"]["recovered"],
        true,
        "nothing was sent after position 1"
    );

    // A position beyond the channel's: the channel was forgotten and made anew.
    let got = h.attach_ws_recovering(a, ws(3), Some(&recover(&[("x", 9)])), at(4.0));
    assert_eq!(
        report(&messages(&got.unwrap_or_default()))["x"],
        json!({"pos": 1, "recovered": false})
    );
}

#[test]
fn history_reaches_back_where_frames_do_not() {
    let mut h = hub();
    let cfg = ChannelConfig {
        store_frames: false,
        store_history: true,
        history_size: 500,
        ..ChannelConfig::default()
    };
    configure(&mut h, "x", cfg);
    let a = detached(&mut h, "a", &["x"], at(0.0));
    for n in 1..=150 {
        publish(&mut h, "x", n, at(1.0));
    }
    let got = h.attach_ws_recovering(a, ws(1), Some(&recover(&[("x", 10)])), at(2.0));
    let got = messages(&got.unwrap_or_default());
    let want: Vec<(u64, u64)> = (11..=150).map(|n| (n, n)).collect();
    assert_eq!(pos_and_n(&got), want);
    assert_eq!(report(&got)["x"]["recovered"], true);
}

#[test]
fn positions_survive_a_snapshot_and_restore() {
    let mut h = hub();
    let cfg = ChannelConfig {
        store_history: true,
        history_size: 2,
        ..ChannelConfig::default()
    };
    configure(&mut h, "x", cfg);
    let _a = detached(&mut h, "a", &["x"], at(0.0));
    for n in 1..=4 {
        publish(&mut h, "x", n, at(1.0));
    }
    let snap = h.snapshot();
    let text = snap.to_json();
    let mut restored = hub();
    assert_eq!(
        restored.restore(Snapshot::from_json(&text).unwrap_or_else(|e| panic!("{e}"))),
        Ok(())
    );
    assert_eq!(restored.snapshot(), snap);
    assert_eq!(restored.channels["x"].last_pos, 4);
    let b = detached(&mut restored, "b", &["x"], at(2.0));
    publish(&mut restored, "x", 5, at(3.0));
    assert_eq!(restored.channels["x"].last_pos, 5, "counting goes on");
    let got = restored.attach_ws_recovering(b, ws(1), Some(&recover(&[("x", 2)])), at(4.0));
    let got = messages(&got.unwrap_or_default());
    assert_eq!(pos_and_n(&got), [(3, 3), (4, 4), (5, 5)]);
    assert_eq!(report(&got)["x"], json!({"pos": 5, "recovered": true}));
}

#[test]
fn a_long_poll_that_asks_for_positions_queues_them_between_polls() {
    let mut h = hub();
    let a = detached(&mut h, "a", &["x"], at(0.0));
    let none = Some(Recover::new());
    assert!(h.attach_poll_recovering(a, ws(1), PollReply::default(), none.as_ref(), at(0.0)));
    h.tick(at(0.3)); // answered with the report
    let _ = h.take_effects();
    publish(&mut h, "x", 1, at(0.4));
    publish(&mut h, "x", 2, at(0.5));
    // The next poll names positions again; the connection lived, so only its queue comes.
    let again = recover(&[("x", 0)]);
    assert!(h.attach_poll_recovering(a, ws(2), PollReply::default(), Some(&again), at(0.9)));
    h.tick(at(1.2));
    let body = h.take_effects().into_iter().find_map(|e| match e {
        Effect::Answer { body, .. } => Some(body),
        _ => None,
    });
    let body: Vec<Value> = serde_json::from_str(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!(body.len(), 2, "{body:?}");
    assert_eq!(pos_and_n(&body), [(1, 1), (2, 2)]);
}

#[test]
fn a_listener_that_asks_is_told_the_position_of_a_channel_it_joins() {
    let mut h = hub();
    for n in 1..=5 {
        let _ = detached(&mut h, "z", &["y"], at(0.0));
        publish(&mut h, "y", n, at(0.0));
    }
    let asks = detached(&mut h, "a", &[], at(0.0));
    let plain = detached(&mut h, "b", &[], at(0.0));
    assert!(h
        .attach_ws_recovering(asks, ws(1), Some(&Recover::new()), at(1.0))
        .is_some());
    assert!(h.attach_ws(plain, ws(2), at(1.0)).is_some());
    let _ = h.take_effects();
    let configs = Default::default();
    assert_eq!(
        h.subscribe(asks, &["y".to_string()], &configs, at(2.0)),
        ["y"]
    );
    assert_eq!(
        h.subscribe(plain, &["y".to_string()], &configs, at(2.0)),
        ["y"]
    );
    let sends = sent(&mut h);
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(sends[0].0, [ws(1)]);
    assert_eq!(
        sends[0].1,
        [json!({"type": "recovery", "channels": {"y": {"pos": 5}}})]
    );
}
