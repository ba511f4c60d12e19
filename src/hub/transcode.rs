//! Writes JSON text through any `serde` serializer without building a value: each token
//! the parser reads is handed to the serializer at once. Pure.
//!
//! Why: channel info embeds every stored history message, kept as compact JSON
//! ([`super::Stored`]), in an indented answer. Parsing each message back into a
//! `serde_json::Map` first cost a B-tree node, a `String` per key and per value, and most
//! of the time of rendering `/info`; this streams the same tokens straight to the output.
//! Map keys come out in the order of the text, so the output equals rendering the parsed
//! value only when the text's keys are sorted, as `serde_json` writes a `Map`.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};
use std::cell::Cell;
use std::fmt;

/// Serializes the JSON `text` into `s`. Text that does not parse is a serializer error;
/// whatever was written before it stays written.
pub fn transcode<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Source(Cell::new(Some(&mut de))).serialize(s)?;
    de.end().map_err(ser::Error::custom)?;
    Ok(out)
}

/// A parser positioned at one value; serializing it reads that value. `Cell`, because
/// `Serialize::serialize` takes `&self` and the parser is used up.
struct Source<D>(Cell<Option<D>>);

impl<'de, D: Deserializer<'de>> Serialize for Source<D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(de) = self.0.take() else {
            return Err(ser::Error::custom("value already written"));
        };
        de.deserialize_any(Tokens(s)).map_err(ser::Error::custom)
    }
}

/// Hands each token of one value to the serializer `S`.
struct Tokens<S>(S);

/// Turns a serializer error into a parser error (to pass it through `Visitor`).
fn to_de<E: de::Error>(e: impl fmt::Display) -> E {
    E::custom(e)
}

impl<'de, S: Serializer> Visitor<'de> for Tokens<S> {
    type Value = S::Ok;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<S::Ok, E> {
        self.0.serialize_bool(v).map_err(to_de)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<S::Ok, E> {
        self.0.serialize_i64(v).map_err(to_de)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<S::Ok, E> {
        self.0.serialize_u64(v).map_err(to_de)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<S::Ok, E> {
        self.0.serialize_f64(v).map_err(to_de)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<S::Ok, E> {
        self.0.serialize_str(v).map_err(to_de)
    }

    fn visit_unit<E: de::Error>(self) -> Result<S::Ok, E> {
        self.0.serialize_unit().map_err(to_de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<S::Ok, A::Error> {
        let mut seq = self.0.serialize_seq(None).map_err(to_de)?;
        while items.next_element_seed(Element(&mut seq))?.is_some() {}
        seq.end().map_err(to_de)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<S::Ok, A::Error> {
        let mut map = self.0.serialize_map(None).map_err(to_de)?;
        while entries.next_key_seed(Key(&mut map))?.is_some() {
            entries.next_value_seed(Entry(&mut map))?;
        }
        map.end().map_err(to_de)
    }
}

/// Reads one list element and writes it into the open list.
struct Element<'a, T>(&'a mut T);

impl<'de, T: SerializeSeq> DeserializeSeed<'de> for Element<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        self.0
            .serialize_element(&Source(Cell::new(Some(de))))
            .map_err(to_de)
    }
}

/// Reads one map key and writes it into the open map, borrowed from the text (or the
/// parser's scratch buffer when it has escapes): no `String` per key.
struct Key<'a, T>(&'a mut T);

impl<'de, T: SerializeMap> DeserializeSeed<'de> for Key<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de, T: SerializeMap> Visitor<'de> for Key<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.serialize_key(v).map_err(to_de)
    }
}

/// Reads one map value and writes it into the open map.
struct Entry<'a, T>(&'a mut T);

impl<'de, T: SerializeMap> DeserializeSeed<'de> for Entry<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        self.0
            .serialize_value(&Source(Cell::new(Some(de))))
            .map_err(to_de)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    struct Text<'a>(&'a str);

    impl Serialize for Text<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            transcode(self.0, s)
        }
    }

    fn pretty<T: Serialize>(v: &T) -> String {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        let ok = v.serialize(&mut ser).is_ok();
        format!("{ok} {}", String::from_utf8_lossy(&out))
    }

    /// Compact texts with sorted keys, as `serde_json` writes a `Map`.
    const CASES: &[&str] = &[
        r#"{}"#,
        r#"[]"#,
        r#"null"#,
        r#"{"a":[],"b":{},"c":[{}],"d":[[1,[2,{"x":null}]]]}"#,
        r#"{"e":"h\u00e9\"\n\u0001\\/","k\"ey":true,"n":[0,-1,2.5,1e300,-0.0,0.1,18446744073709551615,-9223372036854775808]}"#,
        r#"{"catchup":false,"channel":"a","message":{"text":"hi"},"pm_users":[],"type":"message","uuid":"u"}"#,
    ];

    #[test]
    fn transcoding_writes_what_rendering_the_parsed_value_writes() {
        for text in CASES {
            let parsed: Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(pretty(&Text(text)), pretty(&parsed), "{text}");
            assert_eq!(
                serde_json::to_string(&Text(text)).unwrap_or_default(),
                serde_json::to_string(&parsed).unwrap_or_default(),
                "{text}"
            );
        }
    }

    #[test]
    fn text_that_does_not_parse_is_an_error() {
        for text in ["", "{", r#"{"a":}"#, "[1,]", "1 2", r#"{"a":1}x"#] {
            assert!(serde_json::to_string(&Text(text)).is_err(), "{text:?}");
        }
    }
}
