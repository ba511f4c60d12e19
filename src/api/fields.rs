//! Field checks with marshmallow 2.18's behaviour and messages, as channelstream's
//! `validation/schemas.py` uses them. Errors are JSON: a list of messages for a field, or an
//! object keyed by list index / dict key for nested errors. Pure.

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
    let Value::String(s) = v else {
        return Err(msg("Not a valid string."));
    };
    let n = s.chars().count();
    if n < min || n > max {
        return Err(msg(&format!("Length must be between {min} and {max}.")));
    }
    Ok(s.clone())
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

/// Any JSON object (`fields.Dict`).
pub fn mapping(v: &Value) -> Result<Map<String, Value>, Value> {
    v.as_object()
        .cloned()
        .ok_or_else(|| msg("Not a valid mapping type."))
}

/// A list whose items pass `item`; errors keyed by index (`fields.List`).
pub fn list<T>(v: &Value, item: impl Fn(&Value) -> Result<T, Value>) -> Result<Vec<T>, Value> {
    let Value::Array(items) = v else {
        return Err(msg("Not a valid list."));
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Map::new();
    for (i, it) in items.iter().enumerate() {
        let r = if it.is_null() {
            Err(msg(NULL))
        } else {
            item(it)
        };
        match r {
            Ok(x) => out.push(x),
            Err(e) => {
                errors.insert(i.to_string(), e);
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Value::Object(errors))
    }
}

/// A list of strings of `min..=max` characters.
pub fn string_list(v: &Value, min: usize, max: usize) -> Result<Vec<String>, Value> {
    list(v, |it| string(it, min, max))
}

/// A mapping whose values pass `value` (`BackportedDict`); errors as
/// `{key: {"value": err}}`.
pub fn dict_of<T>(
    v: &Value,
    value: impl Fn(&Value) -> Result<T, Value>,
    allow_null_values: bool,
) -> Result<Vec<(String, T)>, Value> {
    let Value::Object(m) = v else {
        return Err(msg("Not a valid mapping type."));
    };
    let mut out = Vec::with_capacity(m.len());
    let mut errors = Map::new();
    for (k, it) in m {
        let r = if it.is_null() && !allow_null_values {
            Err(msg(NULL))
        } else {
            value(it)
        };
        match r {
            Ok(x) => out.push((k.clone(), x)),
            Err(e) => {
                errors.insert(k.clone(), json!({ "value": e }));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Value::Object(errors))
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
    dict_of(v, scalar, true).map(|pairs| pairs.into_iter().collect())
}

/// A datetime string matching marshmallow's ISO 8601 pattern, returned as Python's
/// `isoformat()` of the parsed value (`fields.DateTime`; `Z` becomes `+00:00`).
pub fn datetime(v: &Value) -> Result<String, Value> {
    let bad = || msg("Not a valid datetime.");
    let s = v.as_str().ok_or_else(bad)?;
    parse_iso(s).ok_or_else(bad)
}

/// Parses `YYYY-M-D[T ]H:M[:S[.f]][Z|±HH[[:]MM]]` and formats it as Python does.
fn parse_iso(s: &str) -> Option<String> {
    let (date, rest) = s.split_at(s.find(['T', ' '])?);
    let rest = &rest[1..];
    let mut d = date.split('-');
    let (y, mo, da) = (
        num(d.next()?, 4, 4)?,
        num(d.next()?, 1, 2)?,
        num(d.next()?, 1, 2)?,
    );
    if d.next().is_some() {
        return None;
    }
    let tz_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_at);
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let (h, mi) = (num(t.next()?, 1, 2)?, num(t.next()?, 1, 2)?);
    let sec = match t.next() {
        Some(x) => num(x, 1, 2)?,
        None if frac.is_none() => 0,
        None => return None,
    };
    if t.next().is_some() {
        return None;
    }
    let micros = match frac {
        None => 0,
        Some(f) if (1..=12).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            let six: String = f.chars().chain("000000".chars()).take(6).collect();
            six.parse::<u32>().ok()?
        }
        Some(_) => return None,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y < 1 || !(1..=12).contains(&mo) || da < 1 || da > days[(mo - 1) as usize] {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let offset = match tz {
        "" => String::new(),
        "Z" => "+00:00".into(),
        _ => {
            let (sign, digits) = tz.split_at(1);
            let digits = digits.replacen(':', "", 1);
            if !(digits.len() == 2 || digits.len() == 4)
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let (oh, om) = (
                &digits[..2],
                if digits.len() == 4 {
                    &digits[2..]
                } else {
                    "00"
                },
            );
            if oh.parse::<u32>().ok()? > 23 || om.parse::<u32>().ok()? > 59 {
                return None;
            }
            if sign == "-" && oh == "00" && om == "00" {
                "+00:00".into()
            } else {
                format!("{sign}{oh}:{om}")
            }
        }
    };
    let mut out = format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{sec:02}");
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out.push_str(&offset);
    Some(out)
}

fn num(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
