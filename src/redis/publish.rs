//! [`PublishScript`]: the atomic publish (`publish.lua`): in one script on the channel's
//! hash slot, give the message the channel's next sequence number (under the channel's
//! epoch), append it to the channel's history with trim, and PUBLISH it, unless its
//! message id was already published (a retry after `Timeout`/`ConnectionLost`). The frame
//! on the wire and in the history is `seq:epoch:payload` ([`PublishedFrame`]). Key names
//! are here, so the hub integration and the tests agree on them. Pure.

use super::{NotQueued, RedisHandle, Script};
use crate::resp::{Reply, UnexpectedReply};
use std::sync::Arc;

/// How long a message id is remembered, so a retry within it is not published twice.
pub const DEDUP_SECONDS: u64 = 300;

/// How long an idle channel's meta and history live in Redis (refreshed by every
/// publish): 30 days, past `gc_channels_after`'s 3-day default.
pub const CHANNEL_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// The publish script with this deployment's key prefix.
#[derive(Clone, Debug)]
pub struct PublishScript {
    script: Arc<Script>,
    floor_script: Arc<Script>,
    prefix: String,
}

/// The last frame a node saw on a stream, `seq` in `epoch`: a publish given it (and
/// [`PublishScript::raise_floor`]) never numbers a frame at or below it in that epoch,
/// even after Redis came back with older data than it had acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqFloor<'a> {
    /// The epoch `seq` belongs to.
    pub epoch: &'a str,
    /// The last sequence number seen.
    pub seq: u64,
}

/// What the script answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's sequence number in its channel (from 1 in each epoch).
    pub seq: u64,
    /// The channel's epoch: changes when Redis lost the channel's state.
    pub epoch: String,
    /// The message id had been published already; nothing was written or sent again.
    pub duplicate: bool,
}

/// A frame as published and stored: `seq:epoch:payload`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedFrame<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Epoch (no `:` inside).
    pub epoch: &'a str,
    /// The message bytes.
    pub payload: &'a [u8],
}

impl PublishedFrame<'_> {
    /// Splits a frame; `None` if it is not `digits:epoch:payload`.
    pub fn parse(bytes: &[u8]) -> Option<PublishedFrame<'_>> {
        let colon = bytes.iter().position(|&b| b == b':')?;
        let (seq, rest) = (&bytes[..colon], &bytes[colon + 1..]);
        let colon = rest.iter().position(|&b| b == b':')?;
        let (epoch, payload) = (&rest[..colon], &rest[colon + 1..]);
        let seq = std::str::from_utf8(seq)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?;
        Some(PublishedFrame {
            seq: seq.parse().ok()?,
            epoch: std::str::from_utf8(epoch).ok()?,
            payload,
        })
    }
}

impl PublishScript {
    /// The script for keys starting with `prefix` (`redis_key_prefix`).
    pub fn new(prefix: &str) -> PublishScript {
        PublishScript {
            script: Arc::new(Script::new(include_str!("publish.lua"))),
            floor_script: Arc::new(Script::new(include_str!("seq_floor.lua"))),
            prefix: prefix.to_string(),
        }
    }

    /// The script, for `LinkConfig::scripts` (loaded at every connect).
    pub fn script(&self) -> &Arc<Script> {
        &self.script
    }

    /// The floor script ([`PublishScript::raise_floor`]), for `LinkConfig::scripts`.
    pub fn floor_script(&self) -> &Arc<Script> {
        &self.floor_script
    }

    /// Raises the last sequence number of the stream under `base` to `floor.seq` if its
    /// meta has `floor.epoch` and a lower one (`seq_floor.lua`; the reply is 1 when
    /// raised): a node that saw further than Redis remembers (Redis restarted with older
    /// data) makes every node's next publish number after it.
    pub fn raise_floor(
        &self,
        handle: &RedisHandle,
        base: &str,
        floor: SeqFloor<'_>,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let keys = vec![format!("{base}:meta").into_bytes()];
        let args = vec![
            floor.epoch.as_bytes().to_vec(),
            floor.seq.to_string().into_bytes(),
        ];
        handle.eval(&self.floor_script, keys, args, tag)
    }

