//! The Redis link against a real `redis-server` (started by the test on a free port):
//! pipelining, deadlines, subscriber reconnects, Redis going away and coming back, AUTH.

mod redis_common;

use channelstream::redis::{CommandError, RedisEvent, Role};
use channelstream::resp::Reply;
use redis_common::{quick_config, redis_or_skip, TestLink};
use std::time::{Duration, Instant};

#[test]
fn pipelined_commands_are_answered_in_order() {
    let Some(redis) = redis_or_skip("pipelined_commands_are_answered_in_order", &[]) else {
        return;
    };
    let link = TestLink::spawn(quick_config(redis.url("")));
    for tag in 0..200u64 {
        link.handle
            .command(&["INCR", "counter"], tag)
            .expect("queued");
    }
    for tag in 0..200u64 {
        let got = link.wait_for(Duration::from_secs(5), |e| match e {
            RedisEvent::Reply { tag, result } => Some((*tag, result.clone())),
            _ => None,
        });
        assert_eq!(got, Some((tag, Ok(Reply::Integer(tag as i64 + 1)))));
    }
    assert_eq!(
        link.call(999, &["GET", "counter"]),
        Ok(Reply::Bulk(b"200".to_vec()))
    );
    let err = link
        .call(1000, &["HGET", "counter", "x"])
        .expect_err("wrong type");
    assert!(
        matches!(&err, CommandError::Server(m) if m.starts_with("WRONGTYPE")),
        "{err:?}"
    );
}

#[test]
fn a_command_past_its_deadline_fails_and_the_link_recovers() {
    let Some(redis) = redis_or_skip(
        "a_command_past_its_deadline_fails_and_the_link_recovers",
        &[],
    ) else {
        return;
    };
    let mut config = quick_config(redis.url(""));
    config.command_timeout = Duration::from_millis(300);
    let link = TestLink::spawn(config);
    assert_eq!(link.call(1, &["PING"]), Ok(Reply::Simple("PONG".into())));
    let start = Instant::now();
    link.handle
        .command(&["BLPOP", "never", "3"], 2)
        .expect("queued");
    link.handle.command(&["PING"], 3).expect("queued");
    assert_eq!(link.reply(2), Err(CommandError::Timeout));
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_millis(2500),
        "timed out after {waited:?}"
    );
    assert_eq!(link.reply(3), Err(CommandError::ConnectionLost));
    // After the back-off the link reconnects and works again.
    let until = Instant::now() + Duration::from_secs(5);
    let mut tag = 10;
    loop {
        match link.call(tag, &["PING"]) {
            Ok(reply) => break assert_eq!(reply, Reply::Simple("PONG".into())),
            Err(e) => assert!(Instant::now() < until, "still failing: {e:?}"),
        }
        tag += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_subscriber_reconnects_resubscribes_and_keeps_receiving() {
    let Some(redis) = redis_or_skip(
        "a_killed_subscriber_reconnects_resubscribes_and_keeps_receiving",
        &[],
    ) else {
        return;
    };
    let link = TestLink::spawn(quick_config(redis.url("")));
    for channel in ["news", "chat"] {
        link.handle.subscribe(channel.as_bytes()).expect("queued");
    }
    let subscribed = |link: &TestLink| {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let channel = link.wait_for(Duration::from_secs(5), |e| match e {
                RedisEvent::Subscribed { channel } => Some(channel.clone()),
                _ => None,
            });
            seen.push(channel.expect("subscribed within 5 s"));
        }
        seen.sort();
        seen
    };
    assert_eq!(subscribed(&link), [b"chat".to_vec(), b"news".to_vec()]);
    let message = |link: &TestLink| {
        link.wait_for(Duration::from_secs(5), |e| match e {
            RedisEvent::Message { channel, payload } => Some((channel.clone(), payload.clone())),
            _ => None,
        })
    };
    assert_eq!(
        link.call(1, &["PUBLISH", "news", "one"]),
        Ok(Reply::Integer(1))
    );
    assert_eq!(message(&link), Some((b"news".to_vec(), b"one".to_vec())));

    let killed = redis.call(None, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed, Reply::Integer(1), "one subscriber connection");
    let down = link.wait_for(Duration::from_secs(5), |e| match e {
        RedisEvent::Link {
            role: Role::Subscriber,
            up: false,
        } => Some(()),
        _ => None,
    });
    assert_eq!(down, Some(()), "the subscriber saw its connection go");
    assert_eq!(
        subscribed(&link),
        [b"chat".to_vec(), b"news".to_vec()],
        "resubscribed"
    );
    assert_eq!(
        link.call(2, &["PUBLISH", "chat", "two"]),
        Ok(Reply::Integer(1))
    );
    assert_eq!(message(&link), Some((b"chat".to_vec(), b"two".to_vec())));
}

