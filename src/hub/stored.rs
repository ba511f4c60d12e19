//! Messages kept for later (channel history, channel and private catch-up frames) in
//! compact serialized form. Pure.
//!
//! Why: a channel keeps up to 100 catch-up frames. As `serde_json` maps (a B-tree node
//! per few keys, a `String` per key and value) a 100-byte message took about 1.7 KB, so
//! 3 800 busy channels held 650 MB; as compact JSON it takes its own length plus a few
//! words, and storing it costs one allocation instead of one per key. Stored messages
//! are read rarely (catch-up on attach, history in channel info, edits, snapshots), so
//! they are parsed back only then. The `uuid` and `type` tests of edit and delete are
//! answered without parsing.

use super::message::EDITABLE_KEYS;
use super::scratch::shared_text;
use super::time::Time;
use super::transcode::transcode;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// One stored message object.
#[derive(Clone, PartialEq)]
pub struct Stored {
    /// Where the object's `uuid` value is, compared by edit and delete.
    uuid: UuidAt,
    /// Its `type` is `"message"` (edits and deletes only touch those in frames).
    is_message: bool,
    /// Compact JSON of the whole object, shared by a channel's history and frames.
    json: Arc<str>,
    /// Its position in its channel (docs/API.md "Recovery after reconnect"); 0 for a
    /// private frame, or a frame restored from a file written before positions.
    pos: u64,
}

/// Where a stored object's `uuid` value is. A string (every message the server makes has
/// one) is found in the object's own text rather than kept apart: a copy took 80 of the
/// ~400 bytes of a frame, and a channel keeps up to 100 frames for the replay window
/// (BENCHMARKS.md, "Many channels: peak RSS").
#[derive(Clone, Debug, PartialEq)]
enum UuidAt {
    /// The object has no `uuid`.
    Absent,
    /// A string, written at `json[at..at + len]` (quotes included).
    Text { at: u32, len: u32 },
    /// Any other value, kept apart.
    Other(Box<Value>),
}

impl UuidAt {
    /// Locates `msg`'s uuid in `json`, the compact text of `msg`.
    fn of(msg: &Map<String, Value>, json: &str) -> UuidAt {
        let Some(uuid) = msg.get("uuid") else {
            return UuidAt::Absent;
        };
        let other = || UuidAt::Other(Box::new(uuid.clone()));
        if !uuid.is_string() {
            return other();
        }
        // The map's text holds `"uuid":` and then exactly this text of the value; any
        // occurrence of that pair (a nested object could hold one too) has the same
        // value text, so the first will do. A string without characters JSON escapes
        // (every uuid the server makes) is written as itself between quotes, so it is
        // matched in place rather than serialized again (an allocation per message).
        let s = uuid.as_str().unwrap_or_default();
        let plain = !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        let escaped = if plain {
            None
        } else {
            Some(serde_json::to_string(uuid).unwrap_or_default())
        };
        let is_text = |rest: &str| match &escaped {
            Some(text) => rest.starts_with(text.as_str()),
            None => rest
                .strip_prefix('"')
                .and_then(|r| r.strip_prefix(s))
                .is_some_and(|r| r.starts_with('"')),
        };
        let text_len = escaped.as_ref().map_or(s.len() + 2, String::len);
        let key = "\"uuid\":";
        let found = json
            .match_indices(key)
            .map(|(i, _)| i + key.len())
            .find(|&at| json.get(at..).is_some_and(is_text));
        match (found, u32::try_from(text_len)) {
            (Some(at), Ok(len)) => match u32::try_from(at) {
                Ok(at) => UuidAt::Text { at, len },
                Err(_) => other(),
            },
            _ => other(),
        }
    }
}

impl Stored {
    /// Stores `msg`.
    pub fn new(msg: &Map<String, Value>) -> Stored {
        // Serializing a map of `Value`s cannot fail (string keys, no non-finite floats);
        // written through the thread's buffer, one allocation of the text's own size.
        let json = shared_text(|buf| {
            if serde_json::to_writer(&mut *buf, msg).is_err() {
                buf.clear();
                buf.extend_from_slice(b"{}");
            }
        });
        Stored {
            uuid: UuidAt::of(msg, &json),
            is_message: msg.get("type").and_then(Value::as_str) == Some("message"),
            json,
            pos: 0,
        }
    }