    fn key(&self, channel: &str, suffix: &str) -> Vec<u8> {
        format!("{}:{suffix}", self.channel_base(channel)).into_bytes()
    }

    /// `<prefix>{channel}`: what every key of a channel starts with (the hash tag keeps
    /// them in one slot).
    pub fn channel_base(&self, channel: &str) -> String {
        format!("{}{{{channel}}}", self.prefix)
    }

    /// `<prefix>u{user}`: what every key of a user's private messages starts with. The
    /// `u` before the brace keeps them apart from every channel's keys, whatever the
    /// names.
    pub fn user_base(&self, user: &str) -> String {
        format!("{}u{{{user}}}", self.prefix)
    }

    /// `<prefix>{channel}:meta`: hash of epoch `e` and last sequence number `s`.
    pub fn meta_key(&self, channel: &str) -> Vec<u8> {
        self.key(channel, "meta")
    }

    /// `<prefix>{channel}:hist`: the channel's frames, newest first.
    pub fn history_key(&self, channel: &str) -> Vec<u8> {
        self.key(channel, "hist")
    }

    /// `<prefix>{channel}:pub`: the pub/sub channel its frames are published on.
    pub fn pubsub_channel(&self, channel: &str) -> Vec<u8> {
        self.key(channel, "pub")
    }

    /// Runs the script through `handle`; the reply (tagged `tag`) reads with
    /// [`PublishScript::parse_reply`]. Retry with the same `message_id` after `Timeout`
    /// or `ConnectionLost`: it is published at most once per epoch within
    /// [`DEDUP_SECONDS`].
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        handle: &RedisHandle,
        channel: &str,
        message_id: &str,
        payload: &[u8],
        history_size: usize,
        new_epoch: &str,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let base = self.channel_base(channel);
        self.publish_at(
            handle,
            &base,
            message_id,
            payload,
            history_size,
            new_epoch,
            tag,
        )
    }

    /// [`PublishScript::publish`] to the keys under `base` ([`PublishScript::channel_base`]
    /// or [`PublishScript::user_base`]): `base:meta`, `base:hist`, `base:dedup:<id>`,
    /// published on `base:pub`.
    #[allow(clippy::too_many_arguments)]
    pub fn publish_at(
        &self,
        handle: &RedisHandle,
        base: &str,
        message_id: &str,
        payload: &[u8],
        history_size: usize,
        new_epoch: &str,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let at = (base, message_id, payload);
        self.publish_config_at(handle, at, history_size, new_epoch, None, None, tag)
    }

    /// [`PublishScript::publish_at`] of a channel-config change: `config` (JSON) is also
    /// kept in `base:meta` as `c`, in the same script, so the meta always holds the
    /// config of the last change published. With a `floor` (the last frame this node
    /// saw on the stream) the message is numbered after it ([`SeqFloor`]).
    #[allow(clippy::too_many_arguments)]
    pub fn publish_config_at(
        &self,
        handle: &RedisHandle,
        at: (&str, &str, &[u8]),
        history_size: usize,
        new_epoch: &str,
        config: Option<&[u8]>,
        floor: Option<SeqFloor<'_>>,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let (keys, mut args) = script_input(at, history_size, new_epoch);
        args.push(config.map(<[u8]>::to_vec).unwrap_or_default());
        args.push(floor_arg(floor));
        handle.eval(&self.script, keys, args, tag)
    }

    /// [`PublishScript::publish_at`] of a user-state change on a user's stream (`base`
    /// is [`PublishScript::user_base`]): `fields` (field, value) are also set in
    /// `base:user`, the user's state hash, in the same script, so the hash holds the
    /// changes in the order the stream numbers them. `floor` as in
    /// [`PublishScript::publish_config_at`].
    #[allow(clippy::too_many_arguments)]
    pub fn publish_user_state_at(
        &self,
        handle: &RedisHandle,
        at: (&str, &str, &[u8]),
        history_size: usize,
        new_epoch: &str,
        fields: &[(String, String)],
        floor: Option<SeqFloor<'_>>,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let (mut keys, mut args) = script_input(at, history_size, new_epoch);
        keys.push(format!("{}:user", at.0).into_bytes());
        args.push(Vec::new());
        args.push(floor_arg(floor));
        for (field, value) in fields {
            args.push(field.as_bytes().to_vec());
            args.push(value.as_bytes().to_vec());
        }
        handle.eval(&self.script, keys, args, tag)
    }

    /// Reads the script's `{seq, epoch, duplicate}`; any other shape is an error.
    pub fn parse_reply(reply: Reply) -> Result<Published, UnexpectedReply> {
        let shape = |got| UnexpectedReply {
            expected: "{seq, epoch, duplicate}",
            got,
            error: None,
        };
        let items = reply.into_array()?;
        let kind = items.first().map_or("empty array", Reply::kind);
        let [seq, epoch, duplicate]: [Reply; 3] = items.try_into().map_err(|_| shape(kind))?;
        let seq = u64::try_from(seq.into_integer()?).map_err(|_| shape("negative integer"))?;
        let epoch = String::from_utf8(epoch.into_bulk()?).map_err(|_| shape("non-UTF-8 epoch"))?;
        let duplicate = duplicate.into_integer()? == 1;
        Ok(Published {
            seq,
            epoch,
            duplicate,
        })
    }
}

