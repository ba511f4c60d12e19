//! Normalization of observed results, the same rules as `tools/reference/record.py`
//! (`Normalizer`), so a live result can be compared with a golden one. Volatile values
//! (server-made uuids, current timestamps, uptime) become placeholders; uuids keep their
//! identity within one scenario as `<uuid:N>`.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Placeholder state for one scenario: the scenario's own ids and the uuids seen so far.
pub struct Normalizer {
    ids: HashMap<String, String>,
    seen: HashMap<String, usize>,
}

impl Normalizer {
    /// `ids` maps the scenario's names to its fixed uuids (golden `ids`).
    pub fn new(ids: &Map<String, Value>) -> Self {
        let ids = ids
            .iter()
            .filter_map(|(name, v)| v.as_str().map(|u| (u.to_string(), name.clone())))
            .collect();
        Normalizer {
            ids,
            seen: HashMap::new(),
        }
    }

    /// Normalizes one step result. Object keys are walked in sorted order, so `<uuid:N>`
    /// numbering does not depend on the order a server writes keys in.
    pub fn value(&mut self, v: &Value, key: Option<&str>) -> Value {
        match v {
            Value::String(_) if key == Some("uptime") => Value::String("<uptime>".into()),
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    let normalized = self.value(&map[k], Some(k));
                    out.insert(k.clone(), normalized);
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                let mut out: Vec<Value> = items.iter().map(|x| self.value(x, None)).collect();
                let sortable = key == Some("users")
                    && !out.is_empty()
                    && out.iter().all(|x| x.get("user").is_some() && x.is_object());
                if sortable {
                    out.sort_by_key(|x| user_sort_key(&x["user"]));
                }
                Value::Array(out)
            }
            Value::String(s) => Value::String(self.string(s)),
            other => other.clone(),
        }
    }

    fn string(&mut self, s: &str) -> String {
        if let Some(name) = self.ids.get(s) {
            return format!("<id:{name}>");
        }
        if is_uuid(s) {
            let next = self.seen.len() + 1;
            let n = *self.seen.entry(s.to_string()).or_insert(next);
            return format!("<uuid:{n}>");
        }
        match timestamp_year(s) {
            Some(year) if year >= 2020 => "<timestamp>".to_string(),
            _ => s.to_string(),
        }
    }
}

/// Python sorts by `str(x["user"])`; users are strings in every shape we record.
fn user_sort_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Lowercase hyphenated 8-4-4-4-12 hex, as `str(uuid.UUID)` renders.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// The year of an ISO-8601 date-time `YYYY-MM-DDTHH:MM:SS[.f+][Z|+HH:MM|-HH:MM]`, or None.
pub fn timestamp_year(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let head = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    if !head {
        return None;
    }
    let mut i = 19;
    if at(i, b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let tail_ok = match b.get(i) {
        None => true,
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len() && digits(i + 1..i + 3) && at(i + 3, b':') && digits(i + 4..i + 6)
        }
        Some(_) => false,
    };
    if !tail_ok {
        return None;
    }
    s.get(0..4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids() -> Map<String, Value> {
        let v = json!({"a": "00000000-0000-4000-8000-000000000001"});
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn scenario_ids_become_names_and_other_uuids_are_numbered_by_first_sight() {
        let mut n = Normalizer::new(&ids());
        let first = n.value(
            &json!({"z": "6f1c1d9e-34d5-4b43-9a0e-2f8f5b8a1c11",
                    "a": "00000000-0000-4000-8000-000000000001",
                    "m": ["0b7c6d4a-1111-4222-8333-444455556666", "6f1c1d9e-34d5-4b43-9a0e-2f8f5b8a1c11"]}),
            None,
        );
        assert_eq!(
            first,
            json!({"a": "<id:a>", "m": ["<uuid:1>", "<uuid:2>"], "z": "<uuid:2>"})
        );
        // Numbering carries over to later steps of the same scenario.
        let second = n.value(&json!("0b7c6d4a-1111-4222-8333-444455556666"), None);
        assert_eq!(second, json!("<uuid:1>"));
    }

    #[test]
    fn only_current_timestamps_are_replaced() {
        let mut n = Normalizer::new(&Map::new());
        const CASES: &[(&str, &str)] = &[
            ("2026-11-25T06:18:58.023389", "<timestamp>"),
            ("2026-11-25T06:18:58", "<timestamp>"),
            ("2026-11-25T06:18:58Z", "<timestamp>"),
            ("2026-11-25T06:18:58.5+02:00", "<timestamp>"),
            ("2019-05-04T03:02:01.123456", "2019-05-04T03:02:01.123456"),
            ("2026-11-25 06:18:58", "2026-11-25 06:18:58"),
            ("2026-11-25T06:18:58.", "2026-11-25T06:18:58."),
            ("2026-11-25T06:18:58+0200", "2026-11-25T06:18:58+0200"),
            ("hello", "hello"),
        ];
        for &(input, want) in CASES {
            assert_eq!(n.value(&json!(input), None), json!(want), "case {input}");
        }
    }

    #[test]
    fn uuid_check_wants_canonical_lowercase() {
        assert!(is_uuid("abcdef00-0000-4000-8000-0000000000ab"));
        assert!(!is_uuid("ABCDEF00-0000-4000-8000-0000000000AB"));
        assert!(!is_uuid("abcdef0000004000800000000000000ab"));
        assert!(!is_uuid("abcdef00-0000-4000-8000-0000000000ab0"));
    }

    #[test]
    fn user_lists_are_sorted_uptime_hidden_and_keys_sorted() {
        let mut n = Normalizer::new(&Map::new());
        let got = n.value(
            &json!({"uptime": "0:00:03",
                    "users": [{"user": "bob"}, {"user": "alice"}],
                    "names": ["bob", "alice"]}),
            None,
        );
        assert_eq!(
            got,
            json!({"names": ["bob", "alice"], "uptime": "<uptime>",
                   "users": [{"user": "alice"}, {"user": "bob"}]})
        );
    }
}
