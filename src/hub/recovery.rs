//! Recovery after reconnect (beyond the reference; docs/API.md "Recovery after
//! reconnect"). Every channel message has a position in its channel (1, 2, 3, ...). A
//! listener that asks for positions (`recover` on `/ws` or `/listen`) gets them on its
//! channel messages as `"pos"`, and names the last position it saw per channel; on
//! attach it is replayed what the channel still holds after that position, followed by
//! one `recovery` message saying, per channel, the current position and whether the
//! replay was complete. Listeners that do not ask see exactly the reference's messages.

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
