//! A pre-scan of a JSON body's bytes that counts the items of the lists and maps the API
//! reads, so a body holding more of them than any route accepts is refused (413) before
//! serde_json builds a `Value` tree for it: a 1 MB body of `[0,0,0,...]` would otherwise
//! become 500 000 `Value`s, and on `/message` 500 000 error entries.
//!
//! Pure and incremental: no allocation, a fixed amount of state, the same answer however
//! the bytes are split. It does not validate JSON (serde_json does that next); on malformed
//! input its counts are estimates, which only decide between 413 and 400.

/// Arrays are counted down to this depth (the body is depth 1): a `/message` body, its
/// items' `pm_users`; a `/connect` body's `channels`, its `info.channels`.
pub const ARRAY_DEPTH: usize = 3;

/// Objects are counted down to this depth: a body, its `channel_configs`, `user_state`, a
/// `/message` item. Objects one level further are message payloads (`message`), the
/// application's own data, bounded only by `max_body_bytes`.
pub const OBJECT_DEPTH: usize = 2;

/// The container kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// A JSON list.
    Array,
    /// A JSON object.
    Object,
}

/// The first counted container found holding more than `limit` items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooMany {
    /// What it is.
    pub container: Container,
    /// Its depth (the body is 1).
    pub depth: usize,
    /// The limit it passed.
    pub limit: usize,
}

impl TooMany {
    /// The message of the 413 answer.
    pub fn message(&self) -> String {
        match self.container {
            Container::Array => format!("A list in the body holds more than {} items.", self.limit),
            Container::Object => {
                format!("An object in the body holds more than {} keys.", self.limit)
            }
        }
    }
}

/// What a scan found in the counted containers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Items of the longest array down to [`ARRAY_DEPTH`].
    pub longest_array: usize,
    /// Keys of the largest object down to [`OBJECT_DEPTH`] (duplicate keys counted).
    pub largest_object: usize,
}

/// One counted open container.
#[derive(Clone, Copy, Debug)]
struct Level {
    container: Container,
    items: usize,
}

/// The incremental scanner. Feed it the body in any number of pieces.
#[derive(Clone, Debug)]
pub struct Scanner {
    max_items: usize,
    /// Open containers, counted or not (deeper levels only move this number).
    depth: usize,
    /// The open containers at depths `1..=ARRAY_DEPTH`.
    levels: [Level; ARRAY_DEPTH],
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
    /// A container was just opened: the next significant byte says whether it is empty.
    just_opened: bool,
    shape: Shape,
    refused: Option<TooMany>,
}

impl Scanner {
    /// A scanner refusing any counted container with more than `max_items` items.
    pub fn new(max_items: usize) -> Scanner {
        Scanner {
            max_items,
            depth: 0,
            levels: [Level {
                container: Container::Array,
                items: 0,
            }; ARRAY_DEPTH],
            in_string: false,
            escaped: false,
            just_opened: false,
            shape: Shape::default(),
            refused: None,
        }
    }

    /// Scans the next bytes. Stops at the first container past the limit; once refused,
    /// every later call answers the same.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), TooMany> {
        if let Some(t) = self.refused {
            return Err(t);
        }
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                continue;
            }
            if self.just_opened {
                self.just_opened = false;
                if !matches!(b, b']' | b'}') {
                    self.count_item()?;
                }
            }
            match b {
                b'"' => self.in_string = true,
                b'[' => self.open(Container::Array),
                b'{' => self.open(Container::Object),
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                b',' => self.count_item()?,
                _ => {}
            }
        }
        Ok(())
    }

    /// What the bytes so far hold.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    fn open(&mut self, container: Container) {
        self.depth = self.depth.saturating_add(1);
        if let Some(level) = self
            .depth
            .checked_sub(1)
            .and_then(|i| self.levels.get_mut(i))
        {
            *level = Level {
                container,
                items: 0,
            };
        }
        self.just_opened = true;
    }

    /// A new item starts in the innermost container (its first byte, or a comma).
    fn count_item(&mut self) -> Result<(), TooMany> {
        let depth = self.depth;
        let Some(level) = depth.checked_sub(1).and_then(|i| self.levels.get_mut(i)) else {
            return Ok(());
        };
        let most = match level.container {
            Container::Array => &mut self.shape.longest_array,
            Container::Object if depth <= OBJECT_DEPTH => &mut self.shape.largest_object,
            Container::Object => return Ok(()),
        };
        level.items += 1;
        *most = (*most).max(level.items);
        if level.items > self.max_items {
            let t = TooMany {
                container: level.container,
                depth,
                limit: self.max_items,
            };
            self.refused = Some(t);
            return Err(t);
        }
        Ok(())
    }
}

