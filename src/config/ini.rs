//! A small ini reader that reads files the way Python's `configparser` (default settings)
//! does, because channelstream 0.7.1 reads its config with it and existing files must
//! mean the same here. Owns only the text-to-entries step: it knows nothing about which
//! keys exist. Pure: the caller reads the file.
//!
//! Rules kept from `configparser`: `[section]` headers (case-sensitive); `key = value` or
//! `key: value` split at the first `=` or `:`; keys lower-cased and trimmed; whole-line
//! comments start with `#` or `;` (inline comments are not stripped); a line indented
//! deeper than its key continues the value (joined with `\n`, blank lines kept inside);
//! `[DEFAULT]` entries apply to every section; `%%` is a literal `%` and `%(key)s` is
//! replaced by another key's value; a repeated section or key is an error.

use std::collections::HashSet;
use std::fmt;

/// One `key = value` of the requested section, interpolated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Lower-cased key.
    pub key: String,
    /// Value with continuation lines joined by `\n`.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// Why a file could not be read as ini. `line` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IniError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// `configparser`'s `MAX_INTERPOLATION_DEPTH`: deeper `%(key)s` chains are refused.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// The section `configparser` merges into every other one.
const DEFAULT_SECTION: &str = "DEFAULT";

/// A key being collected: its value lines so far.
struct Raw {
    section: String,
    key: String,
    lines: Vec<String>,
    line: usize,
}

/// Reads `section` from `text`: `Ok(None)` if the file has no such section. Entries from
/// `[DEFAULT]` come first, then the section's own (which override them), as
/// `ConfigParser.items(section)` lists them.
pub(crate) fn read_section(text: &str, section: &str) -> Result<Option<Vec<Entry>>, IniError> {
    let (raws, sections) = parse(text)?;
    if !sections.contains(section) {
        return Ok(None);
    }
    let mut merged: Vec<(String, String, usize)> = Vec::new();
    for raw in raws
        .iter()
        .filter(|r| r.section == DEFAULT_SECTION || r.section == section)
    {
        let value = raw.lines.join("\n").trim_end().to_string();
        match merged.iter_mut().find(|(k, _, _)| *k == raw.key) {
            Some(slot) => *slot = (raw.key.clone(), value, raw.line),
            None => merged.push((raw.key.clone(), value, raw.line)),
        }
    }
    let mut entries = Vec::with_capacity(merged.len());
    for (key, value, line) in &merged {
        let mut out = String::new();
        interpolate(&merged, key, value, 1, &mut out).map_err(|message| IniError {
            line: *line,
            message,
        })?;
        entries.push(Entry {
            key: key.clone(),
            value: out,
            line: *line,
        });
    }
    Ok(Some(entries))
}

/// `configparser`'s `SECTCRE`: `[` then at least one character up to the last `]`.
fn section_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count()
}

/// Splits the whole file into keys with their raw value lines, checking structure; also
/// returns the names of the sections seen (an empty section still exists).
fn parse(text: &str) -> Result<(Vec<Raw>, HashSet<String>), IniError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut raws: Vec<Raw> = Vec::new();
    let mut section: Option<String> = None;
    let mut seen_sections: HashSet<String> = HashSet::new();
    let mut seen_keys: HashSet<(String, String)> = HashSet::new();
    // Whether the last key line may still take continuation lines.
    let mut open_key = false;
    let mut indent_level = 0;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let value = line.trim();
        if value.starts_with('#') || value.starts_with(';') {
            continue;
        }
        if value.is_empty() {
            if let (true, Some(raw)) = (open_key, raws.last_mut()) {
                raw.lines.push(String::new());
            }
            continue;
        }
        let indent = indent_of(line);
        if open_key && indent > indent_level {
            if let Some(raw) = raws.last_mut() {
                raw.lines.push(value.to_string());
            }
            continue;
        }
        indent_level = indent;
        if let Some(name) = section_name(value) {
            if name != DEFAULT_SECTION && !seen_sections.insert(name.to_string()) {
                return Err(error(number, format!("section [{name}] appears twice")));
            }
            section = Some(name.to_string());
            open_key = false;
            continue;
        }
        let Some(current) = &section else {
            return Err(error(number, "a key before any [section] header".into()));
        };
        let Some(split) = value.find(['=', ':']) else {
            return Err(error(
                number,
                format!("expected `key = value`, found {value:?}"),
            ));
        };
        let key = value[..split].trim_end().to_lowercase();
        if key.is_empty() {
            return Err(error(number, format!("a value without a key: {value:?}")));
        }
        if !seen_keys.insert((current.clone(), key.clone())) {
            return Err(error(
                number,
                format!("key `{key}` appears twice in [{current}]"),
            ));
        }
        raws.push(Raw {
            section: current.clone(),
            key,
            lines: vec![value[split + 1..].trim().to_string()],
            line: number,
        });
        open_key = true;
    }
    Ok((raws, seen_sections))
}

fn error(line: usize, message: String) -> IniError {
    IniError { line, message }
}