#[test]
fn commands_fail_fast_while_redis_is_down_and_work_once_it_is_back() {
    let Some(mut redis) = redis_or_skip(
        "commands_fail_fast_while_redis_is_down_and_work_once_it_is_back",
        &[],
    ) else {
        return;
    };
    let link = TestLink::spawn(quick_config(redis.url("")));
    link.handle.subscribe(b"ch").expect("queued");
    assert_eq!(
        link.call(1, &["SET", "k", "v"]),
        Ok(Reply::Simple("OK".into()))
    );
    redis.stop();
    std::thread::sleep(Duration::from_millis(100));
    for tag in 10..20 {
        let start = Instant::now();
        let result = link.call(tag, &["GET", "k"]);
        let took = start.elapsed();
        assert!(
            matches!(
                result,
                Err(CommandError::Unavailable | CommandError::ConnectionLost)
            ),
            "{result:?}"
        );
        assert!(
            took < Duration::from_millis(500),
            "failed after {took:?}, not fast"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
    redis.start();
    let until = Instant::now() + Duration::from_secs(5);
    let mut tag = 100;
    let reply = loop {
        match link.call(tag, &["SET", "k", "again"]) {
            Ok(reply) => break reply,
            Err(e) => assert!(Instant::now() < until, "still failing: {e:?}"),
        }
        tag += 1;
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(reply, Reply::Simple("OK".into()));
    // The subscriber came back too and is subscribed again (its `Subscribed` event may
    // have passed while the loop above waited for replies): a publish reaches it.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        tag += 1;
        if link.call(tag, &["PUBLISH", "ch", "x"]) == Ok(Reply::Integer(1)) {
            break;
        }
        assert!(Instant::now() < until, "subscriber not back within 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let message = link.wait_for(Duration::from_secs(5), |e| match e {
        RedisEvent::Message { channel, payload } => Some((channel.clone(), payload.clone())),
        _ => None,
    });
    assert_eq!(message, Some((b"ch".to_vec(), b"x".to_vec())));
}

#[test]
fn auth_uses_the_password_from_the_url() {
    let Some(redis) = redis_or_skip(
        "auth_uses_the_password_from_the_url",
        &["--requirepass", "s3cret/pw"],
    ) else {
        return;
    };
    let link = TestLink::spawn(quick_config(redis.url("default:s3cret%2Fpw@")));
    assert_eq!(link.call(1, &["PING"]), Ok(Reply::Simple("PONG".into())));
    link.handle.subscribe(b"ch").expect("queued");
    let subscribed = link.wait_for(Duration::from_secs(5), |e| match e {
        RedisEvent::Subscribed { channel } => Some(channel.clone()),
        _ => None,
    });
    assert_eq!(
        subscribed,
        Some(b"ch".to_vec()),
        "the subscriber logged in too"
    );
    let link = TestLink::spawn(quick_config(redis.url(":s3cret%2Fpw@")));
    assert_eq!(link.call(1, &["PING"]), Ok(Reply::Simple("PONG".into())));

    let wrong = TestLink::spawn(quick_config(redis.url(":wrong@")));
    let result = wrong.call(1, &["PING"]);
    assert!(result.is_err(), "{result:?}");
    let none = TestLink::spawn(quick_config(redis.url("")));
    let err = none.call(1, &["PING"]).expect_err("no auth");
    assert!(
        matches!(&err, CommandError::Server(m) if m.starts_with("NOAUTH")),
        "{err:?}"
    );
}

#[test]
fn a_host_name_in_the_url_is_resolved() {
    let Some(redis) = redis_or_skip("a_host_name_in_the_url_is_resolved", &[]) else {
        return;
    };
    // Where `localhost` also resolves to ::1 (Redis listens on 127.0.0.1 only), a failed
    // connect moves on to the next address.
    let url = channelstream::redis::RedisUrl::parse(&format!("redis://localhost:{}", redis.port))
        .expect("url");
    let link = TestLink::spawn(quick_config(url));
    let until = Instant::now() + Duration::from_secs(5);
    let mut tag = 0;
    loop {
        match link.call(tag, &["PING"]) {
            Ok(reply) => break assert_eq!(reply, Reply::Simple("PONG".into())),
            Err(e) => assert!(Instant::now() < until, "still failing: {e:?}"),
        }
        tag += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}