    /// Stores `msg`, the channel message at position `pos`.
    pub fn at(msg: &Map<String, Value>, pos: u64) -> Stored {
        Stored {
            pos,
            ..Stored::new(msg)
        }
    }

    /// Its position in its channel (0: none).
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The object, parsed back. Equal to what was stored: `serde_json` writes floats in
    /// shortest round-trip form and every other value exactly.
    pub fn map(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }

    /// The object as a JSON value.
    pub fn value(&self) -> Value {
        Value::Object(self.map())
    }

    /// Whether its `uuid` equals `uuid` (`None`: it has none), as Python's
    /// `m.get("uuid") == uuid`.
    pub fn has_uuid(&self, uuid: Option<&Value>) -> bool {
        match (&self.uuid, uuid) {
            (UuidAt::Absent, None) => true,
            (UuidAt::Other(mine), Some(theirs)) => **mine == *theirs,
            (UuidAt::Text { at, len }, Some(Value::String(theirs))) => {
                let (at, len) = (*at as usize, *len as usize);
                let Some(text) = self.json.get(at..at + len) else {
                    return false;
                };
                match text.get(1..len.saturating_sub(1)) {
                    // Without escapes the text between the quotes is the string itself
                    // (a string that needs escapes cannot equal it).
                    Some(inner) if !inner.contains('\\') => inner == theirs.as_str(),
                    _ => serde_json::from_str::<String>(text).is_ok_and(|mine| mine == *theirs),
                }
            }
            _ => false,
        }
    }

    /// Whether its `type` is `"message"`.
    pub fn is_message(&self) -> bool {
        self.is_message
    }

    /// Copies the editable keys of `edit` into the stored object.
    pub fn edit(&mut self, edit: &Map<String, Value>) {
        let mut m = self.map();
        apply_edit(&mut m, edit);
        *self = Stored::at(&m, self.pos);
    }
}

