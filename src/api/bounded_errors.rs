//! Keeps a 422 answer small whatever the request: at most [`MAX_LISTED`] error messages
//! are listed, the rest are counted under [`MORE_ERRORS`], and keys taken from the
//! request (dict keys, channel names) are cut to [`MAX_KEY_CHARS`] characters. Without
//! this, a 976 KB `/message` body of invalid items was answered with 8.9 MB of errors.
//! Pure: `reply::invalid` runs every error object through [`bounded`], and the validators
//! that make one error per list item or dict key collect them in an [`ErrorMap`], which
//! keeps only the first [`MAX_LISTED`], so the error tree is never built in full either.
//!
//! Size: no error object nests user-chosen keys inside user-chosen keys, so each listed
//! message costs at most one cut key (64 characters, at most 6 bytes each once
//! JSON-escaped) plus fixed field names and indentation: a 422 body is below 64 KiB
//! ([`MAX_BODY_BYTES`], shown by the tests here and in `tests/reliability_hostile.rs`).

use serde_json::{Map, Value};

/// Error messages listed at most.
pub const MAX_LISTED: usize = 100;

/// Characters kept of a key; a longer key is cut and ends with [`CUT`].
pub const MAX_KEY_CHARS: usize = 64;

/// Characters kept of a message (ours are all shorter; a guard for the size bound).
pub const MAX_MESSAGE_CHARS: usize = 200;

/// Top-level key counting the messages left out; present only when some were.
pub const MORE_ERRORS: &str = "_more_errors";

/// What ends a cut key or message.
pub const CUT: &str = "...";

/// The size a 422 body stays below.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Errors keyed by list index or dict key, as validators collect them: the first
/// [`MAX_LISTED`] are kept, the messages of the others only counted (under
/// [`MORE_ERRORS`], which [`bounded`] adds up into the top-level count).
#[derive(Debug, Default)]
pub struct ErrorMap {
    map: Map<String, Value>,
    more: usize,
}

impl ErrorMap {
    /// An empty map.
    pub fn new() -> ErrorMap {
        ErrorMap::default()
    }

    /// Records the error of one item or key, the key cut to [`MAX_KEY_CHARS`]; only
    /// counted past [`MAX_LISTED`] or when an earlier key was cut to the same.
    pub fn insert(&mut self, key: &str, error: Value) {
        let key = cut(key.chars().take(MAX_KEY_CHARS + 1).collect(), MAX_KEY_CHARS);
        if self.map.len() < MAX_LISTED && !self.map.contains_key(&key) {
            self.map.insert(key, error);
        } else {
            self.more += messages(&error);
        }
    }

    /// Records an error that is always listed (`_schema`).
    pub fn insert_always(&mut self, key: &str, error: Value) {
        self.map.insert(key.into(), error);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.more == 0
    }

    /// The error object.
    pub fn into_value(self) -> Value {
        let mut map = self.map;
        if self.more > 0 {
            map.insert(MORE_ERRORS.into(), Value::from(self.more));
        }
        Value::Object(map)
    }
}

/// `errors` with at most [`MAX_LISTED`] messages, in key order (serde_json's maps are
/// sorted: `"10"` comes before `"2"`), and a `"_more_errors": N` count of the rest,
/// including counts an [`ErrorMap`] left deeper down. An error that is an empty object or
/// list counts as one message. A top-level list (only `/listen`'s single message) is cut
/// without a count.
pub fn bounded(errors: Value) -> Value {
    let mut budget = MAX_LISTED;
    let mut left_out = 0;
    let kept = keep(errors, &mut budget, &mut left_out);
    match kept {
        Some(Value::Object(mut m)) => {
            if left_out > 0 {
                m.insert(MORE_ERRORS.into(), Value::from(left_out));
            }
            Value::Object(m)
        }
        Some(other) => other,
        None => Value::Object(Map::new()),
    }
}

