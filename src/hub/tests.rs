//! Behaviour of the hub as a whole, with a simulated clock.

use super::*;
use serde_json::json;

pub(super) const T0: Time = Time(1_700_000_000_000_000);

pub(super) fn at(secs: f64) -> Time {
    T0.plus(Duration::from_secs_f64(secs))
}

pub(super) fn ws(n: u32) -> ConnId {
    ConnId {
        worker: 0,
        key: n,
        gen: 0,
    }
}

pub(super) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(super) fn hub() -> Hub {
    Hub::new(T0, Duration::from_secs(5), 7)
}

pub(super) fn presence_cfg(lists: bool) -> ChannelConfig {
    ChannelConfig {
        notify_presence: true,
        broadcast_presence_with_user_lists: lists,
        store_history: true,
        ..ChannelConfig::default()
    }
}

/// Connects `user` to `channels` (configured with `cfg`) and attaches websocket `n`.
pub(super) fn join(
    h: &mut Hub,
    user: &str,
    channels: &[&str],
    cfg: ChannelConfig,
    n: u32,
    now: Time,
) -> Uuid {
    let p = ConnectParams {
        username: user.into(),
        channels: channels.iter().map(|s| s.to_string()).collect(),
        channel_configs: channels.iter().map(|s| (s.to_string(), cfg)).collect(),
        state_public_keys: vec!["color".into()],
        user_state: obj(json!({"color": user, "secret": 1})),
        ..ConnectParams::default()
    };
    let id = h.connect(&p, now);
    assert!(h.attach_ws(id, ws(n), now).is_some());
    id
}

/// Connects `user` to `channels` (default settings) without attaching anything.
pub(super) fn detached(h: &mut Hub, user: &str, channels: &[&str], now: Time) -> Uuid {
    let p = ConnectParams {
        username: user.into(),
        channels: channels.iter().map(|s| s.to_string()).collect(),
        ..ConnectParams::default()
    };
    h.connect(&p, now)
}

/// Every websocket send as (recipients, parsed list).
pub(super) fn sends(h: &mut Hub) -> Vec<(Vec<ConnId>, Value)> {
    h.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send { conns, payload } => {
                Some((conns, serde_json::from_str(&payload).unwrap_or(Value::Null)))
            }
            _ => None,
        })
        .collect()
}

pub(super) fn msg(v: Value) -> Map<String, Value> {
    let mut m = obj(json!({"pm_users": [], "exclude_users": [], "channel": null,
        "no_history": false, "timestamp": "2024-01-01T00:00:00", "user": "sender",
        "message": {"text": "hi"}}));
    m.extend(obj(v));
    m
}

#[test]
fn presence_joined_goes_to_others_with_user_list_and_public_state() {
    let mut h = hub();
    join(&mut h, "alice", &["room"], presence_cfg(true), 1, at(0.0));
    assert!(sends(&mut h).is_empty(), "nobody else to tell");
    join(&mut h, "bob", &["room"], presence_cfg(true), 2, at(1.0));
    let s = sends(&mut h);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, vec![ws(1)], "the joining user is excluded");
    let m = &s[0].1[0];
    assert_eq!(m["type"], "presence");
    assert_eq!(m["user"], "bob");
    assert_eq!(m["message"], json!({"action": "joined"}));
    assert_eq!(m["state"], json!({"color": "bob"}));
    assert_eq!(m["catchup"], false);
    assert_eq!(m["channel"], "room");
    assert_eq!(
        m["users"],
        json!([{"user": "alice", "state": {"color": "alice"}}, {"user": "bob", "state": {"color": "bob"}}])
    );
    assert!(m.get("exclude_users").is_none() && m.get("pm_users").is_none());
    assert_eq!(m["timestamp"], at(1.0).isoformat());
}