/// `configparser`'s `BasicInterpolation`: `%%` is `%`, `%(key)s` is `key`'s value
/// (itself interpolated, at most [`MAX_INTERPOLATION_DEPTH`] deep); any other `%` is an
/// error, so a secret containing `%` must be written `%%`, as for the reference.
fn interpolate(
    entries: &[(String, String, usize)],
    key: &str,
    value: &str,
    depth: usize,
    out: &mut String,
) -> Result<(), String> {
    if depth > MAX_INTERPOLATION_DEPTH {
        return Err(format!(
            "`{key}`: `%(...)s` references nest deeper than {MAX_INTERPOLATION_DEPTH}"
        ));
    }
    let mut rest = value;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%(") {
            let name = after
                .find(')')
                .filter(|&end| end > 0 && after[end + 1..].starts_with('s'))
                .map(|end| (&after[..end], &after[end + 2..]));
            let Some((name, after)) = name else {
                return Err(format!(
                    "`{key}`: bad `%(key)s` reference{} (write `%%` for a literal %)",
                    quoted(key, rest)
                ));
            };
            let name = name.to_lowercase();
            let Some((_, target, _)) = entries.iter().find(|(k, _, _)| *k == name) else {
                return Err(format!("`{key}`: `%({name})s` names no key in the section"));
            };
            interpolate(entries, key, target, depth + 1, out)?;
            rest = after;
        } else {
            return Err(format!(
                "`{key}`: '%' must be followed by '%' or '(' (write `%%` for a literal %){}",
                quoted(key, rest)
            ));
        }
    }
    out.push_str(rest);
    Ok(())
}

/// `" in \"text\""` to show where an error is, except in the value of a secret
/// (`secret`, `admin_secret`, `cookie_secret`): secrets never reach a log, and the line
/// number is enough to find the mistake.
fn quoted(key: &str, text: &str) -> String {
    if key.contains("secret") {
        String::new()
    } else {
        format!(" in {text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_secret_values_never_show_the_value() {
        for text in [
            "[channelstream]\nsecret = hunter2%x\n",
            "[channelstream]\nadmin_secret = hunter2%(x\n",
        ] {
            let err = read_section(text, "channelstream").expect_err(text);
            assert!(!err.message.contains("hunter2"), "{}", err.message);
            assert!(!err.message.contains("%x"), "{}", err.message);
        }
        let err = read_section("[channelstream]\nport = 80%x\n", "channelstream");
        let err = err.expect_err("bad percent");
        assert!(err.message.contains("%x"), "{}", err.message);
    }

    fn section(text: &str) -> Vec<(String, String)> {
        read_section(text, "channelstream")
            .expect("parses")
            .expect("has section")
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn continuation_lines_join_with_newlines_and_comments_inside_are_skipped() {
        let text = "[channelstream]\nallow_posting_from = 127.0.0.1,\n    x.x.x.x,\n  # note\n\n    y.y.y.y,\nport = 1\n";
        assert_eq!(
            section(text),
            vec![
                pair("allow_posting_from", "127.0.0.1,\nx.x.x.x,\n\ny.y.y.y,"),
                pair("port", "1")
            ]
        );
    }

    #[test]
    fn colon_separator_case_insensitive_keys_and_first_separator_wins() {
        let text = "[channelstream]\nPort: 8001\nSecret = a=b:c\n; comment\n# comment\n";
        assert_eq!(
            section(text),
            vec![pair("port", "8001"), pair("secret", "a=b:c")]
        );
    }

    #[test]
    fn only_the_requested_section_and_default_are_read() {
        let text =
            "[DEFAULT]\nhost = 1.2.3.4\nport = 1\n[other]\nport = 2\n[channelstream]\nport = 3\n";
        assert_eq!(
            section(text),
            vec![pair("host", "1.2.3.4"), pair("port", "3")]
        );
    }

    #[test]
    fn missing_section_is_none_and_empty_section_is_some() {
        assert_eq!(read_section("[other]\na = 1\n", "channelstream"), Ok(None));
        assert_eq!(
            read_section("[channelstream]\n", "channelstream"),
            Ok(Some(vec![]))
        );
    }

    #[test]
    fn interpolation_expands_references_and_double_percent() {
        let text = "[channelstream]\nbase = abc\nsecret = %(base)s-100%%\n";
        assert_eq!(
            section(text),
            vec![pair("base", "abc"), pair("secret", "abc-100%")]
        );
    }

    #[test]
    fn structural_errors_name_the_line() {
        const CASES: &[(&str, &str, usize, &str)] = &[
            (
                "key before section",
                "port = 1\n",
                1,
                "before any [section]",
            ),
            (
                "no separator",
                "[channelstream]\njunk\n",
                2,
                "expected `key = value`",
            ),
            ("empty key", "[channelstream]\n= 3\n", 2, "without a key"),
            (
                "dup key",
                "[channelstream]\na = 1\nA = 2\n",
                3,
                "appears twice",
            ),
            (
                "dup section",
                "[channelstream]\n[channelstream]\n",
                2,
                "appears twice",
            ),
            (
                "lone percent",
                "[channelstream]\nsecret = 5%\n",
                2,
                "'%' must be followed",
            ),
            (
                "missing ref",
                "[channelstream]\nsecret = %(nope)s\n",
                2,
                "names no key",
            ),
            ("loop", "[channelstream]\na = %(a)s\n", 2, "nest deeper"),
        ];
        for (name, text, line, needle) in CASES {
            let err = read_section(text, "channelstream").expect_err(name);
            assert_eq!(err.line, *line, "{name}");
            assert!(err.message.contains(needle), "{name}: {}", err.message);
        }
    }
}
