//! Our deliberate differences from the reference, applied to golden expectations.
//!
//! `tests/deviations.json` lists, per scenario and step, the values our server answers
//! instead of the recorded ones. Every entry names the `docs/COMPATIBILITY.md` line that
//! explains it, so a difference can only be accepted by being documented.

use serde_json::Value;
use std::path::Path;

/// One documented difference: which steps, what changes, and where it is explained.
pub struct Deviation {
    /// Golden scenario name.
    pub scenario: String,
    /// Step indexes within the scenario.
    pub steps: Vec<usize>,
    /// Text that must appear in docs/COMPATIBILITY.md.
    pub compat: String,
    /// Paths (`a.b[0].c`) in the expectation and the value we answer instead.
    pub set: Vec<(String, Value)>,
    /// Top-level keys of the expectation we do not answer.
    pub remove: Vec<String>,
}

/// Reads `tests/deviations.json`.
pub fn load() -> Result<Vec<Deviation>, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deviations.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("deviations: {e}"))?;
    let entries = doc["deviations"].as_array().ok_or("deviations: no list")?;
    entries.iter().map(parse_entry).collect()
}

fn parse_entry(v: &Value) -> Result<Deviation, String> {
    let text = |k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .ok_or(format!("deviation without {k}"))
    };
    let steps = v["steps"]
        .as_array()
        .ok_or("deviation without steps")?
        .iter()
        .map(|s| s.as_u64().map(|n| n as usize).ok_or("bad step"))
        .collect::<Result<_, _>>()?;
    let set = v["set"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let remove = v["remove"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Deviation {
        scenario: text("scenario")?,
        steps,
        compat: text("compat")?,
        set,
        remove,
    })
}

/// Applies every deviation for `scenario` step `step` to the expectation `want`.
pub fn apply(
    all: &[Deviation],
    scenario: &str,
    step: usize,
    want: &mut Value,
) -> Result<(), String> {
    for d in all
        .iter()
        .filter(|d| d.scenario == scenario && d.steps.contains(&step))
    {
        for (path, value) in &d.set {
            let slot = locate(want, path).ok_or(format!("{scenario} step {step}: no {path}"))?;
            *slot = value.clone();
        }
        if let Some(map) = want.as_object_mut() {
            for key in &d.remove {
                map.remove(key);
            }
        }
    }
    Ok(())
}

/// The value at `path` (`a.b[1].c`; the last key may be new), or `None`.
fn locate<'v>(root: &'v mut Value, path: &str) -> Option<&'v mut Value> {
    let mut cur = root;
    for part in path.split('.') {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        cur = cur
            .as_object_mut()?
            .entry(key.to_string())
            .or_insert(Value::Null);
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n: usize = index.strip_suffix(']')?.parse().ok()?;
            cur = cur.as_array_mut()?.get_mut(n)?;
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_reaches_nested_keys_and_array_items() {
        let mut v = json!({"json": {"users": [{"c": [1, 2]}], "n": 2}, "text": "x"});
        let d = Deviation {
            scenario: "s".into(),
            steps: vec![4],
            compat: String::new(),
            set: vec![
                ("json.users[0].c".into(), json!([1])),
                ("json.n".into(), json!(1)),
            ],
            remove: vec!["text".into()],
        };
        apply(&[d], "s", 4, &mut v).unwrap();
        assert_eq!(v, json!({"json": {"users": [{"c": [1]}], "n": 1}}));
    }

    #[test]
    fn a_path_through_a_missing_array_item_is_an_error() {
        let mut v = json!({"json": {"users": []}});
        let d = Deviation {
            scenario: "s".into(),
            steps: vec![0],
            compat: String::new(),
            set: vec![("json.users[3].c".into(), json!(1))],
            remove: vec![],
        };
        assert!(apply(&[d], "s", 0, &mut v).is_err());
    }

    #[test]
    fn every_deviation_is_explained_in_compatibility_md_and_names_a_real_step() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/COMPATIBILITY.md"),
        )
        .unwrap();
        let all = load().unwrap();
        assert!(!all.is_empty());
        for d in &all {
            assert!(
                doc.contains(&d.compat),
                "COMPATIBILITY.md lacks {:?}",
                d.compat
            );
            let golden = super::super::golden_files()
                .into_iter()
                .find(|p| p.file_stem().is_some_and(|s| s == d.scenario.as_str()))
                .unwrap_or_else(|| panic!("no golden {}", d.scenario));
            let g = super::super::load_golden(&golden).unwrap();
            let n = g["steps"].as_array().map_or(0, Vec::len);
            for &s in &d.steps {
                assert!(s < n, "{} has no step {s}", d.scenario);
                let mut want = g["steps"][s]["expect"].clone();
                apply(&all, &d.scenario, s, &mut want).unwrap();
            }
        }
    }
}
