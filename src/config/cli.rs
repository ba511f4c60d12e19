//! Command-line arguments: `-i/--ini`, `-h/--help`, `-v/--version`, the `make-config`
//! subcommand and one flag per setting (`--max-head-bytes 4096`, `--max_head_bytes=4096`).
//! Also writes the `--help` text from the key table. Pure: arguments come in as strings.

use super::error::{ConfigError, Source};
use super::keys::{self, Key, KEYS};
use std::fmt::Write;
use std::path::PathBuf;

/// What the arguments ask for, before files and environment are consulted.
pub(crate) enum Cli {
    Help,
    Version,
    Run {
        /// `-i`/`--ini`, if given.
        ini: Option<String>,
        settings: Vec<(&'static Key, String, Source)>,
    },
    MakeConfig {
        out: Option<PathBuf>,
        settings: Vec<(&'static Key, String, Source)>,
    },
}

/// Parses arguments (without the program name). `-h` and `-v` win as soon as they are
/// reached; a later flag overrides an earlier one for the same key.
pub(crate) fn parse(args: &[String]) -> Result<Cli, ConfigError> {
    let make = matches!(
        args.first().map(String::as_str),
        Some("make-config" | "make_config")
    );
    let rest = if make { &args[1..] } else { args };
    let mut ini = None;
    let mut out = None;
    let mut settings = Vec::new();
    let mut i = 0;
    while let Some(arg) = rest.get(i) {
        i += 1;
        let (name, inline) = split(arg);
        match name {
            "-h" | "--help" => return Ok(Cli::Help),
            "-v" | "--version" => return Ok(Cli::Version),
            "-i" | "--ini" if !make => ini = Some(value(arg, inline, rest, &mut i)?),
            "-o" | "--output" if make => {
                out = Some(PathBuf::from(value(arg, inline, rest, &mut i)?));
            }
            _ => {
                let key = name
                    .strip_prefix("--")
                    .and_then(|n| keys::find(&n.replace('-', "_")));
                let Some(key) = key else {
                    return Err(if arg.starts_with('-') {
                        ConfigError::UnknownFlag(arg.clone())
                    } else {
                        ConfigError::UnexpectedArgument(arg.clone())
                    });
                };
                let text = match inline {
                    None if key.is_bool => bare_bool(rest, &mut i),
                    _ => value(arg, inline, rest, &mut i)?,
                };
                settings.push((key, text, Source::Flag(name.to_string())));
            }
        }
    }
    Ok(if make {
        Cli::MakeConfig { out, settings }
    } else {
        Cli::Run { ini, settings }
    })
}

/// `--key=value` → (`--key`, `value`); `-iFILE` → (`-i`, `FILE`); else (arg, none).
fn split(arg: &str) -> (&str, Option<&str>) {
    if arg.starts_with("--") {
        return match arg.split_once('=') {
            Some((name, v)) => (name, Some(v)),
            None => (arg, None),
        };
    }
    match arg.get(..2) {
        Some(short @ ("-i" | "-o")) if arg.len() > 2 => (short, arg.get(2..)),
        _ => (arg, None),
    }
}

/// The flag's value: inline, else the next argument.
fn value(
    arg: &str,
    inline: Option<&str>,
    rest: &[String],
    i: &mut usize,
) -> Result<String, ConfigError> {
    if let Some(v) = inline {
        return Ok(v.to_string());
    }
    let v = rest
        .get(*i)
        .ok_or_else(|| ConfigError::MissingFlagValue(arg.to_string()))?;
    *i += 1;
    Ok(v.clone())
}

/// `--debug` alone means true; `--debug false` takes the next argument if it is a
/// boolean word.
fn bare_bool(rest: &[String], i: &mut usize) -> String {
    const WORDS: &[&str] = &[
        "t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off", "0",
    ];
    match rest.get(*i) {
        Some(next) if WORDS.contains(&next.to_ascii_lowercase().as_str()) => {
            *i += 1;
            next.clone()
        }
        _ => "true".to_string(),
    }
}

/// The `--help` text: usage, precedence, and every setting with its default.
pub(crate) fn help() -> String {
    let mut s = format!(
        "channelstream {}: realtime messaging server, a drop-in for channelstream 0.7.1\n\n",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str(concat!(
        "Usage:\n",
        "  channelstream [-i FILE] [--SETTING VALUE ...]\n",
        "  channelstream make-config [-o FILE] [--SETTING VALUE ...]\n",
        "  channelstream -h | --help | -v | --version\n\n",
        "Each setting comes from, later winning: its default < the [channelstream]\n",
        "section of the ini file < environment variable CHANNELSTREAM_<KEY> < its flag.\n",
        "make-config prints an ini file with every setting (defaults < environment < flags).\n\n",
        "Options:\n",
        "  -i, --ini FILE      Read settings from FILE (default: $CHANNELSTREAM_INI).\n",
        "  -o, --output FILE   make-config: write to FILE instead of standard output.\n",
        "  -h, --help          Print this help and exit.\n",
        "  -v, --version       Print the version and exit.\n\n",
        "Settings (flags also accept snake_case and --flag=VALUE; ini key = snake_case):\n",
    ));
    for key in KEYS {
        let flag = key.name.replace('_', "-");
        let arg = if key.is_bool { "[BOOL]" } else { "VALUE" };
        let default = (key.default)();
        let _ = writeln!(s, "  --{flag} {arg}   (default: {default:?})");
        let _ = writeln!(s, "      {}", key.help);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run_settings(list: &[&str]) -> Vec<(&'static str, String)> {
        match parse(&args(list)) {
            Ok(Cli::Run { settings, .. }) => {
                settings.into_iter().map(|(k, v, _)| (k.name, v)).collect()
            }
            _ => panic!("expected Run for {list:?}"),
        }
    }

    #[test]
    fn kebab_snake_and_equals_forms_all_set_the_key() {
        let got = run_settings(&[
            "--max-head-bytes",
            "1",
            "--max_head_bytes=2",
            "--port=3",
            "--host",
            "::",
        ]);
        let want = [
            ("max_head_bytes", "1"),
            ("max_head_bytes", "2"),
            ("port", "3"),
            ("host", "::"),
        ];
        assert_eq!(got, want.map(|(k, v)| (k, v.to_string())));
    }

    #[test]
    fn bare_boolean_flag_means_true_and_takes_a_following_boolean_word() {
        let got = run_settings(&["--debug", "--demo", "off", "--enforce-https", "--port", "1"]);
        let want = [
            ("debug", "true"),
            ("demo", "off"),
            ("enforce_https", "true"),
            ("port", "1"),
        ];
        assert_eq!(got, want.map(|(k, v)| (k, v.to_string())));
    }

    #[test]
    fn ini_flag_forms_are_read() {
        for list in [
            &["-i", "a.ini"][..],
            &["--ini", "a.ini"],
            &["--ini=a.ini"],
            &["-ia.ini"],
        ] {
            match parse(&args(list)) {
                Ok(Cli::Run { ini, .. }) => assert_eq!(ini.as_deref(), Some("a.ini"), "{list:?}"),
                _ => panic!("{list:?}"),
            }
        }
    }

    #[test]
    fn argument_errors_name_the_argument() {
        const CASES: &[(&[&str], &str)] = &[
            (&["--prot", "1"], "unknown flag \"--prot\""),
            (&["--port"], "flag --port needs a value"),
            (&["stray"], "unexpected argument \"stray\""),
            (&["-o", "x"], "unknown flag \"-o\""),
            (&["make-config", "-i", "x"], "unknown flag \"-i\""),
        ];
        for (list, want) in CASES {
            let err = parse(&args(list)).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(want)),
                "{list:?}: {err:?}"
            );
        }
    }

    #[test]
    fn make_config_takes_output_and_settings() {
        match parse(&args(&["make_config", "-o", "out.ini", "--port", "1"])) {
            Ok(Cli::MakeConfig { out, settings }) => {
                assert_eq!(out, Some(PathBuf::from("out.ini")));
                assert_eq!(settings.len(), 1);
            }
            _ => panic!("expected MakeConfig"),
        }
    }

    #[test]
    fn help_lists_every_flag_with_its_default_and_description() {
        let text = help();
        for key in KEYS {
            let line = format!("--{} ", key.name.replace('_', "-"));
            let at = text
                .find(&line)
                .unwrap_or_else(|| panic!("{} missing", key.name));
            let entry = &text[at..];
            assert!(
                entry.contains(&format!("(default: {:?})", (key.default)())),
                "{}",
                key.name
            );
            assert!(entry.contains(key.help), "{}", key.name);
        }
    }
}