#[test]
fn unsubscribe_last_connection_sends_parted_and_stranger_sends_none() {
    let mut h = hub();
    join(&mut h, "alice", &["room"], presence_cfg(false), 1, at(0.0));
    let bob = join(&mut h, "bob", &["room"], presence_cfg(false), 2, at(0.0));
    let carol = join(&mut h, "carol", &["other"], presence_cfg(false), 3, at(0.0));
    let _ = h.take_effects();
    assert_eq!(
        h.unsubscribe(carol, &["room".into()], at(1.0)),
        Vec::<String>::new()
    );
    assert!(
        sends(&mut h).is_empty(),
        "no parted for a user who was never there"
    );
    assert_eq!(
        h.unsubscribe(bob, &["room".into()], at(1.0)),
        vec!["room".to_string()]
    );
    let s = sends(&mut h);
    assert_eq!(s[0].0, vec![ws(1)]);
    assert_eq!(s[0].1[0]["message"], json!({"action": "parted"}));
    assert_eq!(s[0].1[0]["state"], Value::Null);
    assert_eq!(s[0].1[0]["users"], json!([]));
}

#[test]
fn channel_message_reaches_members_minus_excluded_and_only_pm_users() {
    let mut h = hub();
    for (i, u) in ["a", "b", "c"].iter().enumerate() {
        join(
            &mut h,
            u,
            &["room"],
            ChannelConfig::default(),
            i as u32 + 1,
            at(0.0),
        );
    }
    let _ = h.take_effects();
    h.pass_message(msg(json!({"channel": "room", "extra": 5})), at(1.0));
    let s = sends(&mut h);
    assert_eq!(s.len(), 1, "one serialization for all");
    assert_eq!(s[0].0, vec![ws(1), ws(2), ws(3)]);
    let m = &s[0].1[0];
    assert_eq!(
        (m["type"].clone(), m["extra"].clone(), m["edited"].clone()),
        (json!("message"), json!(5), Value::Null)
    );
    assert!(m.get("no_history").is_none());

    h.pass_message(
        msg(json!({"channel": "room", "exclude_users": ["b"]})),
        at(1.0),
    );
    assert_eq!(sends(&mut h)[0].0, vec![ws(1), ws(3)]);
    h.pass_message(
        msg(json!({"channel": "room", "pm_users": ["c", "zz"]})),
        at(1.0),
    );
    assert_eq!(sends(&mut h)[0].0, vec![ws(3)]);
    h.pass_message(msg(json!({"channel": "nowhere"})), at(1.0));
    assert!(sends(&mut h).is_empty());
    assert_eq!(
        h.stats,
        Stats {
            total_unique_messages: 4,
            total_messages: 6
        }
    );
}

#[test]
fn pm_without_channel_goes_to_all_connections_of_each_user_and_is_kept() {
    let mut h = hub();
    join(&mut h, "a", &[], ChannelConfig::default(), 1, at(0.0));
    join(&mut h, "a", &[], ChannelConfig::default(), 2, at(0.0));
    join(&mut h, "b", &[], ChannelConfig::default(), 3, at(0.0));
    h.pass_message(msg(json!({"pm_users": ["a", "ghost"]})), at(1.0));
    let s = sends(&mut h);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, vec![ws(1), ws(2)]);
    assert_eq!(s[0].1[0]["channel"], Value::Null);
    assert_eq!(h.users["a"].frames.len(), 1);
}

#[test]
fn history_is_trimmed_to_history_size_and_size_zero_keeps_nothing() {
    for (size, kept) in [(2u64, 2usize), (0, 0), (10, 3)] {
        let mut h = hub();
        let cfg = ChannelConfig {
            store_history: true,
            history_size: size,
            ..Default::default()
        };
        join(&mut h, "a", &["room"], cfg, 1, at(0.0));
        for i in 0..3 {
            h.pass_message(
                msg(json!({"channel": "room", "message": {"n": i}})),
                at(1.0),
            );
        }
        h.pass_message(msg(json!({"channel": "room", "no_history": true})), at(1.0));
        let hist = &h.channels["room"].history;
        assert_eq!(hist.len(), kept, "history_size {size}");
        if kept > 0 {
            assert_eq!(hist[kept - 1].value()["message"]["n"], 2, "newest kept");
        }
        assert_eq!(
            h.channels["room"].frames.len(),
            4,
            "frames keep every message"
        );
    }
}

