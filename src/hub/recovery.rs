//! Recovery after reconnect (beyond the reference; docs/API.md "Recovery after
//! reconnect"). Every channel message has a position in its channel (1, 2, 3, ...). A
//! listener that asks for positions (`recover` on `/ws` or `/listen`) gets them on its
//! channel messages as `"pos"`, and names the last position it saw per channel; on
//! attach it is replayed what the channel still holds after that position, followed by
//! one `recovery` message saying, per channel, the current position and whether the
//! replay was complete. Listeners that do not ask see exactly the reference's messages.

use super::connection::Target;
use super::id::Uuid;
use super::message::{encode, list_of};
use super::time::Time;
use super::{Effect, Hub, POLL_GATHER};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What a listener asks for: the last position it saw, per channel.
pub type Recover = BTreeMap<String, u64>;

/// The `type` of the message that ends a recovering listener's catch-up.
pub const RECOVERY_TYPE: &str = "recovery";

/// Per channel, what a listener is told at attach.
#[derive(Debug, Default)]
pub(super) struct RecoveryReport {
    channels: Map<String, Value>,
}

impl RecoveryReport {
    /// `channel` is at position `pos`; `recovered` is `None` for a channel the listener
    /// named no position for (nothing was asked, so nothing is reported lost).
    pub(super) fn channel(&mut self, channel: &str, pos: u64, recovered: Option<bool>) {
        let mut entry = json!({ "pos": pos });
        if let Some(r) = recovered {
            entry["recovered"] = Value::Bool(r);
        }
        self.channels.insert(channel.to_string(), entry);
    }

    /// The message: `{"type": "recovery", "channels": {name: {"pos", "recovered"?}}}`.
    pub(super) fn message(self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(RECOVERY_TYPE));
        m.insert("channels".into(), Value::Object(self.channels));
        m
    }
}

impl Hub {
    /// Tells a listening connection that asked for positions the position of channel
    /// `name`, which it just joined, with a report of its own: so that it can name it if
    /// it is cut off before the channel's next message.
    pub(super) fn tell_position(&mut self, id: Uuid, name: &str, pos: u64, now: Time) {
        let mut report = RecoveryReport::default();
        report.channel(name, pos, None);
        let text = encode(&report.message());
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        match &mut c.target {
            // It gets a report when it attaches.
            Target::Detached => {}
            Target::Ws(e) => {
                let payload = list_of(&[text]).into();
                self.effects.push(Effect::Send {
                    conns: vec![*e],
                    payload,
                });
            }
            Target::Poll(p) => {
                p.messages.push(text);
                p.quiet_until = Some(now.plus(POLL_GATHER));
            }
            // Dropped if the queue is full: the next message there cuts the connection.
            Target::BetweenPolls(q) => {
                let _ = q.push(&text);
            }
        }
    }
}
