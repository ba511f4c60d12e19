//! Field checks with marshmallow 2.18's behaviour and messages, as channelstream's
//! `validation/schemas.py` uses them. Errors are JSON: a list of messages for a field, or an
//! object keyed by list index / dict key for nested errors. Pure.

use super::bounded_errors::ErrorMap;
use super::bounds::STATE_KEY_CHARS;
use crate::hub::Uuid;
use serde_json::{json, Map, Value};

/// The error object of a schema: field name -> messages (or nested errors).
pub type Errors = Map<String, Value>;

/// `["msg"]`, the error value of a plain field.
pub fn msg(m: &str) -> Value {
    json!([m])
}

/// Message for a missing required field.
pub const MISSING: &str = "Missing data for required field.";
/// Message for `null` in a field that does not allow it.
pub const NULL: &str = "Field may not be null.";
/// Message for a schema given something other than an object.
pub const INVALID_INPUT: &str = "Invalid input type.";

/// A string of `min..=max` characters (`fields.String` + `validate.Length`).
pub fn string(v: &Value, min: usize, max: usize) -> Result<String, Value> {
    checked_string(v, min, max).map(str::to_string)
}

/// The check of [`string`] without the copy, for a caller that moves the value out once
/// the whole form passed.
pub fn checked_string(v: &Value, min: usize, max: usize) -> Result<&str, Value> {
    let Value::String(s) = v else {
        return Err(msg("Not a valid string."));
    };
    length(s, min, max)?;
    Ok(s)
}

/// `validate.Length(min, max)` on a string, counting characters (code points).
pub fn length(s: &str, min: usize, max: usize) -> Result<(), Value> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(msg(&format!("Length must be between {min} and {max}.")));
    }
    Ok(())
}

