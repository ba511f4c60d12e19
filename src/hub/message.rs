//! Message objects as channelstream sends them: JSON objects whose extra keys pass through.
//! Owns the copies made for delivery and catch-up and the one serialization per delivery
//! group. Pure.

use super::scratch::shared_text;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Keys that steer delivery and never reach a client (`channel.py` `add_message`).
pub const DELIVERY_KEYS: [&str; 3] = ["no_history", "pm_users", "exclude_users"];

/// Keys an edit may change in a stored message (`validation/__init__.py` MSG_EDITABLE_KEYS).
pub const EDITABLE_KEYS: [&str; 5] = ["uuid", "timestamp", "user", "message", "edited"];

/// A message serialized once: the JSON text of one message object, shared by every
/// recipient (websocket frames wrap it as `[msg]`; long-poll answers join several).
pub type Encoded = Arc<str>;

/// The copy a client receives: delivery keys removed, and datetimes that came from the
/// client rendered as the reference's websocket encoder does (`+00:00` becomes `Z`,
/// `patched_json.py`).
pub fn delivery_copy(msg: &Map<String, Value>) -> Map<String, Value> {
    let mut out = msg.clone();
    for k in DELIVERY_KEYS {
        out.remove(k);
    }
    for k in ["timestamp", "edited"] {
        if let Some(Value::String(s)) = out.get_mut(k) {
            if let Some(base) = s.strip_suffix("+00:00") {
                *s = format!("{base}Z");
            }
        }
    }
    out
}

/// The copy a reconnecting client receives for a stored frame (`utils.py`
/// `process_catchup`): a delivery copy marked `catchup: true`.
pub fn catchup_copy(msg: &Map<String, Value>) -> Map<String, Value> {
    let mut out = delivery_copy(msg);
    out.insert("catchup".into(), Value::Bool(true));
    out
}

/// Serializes the delivery copy of `msg` ([`delivery_copy`]) without building it: the same
/// bytes as `encode(&delivery_copy(msg))`, but no clone of the map per message, which the
/// hub thread would otherwise pay for every message it fans out.
pub fn encode_delivery(msg: &Map<String, Value>) -> Encoded {
    shared_text(|out| write_delivery(out, msg))
}

/// Appends the text [`encode_delivery`] makes to `out`.
fn write_delivery(out: &mut Vec<u8>, msg: &Map<String, Value>) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in msg {
        if DELIVERY_KEYS.contains(&k.as_str()) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        // Writing a string or a `Value` to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        match v {
            Value::String(s) if k == "timestamp" || k == "edited" => match s.strip_suffix("+00:00")
            {
                Some(base) => {
                    // `base` followed by `Z`, written in place: JSON escapes characters
                    // one by one and leaves `Z` as it is, so this is the text of
                    // `format!("{base}Z")` without making that string.
                    let _ = serde_json::to_writer(&mut *out, base);
                    out.pop();
                    out.extend_from_slice(b"Z\"");
                }
                None => {
                    let _ = serde_json::to_writer(&mut *out, s);
                }
            },
            _ => {
                let _ = serde_json::to_writer(&mut *out, v);
            }
        }
    }
    out.push(b'}');
}

/// The serialized message `encoded` with `"pos": pos` added as its last key, for
/// connections that asked for positions (docs/API.md "Recovery after reconnect"). Last,
/// so that it wins over a `pos` key a sender put in the message (JSON parsers keep the
/// last of repeated keys). One copy of the text per message, not per recipient.
pub fn with_pos(encoded: &str, pos: u64) -> Encoded {
    let body = encoded.strip_suffix('}').unwrap_or(encoded);
    let sep = if body.len() > 1 { "," } else { "" };
    format!("{body}{sep}\"pos\":{pos}}}").into()
}

/// The texts of one delivered message, each made at most once however many recipients
/// want it: live (as sent to a websocket or waiting poll) or waiting (queued for a
/// long-poll client between polls: a catch-up copy, as the reference's next poll gets
/// from its frames), each with or without `"pos"`.
pub struct Texts<'a> {
    msg: &'a Map<String, Value>,
    pos: u64,
    live: [Option<Encoded>; 2],
    waiting: [Option<Encoded>; 2],
}

