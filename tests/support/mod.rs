//! Differential-test support: loads golden files recorded from the reference
//! channelstream 0.7.1 (`tools/reference/record.py`), replays their steps against our
//! server and compares normalized results. Independent of the server's own code: its
//! own HTTP client, itsdangerous signer and normalizer. Format: docs/REFERENCE.md §8.

pub mod deviations;
pub mod json_diff;
pub mod normalize;
pub mod raw_http;
pub mod replay;
pub mod signer;

use channelstream::config::Config;
use channelstream::server::Limits;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Every `tests/golden/*.json`, sorted by name.
pub fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
}

/// Reads and parses one golden file.
pub fn load_golden(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The settings the recorder gave the reference (golden `config`), on 127.0.0.1:0.
/// `Config` is `#[non_exhaustive]`: start from its defaults and set every field the
/// recording depends on.
pub fn config_for(golden: &Value) -> Config {
    let c = &golden["config"];
    let text = |key: &str, default: &str| {
        c.get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let mut config = Config::default();
    config.secret = text("secret", "secret");
    config.admin_user = text("admin_user", "admin");
    config.admin_secret = text("admin_secret", "admin_secret");
    config.cookie_secret = "cookie_secret".into();
    // The reference's effective value: gc.py hard-codes 15 s and never reads its
    // `gc_conns_after` setting; [gc_idle_connection] depends on it.
    config.gc_conns_after = c
        .get("gc_conns_after")
        .and_then(Value::as_u64)
        .unwrap_or(15);
    config.gc_channels_after = 3600 * 72;
    config.wake_connections_after = c
        .get("wake_connections_after")
        .and_then(Value::as_u64)
        .unwrap_or(5);
    config.allow_posting_from = c
        .get("allow_posting_from")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| vec!["127.0.0.1".into()]);
    config.port = 0;
    config.host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    config.debug = false;
    config.log_level = "WARNING".into();
    config.demo = false;
    config.allow_cors = Vec::new();
    config.validate_requests = c
        .get("validate_requests")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    config.enforce_https = false;
    config.http_scheme = String::new();
    config.signature_checker = "channelstream.utils.DefaultSigner".into();
    config.workers = 2;
    config.limits = Limits::default();
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_golden_file_parses_and_has_steps_with_expectations() {
        let files = golden_files();
        assert!(files.len() >= 25, "only {} golden files", files.len());
        for path in files {
            let g = load_golden(&path).unwrap();
            let steps = g["steps"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no steps", path.display()));
            assert!(!steps.is_empty(), "{}", path.display());
            for s in steps {
                assert!(
                    s["step"]["op"].is_string(),
                    "{}: step without op",
                    path.display()
                );
                assert!(
                    s["expect"].is_object(),
                    "{}: step without expect",
                    path.display()
                );
            }
            assert!(g["ids"].is_object(), "{}", path.display());
        }
    }

    #[test]
    fn config_carries_the_recorders_settings() {
        let g = serde_json::json!({"config": {"secret": "s", "wake_connections_after": 1,
            "allow_posting_from": ["10.1.2.3"], "validate_requests": false}});
        let c = config_for(&g);
        assert_eq!(
            (c.secret.as_str(), c.wake_connections_after, c.port),
            ("s", 1, 0)
        );
        assert_eq!(c.allow_posting_from, vec!["10.1.2.3".to_string()]);
        assert!(!c.validate_requests);
        assert!(c.host.is_loopback());
        assert_eq!(
            c.gc_conns_after, 15,
            "the reference collects idle connections after 15 s"
        );
    }
}
