//! A readable difference between an expected and an observed JSON value: one line per
//! differing path, `$.json.channels.room.total_users: expected 1, got 0`.

use serde_json::Value;

/// Every path where `got` differs from `want`; empty when equal.
pub fn diff(want: &Value, got: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("$", want, got, &mut out);
    out
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        let cut: String = s.chars().take(200).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn walk(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => walk(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: missing (expected {})", short(wv))),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {}", short(gv)));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                walk(&format!("{path}[{i}]"), wv, gv, out);
            }
            if w.len() != g.len() {
                out.push(format!(
                    "{path}: expected {} items, got {}",
                    w.len(),
                    g.len()
                ));
                for (i, extra) in g.iter().enumerate().skip(w.len()) {
                    out.push(format!("{path}[{i}]: unexpected {}", short(extra)));
                }
                for (i, missing) in w.iter().enumerate().skip(g.len()) {
                    out.push(format!(
                        "{path}[{i}]: missing (expected {})",
                        short(missing)
                    ));
                }
            }
        }
        _ if want == got => {}
        _ => out.push(format!(
            "{path}: expected {}, got {}",
            short(want),
            short(got)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_have_no_diff() {
        let v = json!({"a": [1, {"b": null}], "c": "x"});
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn each_difference_names_its_path() {
        let want = json!({"status": 200, "json": {"users": ["a", "b"], "n": 1}, "gone": true});
        let got = json!({"status": 422, "json": {"users": ["a"], "n": 1.0}, "new": 1});
        let lines = diff(&want, &got);
        assert!(
            lines.contains(&"$.status: expected 200, got 422".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"$.json.n: expected 1, got 1.0".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"$.json.users: expected 2 items, got 1".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"$.json.users[1]: missing (expected \"b\")".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"$.gone: missing (expected true)".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"$.new: unexpected 1".to_string()),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 6, "{lines:?}");
    }
}
