//! Why a configuration was refused, and where each value came from. Every message names
//! the place (file and line, variable or flag) so an operator can fix it without guessing.

use std::fmt;
use std::path::PathBuf;

/// Where a setting's text came from; later sources override earlier ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The embedded default.
    Default,
    /// A line of the ini file.
    File {
        /// The ini file.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// An environment variable, by name.
    Env(String),
    /// A command-line flag, as typed.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{} line {line}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Why no configuration could be built. The binary prints it and exits with status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The ini file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The ini file is not valid ini.
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The ini file has no `[channelstream]` section.
    MissingSection {
        /// The file.
        path: PathBuf,
    },
    /// A value does not parse or is out of range.
    BadValue {
        /// The ini key.
        key: &'static str,
        /// The text given.
        value: String,
        /// What the value should be.
        expected: &'static str,
        /// Where the text came from.
        source: Source,
    },
    /// A command-line argument that is no flag we know.
    UnknownFlag(String),
    /// A flag that needs a value was last.
    MissingFlagValue(String),
    /// A positional argument where none is taken.
    UnexpectedArgument(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, message } => {
                write!(f, "cannot read config file {}: {message}", path.display())
            }
            ConfigError::Syntax {
                path,
                line,
                message,
            } => write!(f, "{} line {line}: {message}", path.display()),
            ConfigError::MissingSection { path } => {
                write!(f, "{}: no [channelstream] section", path.display())
            }
            ConfigError::BadValue {
                key,
                value,
                expected,
                source,
            } => write!(
                f,
                "{source}: bad value for `{key}`: {value:?}; expected {expected}"
            ),
            ConfigError::UnknownFlag(flag) => {
                write!(f, "unknown flag {flag:?} (see --help)")
            }
            ConfigError::MissingFlagValue(flag) => write!(f, "flag {flag} needs a value"),
            ConfigError::UnexpectedArgument(arg) => {
                write!(f, "unexpected argument {arg:?} (see --help)")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
