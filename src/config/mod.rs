//! Configuration: which settings the server runs with and where each came from. Owns the
//! key table, the ini reader, environment and command-line parsing, `--help` and
//! `make-config`. Touches no socket; only [`from_process`] and [`load`] read the real
//! process (arguments, environment, files), everything else is pure and testable.
//!
//! # Precedence
//!
//! Each setting is taken from the last of these that has it:
//!
//! 1. the embedded default ([`Config::default`], listed by `--help`);
//! 2. the `[channelstream]` section of the ini file named by `-i FILE` / `--ini FILE`,
//!    or else by the environment variable `CHANNELSTREAM_INI` (`[DEFAULT]` entries
//!    apply too, as in Python's `configparser`);
//! 3. the environment variable `CHANNELSTREAM_<KEY>` (upper-case key, e.g.
//!    `CHANNELSTREAM_PORT`);
//! 4. the command-line flag `--<key>` (kebab or snake case, `--key VALUE` or
//!    `--key=VALUE`; a later flag beats an earlier one).
//!
//! A value is only parsed once it has won, so a bad ini value overridden by a flag is
//! harmless. A bad value is an error naming where it came from, the key, the value and
//! what was expected; unknown keys and default secrets are warnings.
//!
//! # Entry points
//!
//! * [`load`]: what `main` calls. Handles `--help`, `--version` and `make-config` itself
//!   and returns the config to run with, or the exit status (2 after an error).
//! * [`from_process`]: the same without printing; returns a [`Command`].
//! * [`parse_args`]: the pure core, given arguments, environment and a file reader.
//! * [`make_config`]: the default ini text (the repository's `channelstream.ini`).

mod cli;
mod env;
mod error;
mod ini;
mod keys;
mod template;

pub use error::{ConfigError, Source};

use crate::server::Limits;
use keys::{Key, KEYS};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Every setting the server runs with. Fields may be added, so other crates start from
/// [`Config::default`] and set fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// HMAC secret for server-side API calls (`secret`).
    pub secret: String,
    /// Admin panel user (`admin_user`).
    pub admin_user: String,
    /// Admin panel secret (`admin_secret`).
    pub admin_secret: String,
    /// Cookie signing secret (`cookie_secret`).
    pub cookie_secret: String,
    /// Seconds of inactivity after which a connection is collected (`gc_conns_after`).
    pub gc_conns_after: u64,
    /// Seconds of inactivity after which a channel is collected (`gc_channels_after`).
    pub gc_channels_after: u64,
    /// Seconds a long-poll waits before answering (`wake_connections_after`).
    pub wake_connections_after: u64,
    /// Client addresses allowed to call the signed API; `0.0.0.0` allows all.
    pub allow_posting_from: Vec<String>,
    /// Listen port.
    pub port: u16,
    /// Listen address.
    pub host: IpAddr,
    /// Debug mode.
    pub debug: bool,
    /// Log level name (`DEBUG`, `INFO`, ...).
    pub log_level: String,
    /// Serve the demo chat at `/demo` (`crate::web::demo`): the server signs its own API
    /// calls for any visitor, so only for servers meant for trying channelstream out.
    pub demo: bool,
    /// Origins allowed by CORS (`allow_cors`), empty = CORS off.
    pub allow_cors: Vec<String>,
    /// Refuse signatures older than 60 s (`validate_requests`).
    pub validate_requests: bool,
    /// Build URLs with https (`enforce_https`).
    pub enforce_https: bool,
    /// Scheme for generated URLs (`http_scheme`).
    pub http_scheme: String,
    /// Signature checker name (`signature_checker`).
    pub signature_checker: String,
    /// Require per-request strict signatures instead of the itsdangerous token
    /// (`strict_signatures`, `docs/API.md`).
    pub strict_signatures: bool,
    /// Strict-signature nonces remembered at once (`max_signature_nonces`).
    pub max_signature_nonces: usize,
    /// Worker threads (`workers`, default: number of CPUs).
    pub workers: usize,
    /// Engine limits (`max_connections`, `max_head_bytes`, `max_body_bytes`,
    /// `max_message_bytes`, `max_outbound_bytes`, `header_timeout`, `idle_timeout`).
    pub limits: Limits,
    /// Where server state is saved and restored (`state_file`); `None` = not persisted.
    pub state_file: Option<PathBuf>,
    /// Seconds between state saves while `state_file` is set (`snapshot_interval`).
    pub snapshot_interval: u64,
    /// Most channels one request may name (`max_channels_per_request`); past it 413.
    pub max_channels_per_request: usize,
    /// Most messages one `/message` request may carry (`max_messages_per_request`); past
    /// it 413.
    pub max_messages_per_request: usize,
    /// Shared Redis for several nodes (`redis_url`); `None` = single node. Messages pass
    /// through it to every node (`docs/SCALING.md`).
    pub redis_url: Option<crate::redis::RedisUrl>,
    /// Prefix of every Redis key and channel (`redis_key_prefix`).
    pub redis_key_prefix: String,
    /// `text` or `json` (`log_format`).
    pub log_format: String,
    /// Serve `GET /metrics` (`metrics`).
    pub metrics: bool,
    /// Addresses or CIDRs that may read `/metrics` unsigned (`metrics_allow_from`).
    pub metrics_allow_from: Vec<String>,
    /// Reverse proxies whose forwarding headers are believed (`trusted_proxies`).
    pub trusted_proxies: Vec<String>,
    /// Seconds a connection stays present in Redis without a refresh from its node
    /// (`redis_presence_ttl`).
    pub redis_presence_ttl: u64,
}