/// Written as the object it holds, streamed from the compact text token by token
/// ([`transcode`]): rendering channel info parses no message into a map. (The text
/// cannot be copied as it is: the answer is indented.) Its keys are sorted, as
/// `serde_json` writes a `Map`, so this writes what serializing [`Stored::map`] writes.
impl Serialize for Stored {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        transcode(&self.json, s)
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

/// Catch-up frames (a channel's, or a user's private ones): when each was stored, and
/// the message, oldest first.
pub type Frames = VecDeque<(Time, Stored)>;

/// Applies `edit` to the `message` frame with the same uuid, if one is kept.
pub fn edit_message_frame(frames: &mut Frames, edit: &Map<String, Value>) {
    let uuid = edit.get("uuid");
    if let Some((_, m)) = frames
        .iter_mut()
        .find(|(_, m)| m.has_uuid(uuid) && m.is_message())
    {
        m.edit(edit);
    }
}

/// Removes the `message` frame with this uuid, if one is kept.
pub fn delete_message_frame(frames: &mut Frames, uuid: &Value) {
    if let Some(i) = frames
        .iter()
        .position(|(_, m)| m.has_uuid(Some(uuid)) && m.is_message())
    {
        frames.remove(i);
    }
}

/// Drops the frames stored before `horizon`.
pub fn drop_frames_before(frames: &mut Frames, horizon: Time) {
    while frames.front().is_some_and(|(t, _)| *t < horizon) {
        frames.pop_front();
    }
}

/// Copies the editable keys of `edit` into `stored`.
pub fn apply_edit(stored: &mut Map<String, Value>, edit: &Map<String, Value>) {
    for k in EDITABLE_KEYS {
        if let Some(v) = edit.get(k) {
            stored.insert(k.to_string(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::tests::obj;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_message_parses_back_to_the_same_object() {
        let cases = [
            json!({"uuid": "u", "type": "message", "message": {"text": "h\u{e9}\"\n\u{1}"},
                "n": [1, -2, 2.5, 1e300, -0.0, 18446744073709551615_u64, -9223372036854775808_i64],
                "f": 0.1, "g": 1.0, "b": [true, false, null], "pm_users": [], "catchup": false}),
            json!({}),
            json!({"timestamp": "2020-01-01T00:00:00+00:00", "nested": {"a": {"b": {"c": []}}}}),
        ];
        for case in cases {
            let m = obj(case.clone());
            assert_eq!(Stored::new(&m).map(), m, "{case}");
        }
    }

    /// Rendered with the API's indentation.
    fn pretty<T: serde::Serialize>(v: &T) -> String {
        String::from_utf8_lossy(&crate::api::reply::pretty(v)).into_owned()
    }

    #[test]
    fn a_stored_message_renders_like_the_object_it_holds() {
        let cases = [
            json!({"uuid": "u", "type": "message", "message": {"text": "h\u{e9}\"\n", "e": {}},
                "n": [1, -2, 2.5, 1e300, -0.0, 18446744073709551615_u64], "b": [true, null, []]}),
            json!({}),
        ];
        for case in cases {
            let m = obj(case.clone());
            let stored = Stored::new(&m);
            assert_eq!(pretty(&stored), pretty(&m), "{case}");
            assert_eq!(serde_json::to_value(&stored).ok(), Some(case.clone()));
        }
        let mut edited = Stored::new(&obj(json!({"uuid": "a", "type": "message", "z": 1})));
        edited.edit(&obj(json!({"message": {"text": "new"}})));
        assert_eq!(pretty(&edited), pretty(&edited.map()));
    }

    #[test]
    fn uuid_and_type_are_known_without_parsing() {
        let s = Stored::new(&obj(json!({"uuid": "a", "type": "message"})));
        assert!(s.has_uuid(Some(&json!("a"))));
        assert!(!s.has_uuid(Some(&json!("b"))));
        assert!(!s.has_uuid(None));
        assert!(s.is_message());
        let p = Stored::new(&obj(json!({"type": "presence"})));
        assert!(p.has_uuid(None));
        assert!(!p.is_message());
    }

    #[test]
    fn uuids_kept_in_the_text_compare_as_values() {
        let odd = "a\"b\\c\u{e9}\n";
        let s = Stored::new(&obj(json!({"message": {"uuid": "x"}, "uuid": odd})));
        assert!(s.has_uuid(Some(&json!(odd))));
        assert!(
            !s.has_uuid(Some(&json!("x"))),
            "a nested uuid is not the object's"
        );
        assert!(!s.has_uuid(Some(&json!("a"))));
        let plain = Stored::new(&obj(json!({"message": {"uuid": "x"}, "uuid": "y"})));
        assert!(plain.has_uuid(Some(&json!("y"))));
        assert!(!plain.has_uuid(Some(&json!("x"))));
        let prefix = Stored::new(&obj(json!({"message": {"uuid": "yz\u{e9}"}, "uuid": "y"})));
        assert!(prefix.has_uuid(Some(&json!("y"))), "a longer nested uuid");
        assert!(!prefix.has_uuid(Some(&json!("yz\u{e9}"))));
        let number = Stored::new(&obj(json!({"uuid": 5, "type": "message"})));
        assert!(number.has_uuid(Some(&json!(5))));
        assert!(!number.has_uuid(Some(&json!("5"))));
        assert!(!plain.has_uuid(Some(&json!(5))));
        assert!(!number.has_uuid(None));
    }

    #[test]
    fn an_edit_changes_only_editable_keys() {
        let mut s = Stored::new(&obj(json!({"uuid": "a", "type": "message",
            "message": {"text": "old"}, "channel": "c", "edited": null})));
        s.edit(&obj(json!({"uuid": "a", "message": {"text": "new"},
            "edited": "2024-01-01T00:00:00", "channel": "other", "type": "x"})));
        assert_eq!(
            s.value(),
            json!({"uuid": "a", "type": "message", "message": {"text": "new"},
                "channel": "c", "edited": "2024-01-01T00:00:00"})
        );
        assert!(s.is_message());
    }
}