/// The script's first three keys and six arguments (`publish.lua`).
fn script_input(
    (base, message_id, payload): (&str, &str, &[u8]),
    history_size: usize,
    new_epoch: &str,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let key = |suffix: &str| format!("{base}:{suffix}").into_bytes();
    let keys = vec![
        key("meta"),
        key("hist"),
        key(&format!("dedup:{message_id}")),
    ];
    let args = vec![
        payload.to_vec(),
        history_size.to_string().into_bytes(),
        DEDUP_SECONDS.to_string().into_bytes(),
        key("pub"),
        new_epoch.as_bytes().to_vec(),
        CHANNEL_TTL_SECONDS.to_string().into_bytes(),
    ];
    (keys, args)
}

/// `publish.lua`'s ARGV[8]: `seq:epoch`, or empty for no floor.
fn floor_arg(floor: Option<SeqFloor<'_>>) -> Vec<u8> {
    floor.map_or_else(Vec::new, |f| format!("{}:{}", f.seq, f.epoch).into_bytes())
}

/// A fresh random epoch (16 hex digits from `/dev/urandom`), offered to the script for
/// channels that have none.
pub fn new_epoch() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_channel_hash_tag_under_the_prefix() {
        let p = PublishScript::new("cs:");
        assert_eq!(p.meta_key("lobby"), b"cs:{lobby}:meta");
        assert_eq!(p.history_key("lobby"), b"cs:{lobby}:hist");
        assert_eq!(p.pubsub_channel("lobby"), b"cs:{lobby}:pub");
        assert_eq!(p.user_base("lobby"), "cs:u{lobby}");
    }

    #[test]
    fn frames_split_into_seq_epoch_and_payload() {
        let frame = PublishedFrame::parse(b"12:ab01:{\"a\":\"x:y\"}").expect("frame");
        assert_eq!(
            (frame.seq, frame.epoch, frame.payload),
            (12, "ab01", &b"{\"a\":\"x:y\"}"[..])
        );
        for bad in [&b"x:e:p"[..], b"12", b"12:e", b":e:p", b"-1:e:p"] {
            assert_eq!(PublishedFrame::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replies_of_another_shape_are_errors() {
        let good = Reply::Array(vec![
            Reply::Integer(3),
            Reply::Bulk(b"e1".to_vec()),
            Reply::Integer(0),
        ]);
        let want = Published {
            seq: 3,
            epoch: "e1".into(),
            duplicate: false,
        };
        assert_eq!(PublishScript::parse_reply(good), Ok(want));
        for bad in [
            Reply::Integer(3),
            Reply::Array(vec![]),
            Reply::Array(vec![
                Reply::Integer(-1),
                Reply::Bulk(b"e".to_vec()),
                Reply::Integer(0),
            ]),
            Reply::Array(vec![
                Reply::Bulk(b"3".to_vec()),
                Reply::Bulk(b"e".to_vec()),
                Reply::Integer(0),
            ]),
            Reply::Array(vec![Reply::Integer(3), Reply::Nil, Reply::Integer(0)]),
            Reply::Array(vec![Reply::Integer(3), Reply::Bulk(b"e".to_vec())]),
        ] {
            assert!(PublishScript::parse_reply(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
