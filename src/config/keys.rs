//! The table of every setting: its key, default, one-line help, and how its text becomes a
//! typed [`Config`] field. The one place that knows a key: ini lookups, environment
//! variables, flags, `--help` and `make-config` all walk [`KEYS`], so they cannot drift
//! apart. Pure: no files, no environment.

use super::Config;
use crate::redis::{RedisUrl, RedisUrlError};
use crate::server::Limits;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// What a bad value should have been, shown after the key and the value.
pub(crate) type Expected = &'static str;

/// Result of applying a value: maybe a warning (the value was accepted but adjusted).
pub(crate) type Applied = Result<Option<String>, Expected>;

/// One setting.
pub(crate) struct Key {
    /// Ini key; the flag is `--` plus this (or its kebab form), the environment variable
    /// `CHANNELSTREAM_` plus its upper case.
    pub name: &'static str,
    /// One line for `--help` and `make-config`.
    pub help: &'static str,
    /// The default as ini text (a function because the limits' defaults come from
    /// [`Limits::default`], which the engine owns).
    pub default: fn() -> String,
    /// Parses a value into the config.
    pub set: fn(&mut Config, &str) -> Applied,
    /// Whether a bare `--flag` means `true`.
    pub is_bool: bool,
}

/// Finds a key by its ini name (already lower-case, snake).
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Longest wait we accept: ten years, far below what `Instant + Duration` overflows at.
const MAX_SECONDS: u64 = 315_360_000;
const SECONDS: Expected = "a whole number of seconds from 1 to 315360000";
/// Byte limits stay within `u32` so the engine's `max - have` arithmetic never wraps.
const MAX_BYTES: u64 = u32::MAX as u64;