#[test]
fn catchup_on_attach_has_newer_frames_minus_excluded_and_foreign_pms() {
    let mut h = hub();
    join(&mut h, "a", &["room"], ChannelConfig::default(), 1, at(0.0));
    h.pass_message(
        msg(json!({"channel": "room", "message": {"n": "old"}})),
        at(1.0),
    );
    let b = detached(&mut h, "b", &["room"], at(2.0));
    for (n, extra) in [
        ("all", json!({})),
        ("excluded", json!({"exclude_users": ["b"]})),
        ("pm-other", json!({"pm_users": ["a"]})),
        ("pm-me", json!({"pm_users": ["b"]})),
    ] {
        let mut m = msg(json!({"channel": "room", "message": {"n": n}}));
        m.extend(obj(extra));
        h.pass_message(m, at(3.0));
    }
    h.pass_message(
        msg(json!({"pm_users": ["b"], "message": {"n": "private"}})),
        at(3.0),
    );
    let frames = h.attach_ws(b, ws(9), at(4.0)).unwrap_or_default();
    let got: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str::<Value>(f).unwrap_or(Value::Null)[0].clone())
        .collect();
    let names: Vec<&Value> = got.iter().map(|m| &m["message"]["n"]).collect();
    assert_eq!(names, vec!["all", "pm-me", "private"]);
    assert!(got
        .iter()
        .all(|m| m["catchup"] == true && m.get("pm_users").is_none()));
}

#[test]
fn frames_older_than_every_connection_and_the_replay_window_are_dropped_and_catchup_is_unchanged() {
    let mut h = hub();
    h.set_gc_periods(Duration::from_secs(300), GC_CHANNELS_AFTER);
    join(&mut h, "a", &["room"], ChannelConfig::default(), 1, at(0.0));
    let say = |h: &mut Hub, n: &str, t: f64| {
        h.pass_message(msg(json!({"channel": "room", "message": {"n": n}})), at(t));
    };
    let kept = |h: &Hub| -> Vec<Value> {
        h.channels["room"]
            .frames
            .iter()
            .map(|(_, m)| m.value()["message"]["n"].clone())
            .collect()
    };
    say(&mut h, "before-b", 1.0);
    let b = detached(&mut h, "b", &["room"], at(2.0)); // detached: its activity stays at 2.0
    say(&mut h, "after-b", 3.0);
    h.tick(at(3.5));
    assert_eq!(
        kept(&h),
        ["before-b", "after-b"],
        "inside the replay window"
    );
    h.tick(at(130.0)); // past the window: b (2.0) is the oldest activity
    assert_eq!(
        kept(&h),
        ["after-b"],
        "the frame before every connection is gone"
    );
    let frames = h.attach_ws(b, ws(2), at(131.0)).unwrap_or_default();
    let got: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str::<Value>(f).unwrap_or(Value::Null)[0]["message"]["n"].clone())
        .collect();
    assert_eq!(got, vec!["after-b"], "catch-up is what it was");
    // With no connection left, no frame can ever be sent by time: private frames go at
    // once, channel frames after the replay window.
    say(&mut h, "late", 132.0);
    h.remove_connections(
        &h.connections.keys().copied().collect::<Vec<_>>(),
        at(132.0),
    );
    h.pass_message(
        msg(json!({"pm_users": ["a"], "message": {"n": "pm"}})),
        at(132.0),
    );
    h.tick(at(133.0));
    assert!(h.users["a"].frames.is_empty());
    assert_eq!(kept(&h), ["late"]);
    h.tick(at(133.0 + REPLAY_WINDOW.as_secs_f64()));
    assert!(h.channels["room"].frames.is_empty());
}

