//! The session with a simulated clock: bytes in, bytes and events out.

use super::*;
use crate::redis::RedisUrl;
use std::time::Duration;

fn config(url: &str) -> Arc<LinkConfig> {
    let mut config = LinkConfig::new(RedisUrl::parse(url).expect("url"));
    config.scripts = vec![Arc::new(Script::new("return 1"))];
    Arc::new(config)
}

fn cmd(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(parts, &mut out);
    out
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn events(s: &mut Session) -> Vec<RedisEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn written(s: &mut Session) -> Vec<u8> {
    let out = s.pending_output().to_vec();
    s.on_written(out.len());
    out
}

fn reply(tag: u64, r: Reply) -> RedisEvent {
    RedisEvent::Reply { tag, result: Ok(r) }
}

fn failed(tag: u64, e: CommandError) -> RedisEvent {
    RedisEvent::Reply {
        tag,
        result: Err(e),
    }
}

/// A command session connected at `t0`, handshake answered.
fn ready(url: &str, t0: Instant) -> Session {
    let mut s = Session::new(Role::Commands, config(url), t0);
    s.on_connect_started(t0);
    s.on_connected(t0);
    written(&mut s);
    s.on_read(b"$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n", t0);
    assert_eq!(
        events(&mut s),
        [RedisEvent::Link {
            role: Role::Commands,
            up: true
        }]
    );
    s
}

#[test]
fn handshake_sends_auth_select_and_script_load_before_queued_commands() {
    let t0 = Instant::now();
    let mut s = Session::new(Role::Commands, config("redis://app:pw@h/3"), t0);
    assert!(s.wants_connect(t0));
    s.on_connect_started(t0);
    s.command(7, &args(&["GET", "k"]), t0);
    s.on_connected(t0);
    let want = [
        cmd(&["AUTH", "app", "pw"]),
        cmd(&["SELECT", "3"]),
        cmd(&["SCRIPT", "LOAD", "return 1"]),
        cmd(&["GET", "k"]),
    ]
    .concat();
    assert_eq!(written(&mut s), want);
    s.on_read(
        b"+OK\r\n+OK\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n$1\r\nv\r\n",
        t0,
    );
    assert_eq!(
        events(&mut s),
        [
            RedisEvent::Link {
                role: Role::Commands,
                up: true
            },
            reply(7, Reply::Bulk(b"v".to_vec()))
        ]
    );
}

#[test]
fn pipelined_replies_match_commands_in_order_whatever_the_split() {
    let t0 = Instant::now();
    let answers = b"+OK\r\n:2\r\n-ERR wrong\r\n$-1\r\n";
    for split in 0..=answers.len() {
        let mut s = ready("redis://h", t0);
        for (tag, c) in [(1, "SET"), (2, "INCR"), (3, "BAD"), (4, "GET")] {
            s.command(tag, &args(&[c, "k"]), t0);
        }
        s.on_read(&answers[..split], t0);
        s.on_read(&answers[split..], t0);
        assert_eq!(
            events(&mut s),
            [
                reply(1, Reply::Simple("OK".into())),
                reply(2, Reply::Integer(2)),
                failed(3, CommandError::Server("ERR wrong".into())),
                reply(4, Reply::Nil),
            ],
            "split at {split}"
        );
    }
}

#[test]
fn a_missed_deadline_fails_the_command_resets_and_backs_off_doubling() {
    let t0 = Instant::now();
    let mut s = ready("redis://h", t0);
    s.command(1, &args(&["BLPOP", "k", "0"]), t0);
    s.command(2, &args(&["GET", "k"]), t0 + Duration::from_millis(10));
    let due = t0 + Duration::from_secs(2);
    assert_eq!(s.deadline(), Some(due));
    s.on_timeout(due);
    assert!(s.is_down());
    assert_eq!(
        events(&mut s),
        [
            failed(1, CommandError::Timeout),
            failed(2, CommandError::ConnectionLost),
            RedisEvent::Link {
                role: Role::Commands,
                up: false
            },
        ]
    );
    // Down and waiting out the back-off: commands fail at once.
    s.command(3, &args(&["GET", "k"]), due);
    assert_eq!(events(&mut s), [failed(3, CommandError::Unavailable)]);
    assert_eq!(s.pending_output(), b"");
    let mut at = due;
    for wait_ms in [100, 200, 400, 800] {
        assert_eq!(s.deadline(), Some(at + Duration::from_millis(wait_ms)));
        at += Duration::from_millis(wait_ms);
        assert!(s.wants_connect(at));
        s.on_connect_started(at);
        s.on_closed(at); // refused
    }
    // Once a handshake completes the back-off starts over.
    at += Duration::from_secs(5);
    s.on_connect_started(at);
    s.on_connected(at);
    s.on_read(b"$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n", at);
    s.on_closed(at);
    assert_eq!(s.deadline(), Some(at + Duration::from_millis(100)));
}

#[test]
fn commands_queued_during_a_refused_connect_fail_as_unavailable() {
    let t0 = Instant::now();
    let mut s = Session::new(Role::Commands, config("redis://h"), t0);
    s.command(1, &args(&["PING"]), t0);
    s.on_connect_started(t0);
    s.command(2, &args(&["PING"]), t0);
    s.on_closed(t0);
    assert_eq!(
        events(&mut s),
        [
            failed(1, CommandError::Unavailable),
            failed(2, CommandError::Unavailable)
        ]
    );
}

#[test]
fn noscript_resends_the_script_source_and_answers_once() {
    let t0 = Instant::now();
    let mut s = ready("redis://h", t0);
    let script = Script::new("return 1");
    s.eval(9, &script, &args(&["k"]), &args(&["a"]), t0);
    assert_eq!(
        written(&mut s),
        cmd(&["EVALSHA", script.sha1(), "1", "k", "a"])
    );
    s.on_read(b"-NOSCRIPT No matching script.\r\n", t0);
    assert_eq!(events(&mut s), []);
    assert_eq!(written(&mut s), cmd(&["EVAL", "return 1", "1", "k", "a"]));
    s.on_read(b":1\r\n", t0);
    assert_eq!(events(&mut s), [reply(9, Reply::Integer(1))]);
}

#[test]
fn a_refused_auth_resets_and_a_broken_stream_resets() {
    let t0 = Instant::now();
    let mut s = Session::new(Role::Commands, config("redis://:bad@h"), t0);
    s.on_connect_started(t0);
    s.on_connected(t0);
    s.on_read(b"-WRONGPASS invalid username-password pair\r\n", t0);
    assert!(s.is_down());
    let mut s = ready("redis://h", t0);
    s.command(1, &args(&["GET", "k"]), t0);
    s.on_read(b"%1\r\n", t0); // a RESP3 map: not what we asked for
    assert!(s.is_down());
    assert_eq!(
        events(&mut s),
        [
            failed(1, CommandError::ConnectionLost),
            RedisEvent::Link {
                role: Role::Commands,
                up: false
            }
        ]
    );
    let mut s = ready("redis://h", t0);
    s.on_read(b"+surprise\r\n", t0);
    assert!(s.is_down(), "a reply nobody asked for");
}

#[test]
fn subscriber_resubscribes_after_reconnect_and_turns_pushes_into_events() {
    let t0 = Instant::now();
    let mut s = Session::new(Role::Subscriber, config("redis://h"), t0);
    s.subscribe(b"a".to_vec());
    s.subscribe(b"b".to_vec());
    s.on_connect_started(t0);
    s.on_connected(t0);
    assert_eq!(
        written(&mut s),
        cmd(&["SUBSCRIBE", "a", "b"]),
        "no SCRIPT LOAD here"
    );
    s.on_read(
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
        t0,
    );
    s.on_read(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n", t0);
    s.subscribe(b"c".to_vec());
    assert_eq!(written(&mut s), cmd(&["SUBSCRIBE", "c"]));
    s.unsubscribe(b"b");
    assert_eq!(written(&mut s), cmd(&["UNSUBSCRIBE", "b"]));
    assert_eq!(
        events(&mut s),
        [
            RedisEvent::Link {
                role: Role::Subscriber,
                up: true
            },
            RedisEvent::Subscribed {
                channel: b"a".to_vec()
            },
            RedisEvent::Subscribed {
                channel: b"b".to_vec()
            },
            RedisEvent::Message {
                channel: b"a".to_vec(),
                payload: b"hi".to_vec()
            },
        ]
    );
    s.on_closed(t0);
    let t1 = t0 + Duration::from_millis(100);
    assert!(s.wants_connect(t1));
    s.on_connect_started(t1);
    s.on_connected(t1);
    assert_eq!(written(&mut s), cmd(&["SUBSCRIBE", "a", "c"]));
}

#[test]
fn a_quiet_subscriber_pings_and_resets_when_no_pong_comes() {
    let t0 = Instant::now();
    let mut s = Session::new(Role::Subscriber, config("redis://h"), t0);
    s.on_connect_started(t0);
    s.on_connected(t0);
    let ping_at = t0 + Duration::from_secs(10);
    assert_eq!(s.deadline(), Some(ping_at));
    s.on_timeout(ping_at);
    assert_eq!(written(&mut s), cmd(&["PING"]));
    s.on_read(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", ping_at);
    assert!(!s.is_down());
    let second = ping_at + Duration::from_secs(10);
    s.on_timeout(second);
    assert_eq!(written(&mut s), cmd(&["PING"]));
    s.on_timeout(second + Duration::from_secs(2));
    assert!(s.is_down(), "no pong within command_timeout");
}

#[test]
fn a_subscriber_with_no_channel_takes_a_plain_pong() {
    // Redis answers PING with +PONG to a connection that subscribed to nothing yet.
    let t0 = Instant::now();
    let mut s = Session::new(Role::Subscriber, config("redis://h"), t0);
    s.on_connect_started(t0);
    s.on_connected(t0);
    let ping_at = t0 + Duration::from_secs(10);
    s.on_timeout(ping_at);
    assert_eq!(written(&mut s), cmd(&["PING"]));
    s.on_read(b"+PONG\r\n", ping_at);
    assert!(!s.is_down());
    s.on_read(b"+PONG\r\n", ping_at);
    assert!(s.is_down(), "a pong nobody asked for breaks the stream");
}

#[test]
fn a_full_pipeline_answers_busy() {
    let t0 = Instant::now();
    let mut url_config = LinkConfig::new(RedisUrl::parse("redis://h").expect("url"));
    url_config.max_pending = 2;
    let mut s = Session::new(Role::Commands, Arc::new(url_config), t0);
    for tag in 0..3 {
        s.command(tag, &args(&["PING"]), t0);
    }
    assert_eq!(events(&mut s), [failed(2, CommandError::Busy)]);
}

#[test]
fn the_stats_see_round_trips_from_queued_to_reply_and_the_connection_come_and_go() {
    let t0 = Instant::now();
    let mut s = ready("redis://h", t0);
    let stats = s.config.stats.clone();
    assert!(stats.is_up(Role::Commands));
    s.command(1, &args(&["GET", "k"]), t0);
    written(&mut s);
    s.on_read(b"$1\r\nv\r\n", t0 + Duration::from_millis(3));
    let (buckets, micros) = stats.latency();
    assert_eq!(micros, 3000, "queued at t0, answered 3 ms later");
    assert_eq!(
        buckets.iter().sum::<u64>(),
        1,
        "the handshake is not counted"
    );
    s.on_closed(t0 + Duration::from_millis(4));
    assert!(!stats.is_up(Role::Commands), "lost");
    assert_eq!(stats.reconnects(Role::Commands), 0);
    let t1 = t0 + Duration::from_secs(1);
    s.on_connect_started(t1);
    s.on_connected(t1);
    written(&mut s);
    s.on_read(b"$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n", t1);
    assert!(stats.is_up(Role::Commands));
    assert_eq!(stats.reconnects(Role::Commands), 1);
}
