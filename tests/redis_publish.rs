//! The atomic publish script (`src/redis/publish.lua`) against a real `redis-server`:
//! per-channel sequence numbers, idempotent retries, trimmed history, subscribers
//! receiving `seq:epoch:payload`, a new epoch when Redis lost the channel, and the EVAL
//! fallback after `SCRIPT FLUSH`; a floor (the last frame a node saw) raising a numbering
//! Redis lost part of.

mod redis_common;

use channelstream::redis::{
    new_epoch, PublishScript, Published, PublishedFrame, RedisEvent, SeqFloor,
};
use channelstream::resp::Reply;
use redis_common::{quick_config, redis_or_skip, TestLink};
use std::time::Duration;

struct Publisher {
    link: TestLink,
    script: PublishScript,
    epoch: String,
    tag: u64,
}

impl Publisher {
    fn new(redis: &redis_common::RedisServer) -> Publisher {
        let script = PublishScript::new("t:");
        let mut config = quick_config(redis.url(""));
        config.scripts = vec![script.script().clone()];
        Publisher {
            link: TestLink::spawn(config),
            script,
            epoch: new_epoch().expect("urandom"),
            tag: 0,
        }
    }

    fn publish(&mut self, channel: &str, id: &str, payload: &str, history: usize) -> Published {
        self.tag += 1;
        self.script
            .publish(
                &self.link.handle,
                channel,
                id,
                payload.as_bytes(),
                history,
                &self.epoch,
                self.tag,
            )
            .expect("queued");
        let reply = self.link.reply(self.tag).expect("script ran");
        PublishScript::parse_reply(reply).expect("script reply")
    }

    fn history(&self, redis: &redis_common::RedisServer, channel: &str) -> Vec<Vec<u8>> {
        let key = String::from_utf8(self.script.history_key(channel)).expect("utf8");
        match redis.call(None, &["LRANGE", &key, "0", "-1"]) {
            Reply::Array(items) => items
                .into_iter()
                .map(|r| r.into_bulk().expect("bulk"))
                .collect(),
            other => panic!("LRANGE gave {other:?}"),
        }
    }

    fn subscribe(&self, channel: &str) {
        self.link
            .handle
            .subscribe(&self.script.pubsub_channel(channel))
            .expect("queued");
        let ok = self.link.wait_for(Duration::from_secs(5), |e| match e {
            RedisEvent::Subscribed { .. } => Some(()),
            _ => None,
        });
        assert!(ok.is_some(), "subscribed within 5 s");
    }