/// Every key, in `make-config` and `--help` order.
pub(crate) const KEYS: &[Key] = &[
    Key {
        name: "secret",
        help: "API secret web apps sign server-side calls with. Change it.",
        default: || "secret".into(),
        set: |c, v| text(&mut c.secret, v),
        is_bool: false,
    },
    Key {
        name: "admin_user",
        help: "User name for the admin sign-in at /admin/sign_in.",
        default: || "admin".into(),
        set: |c, v| text(&mut c.admin_user, v),
        is_bool: false,
    },
    Key {
        name: "admin_secret",
        help: "Password for the admin sign-in; while it is the default, sign-in is refused. Change it.",
        default: || "admin_secret".into(),
        set: |c, v| text(&mut c.admin_secret, v),
        is_bool: false,
    },
    Key {
        name: "cookie_secret",
        help: "Key that signs admin session cookies (HMAC-SHA256); empty = random at each start (sessions end at restart).",
        default: String::new,
        set: |c, v| text(&mut c.cookie_secret, v),
        is_bool: false,
    },
    Key {
        name: "gc_conns_after",
        help: "Seconds without activity after which a connection is dropped (the reference documents 30 but uses 15).",
        default: || "15".into(),
        set: |c, v| seconds(&mut c.gc_conns_after, v),
        is_bool: false,
    },
    Key {
        name: "gc_channels_after",
        help: "Seconds without activity after which an empty channel is dropped.",
        default: || (3600 * 72).to_string(),
        set: |c, v| seconds(&mut c.gc_channels_after, v),
        is_bool: false,
    },
    Key {
        name: "wake_connections_after",
        help: "Seconds a long-poll /listen request waits for messages before answering.",
        default: || "5".into(),
        set: |c, v| seconds(&mut c.wake_connections_after, v),
        is_bool: false,
    },
    Key {
        name: "allow_posting_from",
        help: "Client IPs allowed to call the server API, comma or newline separated; 0.0.0.0 = any.",
        default: || "127.0.0.1".into(),
        set: |c, v| {
            c.allow_posting_from = list(v);
            let odd: Vec<&String> = c
                .allow_posting_from
                .iter()
                .filter(|ip| ip.parse::<IpAddr>().is_err())
                .collect();
            Ok((!odd.is_empty()).then(|| format!("{odd:?} are not IP addresses and never match")))
        },
        is_bool: false,
    },
    Key {
        name: "port",
        help: "TCP port to listen on (0 = any free port).",
        default: || "8000".into(),
        set: |c, v| {
            c.port = u16::try_from(int(v, 0, 65535).ok_or("a port number from 0 to 65535")?)
                .map_err(|_| "a port number from 0 to 65535")?;
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "host",
        help: "IP address to listen on: 0.0.0.0 = every IPv4 interface, :: = every interface.",
        default: || "0.0.0.0".into(),
        set: |c, v| {
            c.host = host(v).ok_or("an IP address such as 0.0.0.0, 127.0.0.1 or ::")?;
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "debug",
        help: "Debug mode (accepted for compatibility; no effect yet).",
        default: || "false".into(),
        set: |c, v| flag(&mut c.debug, v),
        is_bool: true,
    },
    Key {
        name: "log_level",
        help: "Lowest level of log lines written: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
        default: || "INFO".into(),
        set: |c, v| {
            c.log_level = log_level(v)
                .ok_or("one of DEBUG, INFO, WARNING, ERROR, CRITICAL, NOTSET")?
                .into();
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "demo",
        help: "Serve the demo chat at /demo, open to anyone who can reach the port (try-out servers only).",
        default: || "false".into(),
        set: |c, v| flag(&mut c.demo, v),
        is_bool: true,
    },
    Key {
        name: "allow_cors",
        help: "CORS origins, comma or newline separated; an Origin containing one matches. Empty = any.",
        default: String::new,
        set: |c, v| {
            c.allow_cors = list(v);
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "validate_requests",
        help: "Refuse server API signatures older than 60 seconds.",
        default: || "true".into(),
        set: |c, v| flag(&mut c.validate_requests, v),
        is_bool: true,
    },
    Key {
        name: "enforce_https",
        help: "Refuse requests that did not arrive over https (406).",
        default: || "false".into(),
        set: |c, v| flag(&mut c.enforce_https, v),
        is_bool: true,
    },
    Key {
        name: "http_scheme",
        help: "Scheme for URLs the server builds: http, https, or empty = the request's.",
        default: String::new,
        set: |c, v| {
            let known = matches!(v, "" | "http" | "https");
            c.http_scheme = if known { v.into() } else { String::new() };
            Ok((!known).then(|| "is not http or https; using an empty scheme".into()))
        },
        is_bool: false,
    },
    Key {
        name: "signature_checker",
        help: "How server API signatures are checked (only the reference's default exists).",
        default: || DEFAULT_SIGNER.into(),
        set: |c, v| {
            if v != DEFAULT_SIGNER {
                return Err("channelstream.utils.DefaultSigner, the only signer implemented");
            }
            c.signature_checker = v.into();
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "strict_signatures",
        help: "Refuse the reference's replayable API token; require per-request signatures over method, target, body and a one-time nonce (docs/API.md).",
        default: || "false".into(),
        set: |c, v| flag(&mut c.strict_signatures, v),
        is_bool: true,
    },
    Key {
        name: "max_signature_nonces",
        help: "Strict-signature nonces remembered at once (each for up to 2 minutes); when all are in use, signed requests get 503.",
        default: || "200000".into(),
        set: |c, v| size(&mut c.max_signature_nonces, v, 1, "a whole number from 1 to 4294967295"),
        is_bool: false,
    },
    Key {
        name: "workers",
        help: "Worker threads serving connections; auto = one per CPU.",
        default: || "auto".into(),
        set: |c, v| {
            c.workers = if v.trim() == "auto" {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))
            } else {
                let n = int(v, 1, MAX_WORKERS as u64).ok_or("auto or a whole number from 1 to 1024")?;
                usize::try_from(n).map_err(|_| "auto or a whole number from 1 to 1024")?
            };
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "max_connections",
        help: "Open client connections; past it new ones get 503.",
        default: || Limits::default().max_connections.to_string(),
        set: |c, v| size(&mut c.limits.max_connections, v, 1, "a whole number from 1 to 4294967295"),
        is_bool: false,
    },
    Key {
        name: "max_head_bytes",
        help: "Largest request line plus headers, in bytes; past it 431.",
        default: || Limits::default().max_head.to_string(),
        set: |c, v| size(&mut c.limits.max_head, v, 1024, "a number of bytes from 1024 to 4294967295"),
        is_bool: false,
    },
    Key {
        name: "max_body_bytes",
        help: "Largest request body, in bytes; past it 413.",
        default: || Limits::default().max_body.to_string(),
        set: |c, v| size(&mut c.limits.max_body, v, 1, "a number of bytes from 1 to 4294967295"),
        is_bool: false,
    },
    Key {
        name: "max_message_bytes",
        help: "Largest websocket message, in bytes; past it close 1009.",
        default: || Limits::default().max_message.to_string(),
        set: |c, v| size(&mut c.limits.max_message, v, 1, "a number of bytes from 1 to 4294967295"),
        is_bool: false,
    },
    Key {
        name: "max_outbound_bytes",
        help: "Bytes queued to one slow client; past it the connection is closed.",
        default: || Limits::default().max_outbound.to_string(),
        set: |c, v| size(&mut c.limits.max_outbound, v, 1024, "a number of bytes from 1024 to 4294967295"),
        is_bool: false,
    },
    Key {
        name: "header_timeout",
        help: "Seconds to receive a whole request (head and body); past it 408 and close.",
        default: || Limits::default().header_timeout.as_secs().to_string(),
        set: |c, v| duration(&mut c.limits.header_timeout, v),
        is_bool: false,
    },
    Key {
        name: "idle_timeout",
        help: "Seconds without a byte from a client; past it the connection is closed.",
        default: || Limits::default().idle_timeout.as_secs().to_string(),
        set: |c, v| duration(&mut c.limits.idle_timeout, v),
        is_bool: false,
    },
    Key {
        name: "state_file",
        help: "File the server state is saved to and restored from; empty = no persistence.",
        default: String::new,
        set: |c, v| {
            c.state_file = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "snapshot_interval",
        help: "Seconds between state saves when state_file is set.",
        default: || "60".into(),
        set: |c, v| seconds(&mut c.snapshot_interval, v),
        is_bool: false,
    },
    Key {
        name: "max_channels_per_request",
        help: "Most channels one /connect, /subscribe, /unsubscribe or /channel_config may name (also channel_configs, info.channels); past it 413.",
        default: || "1000".into(),
        set: |c, v| count(&mut c.max_channels_per_request, v),
        is_bool: false,
    },
    Key {
        name: "max_messages_per_request",
        help: "Most messages one /message request (POST, PATCH or DELETE) may carry; past it 413.",
        default: || "1000".into(),
        set: |c, v| count(&mut c.max_messages_per_request, v),
        is_bool: false,
    },
    Key {
        name: "redis_url",
        help: "Shared Redis for several nodes: redis://[user:password@]host[:port][/db]; empty = single node. Channel messages (presence and user-state notices included), private messages, edits and deletes then pass through it to every node, user state (kept in Redis too) and presence (joined/parted counted over every node) too; channel configs too; /info, /admin/admin.json and the channels_info of /connect, /subscribe and /unsubscribe answer from Redis (docs/SCALING.md).",
        default: String::new,
        set: |c, v| {
            if v.trim().is_empty() {
                c.redis_url = None;
                return Ok(None);
            }
            c.redis_url = Some(RedisUrl::parse(v).map_err(RedisUrlError::expected)?);
            Ok(Some("shares messages, presence, user state and channel configs between nodes, and answers /info, /admin/admin.json and the channels_info of /connect and /subscribe from Redis; the user lists inside presence messages are still per node (docs/SCALING.md)".into()))
        },
        is_bool: false,
    },
    Key {
        name: "redis_key_prefix",
        help: "Prefix of every Redis key and pub/sub channel this deployment uses (with redis_url).",
        default: || "cs:".into(),
        set: |c, v| {
            let ok = !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
            if !ok {
                return Err("1 to 64 printable ASCII characters without spaces, { or }");
            }
            c.redis_key_prefix = v.into();
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "log_format",
        help: "Log line format: text (LEVEL channelstream: message) or json (one object per line).",
        default: || "text".into(),
        set: |c, v| {
            let v = v.trim().to_ascii_lowercase();
            if !matches!(v.as_str(), "text" | "json") {
                return Err("text or json");
            }
            c.log_format = v;
            Ok(None)
        },
        is_bool: false,
    },
    Key {
        name: "metrics",
        help: "Serve GET /metrics (Prometheus text format).",
        default: || "true".into(),
        set: |c, v| flag(&mut c.metrics, v),
        is_bool: true,
    },
    Key {
        name: "metrics_allow_from",
        help: "Client IPs or CIDRs that may read /metrics without the API signature, comma separated.",
        default: || "127.0.0.1, ::1".into(),
        set: |c, v| {
            c.metrics_allow_from = list(v);
            Ok(odd_ranges(&c.metrics_allow_from))
        },
        is_bool: false,
    },
    Key {
        name: "trusted_proxies",
        help: "Reverse proxies (IPs or CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are believed; empty = none.",
        default: String::new,
        set: |c, v| {
            c.trusted_proxies = list(v);
            Ok(odd_ranges(&c.trusted_proxies))
        },
        is_bool: false,
    },
    Key {
        name: "redis_presence_ttl",
        help: "With redis_url: seconds a connection stays present in Redis unless its node refreshes it (every third of this); a dead node's users part within this plus a second.",
        default: || "30".into(),
        set: |c, v| seconds(&mut c.redis_presence_ttl, v),
        is_bool: false,
    },
];

/// A warning naming the entries that are neither an address nor a CIDR range.
fn odd_ranges(entries: &[String]) -> Option<String> {
    let odd: Vec<&String> = entries
        .iter()
        .filter(|e| crate::api::forwarded::Cidr::parse(e).is_none())
        .collect();
    (!odd.is_empty())
        .then(|| format!("{odd:?} are not IP addresses or CIDR ranges and never match"))
}

/// `value` as errors and warnings may show it: user info of a `redis_url` (its password)
/// becomes `***`, even when the URL does not parse.
pub(crate) fn shown(key: &Key, value: &str) -> String {
    if key.name != "redis_url" {
        return value.to_string();
    }
    match value.rfind('@') {
        Some(at) => {
            let start = value.find("://").map_or(0, |i| i + 3).min(at);
            format!("{}***{}", &value[..start], &value[at..])
        }
        None => value.to_string(),
    }
}

/// The reference's only signer (`utils.py`), an itsdangerous `TimestampSigner`.
pub(crate) const DEFAULT_SIGNER: &str = "channelstream.utils.DefaultSigner";

/// More workers than this only adds threads fighting for the same cores.
const MAX_WORKERS: usize = 1024;

fn text(field: &mut String, v: &str) -> Applied {
    *field = v.to_string();
    Ok(None)
}

/// A non-negative decimal integer in `min..=max` (surrounding spaces allowed).
fn int(v: &str, min: u64, max: u64) -> Option<u64> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<u64>().ok().filter(|n| (min..=max).contains(n))
}

fn seconds(field: &mut u64, v: &str) -> Applied {
    *field = int(v, 1, MAX_SECONDS).ok_or(SECONDS)?;
    Ok(None)
}

fn duration(field: &mut Duration, v: &str) -> Applied {
    *field = Duration::from_secs(int(v, 1, MAX_SECONDS).ok_or(SECONDS)?);
    Ok(None)
}

fn size(field: &mut usize, v: &str, min: u64, expected: Expected) -> Applied {
    let n = int(v, min, MAX_BYTES).ok_or(expected)?;
    *field = usize::try_from(n).map_err(|_| expected)?;
    Ok(None)
}

/// Largest per-request item count we accept: far past any real request, small enough that
/// a count times a small item size cannot overflow.
const MAX_COUNT: u64 = 1_000_000;

fn count(field: &mut usize, v: &str) -> Applied {
    const EXPECTED: Expected = "a whole number from 1 to 1000000";
    let n = int(v, 1, MAX_COUNT).ok_or(EXPECTED)?;
    *field = usize::try_from(n).map_err(|_| EXPECTED)?;
    Ok(None)
}

/// pyramid's `asbool` words (`utils.py` reads booleans with it), but a word that is in
/// neither list is an error: the reference reads `validate_requests = ture` as false.
fn flag(field: &mut bool, v: &str) -> Applied {
    *field = match v.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => true,
        "f" | "false" | "n" | "no" | "off" | "0" | "" => false,
        _ => return Err("true or false (also yes/no, on/off, 1/0)"),
    };
    Ok(None)
}

/// Splits on commas and newlines (ini continuation lines), trims, drops empty items.
pub(crate) fn list(v: &str) -> Vec<String> {
    v.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// An IP address, `[v6]`, or `localhost` (which the reference's gevent would resolve).
fn host(v: &str) -> Option<IpAddr> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    match bare.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) if bare == "::" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        Err(_) => None,
    }
}

/// Python `logging` level names (`start.py` looks the name up with `getattr`), canonical
/// upper case; empty means INFO as in `start.py`.
fn log_level(v: &str) -> Option<&'static str> {
    Some(match v.trim().to_ascii_uppercase().as_str() {
        "" | "INFO" => "INFO",
        "DEBUG" => "DEBUG",
        "WARNING" | "WARN" => "WARNING",
        "ERROR" => "ERROR",
        "CRITICAL" | "FATAL" => "CRITICAL",
        "NOTSET" => "NOTSET",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_without_warning() {
        let mut c = Config::default();
        for key in KEYS {
            assert_eq!(
                (key.set)(&mut c, &(key.default)()),
                Ok(None),
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn key_names_are_unique_lower_snake_and_bool_keys_are_marked() {
        for (i, key) in KEYS.iter().enumerate() {
            assert!(KEYS[..i].iter().all(|k| k.name != key.name), "{}", key.name);
            assert!(key
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            // A bare `--flag` means true, so only booleans may be marked.
            let default = (key.default)();
            assert_eq!(
                key.is_bool,
                default == "true" || default == "false",
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn lists_split_on_commas_and_newlines_trimmed_without_empties() {
        assert_eq!(
            list("127.0.0.1,\nx.x.x.x,\n\n y.y.y.y ,"),
            ["127.0.0.1", "x.x.x.x", "y.y.y.y"]
        );
        assert_eq!(list(" , \n"), Vec::<String>::new());
    }

    #[test]
    fn booleans_take_asbool_words_in_any_case() {
        const CASES: &[(&str, Option<bool>)] = &[
            ("True", Some(true)),
            ("yes", Some(true)),
            ("ON", Some(true)),
            ("1", Some(true)),
            ("False", Some(false)),
            ("off", Some(false)),
            ("0", Some(false)),
            ("", Some(false)),
            ("ture", None),
            ("2", None),
        ];
        for (v, want) in CASES {
            let mut b = !want.unwrap_or(false);
            let got = flag(&mut b, v).ok().map(|_| b);
            assert_eq!(got, *want, "{v:?}");
        }
    }

    #[test]
    fn hosts_accept_ips_brackets_and_localhost_only() {
        assert_eq!(host("localhost"), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(host("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(host(" 10.0.0.1 "), "10.0.0.1".parse().ok());
        assert_eq!(host("nothere"), None);
    }

    #[test]
    fn request_caps_take_whole_numbers_from_1_to_a_million() {
        let mut c = Config::default();
        assert_eq!(
            (c.max_channels_per_request, c.max_messages_per_request),
            (1000, 1000)
        );
        for name in ["max_channels_per_request", "max_messages_per_request"] {
            let set = find(name).expect("key").set;
            for bad in ["0", "-1", "1000001", "ten", ""] {
                assert!(set(&mut c, bad).is_err(), "{name} = {bad:?}");
            }
            assert_eq!(set(&mut c, " 7 "), Ok(None), "{name}");
        }
        assert_eq!(
            (c.max_channels_per_request, c.max_messages_per_request),
            (7, 7)
        );
    }

    #[test]
    fn unknown_http_scheme_is_emptied_with_a_warning() {
        let mut c = Config::default();
        let set = find("http_scheme").expect("key").set;
        assert!(set(&mut c, "ftp").expect("accepted").is_some());
        assert_eq!(c.http_scheme, "");
        assert_eq!(set(&mut c, "https"), Ok(None));
        assert_eq!(c.http_scheme, "https");
    }
}
