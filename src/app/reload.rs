//! `SIGHUP`: read the configuration again (same command line, same ini file, same
//! environment) and apply what a running server can change without dropping anyone: the
//! log level and format, every setting of the worker half of the API (secret, allow
//! lists, CORS, signature rules, `enforce_https`, trusted proxies, metrics access) and
//! `max_connections` (checked at each accept). The rest (addresses, workers, the other
//! limits, which each connection copies when it is accepted, timings, the state file) is
//! read at start only; the log says which changed keys need a restart. The new worker
//! half keeps the old one's sign-in lockouts and demo rate counters (`Api::reloaded`).

use crate::config::Config;
use crate::server::Limits;

/// Keys whose new value takes effect at once.
fn live_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("log_level", old.log_level != new.log_level);
    check("log_format", old.log_format != new.log_format);
    check("secret", old.secret != new.secret);
    check(
        "allow_posting_from",
        old.allow_posting_from != new.allow_posting_from,
    );
    check("allow_cors", old.allow_cors != new.allow_cors);
    check(
        "validate_requests",
        old.validate_requests != new.validate_requests,
    );
    check(
        "strict_signatures",
        old.strict_signatures != new.strict_signatures,
    );
    check("enforce_https", old.enforce_https != new.enforce_https);
    check(
        "trusted_proxies",
        old.trusted_proxies != new.trusted_proxies,
    );
    check("metrics", old.metrics != new.metrics);
    check(
        "metrics_allow_from",
        old.metrics_allow_from != new.metrics_allow_from,
    );
    check(
        "max_connections",
        old.limits.max_connections != new.limits.max_connections,
    );
    changed
}

/// Keys that changed but only take effect after a restart.
fn restart_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.limits, &new.limits);
    [
        ("host", old.host != new.host),
        ("port", old.port != new.port),
        ("workers", old.workers != new.workers),
        ("max_head_bytes", a.max_head != b.max_head),
        ("max_body_bytes", a.max_body != b.max_body),
        ("max_message_bytes", a.max_message != b.max_message),
        ("max_outbound_bytes", a.max_outbound != b.max_outbound),
        ("header_timeout", a.header_timeout != b.header_timeout),
        ("idle_timeout", a.idle_timeout != b.idle_timeout),
        ("state_file", old.state_file != new.state_file),
        (
            "snapshot_interval",
            old.snapshot_interval != new.snapshot_interval,
        ),
        ("gc_conns_after", old.gc_conns_after != new.gc_conns_after),
        (
            "gc_channels_after",
            old.gc_channels_after != new.gc_channels_after,
        ),
        (
            "wake_connections_after",
            old.wake_connections_after != new.wake_connections_after,
        ),
        (
            "max_signature_nonces",
            old.max_signature_nonces != new.max_signature_nonces,
        ),
        ("http_scheme", old.http_scheme != new.http_scheme),
        ("admin_user", old.admin_user != new.admin_user),
        ("admin_secret", old.admin_secret != new.admin_secret),
        ("debug", old.debug != new.debug),
        ("demo", old.demo != new.demo),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

/// What a reload from `old` to `new` does: the keys applied now and the keys that need a
/// restart.
pub fn plan(old: &Config, new: &Config) -> (Vec<&'static str>, Vec<&'static str>) {
    (live_changes(old, new), restart_changes(old, new))
}

/// After a reload `config` holds the new settings; puts back the ones that only change
/// at a restart from `started`, so the next reload compares against what is in force.
pub fn keep_restart_only(config: &mut Config, started: Config) {
    config.host = started.host;
    config.port = started.port;
    config.workers = started.workers;
    config.limits = Limits {
        max_connections: config.limits.max_connections,
        ..started.limits
    };
    config.state_file = started.state_file;
    config.snapshot_interval = started.snapshot_interval;
    config.gc_conns_after = started.gc_conns_after;
    config.gc_channels_after = started.gc_channels_after;
    config.wake_connections_after = started.wake_connections_after;
    config.max_signature_nonces = started.max_signature_nonces;
    config.http_scheme = started.http_scheme;
    config.admin_user = started.admin_user;
    config.admin_secret = started.admin_secret;
    config.debug = started.debug;
    config.demo = started.demo;
    config.cookie_secret = started.cookie_secret;
}

/// Applies the process-wide part of `new` (the log settings); the API part is applied by
/// the caller, which owns it.
pub fn apply_logging(new: &Config) {
    use crate::log::{self, Format, Level};
    log::set_level(Level::from_name(&new.log_level).unwrap_or(Level::Info));
    log::set_format(Format::from_name(&new.log_format).unwrap_or(Format::Text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_keys_and_restart_keys_are_told_apart() {
        let old = Config::default();
        let mut new = old.clone();
        new.log_level = "WARNING".into();
        new.trusted_proxies = vec!["10.0.0.0/8".into()];
        new.port = 9000;
        new.limits.max_connections = 5;
        new.limits.idle_timeout = std::time::Duration::from_secs(7);
        let (live, restart) = plan(&old, &new);
        assert_eq!(live, ["log_level", "trusted_proxies", "max_connections"]);
        assert_eq!(restart, ["port", "idle_timeout"]);
        let mut kept = new.clone();
        keep_restart_only(&mut kept, old.clone());
        assert_eq!(kept.port, old.port, "a restart key keeps its running value");
        assert_eq!(kept.limits.idle_timeout, old.limits.idle_timeout);
        assert_eq!(
            kept.limits.max_connections, 5,
            "a live key takes the new one"
        );
        assert_eq!(kept.log_level, "WARNING");
        assert_eq!(plan(&old, &old.clone()), (vec![], vec![]));
    }
}