    fn messages(&self, count: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..count)
            .map(|i| {
                self.link
                    .wait_for(Duration::from_secs(5), |e| match e {
                        RedisEvent::Message { channel, payload } => {
                            Some((channel.clone(), payload.clone()))
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("message {i} within 5 s"))
            })
            .collect()
    }
}

#[test]
fn sequence_numbers_count_per_channel_and_subscribers_get_them() {
    let Some(redis) = redis_or_skip(
        "sequence_numbers_count_per_channel_and_subscribers_get_them",
        &[],
    ) else {
        return;
    };
    let mut p = Publisher::new(&redis);
    p.subscribe("a");
    p.subscribe("b");
    let mut seqs = Vec::new();
    for (i, channel) in ["a", "a", "b", "a", "b"].iter().enumerate() {
        let published = p.publish(channel, &format!("m{i}"), &format!("{{\"n\":{i}}}"), 10);
        assert!(!published.duplicate);
        assert_eq!(
            published.epoch, p.epoch,
            "a new channel takes the offered epoch"
        );
        seqs.push((*channel, published.seq));
    }
    assert_eq!(seqs, [("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)]);
    let got: Vec<(Vec<u8>, u64, String)> = p
        .messages(5)
        .into_iter()
        .map(|(channel, payload)| {
            let frame = PublishedFrame::parse(&payload).expect("frame");
            assert_eq!(frame.epoch, p.epoch);
            (
                channel,
                frame.seq,
                String::from_utf8_lossy(frame.payload).into_owned(),
            )
        })
        .collect();
    let a = p.script.pubsub_channel("a");
    let b = p.script.pubsub_channel("b");
    assert_eq!(
        got,
        [
            (a.clone(), 1, "{\"n\":0}".to_string()),
            (a.clone(), 2, "{\"n\":1}".to_string()),
            (b.clone(), 1, "{\"n\":2}".to_string()),
            (a, 3, "{\"n\":3}".to_string()),
            (b, 2, "{\"n\":4}".to_string()),
        ]
    );
}

#[test]
fn a_retry_with_the_same_message_id_is_not_published_twice() {
    let Some(redis) = redis_or_skip(
        "a_retry_with_the_same_message_id_is_not_published_twice",
        &[],
    ) else {
        return;
    };
    let mut p = Publisher::new(&redis);
    p.subscribe("c");
    let first = p.publish("c", "id-1", "hello", 10);
    let retry = p.publish("c", "id-1", "hello", 10);
    assert_eq!((first.seq, first.duplicate), (1, false));
    assert_eq!(
        (retry.seq, retry.epoch.as_str(), retry.duplicate),
        (1, first.epoch.as_str(), true)
    );
    let next = p.publish("c", "id-2", "world", 10);
    assert_eq!((next.seq, next.duplicate), (2, false));
    assert_eq!(p.history(&redis, "c").len(), 2, "the retry stored nothing");
    let payloads: Vec<Vec<u8>> = p
        .messages(2)
        .into_iter()
        .map(|(_, payload)| payload)
        .collect();
    let want = [
        format!("1:{}:hello", p.epoch),
        format!("2:{}:world", p.epoch),
    ];
    assert_eq!(
        payloads,
        want.map(String::into_bytes),
        "the retry published nothing"
    );
}

#[test]
fn history_keeps_the_newest_frames_up_to_its_size() {
    let Some(redis) = redis_or_skip("history_keeps_the_newest_frames_up_to_its_size", &[]) else {
        return;
    };
    let mut p = Publisher::new(&redis);
    for i in 1..=5 {
        p.publish("h", &format!("m{i}"), &format!("p{i}"), 3);
    }
    let seqs: Vec<(u64, Vec<u8>)> = p
        .history(&redis, "h")
        .iter()
        .map(|f| {
            PublishedFrame::parse(f)
                .map(|f| (f.seq, f.payload.to_vec()))
                .expect("frame")
        })
        .collect();
    assert_eq!(
        seqs,
        [
            (5, b"p5".to_vec()),
            (4, b"p4".to_vec()),
            (3, b"p3".to_vec())
        ]
    );
    p.publish("h", "m6", "p6", 0);
    assert!(
        p.history(&redis, "h").is_empty(),
        "history size 0 keeps nothing"
    );
}

#[test]
fn a_channel_redis_lost_restarts_under_a_new_epoch() {
    let Some(redis) = redis_or_skip("a_channel_redis_lost_restarts_under_a_new_epoch", &[]) else {
        return;
    };
    let mut p = Publisher::new(&redis);
    p.publish("e", "m1", "x", 10);
    let before = p.publish("e", "m2", "y", 10);
    assert_eq!(before.seq, 2);
    assert_eq!(redis.call(None, &["FLUSHALL"]), Reply::Simple("OK".into()));
    p.epoch = new_epoch().expect("urandom");
    let after = p.publish("e", "m2", "y", 10);
    assert_eq!(
        (after.seq, after.duplicate),
        (1, false),
        "numbering starts over"
    );
    assert_ne!(after.epoch, before.epoch, "under a new epoch");
    // Redis forgot its script cache too: EVALSHA meets NOSCRIPT and the link sends EVAL.
    assert_eq!(
        redis.call(None, &["SCRIPT", "FLUSH"]),
        Reply::Simple("OK".into())
    );
    let next = p.publish("e", "m3", "z", 10);
    assert_eq!((next.seq, next.epoch), (2, after.epoch));
}

#[test]
fn a_floor_in_the_same_epoch_numbers_after_it_and_one_of_another_epoch_does_not() {
    let Some(redis) = redis_or_skip("a_floor_numbers_after_it", &[]) else {
        return;
    };
    let mut p = Publisher::new(&redis);
    for i in 1..=4 {
        p.publish("f", &format!("m{i}"), "x", 10);
    }
    let epoch = p.publish("f", "m5", "x", 10).epoch;
    // Redis lost its last three numbers (as after a restart from an older snapshot).
    let meta = String::from_utf8(p.script.meta_key("f")).expect("utf8");
    redis.call(None, &["HSET", &meta, "s", "2"]);
    let publish_with = |p: &mut Publisher, id: &str, floor: SeqFloor<'_>| {
        p.tag += 1;
        let base = p.script.channel_base("f");
        let at = (base.as_str(), id, &b"y"[..]);
        let (handle, new) = (&p.link.handle, &p.epoch);
        p.script
            .publish_config_at(handle, at, 10, new, None, Some(floor), p.tag)
            .expect("queued");
        PublishScript::parse_reply(p.link.reply(p.tag).expect("ran")).expect("reply")
    };
    let other = SeqFloor {
        epoch: "another",
        seq: 9,
    };
    assert_eq!(
        publish_with(&mut p, "n1", other).seq,
        3,
        "another epoch's floor"
    );
    let seen = SeqFloor {
        epoch: &epoch,
        seq: 5,
    };
    let next = publish_with(&mut p, "n2", seen);
    assert_eq!((next.seq, next.epoch.as_str()), (6, epoch.as_str()));
    let lower = SeqFloor {
        epoch: &epoch,
        seq: 1,
    };
    assert_eq!(publish_with(&mut p, "n3", lower).seq, 7, "a lower floor");
    // The floor script alone: raises only in the same epoch and only upwards.
    let base = p.script.channel_base("f");
    let raise = |p: &mut Publisher, floor: SeqFloor<'_>| {
        p.tag += 1;
        let handle = &p.link.handle;
        p.script
            .raise_floor(handle, &base, floor, p.tag)
            .expect("queued");
        p.link.reply(p.tag).expect("ran")
    };
    assert_eq!(raise(&mut p, other), Reply::Integer(0));
    assert_eq!(raise(&mut p, lower), Reply::Integer(0));
    let ahead = SeqFloor {
        epoch: &epoch,
        seq: 20,
    };
    assert_eq!(raise(&mut p, ahead), Reply::Integer(1));
    assert_eq!(p.publish("f", "n4", "z", 10).seq, 21);
}