#[test]
fn edit_updates_history_and_frames_and_emits_message_edit() {
    let mut h = hub();
    let cfg = ChannelConfig {
        store_history: true,
        ..Default::default()
    };
    join(&mut h, "a", &["room"], cfg, 1, at(0.0));
    let uuid = "12345678-1234-4234-8234-123456789012";
    h.pass_message(msg(json!({"channel": "room", "uuid": uuid})), at(1.0));
    let _ = h.take_effects();
    let edit = obj(
        json!({"uuid": uuid, "channel": "room", "pm_users": [], "exclude_users": [],
        "no_history": false, "message": {"text": "edited"}, "edited": "2024-01-02T00:00:00"}),
    );
    h.edit_message(edit, at(2.0));
    let s = sends(&mut h);
    assert_eq!(s[0].1[0]["type"], "message:edit");
    assert_eq!(s[0].1[0]["message"]["text"], "edited");
    let ch = &h.channels["room"];
    assert_eq!(ch.history[0].value()["message"]["text"], "edited");
    assert_eq!(ch.history[0].value()["edited"], "2024-01-02T00:00:00");
    assert_eq!(ch.frames[0].1.value()["message"]["text"], "edited");
    assert_eq!(
        ch.frames[1].1.value()["type"],
        "message:edit",
        "the edit is a frame too"
    );

    let del = obj(
        json!({"uuid": uuid, "channel": "room", "pm_users": [], "exclude_users": [],
        "no_history": false}),
    );
    h.delete_message(del, at(3.0));
    let s = sends(&mut h);
    assert_eq!(
        s[0].1[0],
        json!({"uuid": uuid, "channel": "room", "type": "message:delete"})
    );
    let ch = &h.channels["room"];
    assert!(ch.history.is_empty());
    assert_eq!(
        ch.frames
            .iter()
            .filter(|(_, m)| m.value()["type"] == "message")
            .count(),
        0
    );
}

#[test]
fn repeated_conn_id_reuses_the_connection() {
    let mut h = hub();
    let id = Uuid(0x1234_5678_1234_4234_8234_1234_5678_9012);
    let p = ConnectParams {
        username: "a".into(),
        conn_id: Some(id),
        channels: vec!["x".into()],
        ..Default::default()
    };
    h.connect(&p, at(0.0));
    h.connect(&p, at(1.0));
    assert_eq!(h.users["a"].connections, vec![id]);
    assert_eq!(h.channels["x"].connections["a"], vec![id]);
    assert_eq!(h.connections.len(), 1);
    let other = ConnectParams {
        username: "b".into(),
        ..p
    };
    h.connect(&other, at(2.0));
    assert!(h.users["a"].connections.is_empty(), "ownership moved to b");
    assert_eq!(h.channels["x"].connections.get("a"), None);
    assert_eq!(h.connections[&id].username, "b");
}

#[test]
fn a_connections_channels_follow_subscribe_unsubscribe_and_removal() {
    let mut h = hub();
    let cfg = presence_cfg(false);
    let a = join(&mut h, "a", &["b-room", "a-room"], cfg, 1, at(0.0));
    let a2 = join(&mut h, "a", &["b-room"], cfg, 2, at(0.0));
    let c = join(&mut h, "c", &["a-room", "b-room"], cfg, 3, at(0.0));
    let cfgs = BTreeMap::from([("c-room".to_string(), cfg)]);
    h.subscribe(a, &["c-room".into()], &cfgs, at(1.0));
    h.unsubscribe(a, &["a-room".into()], at(1.0));
    assert_eq!(h.conn_channels(a), vec!["b-room", "c-room"]);
    assert_eq!(h.conn_channels(c), vec!["a-room", "b-room"]);
    let _ = h.take_effects();
    // Both of a's connections and c's go in one pass.
    h.remove_connections(&[c, a, a2], at(2.0));
    assert!(sends(&mut h).is_empty(), "nobody is left to hear a parted");
    for name in ["a-room", "b-room", "c-room"] {
        let ch = &h.channels[name];
        assert!(ch.connections.is_empty(), "{name}");
        assert_eq!(
            serde_json::to_value(ch.info(false, false)).unwrap_or_default()["total_connections"],
            0,
            "{name}"
        );
    }
    assert!(h.conn_channels(a).is_empty());
}