/// Scans a whole body.
pub fn scan(body: &[u8], max_items: usize) -> Result<Shape, TooMany> {
    let mut s = Scanner::new(max_items);
    s.feed(body)?;
    Ok(s.shape())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use Container::{Array, Object};

    fn shape(longest_array: usize, largest_object: usize) -> Result<Shape, TooMany> {
        Ok(Shape {
            longest_array,
            largest_object,
        })
    }

    fn too_many(container: Container, depth: usize) -> Result<Shape, TooMany> {
        Err(TooMany {
            container,
            depth,
            limit: 3,
        })
    }

    /// (name, body, result with `max_items` 3).
    fn cases() -> Vec<(&'static str, &'static [u8], Result<Shape, TooMany>)> {
        vec![
            ("empty body", b"", shape(0, 0)),
            ("scalar body", b"  42 ", shape(0, 0)),
            ("empty array", b"[]", shape(0, 0)),
            ("empty array with spaces", b"[ \n\t\r ]", shape(0, 0)),
            ("empty object", b"{ }", shape(0, 0)),
            ("three items", b"[1,2,3]", shape(3, 0)),
            ("three items spaced", b"[ 1 , 2 , 3 ]", shape(3, 0)),
            ("four items", b"[1,2,3,4]", too_many(Array, 1)),
            ("commas inside strings", b"[\"a,b,c,d,e\"]", shape(1, 0)),
            (
                "escaped quote keeps the string open",
                b"[\"a\\\",\\\",\\\",\", 2]",
                shape(2, 0),
            ),
            (
                "escaped backslash closes the string",
                b"[\"\\\\\",1,2]",
                shape(3, 0),
            ),
            ("brackets inside strings", b"[\"]]]\",\"[[[\"]", shape(2, 0)),
            (
                "non-utf8 inside strings",
                b"[\"\xff\xfe,\x80\"]",
                shape(1, 0),
            ),
            (
                "object keys",
                b"{\"a\":1,\"b\":[1,2],\"c\":{}}",
                shape(2, 3),
            ),
            (
                "four keys",
                b"{\"a\":1,\"b\":2,\"c\":3,\"d\":4}",
                too_many(Object, 1),
            ),
            (
                "duplicate keys count",
                b"{\"a\":1,\"a\":2,\"a\":3,\"a\":4}",
                too_many(Object, 1),
            ),
            ("nested empties", b"[[],{},[]]", shape(3, 0)),
            (
                "array at depth 3 counted",
                b"[{\"u\":[1,2,3,4]}]",
                too_many(Array, 3),
            ),
            (
                "array at depth 4 not counted",
                b"[[[[1,2,3,4,5]]]]",
                shape(1, 0),
            ),
            (
                "object at depth 2 counted",
                b"{\"c\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}}",
                too_many(Object, 2),
            ),
            (
                "object at depth 3 not counted",
                b"[{\"m\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}}]",
                shape(1, 1),
            ),
            (
                "payload arrays not counted",
                b"[{\"message\":{\"xs\":[1,2,3,4,5,6]}}]",
                shape(1, 1),
            ),
            (
                "siblings counted separately",
                b"[[1,2,3],[1,2,3],[1,2,3]]",
                shape(3, 0),
            ),
            ("unbalanced closes", b"]]]}}[1,2]", shape(2, 0)),
            ("top-level commas ignored", b"1,2,3,4,5", shape(0, 0)),
        ]
    }

    #[test]
    fn counts_items_of_counted_lists_and_maps_and_refuses_past_the_limit() {
        for (name, body, want) in cases() {
            assert_eq!(scan(body, 3), want, "{name}");
        }
    }

    #[test]
    fn every_split_gives_the_one_shot_answer() {
        for (name, body, want) in cases() {
            for split in 0..=body.len() {
                let mut s = Scanner::new(3);
                let got = s
                    .feed(&body[..split])
                    .and_then(|()| s.feed(&body[split..]))
                    .map(|()| s.shape());
                assert_eq!(got, want, "{name}, split at {split}");
            }
            let mut s = Scanner::new(3);
            let got = body
                .iter()
                .try_for_each(|b| s.feed(std::slice::from_ref(b)))
                .map(|()| s.shape());
            assert_eq!(got, want, "{name}, byte by byte");
        }
    }

    #[test]
    fn once_refused_stays_refused() {
        let mut s = Scanner::new(1);
        assert!(s.feed(b"[1,2").is_err());
        assert_eq!(
            s.feed(b"]"),
            Err(TooMany {
                container: Array,
                depth: 1,
                limit: 1
            })
        );
    }

    /// The shape serde_json's tree has, by the same depth rules (duplicate keys aside).
    fn tree_shape(v: &Value, depth: usize, s: &mut Shape) {
        match v {
            Value::Array(items) => {
                if depth <= ARRAY_DEPTH {
                    s.longest_array = s.longest_array.max(items.len());
                }
                items.iter().for_each(|i| tree_shape(i, depth + 1, s));
            }
            Value::Object(map) => {
                if depth <= OBJECT_DEPTH {
                    s.largest_object = s.largest_object.max(map.len());
                }
                map.values().for_each(|i| tree_shape(i, depth + 1, s));
            }
            _ => {}
        }
    }

    #[test]
    fn agrees_with_the_parsed_tree_on_generated_documents() {
        // A small deterministic generator: nested lists, maps (distinct keys), strings with
        // escapes and structural characters, numbers and literals, random whitespace.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        fn gen(next: &mut impl FnMut(u64) -> u64, depth: usize, out: &mut String) {
            let ws = |next: &mut dyn FnMut(u64) -> u64, out: &mut String| {
                out.push_str([" ", "", "\n", "\t", ""][next(5) as usize]);
            };
            match if depth > 5 { 2 + next(3) } else { next(5) } {
                0 => {
                    out.push('[');
                    for i in 0..next(7) {
                        if i > 0 {
                            out.push(',');
                        }
                        ws(next, out);
                        gen(next, depth + 1, out);
                        ws(next, out);
                    }
                    out.push(']');
                }
                1 => {
                    out.push('{');
                    for i in 0..next(7) {
                        if i > 0 {
                            out.push(',');
                        }
                        ws(next, out);
                        out.push_str(&format!("\"k{i}\\\"[,\""));
                        out.push(':');
                        gen(next, depth + 1, out);
                    }
                    out.push('}');
                }
                2 => {
                    out.push_str(["\"a,b\"", "\"\\\\\"", "\"]}\\\"{[\"", "\"\""][next(4) as usize])
                }
                3 => out.push_str(&next(1000).to_string()),
                _ => out.push_str(["true", "null", "-1.5e3"][next(3) as usize]),
            }
        }
        for round in 0..2000 {
            let mut doc = String::new();
            gen(&mut next, 1, &mut doc);
            let v: Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
            let mut want = Shape::default();
            tree_shape(&v, 1, &mut want);
            assert_eq!(
                scan(doc.as_bytes(), usize::MAX),
                Ok(want),
                "round {round}: {doc}"
            );
        }
    }
}