impl<'a> Texts<'a> {
    /// Texts of `msg`, at position `pos` in its channel (0: none).
    pub fn new(msg: &'a Map<String, Value>, pos: u64) -> Texts<'a> {
        Texts {
            msg,
            pos,
            live: [None, None],
            waiting: [None, None],
        }
    }

    /// Whether a recipient that asked for positions gets a text of its own.
    pub fn positioned(&self, positions: bool) -> bool {
        positions && self.pos > 0
    }

    /// The live text.
    pub fn live(&mut self, positions: bool) -> &Encoded {
        let with = self.positioned(positions);
        if self.live[0].is_none() {
            self.live[0] = Some(encode_delivery(self.msg));
        }
        if with && self.live[1].is_none() {
            self.live[1] = self.live[0].as_deref().map(|t| with_pos(t, self.pos));
        }
        self.live[usize::from(with)].get_or_insert_with(|| "{}".into())
    }

    /// The websocket frame payload, `[text]` of the live text. Without positions and
    /// before anyone needed the live text itself (a message with only websocket
    /// recipients) it is written straight into its frame: one text instead of the live
    /// text, its copy into a list and that list's copy into the shared string.
    pub fn frame(&mut self, positions: bool) -> Arc<str> {
        if !self.positioned(positions) && self.live[0].is_none() {
            return shared_text(|out| {
                out.push(b'[');
                write_delivery(out, self.msg);
                out.push(b']');
            });
        }
        list_of(&[self.live(positions).clone()]).into()
    }

    /// The waiting text.
    pub fn waiting(&mut self, positions: bool) -> &Encoded {
        let with = self.positioned(positions);
        if self.waiting[0].is_none() {
            self.waiting[0] = Some(encode(&catchup_copy(self.msg)));
        }
        if with && self.waiting[1].is_none() {
            self.waiting[1] = self.waiting[0].as_deref().map(|t| with_pos(t, self.pos));
        }
        self.waiting[usize::from(with)].get_or_insert_with(|| "{}".into())
    }
}

/// Serializes one message object (compact JSON).
pub fn encode(msg: &Map<String, Value>) -> Encoded {
    // Serializing a map of `Value`s cannot fail (string keys, no non-finite floats).
    serde_json::to_string(msg)
        .unwrap_or_else(|_| "{}".into())
        .into()
}

/// The JSON list a websocket frame or long-poll answer carries.
pub fn list_of(messages: &[Encoded]) -> String {
    let mut s = String::with_capacity(2 + messages.iter().map(|m| m.len() + 1).sum::<usize>());
    s.push('[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(m);
    }
    s.push(']');
    s
}

/// Python `==` for user-state scalars, where `True == 1 == 1.0`: the reference only reports a
/// state key as changed when Python thinks the value differs (`user.py` `state_from_dict`).
pub fn python_eq(a: &Value, b: &Value) -> bool {
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_i64() && y.is_i64() => x == y,
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// The string under `key`, if it is one.
pub fn str_field<'a>(msg: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    msg.get(key).and_then(Value::as_str)
}

/// The strings of a list under `key` (missing or not a list: empty).
pub fn str_list(msg: &Map<String, Value>, key: &str) -> Vec<String> {
    match msg.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// The object inside `v` (test input is always an object).
    pub(in crate::hub) fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn delivery_copy_strips_delivery_keys_and_keeps_extras() {
        let m = obj(json!({"uuid": "u", "pm_users": [], "exclude_users": ["a"],
            "no_history": false, "extra": 1, "timestamp": "2020-01-01T00:00:00+00:00"}));
        let d = delivery_copy(&m);
        assert_eq!(
            Value::Object(d),
            json!({"uuid": "u", "extra": 1,
            "timestamp": "2020-01-01T00:00:00Z"})
        );
        let c = catchup_copy(&m);
        assert_eq!(c.get("catchup"), Some(&json!(true)));
    }

    #[test]
    fn encode_delivery_gives_the_bytes_of_the_encoded_delivery_copy() {
        let cases = [
            json!({"uuid": "u", "pm_users": [], "exclude_users": ["a"], "no_history": false,
                "extra": {"b": [1, 2.5, null]}, "timestamp": "2020-01-01T00:00:00+00:00",
                "edited": "2020-01-01T00:00:00", "message": {"text": "h\u{e9}\"\n"}}),
            json!({"no_history": true}),
            json!({}),
            json!({"timestamp": 5, "edited": "x+00:00", "\u{e9}": "\u{1}"}),
        ];
        for case in cases {
            let m = obj(case.clone());
            assert_eq!(encode_delivery(&m), encode(&delivery_copy(&m)), "{case}");
        }
    }

    #[test]
    fn a_frame_is_the_list_of_the_live_text() {
        let m = obj(
            json!({"uuid": "u", "pm_users": [], "no_history": false, "pos": 1,
            "timestamp": "2020-01-01T00:00:00\"+00:00", "message": {"t": "\u{1}"}}),
        );
        for pos in [0, 3] {
            for positions in [false, true] {
                let expected = list_of(&[Texts::new(&m, pos).live(positions).clone()]);
                assert_eq!(&*Texts::new(&m, pos).frame(positions), expected);
                let mut texts = Texts::new(&m, pos);
                texts.live(!positions);
                assert_eq!(&*texts.frame(positions), expected, "after the other text");
            }
        }
        let frame = Texts::new(&m, 0).frame(false);
        assert!(
            frame.contains(r#""timestamp":"2020-01-01T00:00:00\"Z""#),
            "{frame}"
        );
    }

    #[test]
    fn with_pos_adds_pos_as_the_last_key() {
        let m = encode(&obj(json!({"a": 1, "pos": "mine"})));
        let positioned = with_pos(&m, 7);
        assert_eq!(&*positioned, r#"{"a":1,"pos":"mine","pos":7}"#);
        let parsed: Value = serde_json::from_str(&positioned).unwrap_or(Value::Null);
        assert_eq!(parsed["pos"], json!(7), "the last key wins");
        assert_eq!(&*with_pos("{}", 1), r#"{"pos":1}"#);
    }

    #[test]
    fn list_of_joins_encoded_messages() {
        let a = encode(&obj(json!({"a": 1})));
        assert_eq!(list_of(&[a.clone(), a]), r#"[{"a":1},{"a":1}]"#);
        assert_eq!(list_of(&[]), "[]");
    }

    #[test]
    fn python_eq_treats_bool_int_float_like_python() {
        assert!(python_eq(&json!(true), &json!(1)));
        assert!(python_eq(&json!(1), &json!(1.0)));
        assert!(!python_eq(&json!(1), &json!("1")));
        assert!(!python_eq(&json!(null), &json!(0)));
        assert!(python_eq(
            &json!(9007199254740993_i64),
            &json!(9007199254740993_i64)
        ));
    }
}