#[test]
fn removing_connections_sends_parted_in_channel_then_user_order() {
    let mut h = hub();
    let cfg = presence_cfg(false);
    join(&mut h, "watcher", &["x", "y"], cfg, 1, at(0.0));
    let p = join(&mut h, "p", &["y", "x"], cfg, 2, at(0.0));
    let q = join(&mut h, "q", &["x", "y"], cfg, 3, at(0.0));
    let _ = h.take_effects();
    h.remove_connections(&[q, p], at(1.0));
    let parted: Vec<(String, String)> = sends(&mut h)
        .into_iter()
        .map(|(_, v)| {
            let m = &v[0];
            let field = |k: &str| m[k].as_str().unwrap_or("").to_string();
            (field("channel"), field("user"))
        })
        .collect();
    let pair = |c: &str, u: &str| (c.to_string(), u.to_string());
    assert_eq!(
        parted,
        vec![
            pair("x", "p"),
            pair("x", "q"),
            pair("y", "p"),
            pair("y", "q")
        ]
    );
    assert_eq!(h.channels["x"].users(), vec!["watcher".to_string()]);
    assert_eq!(
        serde_json::to_value(h.channels["y"].info(false, false)).unwrap_or_default()
            ["total_connections"],
        1
    );
}

#[test]
fn idle_connections_are_collected_after_15s_with_parted_and_close() {
    let mut h = hub();
    join(&mut h, "a", &["room"], presence_cfg(false), 1, at(0.0));
    let b = join(&mut h, "b", &["room"], presence_cfg(false), 2, at(0.0));
    let _ = h.take_effects();
    h.on_engine_close(ws(1)); // a's socket went away: marked for GC
    h.tick(at(1.0));
    let effects: Vec<Effect> = h
        .take_effects()
        .into_iter()
        .filter(|e| !matches!(e, Effect::Send { payload, .. } if &**payload == "[]"))
        .collect(); // b's heartbeat slice may fall in this second too
    assert!(h.users["a"].connections.is_empty());
    assert_eq!(h.channels["room"].users(), vec!["b".to_string()]);
    assert!(matches!(&effects[..], [Effect::Send { conns, .. }] if conns == &vec![ws(2)]));
    // b's socket stays: heartbeats keep it alive past 15 s
    for s in 2..40 {
        h.tick(at(s as f64));
    }
    assert!(h.connections.contains_key(&b));
    // /disconnect marks it; the next pass collects it and closes its socket
    assert!(h.disconnect(b));
    let _ = h.take_effects();
    h.tick(at(41.0));
    let e = h.take_effects();
    assert!(
        e.contains(&Effect::Close {
            conn: ws(2),
            code: 1000
        }),
        "{e:?}"
    );
    assert!(h.connections.is_empty());
}

#[test]
fn unattached_connection_lives_15s_and_users_live_a_day() {
    let mut h = hub();
    let id = detached(&mut h, "a", &[], at(0.0));
    h.tick(at(15.0));
    assert!(h.connections.contains_key(&id));
    h.tick(at(16.0));
    assert!(!h.connections.contains_key(&id));
    h.tick(at(86_400.0));
    assert!(h.users.contains_key("a"));
    h.tick(at(86_461.0));
    assert!(!h.users.contains_key("a"));
}

#[test]
fn gc_conns_after_sets_how_long_an_unattached_connection_lives() {
    let mut h = hub();
    h.set_gc_periods(Duration::from_secs(40), GC_CHANNELS_AFTER);
    let id = detached(&mut h, "a", &[], at(0.0));
    h.tick(at(16.0));
    assert!(
        h.connections.contains_key(&id),
        "not collected at the default 15 s"
    );
    h.tick(at(40.0));
    assert!(h.connections.contains_key(&id));
    h.tick(at(41.0));
    assert!(!h.connections.contains_key(&id));
}

#[test]
fn empty_channels_are_forgotten_after_gc_channels_after_but_occupied_ones_stay() {
    let mut h = hub();
    h.set_gc_periods(GC_CONNS_AFTER, Duration::from_secs(600));
    let p = |user: &str, channel: &str| ConnectParams {
        username: user.into(),
        channels: vec![channel.into()],
        ..Default::default()
    };
    h.connect(&p("a", "left"), at(0.0));
    join(&mut h, "b", &["kept"], ChannelConfig::default(), 1, at(0.0));
    for s in (5..=595).step_by(5) {
        h.tick(at(s as f64)); // heartbeats keep b's socket alive; a's is collected
    }
    assert!(h.channels["left"].connections.is_empty());
    assert!(
        h.channels.contains_key("left"),
        "kept until gc_channels_after"
    );
    for s in (600..=700).step_by(5) {
        h.tick(at(s as f64));
    }
    assert!(!h.channels.contains_key("left"));
    assert!(
        h.channels.contains_key("kept"),
        "a channel with a connection stays"
    );
}

