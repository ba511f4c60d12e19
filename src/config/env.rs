//! `CHANNELSTREAM_<KEY>` environment variables: which ones set a key, which names the ini
//! file, which are typos. Pure: the caller passes the environment as a list.

use super::error::Source;
use super::keys::{self, Key};

/// Names the ini file when no `-i`/`--ini` flag is given (as in `start.py`).
pub(crate) const INI_VAR: &str = "CHANNELSTREAM_INI";

const PREFIX: &str = "CHANNELSTREAM_";

/// What the environment says.
#[derive(Default)]
pub(crate) struct EnvLayer {
    /// `CHANNELSTREAM_INI`, if set and not empty.
    pub ini: Option<String>,
    /// Key values, in the environment's order.
    pub settings: Vec<(&'static Key, String, Source)>,
    /// Variables with our prefix that name no key.
    pub warnings: Vec<String>,
}

/// Reads the variables named `CHANNELSTREAM_` plus an upper-case key; other names are
/// left alone. Names are case-sensitive, as in the reference.
pub(crate) fn read(env: &[(String, String)]) -> EnvLayer {
    let mut layer = EnvLayer::default();
    for (name, value) in env {
        let Some(suffix) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if name == INI_VAR {
            layer.ini = (!value.is_empty()).then(|| value.clone());
            continue;
        }
        let key = (suffix.bytes().all(|b| !b.is_ascii_lowercase()))
            .then(|| keys::find(&suffix.to_ascii_lowercase()))
            .flatten();
        match key {
            Some(key) => layer
                .settings
                .push((key, value.clone(), Source::Env(name.clone()))),
            None => layer.warnings.push(format!(
                "environment variable {name}: no such setting, ignored"
            )),
        }
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn upper_case_key_variables_set_keys_and_others_are_ignored_or_warned() {
        let layer = read(&env(&[
            ("CHANNELSTREAM_PORT", "9000"),
            ("CHANNELSTREAM_MAX_HEAD_BYTES", "4096"),
            ("CHANNELSTREAM_port", "1"),
            ("CHANNELSTREAM_PROT", "1"),
            ("PATH", "/bin"),
            ("CHANNELSTREAM_INI", "/etc/cs.ini"),
        ]));
        let set: Vec<(&str, &str)> = layer
            .settings
            .iter()
            .map(|(k, v, _)| (k.name, v.as_str()))
            .collect();
        assert_eq!(set, [("port", "9000"), ("max_head_bytes", "4096")]);
        assert_eq!(layer.ini.as_deref(), Some("/etc/cs.ini"));
        assert_eq!(layer.warnings.len(), 2, "{:?}", layer.warnings);
        assert!(layer.warnings[1].contains("CHANNELSTREAM_PROT"));
    }
}
