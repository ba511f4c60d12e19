//! Log lines on standard error, filtered by `log_level`. No logging crate: the server
//! writes a handful of lines (start, warnings, failures), and one threshold set once at
//! start is all it needs. Levels and names are Python `logging`'s, as the reference's
//! `log_level` uses them; a line reads `LEVEL channelstream: message`.
//!
//! Write lines with [`crate::log!`]: `log!(Warning, "cannot save state: {e}")`. Until
//! [`set_level`] is called (an embedding program may never call it), INFO and above are
//! written, which is the default of `log_level`.

use std::sync::atomic::{AtomicU8, Ordering};

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

/// The threshold, as a `Level` discriminant. Read with `Relaxed` ordering: it is set once
/// before the server starts, and a line racing a change could go either way harmlessly.
static THRESHOLD: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the threshold; call once at start, before other threads log.
pub fn set_level(level: Level) {
    THRESHOLD.store(level as u8, Ordering::Relaxed);
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
            eprintln!(
                "{} channelstream: {}",
                $crate::log::Level::$level.name(),
                format_args!($($arg)+)
            );
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
}