#[test]
fn heartbeat_is_one_shared_empty_list_every_5s() {
    let mut h = hub();
    join(&mut h, "a", &[], ChannelConfig::default(), 1, at(0.0));
    join(&mut h, "b", &[], ChannelConfig::default(), 2, at(0.0));
    h.tick(at(0.05));
    assert!(sends(&mut h).is_empty());
    // Not ticked for a whole period: every slice is due, in one shared frame.
    h.tick(at(5.0));
    assert_eq!(sends(&mut h), vec![(vec![ws(1), ws(2)], json!([]))]);
}

#[test]
fn heartbeats_are_spread_over_the_period_and_reach_each_websocket_once_per_period() {
    let mut h = hub();
    let count = 2 * super::clock::HEARTBEAT_SLICES;
    for n in 1..=count {
        join(
            &mut h,
            &format!("u{n}"),
            &[],
            ChannelConfig::default(),
            n,
            at(0.0),
        );
    }
    let mut got: Vec<(f64, Vec<ConnId>)> = Vec::new();
    for tenth in 1..=100 {
        let t = f64::from(tenth) / 10.0;
        h.tick(at(t));
        for (conns, payload) in sends(&mut h) {
            assert_eq!(payload, json!([]));
            got.push((t, conns));
        }
    }
    for n in 1..=count {
        let times: Vec<f64> = got
            .iter()
            .filter(|(_, c)| c.contains(&ws(n)))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(times.len(), 2, "websocket {n} at {times:?}");
        assert!(times[0] <= 5.0 + 1e-9, "websocket {n} first at {times:?}");
        assert!((times[1] - times[0] - 5.0).abs() < 0.15, "{n}: {times:?}");
    }
    let largest = got.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
    assert_eq!(largest, 2, "one slice of the websockets at a time");
    assert!(
        h.next_deadline() <= at(10.1),
        "the next slice is due within 0.1 s"
    );
}

/// How a JSONP long-poll with a CORS header asks to be answered.
pub(super) fn jsonp(callback: &str) -> PollReply {
    PollReply {
        callback: Some(callback.into()),
        headers: vec![("Access-Control-Allow-Origin".into(), "*".into())],
    }
}

#[test]
fn long_poll_answers_after_gathering_or_after_wake_time() {
    let mut h = hub();
    let id = detached(&mut h, "a", &["r"], at(0.0));
    let http = ws(50);
    assert!(h.attach_poll(id, http, jsonp("cb"), at(0.0)));
    h.pass_message(msg(json!({"channel": "r", "message": {"n": 1}})), at(1.0));
    h.tick(at(1.2));
    assert!(h.take_effects().is_empty(), "still gathering");
    h.pass_message(msg(json!({"channel": "r", "message": {"n": 2}})), at(1.2));
    h.tick(at(1.45));
    let e = h.take_effects();
    let [Effect::Answer {
        http: got,
        reply,
        body,
    }] = &e[..]
    else {
        panic!("{e:?}")
    };
    assert_eq!((*got, reply), (http, &jsonp("cb")));
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    assert_eq!(h.connections[&id].last_active, at(1.45));

    // nothing arrives: answered at wake time + one gathering window, with []
    assert!(h.attach_poll(id, http, PollReply::default(), at(2.0)));
    h.tick(at(4.9)); // the heartbeat at 5 s has not come yet
    h.tick(at(7.0));
    let _ = h.take_effects();
    assert!(h.next_deadline() <= at(7.25));
    h.tick(at(7.25));
    let e = h.take_effects();
    assert!(
        matches!(&e[..], [Effect::Answer { body, .. }] if body == "[]"),
        "{e:?}"
    );
}