impl Default for Config {
    /// The embedded defaults: the reference's (`cli/__init__.py`) plus ours (limits from
    /// [`Limits::default`], workers = one per CPU, no state file). `secret` and
    /// `admin_secret` keep the reference's well-known values so existing clients work,
    /// and [`parse_args`] warns about them.
    fn default() -> Self {
        let mut config = Config {
            secret: String::new(),
            admin_user: String::new(),
            admin_secret: String::new(),
            cookie_secret: String::new(),
            gc_conns_after: 0,
            gc_channels_after: 0,
            wake_connections_after: 0,
            allow_posting_from: Vec::new(),
            port: 0,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            debug: false,
            log_level: String::new(),
            demo: false,
            allow_cors: Vec::new(),
            validate_requests: true,
            enforce_https: false,
            http_scheme: String::new(),
            signature_checker: String::new(),
            strict_signatures: false,
            max_signature_nonces: 0,
            workers: 1,
            limits: Limits::default(),
            state_file: None,
            snapshot_interval: 0,
            max_channels_per_request: 0,
            max_messages_per_request: 0,
            redis_url: None,
            redis_key_prefix: String::new(),
            log_format: String::new(),
            metrics: false,
            metrics_allow_from: Vec::new(),
            trusted_proxies: Vec::new(),
            redis_presence_ttl: 30,
        };
        for key in KEYS {
            // The defaults are constants; a test parses each of them.
            let applied = (key.set)(&mut config, &(key.default)());
            debug_assert_eq!(applied, Ok(None), "default of {}", key.name);
        }
        config
    }
}

/// What the command line asks for.
// Built once per process, so the size of `Run` costs nothing worth a `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Command {
    /// Run the server with this config; the strings are warnings to log at start.
    Run(Config, Vec<String>),
    /// Print this help text (ends with a newline) and exit 0.
    Help(String),
    /// Print this line (`channelstream <version>`) and exit 0.
    Version(String),
    /// Write `text` to `out`, or to standard output when `None`, and exit 0.
    MakeConfig {
        /// `-o FILE`.
        out: Option<PathBuf>,
        /// The ini text.
        text: String,
    },
}

/// The warnings `start.py` logs for the well-known default secrets.
const DEFAULT_SECRET_WARNING: &str = "Using default secret! Remember to set that for production.";
const DEFAULT_ADMIN_SECRET_WARNING: &str =
    "Using default admin secret! Remember to set that for production.";