/// A boolean from marshmallow's truthy/falsy sets (`true`, `1`, `"true"`, `"t"`, ...).
pub fn boolean(v: &Value) -> Result<bool, Value> {
    let t = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        Value::String(s) => match s.as_str() {
            "t" | "T" | "true" | "True" | "TRUE" | "1" => Some(true),
            "f" | "F" | "false" | "False" | "FALSE" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    t.ok_or_else(|| msg("Not a valid boolean."))
}

/// An integer as Python's `int(value)` makes one: ints, truncated floats, booleans and
/// decimal strings (`fields.Integer`).
pub fn integer(v: &Value) -> Result<i64, Value> {
    let bad = || msg("Not a valid integer.");
    match v {
        Value::Bool(b) => Ok(*b as i64),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => n
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                .map(|f| f.trunc() as i64)
                .ok_or_else(bad),
        },
        Value::String(s) => {
            let t = s.trim().replace('_', "");
            t.parse::<i64>().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// A UUID string (`fields.UUID`).
pub fn uuid(v: &Value) -> Result<Uuid, Value> {
    v.as_str()
        .and_then(Uuid::parse)
        .ok_or_else(|| msg("Not a valid UUID."))
}

/// Whether `v` is a JSON object (`fields.Dict`), for a caller that then takes it.
pub fn is_mapping(v: &Value) -> Result<(), Value> {
    match v {
        Value::Object(_) => Ok(()),
        _ => Err(msg("Not a valid mapping type.")),
    }
}

/// A list whose items pass `item`; errors keyed by index (`fields.List`).
pub fn list<T>(v: &Value, item: impl Fn(&Value) -> Result<T, Value>) -> Result<Vec<T>, Value> {
    let Value::Array(items) = v else {
        return Err(msg("Not a valid list."));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = ErrorMap::new();
    for (i, it) in items.iter().enumerate() {
        let r = if it.is_null() {
            Err(msg(NULL))
        } else {
            item(it)
        };
        match r {
            Ok(x) => out.push(x),
            Err(e) => errors.insert(&i.to_string(), e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.into_value())
    }
}

/// A list of strings of `min..=max` characters.
pub fn string_list(v: &Value, min: usize, max: usize) -> Result<Vec<String>, Value> {
    list(v, |it| string(it, min, max))
}

/// A mapping whose keys have `1..=max_key_chars` characters and whose values pass
/// `value` (`BackportedDict`); errors as `{key: {"key": err, "value": err}}`. The
/// reference does not bound the keys; we do, as the same names are bounded elsewhere.
pub fn dict_of<T>(
    v: &Value,
    max_key_chars: usize,
    value: impl Fn(&Value) -> Result<T, Value>,
    allow_null_values: bool,
) -> Result<Vec<(String, T)>, Value> {
    let Value::Object(m) = v else {
        return Err(msg("Not a valid mapping type."));
    };
    let mut out = Vec::with_capacity(m.len());
    let mut errors = ErrorMap::new();
    for (k, it) in m {
        let r = if it.is_null() && !allow_null_values {
            Err(msg(NULL))
        } else {
            value(it)
        };
        let mut e = Map::new();
        if let Err(k_err) = length(k, 1, max_key_chars) {
            e.insert("key".into(), k_err);
        }
        match r {
            Ok(x) if e.is_empty() => out.push((k.clone(), x)),
            Ok(_) => {}
            Err(v_err) => {
                e.insert("value".into(), v_err);
            }
        }
        if !e.is_empty() {
            errors.insert(k, Value::Object(e));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.into_value())
    }
}

/// User state: values must be strings, numbers, booleans or null (`UserStateField`).
pub fn user_state(v: &Value) -> Result<Map<String, Value>, Value> {
    let scalar = |it: &Value| match it {
        Value::Array(_) | Value::Object(_) => Err(msg(
            "Value is not type of string, integer, boolean or float.",
        )),
        _ => Ok(it.clone()),
    };
    dict_of(v, STATE_KEY_CHARS, scalar, true).map(|pairs| pairs.into_iter().collect())
}

/// A datetime string matching marshmallow's ISO 8601 pattern, returned as Python's
/// `isoformat()` of the parsed value (`fields.DateTime`).
pub fn datetime(v: &Value) -> Result<String, Value> {
    let bad = || msg("Not a valid datetime.");
    let s = v.as_str().ok_or_else(bad)?;
    super::datetime::parse_iso(s).ok_or_else(bad)
}

/// Reads the fields of one schema, collecting errors under their names.
pub struct Form<'a> {
    obj: &'a Map<String, Value>,
    /// Errors so far.
    pub errors: Errors,
}

impl<'a> Form<'a> {
    /// A form over `obj`.
    pub fn new(obj: &'a Map<String, Value>) -> Form<'a> {
        Form {
            obj,
            errors: Map::new(),
        }
    }

    fn check<T>(&mut self, key: &str, r: Result<T, Value>) -> Option<T> {
        r.map_err(|e| self.errors.insert(key.to_string(), e)).ok()
    }

    /// A required, non-null field.
    pub fn required<T>(&mut self, key: &str, f: impl Fn(&Value) -> Result<T, Value>) -> Option<T> {
        match self.obj.get(key) {
            None => self.check(key, Err(msg(MISSING))),
            Some(Value::Null) => self.check(key, Err(msg(NULL))),
            Some(v) => {
                let r = f(v);
                self.check(key, r)
            }
        }
    }

    /// An optional, non-null field: `Some(None)` when absent, `None` when invalid.
    pub fn optional<T>(
        &mut self,
        key: &str,
        f: impl Fn(&Value) -> Result<T, Value>,
    ) -> Option<Option<T>> {
        match self.obj.get(key) {
            None => Some(None),
            Some(Value::Null) => self.check(key, Err(msg(NULL))).map(Some),
            Some(v) => {
                let r = f(v);
                self.check(key, r).map(Some)
            }
        }
    }

    /// An optional field whose default is `None`, which marshmallow 2 lets be null.
    pub fn nullable<T>(
        &mut self,
        key: &str,
        f: impl Fn(&Value) -> Result<T, Value>,
    ) -> Option<Option<T>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(v) => {
                let r = f(v);
                self.check(key, r).map(Some)
            }
        }
    }

    /// Records an error found by other means (unknown connection, ...), appending to any
    /// messages the field already has.
    pub fn add(&mut self, key: &str, message: &str) {
        match self.errors.get_mut(key) {
            Some(Value::Array(list)) => list.push(json!(message)),
            _ => {
                self.errors.insert(key.to_string(), msg(message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coercions_match_marshmallow_2() {
        for (v, want) in [
            (json!(true), Some(true)),
            (json!(1), Some(true)),
            (json!(1.0), Some(true)),
            (json!("t"), Some(true)),
            (json!("TRUE"), Some(true)),
            (json!(0), Some(false)),
            (json!("False"), Some(false)),
            (json!("yes"), None),
            (json!(2), None),
            (json!(null), None),
        ] {
            assert_eq!(boolean(&v).ok(), want, "boolean {v}");
        }
        for (v, want) in [
            (json!(5), Some(5)),
            (json!(2.9), Some(2)),
            (json!("5"), Some(5)),
            (json!(" 7 "), Some(7)),
            (json!(true), Some(1)),
            (json!("1.5"), None),
            (json!([]), None),
        ] {
            assert_eq!(integer(&v).ok(), want, "integer {v}");
        }
    }

    #[test]
    fn string_length_counts_code_points() {
        assert!(string(&json!("\u{e9}".repeat(512)), 1, 512).is_ok());
        assert!(string(&json!("\u{1F600}".repeat(256)), 1, 256).is_ok());
        assert_eq!(
            string(&json!("x".repeat(257)), 1, 256),
            Err(msg("Length must be between 1 and 256."))
        );
    }

    #[test]
    fn form_distinguishes_missing_null_and_invalid() {
        let obj = json!({"n": null, "s": 5});
        let obj = obj.as_object().cloned().unwrap_or_default();
        let mut f = Form::new(&obj);
        assert_eq!(f.required("absent", |v| string(v, 1, 2)), None);
        assert_eq!(f.optional("absent2", |v| string(v, 1, 2)), Some(None));
        assert_eq!(f.nullable("n", |v| string(v, 1, 2)), Some(None));
        assert_eq!(f.optional("n", |v| string(v, 1, 2)), None);
        assert_eq!(f.required("s", |v| string(v, 1, 2)), None);
        assert_eq!(
            Value::Object(f.errors),
            json!({"absent": [MISSING], "n": [NULL], "s": ["Not a valid string."]})
        );
    }
}