#[test]
fn user_state_change_is_sent_to_notify_state_channels_with_public_changes() {
    let mut h = hub();
    let cfg = ChannelConfig {
        notify_state: true,
        ..Default::default()
    };
    join(&mut h, "a", &["room"], cfg, 1, at(0.0));
    let _ = h.take_effects();
    let changed = h.change_user_state(
        "a",
        &obj(json!({"color": "red", "secret": 2})),
        None,
        at(1.0),
    );
    assert_eq!(changed.len(), 2);
    let s = sends(&mut h);
    let m = &s[0].1[0];
    assert_eq!(m["type"], "user_state_change");
    assert_eq!(
        m["message"],
        json!({"state": {"color": "red"}, "changed": [{"key": "color", "value": "red"}]})
    );
}

#[test]
fn reattaching_a_websocket_closes_the_old_one_and_does_not_replay_catchup() {
    let mut h = hub();
    let id = detached(&mut h, "a", &["r"], at(0.0));
    h.pass_message(msg(json!({"channel": "r"})), at(1.0));
    assert_eq!(h.attach_ws(id, ws(1), at(2.0)).map(|f| f.len()), Some(1));
    let _ = h.take_effects();
    assert_eq!(h.attach_ws(id, ws(2), at(3.0)).map(|f| f.len()), Some(0));
    assert_eq!(
        h.take_effects(),
        vec![Effect::Close {
            conn: ws(1),
            code: 1000
        }]
    );
    h.on_engine_close(ws(1)); // the old socket's close must not mark the connection
    h.tick(at(4.0));
    assert!(h.connections.contains_key(&id));
    assert!(h.attach_ws(Uuid(1), ws(3), at(4.0)).is_none(), "unknown id");
}

#[test]
fn poll_replaced_or_closed_is_answered_or_forgotten() {
    let mut h = hub();
    let id = detached(&mut h, "a", &[], at(0.0));
    assert!(h.attach_poll(id, ws(1), PollReply::default(), at(0.0)));
    assert!(h.attach_poll(id, ws(2), PollReply::default(), at(0.5)));
    let e = h.take_effects();
    assert!(
        matches!(&e[..], [Effect::Answer { http, .. }] if *http == ws(1)),
        "{e:?}"
    );
    h.on_engine_close(ws(2));
    h.tick(at(6.0));
    assert!(h
        .take_effects()
        .iter()
        .all(|e| !matches!(e, Effect::Answer { .. })));
    assert!(
        !h.attach_poll(Uuid(1), ws(3), PollReply::default(), at(6.0)),
        "unknown id"
    );
}

#[test]
fn shutdown_answers_polls_but_leaves_websockets_alone() {
    let mut h = hub();
    let id = detached(&mut h, "a", &[], at(0.0));
    assert!(h.attach_poll(id, ws(1), PollReply::default(), at(0.0)));
    assert!(h.attach_ws(id, ws(2), at(0.1)).is_some()); // poll answered, ws attached
    let _ = h.take_effects();
    let other = detached(&mut h, "b", &[], at(0.0));
    assert!(h.attach_poll(other, ws(3), jsonp("f"), at(0.2)));
    h.answer_all_polls();
    let e = h.take_effects();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(matches!(&e[0], Effect::Answer { http, .. } if *http == ws(3)));
}

#[test]
fn clock_counters_count_heartbeat_frames_and_collections() {
    let mut h = hub();
    join(&mut h, "a", &["room"], ChannelConfig::default(), 1, at(0.0));
    join(&mut h, "b", &["room"], ChannelConfig::default(), 2, at(0.0));
    h.tick(at(5.0));
    assert_eq!(h.clock_counters.heartbeats, 2, "one frame per websocket");
    h.on_engine_close(ws(1));
    h.tick(at(6.0));
    assert_eq!(h.clock_counters.gc_connections, 1);
    assert_eq!(h.clock_counters.gc_users, 0, "users live a day");
    let _ = h.take_effects();
}

