//! Log lines on standard error, filtered by `log_level`. No logging crate: the server
//! writes a handful of lines (start, warnings, failures), and one threshold set once at
//! start is all it needs. Levels and names are Python `logging`'s, as the reference's
//! `log_level` uses them; a line reads `LEVEL channelstream: message`.
//!
//! Write lines with [`crate::log!`]: `log!(Warning, "cannot save state: {e}")`. Until
//! [`set_level`] is called (an embedding program may never call it), INFO and above are
//! written, which is the default of `log_level`. With `log_format = json` ([`set_format`])
//! each line is one JSON object instead (`{"ts":..,"level":"INFO","logger":"channelstream",
//! "msg":..}` plus any fields), for log shippers; [`event`] writes a line with fields
//! (the per-request and websocket lines). Both settings are atomics, so `SIGHUP` can
//! change them while the server runs.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How serious a line is. Ordered: a threshold lets through its own level and above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for finding a bug.
    Debug = 10,
    /// Normal operation worth a line (start).
    Info = 20,
    /// Something an operator should look at; the server carries on.
    Warning = 30,
    /// Something failed (a start, an accept, an app callback).
    Error = 40,
    /// The server cannot go on.
    Critical = 50,
}

impl Level {
    /// The name written at the start of a line, as Python's `logging` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warning => "WARNING",
            Self::Error => "ERROR",
            Self::Critical => "CRITICAL",
        }
    }

    /// The threshold a `log_level` value names (the config's canonical upper-case names).
    /// `NOTSET`, Python's "log everything", lets everything through.
    pub fn from_name(name: &str) -> Option<Level> {
        Some(match name {
            "NOTSET" | "DEBUG" => Self::Debug,
            "INFO" => Self::Info,
            "WARNING" => Self::Warning,
            "ERROR" => Self::Error,
            "CRITICAL" => Self::Critical,
            _ => return None,
        })
    }

    /// Whether a line at this level is written under `threshold`.
    pub fn passes(self, threshold: Level) -> bool {
        self >= threshold
    }
}

/// The threshold, as a `Level` discriminant. Read with `Relaxed` ordering: it is set at
/// start and on `SIGHUP`, and a line racing a change could go either way harmlessly.
static THRESHOLD: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// JSON lines instead of text (`log_format = json`).
static JSON: AtomicBool = AtomicBool::new(false);

/// Sets the threshold (at start, and again on `SIGHUP`).
pub fn set_level(level: Level) {
    THRESHOLD.store(level as u8, Ordering::Relaxed);
}

/// How lines are written (`log_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `LEVEL channelstream: message key=value ...`
    Text,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The format a `log_format` value names (`text` or `json`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Sets the line format (at start, and again on `SIGHUP`).
pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

/// A field's value in a structured line.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    /// Written as a JSON string (escaped), bare in text lines.
    Str(&'a str),
    /// A whole number.
    Int(u64),
    /// Milliseconds with three decimals.
    Millis(f64),
}

/// Writes one line at `level` (if it passes the threshold) with `msg` and `fields`, in
/// the configured format. Callers must not put secrets in either: the request line gets
/// the path without its query string, never headers.
pub fn event(level: Level, msg: std::fmt::Arguments<'_>, fields: &[(&str, Value<'_>)]) {
    if !enabled(level) {
        return;
    }
    let line = render(
        JSON.load(Ordering::Relaxed),
        level,
        msg,
        fields,
        unix_secs(),
    );
    // One write per line, so lines of different threads do not interleave (and through
    // `eprint!`, which the test harness captures).
    eprint!("{line}");
}

fn unix_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One line, newline included. Pure, for the tests.
fn render(
    json: bool,
    level: Level,
    msg: std::fmt::Arguments<'_>,
    fields: &[(&str, Value<'_>)],
    ts: f64,
) -> String {
    let mut line = String::with_capacity(128);
    if json {
        let _ = write!(
            line,
            "{{\"ts\":{ts:.3},\"level\":\"{}\",\"logger\":\"channelstream\",\"msg\":{}",
            level.name(),
            json_string(&msg.to_string())
        );
        for (key, value) in fields {
            let _ = write!(line, ",{}:", json_string(key));
            let _ = match value {
                Value::Str(s) => write!(line, "{}", json_string(s)),
                Value::Int(n) => write!(line, "{n}"),
                Value::Millis(ms) => write!(line, "{ms:.3}"),
            };
        }
        line.push_str("}\n");
    } else {
        let _ = write!(line, "{} channelstream: {msg}", level.name());
        for (key, value) in fields {
            let _ = match value {
                Value::Str(s) => write!(line, " {key}={s}"),
                Value::Int(n) => write!(line, " {key}={n}"),
                Value::Millis(ms) => write!(line, " {key}={ms:.3}"),
            };
        }
        line.push('\n');
    }
    line
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Whether a line at `level` is written now.
pub fn enabled(level: Level) -> bool {
    let threshold = match THRESHOLD.load(Ordering::Relaxed) {
        10 => Level::Debug,
        20 => Level::Info,
        30 => Level::Warning,
        40 => Level::Error,
        _ => Level::Critical,
    };
    level.passes(threshold)
}

/// Writes one line to standard error if `$level` (a [`Level`] variant name) passes the
/// threshold set by [`set_level`]: `log!(Warning, "cannot save state: {e}")`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::$level) {
            $crate::log::event($crate::log::Level::$level, format_args!($($arg)+), &[]);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Level; 5] = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Critical,
    ];

    #[test]
    fn every_name_reads_back_and_notset_lets_everything_through() {
        for level in ALL {
            assert_eq!(Level::from_name(level.name()), Some(level));
        }
        assert_eq!(Level::from_name("NOTSET"), Some(Level::Debug));
        assert_eq!(
            Level::from_name("info"),
            None,
            "the config canonicalizes case"
        );
    }

    #[test]
    fn a_threshold_lets_through_its_level_and_above_only() {
        let passing = |t: Level| -> Vec<&str> {
            ALL.iter()
                .filter(|l| l.passes(t))
                .map(|l| l.name())
                .collect()
        };
        assert_eq!(passing(Level::Debug).len(), 5);
        assert_eq!(
            passing(Level::Info),
            ["INFO", "WARNING", "ERROR", "CRITICAL"]
        );
        assert_eq!(passing(Level::Error), ["ERROR", "CRITICAL"]);
        assert_eq!(passing(Level::Critical), ["CRITICAL"]);
    }

    #[test]
    fn text_lines_keep_the_python_shape_and_append_fields() {
        let fields = [("status", Value::Int(200)), ("path", Value::Str("/info"))];
        let line = render(false, Level::Info, format_args!("request"), &fields, 1.0);
        assert_eq!(line, "INFO channelstream: request status=200 path=/info\n");
    }

    #[test]
    fn json_lines_are_one_escaped_object_each() {
        let fields = [
            ("path", Value::Str("/a\"b\n")),
            ("duration_ms", Value::Millis(1.5)),
        ];
        let line = render(true, Level::Warning, format_args!("x \"y\""), &fields, 2.5);
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "WARNING");
        assert_eq!(v["msg"], "x \"y\"");
        assert_eq!(v["path"], "/a\"b\n");
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["ts"], 2.5);
    }
}