/// One setting's text and where it came from.
type Setting = (&'static Key, String, Source);

/// Every key's winning text, in table order.
type Values = Vec<(&'static Key, String)>;

/// Works out what `args` (without the program name) ask for, given the environment and a
/// way to read the ini file. Pure: `parse_args` itself touches nothing outside. An empty
/// `cookie_secret` stays empty here ([`from_process`] fills in a random one).
pub fn parse_args(
    args: &[String],
    env: &[(String, String)],
    read_file: impl Fn(&Path) -> io::Result<String>,
) -> Result<Command, ConfigError> {
    match cli::parse(args)? {
        cli::Cli::Help => Ok(Command::Help(cli::help())),
        cli::Cli::Version => Ok(Command::Version(version())),
        cli::Cli::Run { ini, settings } => {
            let env = env::read(env);
            let mut warnings = Vec::new();
            let file = match ini.or(env.ini) {
                Some(path) => read_ini(Path::new(&path), &read_file, &mut warnings)?,
                None => Vec::new(),
            };
            warnings.extend(env.warnings);
            let (config, _) = build(&[&file, &env.settings, &settings], &mut warnings)?;
            if config.secret == "secret" {
                warnings.push(DEFAULT_SECRET_WARNING.into());
            }
            if config.admin_secret == "admin_secret" {
                warnings.push(DEFAULT_ADMIN_SECRET_WARNING.into());
            }
            Ok(Command::Run(config, warnings))
        }
        cli::Cli::MakeConfig { out, settings } => {
            let env = env::read(env);
            let (_, values) = build(&[&env.settings, &settings], &mut Vec::new())?;
            let text = template::render(&values);
            Ok(Command::MakeConfig { out, text })
        }
    }
}

/// The ini file `make-config` writes with no environment and no flags: every key at its
/// default. The repository's `channelstream.ini` is exactly this text.
pub fn make_config() -> String {
    let values: Vec<(&'static Key, String)> = KEYS.iter().map(|k| (k, (k.default)())).collect();
    template::render(&values)
}

/// `channelstream <version>`, the `--version` line.
pub fn version() -> String {
    format!("channelstream {}", env!("CARGO_PKG_VERSION"))
}

/// [`parse_args`] on this process's arguments and environment, reading files from disk,
/// and with an empty `cookie_secret` replaced by a random one (as `utils.py` does).
pub fn from_process() -> Result<Command, ConfigError> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let mut command = parse_args(&args, &env, |p| std::fs::read_to_string(p))?;
    if let Command::Run(config, _) = &mut command {
        if config.cookie_secret.is_empty() {
            config.cookie_secret = random_secret()?;
        }
    }
    Ok(command)
}

/// The binary's single entry point. Prints help, version or the `make-config` output
/// itself and returns `Err(0)`; prints an error to standard error and returns `Err(2)`;
/// otherwise returns the config and the warnings for `main` to log, then run.
pub fn load() -> Result<(Config, Vec<String>), i32> {
    let command = from_process().map_err(|e| {
        eprintln!("channelstream: {e}");
        2
    })?;
    match command {
        Command::Run(config, warnings) => Ok((config, warnings)),
        Command::Help(text) => {
            print!("{text}");
            Err(0)
        }
        Command::Version(line) => {
            println!("{line}");
            Err(0)
        }
        Command::MakeConfig { out: None, text } => {
            print!("{text}");
            Err(0)
        }
        Command::MakeConfig {
            out: Some(path),
            text,
        } => match std::fs::write(&path, text) {
            Ok(()) => Err(0),
            Err(e) => {
                eprintln!("channelstream: cannot write {}: {e}", path.display());
                Err(2)
            }
        },
    }
}

/// Reads the `[channelstream]` section into settings; unknown keys become warnings.
fn read_ini(
    path: &Path,
    read_file: &impl Fn(&Path) -> io::Result<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Setting>, ConfigError> {
    let text = read_file(path).map_err(|e| ConfigError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let entries = ini::read_section(&text, "channelstream")
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.line,
            message: e.message,
        })?
        .ok_or_else(|| ConfigError::MissingSection {
            path: path.to_path_buf(),
        })?;
    let mut settings = Vec::new();
    for entry in entries {
        let source = Source::File {
            path: path.to_path_buf(),
            line: entry.line,
        };
        match keys::find(&entry.key) {
            Some(key) => settings.push((key, entry.value, source)),
            None => warnings.push(format!("{source}: unknown key `{}` ignored", entry.key)),
        }
    }
    Ok(settings)
}

/// Picks each key's winning text (last layer, last entry) and parses only that. Returns
/// the config and every key's winning text, in table order.
fn build(
    layers: &[&[Setting]],
    warnings: &mut Vec<String>,
) -> Result<(Config, Values), ConfigError> {
    let mut config = Config::default();
    let mut values = Vec::with_capacity(KEYS.len());
    for key in KEYS {
        let winner = layers
            .iter()
            .rev()
            .flat_map(|layer| layer.iter().rev())
            .find(|(k, _, _)| k.name == key.name);
        let (value, source) = match winner {
            Some((_, value, source)) => (value.clone(), source.clone()),
            None => ((key.default)(), Source::Default),
        };
        match (key.set)(&mut config, &value) {
            Ok(None) => {}
            Ok(Some(warning)) => {
                let shown = keys::shown(key, &value);
                warnings.push(format!("{source}: `{}` = {shown:?}: {warning}", key.name));
            }
            Err(expected) => {
                return Err(ConfigError::BadValue {
                    key: key.name,
                    value: keys::shown(key, &value),
                    expected,
                    source,
                })
            }
        }
        values.push((key, value));
    }
    Ok((config, values))
}

/// 128 random bits as hex, for a cookie secret nobody chose.
pub(crate) fn random_secret() -> Result<String, ConfigError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ConfigError::Io {
            path: PathBuf::from("/dev/urandom"),
            message: e.to_string(),
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Runs `parse_args` with `files` as the only readable files.
    fn run(
        args: &[&str],
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<Command, ConfigError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        parse_args(&args, &env, |p| {
            files
                .get(p)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
        })
    }

    fn config(
        args: &[&str],
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> (Config, Vec<String>) {
        match run(args, env, files) {
            Ok(Command::Run(c, w)) => (c, w),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> String {
        match run(args, env, files) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    const INI: &str =
        "[channelstream]\nport = 8100\nhost = 127.0.0.1\nadmin_user = ini\nsecret = from-ini\n";

    #[test]
    fn precedence_is_defaults_then_ini_then_env_then_flags() {
        let files = [("a.ini", INI)];
        let (c, _) = config(&[], &[], &[]);
        assert_eq!(
            (c.port, c.admin_user.as_str(), c.secret.as_str()),
            (8000, "admin", "secret")
        );
        let (c, _) = config(&["-i", "a.ini"], &[], &files);
        assert_eq!(
            (c.port, c.admin_user.as_str(), c.secret.as_str()),
            (8100, "ini", "from-ini")
        );
        assert_eq!(c.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let env = [
            ("CHANNELSTREAM_PORT", "8200"),
            ("CHANNELSTREAM_ADMIN_USER", "env"),
        ];
        let (c, _) = config(&["-i", "a.ini"], &env, &files);
        assert_eq!(
            (c.port, c.admin_user.as_str(), c.secret.as_str()),
            (8200, "env", "from-ini")
        );
        let (c, _) = config(
            &["-i", "a.ini", "--port", "8300", "--secret=flag"],
            &env,
            &files,
        );
        assert_eq!(
            (c.port, c.admin_user.as_str(), c.secret.as_str()),
            (8300, "env", "flag")
        );
    }

    #[test]
    fn ini_file_comes_from_channelstream_ini_unless_a_flag_names_one() {
        let files = [("a.ini", INI), ("b.ini", "[channelstream]\nport = 9\n")];
        let (c, _) = config(&[], &[("CHANNELSTREAM_INI", "a.ini")], &files);
        assert_eq!(c.port, 8100);
        let (c, _) = config(
            &["--ini", "b.ini"],
            &[("CHANNELSTREAM_INI", "a.ini")],
            &files,
        );
        assert_eq!(c.port, 9);
    }

    #[test]
    fn a_bad_value_that_is_overridden_is_never_parsed() {
        let (c, _) = config(
            &["-i", "a.ini", "--port", "1"],
            &[],
            &[("a.ini", "[channelstream]\nport = abc\n")],
        );
        assert_eq!(c.port, 1);
    }

    #[test]
    fn allow_posting_from_reads_ini_continuation_lines() {
        let ini =
            "[channelstream]\nallow_posting_from = 127.0.0.1,\n    10.0.0.1,\n    10.0.0.2,\n";
        let (c, _) = config(&["-i", "a.ini"], &[], &[("a.ini", ini)]);
        assert_eq!(c.allow_posting_from, ["127.0.0.1", "10.0.0.1", "10.0.0.2"]);
        let ini = "[channelstream]\nallow_cors = a.com\n  b.com ,, c.com\n";
        let (c, _) = config(&["-i", "a.ini"], &[], &[("a.ini", ini)]);
        assert_eq!(c.allow_cors, ["a.com", "b.com", "c.com"]);
    }

    #[test]
    fn bad_values_name_source_key_value_and_expectation() {
        const CASES: &[(&str, &str, &str, &str)] = &[
            (
                "port",
                "abc",
                "a port number from 0 to 65535",
                "a.ini line 2",
            ),
            (
                "port",
                "70000",
                "a port number from 0 to 65535",
                "a.ini line 2",
            ),
            (
                "workers",
                "0",
                "auto or a whole number from 1 to 1024",
                "a.ini line 2",
            ),
            ("host", "nothere", "an IP address", "a.ini line 2"),
            ("debug", "maybe", "true or false", "a.ini line 2"),
            ("log_level", "LOUD", "DEBUG, INFO", "a.ini line 2"),
            ("gc_conns_after", "0", "seconds from 1", "a.ini line 2"),
            ("max_head_bytes", "10", "bytes from 1024", "a.ini line 2"),
            ("idle_timeout", "-5", "seconds from 1", "a.ini line 2"),
            (
                "signature_checker",
                "my.Signer",
                "DefaultSigner",
                "a.ini line 2",
            ),
        ];
        for (key, value, expected, place) in CASES {
            let ini = format!("[channelstream]\n{key} = {value}\n");
            let msg = error(&["-i", "a.ini"], &[], &[("a.ini", &ini)]);
            for needle in [*key, &format!("{value:?}"), *expected, *place] {
                assert!(msg.contains(needle), "{key}: {msg:?} lacks {needle:?}");
            }
        }
        let msg = error(&[], &[("CHANNELSTREAM_WORKERS", "0")], &[]);
        assert!(
            msg.starts_with(
                "environment variable CHANNELSTREAM_WORKERS: bad value for `workers`: \"0\""
            ),
            "{msg}"
        );
        let msg = error(&["--host", "nothere"], &[], &[]);
        assert!(
            msg.starts_with("flag --host: bad value for `host`: \"nothere\"; expected an IP"),
            "{msg}"
        );
    }

    #[test]
    fn file_errors_name_the_file() {
        let msg = error(&["-i", "missing.ini"], &[], &[]);
        assert!(
            msg.contains("missing.ini") && msg.contains("No such file"),
            "{msg}"
        );
        let msg = error(&["-i", "a.ini"], &[], &[("a.ini", "[other]\nport = 1\n")]);
        assert_eq!(msg, "a.ini: no [channelstream] section");
        let msg = error(
            &["-i", "a.ini"],
            &[],
            &[("a.ini", "[channelstream]\nport\n")],
        );
        assert!(
            msg.starts_with("a.ini line 2: expected `key = value`"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_ini_keys_and_env_vars_warn_and_do_not_fail() {
        let ini = "[channelstream]\nprot = 1\nsecret = s\nadmin_secret = a\n";
        let (c, w) = config(
            &["-i", "a.ini"],
            &[("CHANNELSTREAM_PROT", "1")],
            &[("a.ini", ini)],
        );
        assert_eq!(c.port, 8000);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0], "a.ini line 2: unknown key `prot` ignored");
        assert!(w[1].contains("CHANNELSTREAM_PROT"), "{w:?}");
    }

    #[test]
    fn default_secrets_warn_like_the_reference() {
        let (_, w) = config(&[], &[], &[]);
        assert_eq!(w, [DEFAULT_SECRET_WARNING, DEFAULT_ADMIN_SECRET_WARNING]);
        let (_, w) = config(&["--secret", "x", "--admin-secret", "y"], &[], &[]);
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn defaults_are_the_reference_defaults_plus_ours() {
        let c = Config::default();
        assert_eq!((c.port, c.host), (8000, IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(
            (
                c.gc_conns_after,
                c.gc_channels_after,
                c.wake_connections_after
            ),
            (15, 259_200, 5)
        );
        assert_eq!(c.allow_posting_from, ["127.0.0.1"]);
        assert!(c.allow_cors.is_empty() && c.cookie_secret.is_empty() && c.http_scheme.is_empty());
        assert!(c.validate_requests && !c.enforce_https && !c.debug && !c.demo);
        assert!(!c.strict_signatures);
        assert_eq!(c.max_signature_nonces, 200_000);
        assert_eq!(
            (c.log_level.as_str(), c.signature_checker.as_str()),
            ("INFO", keys::DEFAULT_SIGNER)
        );
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(c.workers, cpus.min(1024));
        assert_eq!((c.state_file.clone(), c.snapshot_interval), (None, 60));
        assert_eq!(
            format!("{:?}", c.limits),
            format!("{:?}", Limits::default())
        );
    }

    #[test]
    fn limits_and_new_keys_map_to_their_fields() {
        let args = [
            "--max-connections",
            "5",
            "--max-head-bytes",
            "2048",
            "--max-body-bytes",
            "3",
            "--max-message-bytes",
            "4",
            "--max-outbound-bytes",
            "4096",
            "--header-timeout",
            "6",
            "--idle-timeout",
            "7",
            "--state-file",
            "/var/lib/cs.json",
            "--snapshot-interval",
            "8",
            "--workers",
            "3",
        ];
        let (c, _) = config(&args, &[], &[]);
        let l = c.limits;
        assert_eq!(
            (
                l.max_connections,
                l.max_head,
                l.max_body,
                l.max_message,
                l.max_outbound
            ),
            (5, 2048, 3, 4, 4096)
        );
        assert_eq!(
            (l.header_timeout.as_secs(), l.idle_timeout.as_secs()),
            (6, 7)
        );
        assert_eq!(
            (c.state_file, c.snapshot_interval, c.workers),
            (Some(PathBuf::from("/var/lib/cs.json")), 8, 3)
        );
    }

    #[test]
    fn strict_signature_keys_map_to_their_fields() {
        let args = ["--strict-signatures", "--max-signature-nonces", "7"];
        let (c, _) = config(&args, &[], &[]);
        assert_eq!((c.strict_signatures, c.max_signature_nonces), (true, 7));
        let env = [("CHANNELSTREAM_STRICT_SIGNATURES", "no")];
        let (c, _) = config(&[], &env, &[]);
        assert!(!c.strict_signatures);
        assert!(error(&["--max-signature-nonces", "0"], &[], &[]).contains("max_signature_nonces"));
    }

    #[test]
    fn redis_keys_parse_the_url_and_prefix_and_warn_what_is_not_shared() {
        let (c, _) = config(&[], &[], &[]);
        assert_eq!(
            (c.redis_url.clone(), c.redis_key_prefix.as_str()),
            (None, "cs:")
        );
        let args = [
            "--redis-url",
            "redis://:pw@10.0.0.9:6380/3",
            "--redis-key-prefix",
            "app1:",
        ];
        let (c, w) = config(&args, &[], &[]);
        let url = c.redis_url.expect("set");
        assert_eq!((url.host.as_str(), url.port, url.db), ("10.0.0.9", 6380, 3));
        assert_eq!(
            (url.password.as_deref(), c.redis_key_prefix.as_str()),
            (Some("pw"), "app1:")
        );
        let warning = w
            .iter()
            .find(|w| w.contains("redis_url"))
            .expect("partial sharing warning");
        assert!(
            warning.contains("still per node") && !warning.contains("pw@"),
            "{warning}"
        );
        for bad in ["", "a b", "{x}", &"x".repeat(65)] {
            assert!(error(&["--redis-key-prefix", bad], &[], &[]).contains("redis_key_prefix"));
        }
    }

    #[test]
    fn a_bad_redis_url_error_hides_the_password() {
        for url in [
            "redis://user:hunter2@h:99999",
            "http://:hunter2@h",
            "redis://u:hunter2%@h",
        ] {
            let msg = error(&[], &[("CHANNELSTREAM_REDIS_URL", url)], &[]);
            assert!(msg.contains("redis_url") && msg.contains("***@h"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        let err = run(&["--redis-url", "redis://:hunter2@h:0"], &[], &[]).expect_err("bad");
        assert!(!format!("{err:?}").contains("hunter2"));
        let (c, _) = config(&["--redis-url", "redis://:hunter2@h"], &[], &[]);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn make_config_output_reads_back_as_the_defaults() {
        let text = make_config();
        let (c, w) = config(&["-i", "gen.ini"], &[], &[("gen.ini", &text)]);
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
        assert_eq!(
            w,
            [DEFAULT_SECRET_WARNING, DEFAULT_ADMIN_SECRET_WARNING],
            "no unknown keys"
        );
        for key in KEYS {
            assert!(
                text.contains(&format!("\n# {}\n{} =", key.help, key.name)),
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn make_config_command_applies_env_and_flags_and_reads_back() {
        let env = [
            ("CHANNELSTREAM_ALLOW_POSTING_FROM", "1.1.1.1,2.2.2.2"),
            ("CHANNELSTREAM_PORT", "1"),
        ];
        let Ok(Command::MakeConfig { out, text }) = run(
            &["make-config", "--port", "2", "--secret", "50%"],
            &env,
            &[],
        ) else {
            panic!("expected MakeConfig");
        };
        assert_eq!(out, None);
        let (c, _) = config(&["-i", "gen.ini"], &[], &[("gen.ini", &text)]);
        assert_eq!((c.port, c.secret.as_str()), (2, "50%"));
        assert_eq!(c.allow_posting_from, ["1.1.1.1", "2.2.2.2"]);
        assert!(error(&["make-config", "--port", "x"], &[], &[]).contains("`port`"));
    }

    #[test]
    fn committed_channelstream_ini_is_make_config_output() {
        assert_eq!(include_str!("../../channelstream.ini"), make_config());
    }

    #[test]
    fn help_and_version_are_answered_before_anything_is_read() {
        assert!(matches!(
            run(&["--port", "x", "--help"], &[], &[]),
            Ok(Command::Help(_))
        ));
        let Ok(Command::Help(text)) = run(&["-i", "missing.ini", "-h"], &[], &[]) else {
            panic!("help")
        };
        assert!(
            text.contains("--port VALUE   (default: \"8000\")"),
            "{text}"
        );
        let Ok(Command::Version(line)) = run(&["--version"], &[], &[]) else {
            panic!("version")
        };
        assert_eq!(line, format!("channelstream {}", env!("CARGO_PKG_VERSION")));
    }
}