#[test]
fn a_disconnected_connection_is_collected_even_if_its_client_speaks_before_the_pass() {
    let mut h = hub();
    let id = join(&mut h, "a", &["room"], presence_cfg(false), 1, at(0.0));
    assert!(h.disconnect(id));
    // The client's heartbeat lands before the collection pass: it must not revive it.
    h.on_ws_activity(ws(1), at(0.5));
    h.tick(at(1.0));
    h.tick(at(2.0));
    assert!(!h.connections.contains_key(&id), "revived by its poll");
    // A /connect with the same id is the application's own way back: that one stays.
    let again = detached(&mut h, "b", &["room"], at(3.0));
    assert!(h.disconnect(again));
    let p = ConnectParams {
        username: "b".into(),
        conn_id: Some(again),
        channels: vec!["room".into()],
        ..ConnectParams::default()
    };
    assert_eq!(h.connect(&p, at(3.5)), again);
    h.tick(at(4.0));
    h.tick(at(5.0));
    assert!(h.connections.contains_key(&again), "a /connect revives it");
}

/// The heartbeat slices hold exactly the websockets some connection delivers to.
fn assert_slices_hold_the_websockets(h: &Hub) {
    let mut ws: Vec<ConnId> = h
        .connections
        .values()
        .filter_map(|c| match c.target {
            Target::Ws(e) => Some(e),
            _ => None,
        })
        .collect();
    ws.sort();
    assert_eq!(h.ws_slices.all(), ws);
}

#[test]
fn websockets_that_close_reconnect_or_are_replaced_get_one_heartbeat_a_period_while_they_live() {
    let mut h = hub();
    let reused = ConnId { gen: 1, ..ws(1) }; // engine key 1 again, a new generation
    let a = join(&mut h, "a", &[], ChannelConfig::default(), 1, at(0.0));
    let b = join(&mut h, "b", &[], ChannelConfig::default(), 2, at(0.0));
    let c = join(&mut h, "c", &[], ChannelConfig::default(), 3, at(0.0));
    join(&mut h, "d", &[], ChannelConfig::default(), 4, at(0.0));
    let _ = h.take_effects();
    // Each websocket's life in tenths of a second: [from, to).
    let lives = [
        (ws(1), 0, 65),   // closes at 6.5 s
        (reused, 65, 70), // a's client comes back at once; the pass at 7 s collects a
        (ws(2), 0, 60),   // replaced by another websocket of the same slice
        (ws(52), 60, 200),
        (ws(3), 0, 60), // replaced by one of another slice
        (ws(10), 60, 200),
        (ws(4), 0, 200), // untouched
    ];
    let mut beats: Vec<(u32, ConnId)> = Vec::new();
    let mut closed: Vec<(u32, ConnId)> = Vec::new();
    for tenth in 1..=200u32 {
        let now = at(f64::from(tenth) / 10.0);
        match tenth {
            60 => {
                assert!(h.attach_ws(b, ws(52), now).is_some());
                assert!(h.attach_ws(c, ws(10), now).is_some());
            }
            65 => {
                h.on_engine_close(ws(1));
                assert!(h.attach_ws(a, reused, now).is_some());
            }
            _ => {}
        }
        h.tick(now);
        assert_slices_hold_the_websockets(&h);
        for e in h.take_effects() {
            match e {
                Effect::Send { conns, payload } => {
                    assert_eq!(&*payload, "[]");
                    beats.extend(conns.into_iter().map(|conn| (tenth, conn)));
                }
                Effect::Close { conn, code } => {
                    assert_eq!(code, 1000);
                    closed.push((tenth, conn));
                }
                other => panic!("{other:?}"),
            }
        }
    }
    for (conn, from, to) in lives {
        let times: Vec<u32> = beats
            .iter()
            .filter(|(_, e)| *e == conn)
            .map(|(t, _)| *t)
            .collect();
        assert!(
            times.iter().all(|t| (from..to).contains(t)),
            "{conn:?} lived {from}..{to}, beats at {times:?}"
        );
        // Every whole period of its life holds exactly one.
        let mut start = from;
        while start + 50 <= to {
            let n = times
                .iter()
                .filter(|t| (start..start + 50).contains(*t))
                .count();
            assert_eq!(n, 1, "{conn:?} in {start}..{}: {times:?}", start + 50);
            start += 50;
        }
    }
    assert_eq!(closed, [(60, ws(2)), (60, ws(3)), (70, reused)]);
    assert!(!h.connections.contains_key(&a), "collected");
    assert_eq!(h.ws_slices.all(), [ws(4), ws(10), ws(52)]);
}