/// What is listed of `v`, spending `budget` and counting the rest in `left_out`.
fn keep(v: Value, budget: &mut usize, left_out: &mut usize) -> Option<Value> {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut out = Map::new();
            for (k, child) in m {
                if let Some(n) = count_of(&k, &child) {
                    *left_out += n;
                    continue;
                }
                let key = cut(k, MAX_KEY_CHARS);
                // Keys equal once cut: the first one's errors stand for both.
                if *budget == 0 || out.contains_key(&key) {
                    *left_out += messages(&child);
                    continue;
                }
                if let Some(c) = keep(child, budget, left_out) {
                    out.insert(key, c);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) if !items.is_empty() => {
            let mut out = Vec::new();
            for item in items {
                if *budget == 0 {
                    *left_out += messages(&item);
                } else if let Some(i) = keep(item, budget, left_out) {
                    out.push(i);
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        leaf if *budget == 0 => {
            *left_out += messages(&leaf);
            None
        }
        leaf => {
            *budget -= 1;
            Some(match leaf {
                Value::String(s) => Value::String(cut(s, MAX_MESSAGE_CHARS)),
                other => other,
            })
        }
    }
}

/// The number under a [`MORE_ERRORS`] key.
fn count_of(key: &str, v: &Value) -> Option<usize> {
    (key == MORE_ERRORS)
        .then(|| v.as_u64())
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
}

/// How many messages `v` holds.
fn messages(v: &Value) -> usize {
    match v {
        Value::Object(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| count_of(k, v).unwrap_or_else(|| messages(v)))
            .sum(),
        Value::Array(a) if !a.is_empty() => a.iter().map(messages).sum(),
        _ => 1,
    }
}

/// `s` with at most `max` characters, the last of them [`CUT`] if it was longer.
fn cut(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s,
        Some(_) => {
            let keep = max.saturating_sub(CUT.len());
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            format!("{}{CUT}", &s[..end])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::reply::pretty;
    use serde_json::json;

    #[test]
    fn small_error_objects_are_unchanged() {
        let cases = [
            json!({"username": ["Missing data for required field."]}),
            json!({"0": {}, "_schema": ["Invalid input type."]}),
            json!({"info": {"channels": {"0": ["Not a valid string."]}}}),
            json!(["Wrong UUID format"]),
            json!({}),
        ];
        for e in cases {
            assert_eq!(bounded(e.clone()), e);
        }
    }

    #[test]
    fn past_100_messages_the_rest_are_counted() {
        // 300 items with two messages each, as /message answers them.
        let mut m = Map::new();
        for i in 0..300 {
            m.insert(
                i.to_string(),
                json!({"user": ["Missing data for required field."], "uuid": ["Not a valid UUID."]}),
            );
        }
        let b = bounded(Value::Object(m));
        assert_eq!(b[MORE_ERRORS], json!(500));
        let mut listed = b.clone();
        listed.as_object_mut().map(|m| m.remove(MORE_ERRORS));
        assert_eq!(messages(&listed), MAX_LISTED);
        // key order: "0", "1", "10", "100", ...; the first 50 keys are listed whole
        assert_eq!(b["0"]["uuid"], json!(["Not a valid UUID."]));
        assert!(b.get("299").is_none());
    }

    #[test]
    fn a_list_past_the_budget_is_cut_inside_its_field() {
        let list: Vec<Value> = (0..150).map(|i| json!(format!("m{i}"))).collect();
        let b = bounded(json!({"a": list, "b": ["x"]}));
        assert_eq!(b["a"].as_array().map(Vec::len), Some(100));
        assert!(b.get("b").is_none());
        assert_eq!(b[MORE_ERRORS], json!(51));
    }

    #[test]
    fn long_keys_are_cut_and_keys_equal_once_cut_are_counted_not_listed() {
        let long = "é".repeat(1_000_000);
        let b = bounded(json!({ long.clone(): ["Length must be between 1 and 256."] }));
        let (key, _) = b
            .as_object()
            .and_then(|m| m.iter().next())
            .expect("one key");
        assert_eq!(key.chars().count(), MAX_KEY_CHARS);
        assert!(key.ends_with(CUT) && key.starts_with("éé"));
        let b = bounded(json!({ format!("{long}a"): ["x"], format!("{long}b"): ["y"] }));
        assert_eq!(b.as_object().map(Map::len), Some(2), "{b}");
        assert_eq!(b[MORE_ERRORS], json!(1));
        assert_eq!(cut("abc".into(), 3), "abc");
        assert_eq!(cut("abcd".into(), 3), "...");
        assert_eq!(cut("abcdefgh".into(), 7), "abcd...");
    }

    #[test]
    fn error_maps_keep_100_and_their_counts_add_up_at_the_top() {
        let mut inner = ErrorMap::new();
        for i in 0..150 {
            inner.insert(&i.to_string(), json!(["Not a valid string."]));
        }
        let inner = inner.into_value();
        assert_eq!(inner[MORE_ERRORS], json!(50));
        let mut outer = ErrorMap::new();
        outer.insert("0", json!({ "pm_users": inner.clone() }));
        outer.insert("1", json!({ "pm_users": inner }));
        outer.insert_always("_schema", json!(["Invalid input type."]));
        let b = bounded(outer.into_value());
        // 300 messages: 100 listed ("0": all 100 kept, "1" past the budget), "_schema"
        // past it too
        assert_eq!(b[MORE_ERRORS], json!(201));
        assert_eq!(b["0"]["pm_users"].as_object().map(Map::len), Some(100));
        let mut m = ErrorMap::new();
        m.insert(&"k".repeat(100), json!(["x"]));
        assert_eq!(
            m.into_value(),
            json!({ format!("{}...", "k".repeat(61)): ["x"] })
        );
        assert!(ErrorMap::new().is_empty());
    }

    #[test]
    fn the_worst_error_object_renders_below_64_kib() {
        // Each message under its own 64-character key that escapes to 6 bytes a character,
        // at the deepest nesting any route produces (channel_configs -> name -> value ->
        // field), with the longest message we have.
        let mut configs = Map::new();
        for i in 0..1000u32 {
            let key: String = (0..70)
                .map(|j| char::from_u32(1 + (i >> (j % 10)) % 31).unwrap_or('\u{1}'))
                .collect();
            configs.insert(
                key,
                json!({"value": {"broadcast_presence_with_user_lists":
                    ["Value is not type of string, integer, boolean or float."]}}),
            );
        }
        let b = bounded(json!({ "channel_configs": configs }));
        let body = pretty(&b);
        assert!(body.len() < MAX_BODY_BYTES, "{} bytes", body.len());
        assert!(b[MORE_ERRORS].as_u64().is_some_and(|n| n > 0));
    }
}
