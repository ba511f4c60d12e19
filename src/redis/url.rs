//! `redis_url`: `redis://[[user]:password@]host[:port][/db]`, parsed and checked once at
//! start. Pure. The password is a secret: [`RedisUrl`]'s `Debug` and [`RedisUrl::redacted`]
//! print `***` in its place, and [`RedisUrlError`] never quotes the input, so neither logs
//! nor config errors can leak it.

use std::fmt;

/// Where the shared Redis is and how to log in. Built by [`RedisUrl::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port; 6379 when the URL names none.
    pub port: u16,
    /// ACL user for `AUTH user password` (Redis 6+); `None` = `AUTH password` (the
    /// `default` user).
    pub user: Option<String>,
    /// Password for `AUTH`; `None` = no `AUTH`.
    pub password: Option<String>,
    /// Logical database for `SELECT`; 0 = no `SELECT`.
    pub db: u32,
}

/// Why a `redis_url` was refused. Each variant names a part of the URL, never its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisUrlError {
    /// It does not start with `redis://` (`rediss://`, TLS, is not supported).
    Scheme,
    /// No host between `//` (or `@`) and `:`/`/`.
    Host,
    /// The port is not a number from 1 to 65535.
    Port,
    /// The path is not `/` plus a database number from 0 to 65535.
    Db,
    /// A `%` escape is malformed or decodes to bytes that are not UTF-8.
    Escape,
    /// `?query` or `#fragment`: options we do not read are refused rather than ignored.
    Options,
}

impl RedisUrlError {
    /// What the URL should have been, for the config error message.
    pub fn expected(self) -> &'static str {
        match self {
            Self::Scheme => {
                "a URL redis://[user:password@]host[:port][/db] (rediss:// is not supported)"
            }
            Self::Host => "a URL redis://[user:password@]host[:port][/db] with a host",
            Self::Port => "a URL redis://host:port with a port from 1 to 65535",
            Self::Db => "a URL redis://host[:port]/db with a database number from 0 to 65535",
            Self::Escape => {
                "a URL redis://[user:password@]host[:port][/db] whose %XX escapes are valid UTF-8"
            }
            Self::Options => {
                "a URL redis://[user:password@]host[:port][/db] without ?options or #fragment"
            }
        }
    }
}

impl fmt::Display for RedisUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected())
    }
}

impl std::error::Error for RedisUrlError {}

impl RedisUrl {
    /// Parses `redis://[[user]:password@]host[:port][/db]`. User and password may use
    /// `%XX` escapes (for `@`, `:` or `/` inside them); IPv6 hosts are written `[::1]`.
    pub fn parse(text: &str) -> Result<RedisUrl, RedisUrlError> {
        let rest = text
            .trim()
            .strip_prefix("redis://")
            .ok_or(RedisUrlError::Scheme)?;
        if rest.contains(['?', '#']) {
            return Err(RedisUrlError::Options);
        }
        // The password may contain '@' only escaped, so the last '@' ends the user info.
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (authority, path) = match hostpart.find('/') {
            Some(slash) => (&hostpart[..slash], &hostpart[slash..]),
            None => (hostpart, ""),
        };
        let (host, port) = split_host_port(authority)?;
        let db = match path {
            "" | "/" => 0,
            _ => number(&path[1..], 0, 65535).ok_or(RedisUrlError::Db)?,
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = (!user.is_empty()).then(|| unescape(user)).transpose()?;
                let password = password.map(unescape).transpose()?;
                // `redis://user@host` (no colon): Redis clients read a lone user info as the
                // password of the default user; so do we.
                match (user, password) {
                    (Some(u), None) => (None, Some(u)),
                    pair => pair,
                }
            }
        };
        Ok(RedisUrl {
            host,
            port,
            user,
            password,
            db,
        })
    }

    /// The URL with the password replaced by `***`: what logs and status pages show.
    pub fn redacted(&self) -> String {
        let auth = match (&self.user, &self.password) {
            (None, None) => String::new(),
            (Some(u), None) => format!("{u}@"),
            (u, Some(_)) => format!("{}:***@", u.as_deref().unwrap_or("")),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("redis://{auth}{host}:{}/{}", self.port, self.db)
    }
}

impl fmt::Debug for RedisUrl {
    /// Like [`RedisUrl::redacted`]: a `{:?}` of a config never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(String, u16), RedisUrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(RedisUrlError::Host)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(RedisUrlError::Port)?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let bad_char = |c: char| c.is_whitespace() || c.is_control() || "[]@/%".contains(c);
    if host.is_empty() || host.contains(bad_char) {
        return Err(RedisUrlError::Host);
    }
    let port = match port {
        None => 6379,
        Some(p) => number(p, 1, 65535).ok_or(RedisUrlError::Port)?,
    };
    let port = u16::try_from(port).map_err(|_| RedisUrlError::Port)?;
    Ok((host.to_string(), port))
}

/// Decimal digits only, in `min..=max`.
fn number(text: &str, min: u32, max: u32) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| (min..=max).contains(n))
}

/// Percent-decoding (RFC 3986 §2.1) of user info.
fn unescape(text: &str) -> Result<String, RedisUrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(RedisUrlError::Escape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| RedisUrlError::Escape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| RedisUrlError::Escape)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| RedisUrlError::Escape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str, port: u16, user: Option<&str>, pass: Option<&str>, db: u32) -> RedisUrl {
        RedisUrl {
            host: host.into(),
            port,
            user: user.map(Into::into),
            password: pass.map(Into::into),
            db,
        }
    }

    #[test]
    fn good_urls_parse_into_their_parts() {
        let cases: &[(&str, RedisUrl)] = &[
            ("redis://localhost", url("localhost", 6379, None, None, 0)),
            (
                "redis://10.0.0.5:6380/2",
                url("10.0.0.5", 6380, None, None, 2),
            ),
            ("redis://h/", url("h", 6379, None, None, 0)),
            (
                "redis://:s3cret@h:1/0",
                url("h", 1, None, Some("s3cret"), 0),
            ),
            (
                "redis://app:pa%40ss%3Aw@redis.internal:6379/15",
                url("redis.internal", 6379, Some("app"), Some("pa@ss:w"), 15),
            ),
            (
                "redis://onlypass@h",
                url("h", 6379, None, Some("onlypass"), 0),
            ),
            ("redis://[::1]:7000/3", url("::1", 7000, None, None, 3)),
            ("redis://[::1]", url("::1", 6379, None, None, 0)),
            (" redis://h:2 ", url("h", 2, None, None, 0)),
        ];
        for (text, want) in cases {
            assert_eq!(RedisUrl::parse(text).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_urls_name_the_wrong_part() {
        const CASES: &[(&str, RedisUrlError)] = &[
            ("", RedisUrlError::Scheme),
            ("localhost:6379", RedisUrlError::Scheme),
            ("rediss://h", RedisUrlError::Scheme),
            ("http://h", RedisUrlError::Scheme),
            ("redis://", RedisUrlError::Host),
            ("redis://:p@:1", RedisUrlError::Host),
            ("redis://h h", RedisUrlError::Host),
            ("redis://[::1", RedisUrlError::Host),
            ("redis://h:0", RedisUrlError::Port),
            ("redis://h:65536", RedisUrlError::Port),
            ("redis://h:", RedisUrlError::Port),
            ("redis://h:-1", RedisUrlError::Port),
            ("redis://[::1]x", RedisUrlError::Port),
            ("redis://h/x", RedisUrlError::Db),
            ("redis://h/1/2", RedisUrlError::Db),
            ("redis://h/70000", RedisUrlError::Db),
            ("redis://u:p%zz@h", RedisUrlError::Escape),
            ("redis://u:p%ff@h", RedisUrlError::Escape),
            ("redis://u:p%4@h", RedisUrlError::Escape),
            ("redis://h?db=1", RedisUrlError::Options),
            ("redis://h#x", RedisUrlError::Options),
        ];
        for (text, want) in CASES {
            assert_eq!(RedisUrl::parse(text), Err(*want), "{text:?}");
        }
    }

    #[test]
    fn debug_and_redacted_never_show_the_password() {
        let u = RedisUrl::parse("redis://app:hunter2@h:1/2").expect("parses");
        for shown in [format!("{u:?}"), u.redacted()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("redis://app:***@h:1/2"), "{shown}");
        }
        let u = RedisUrl::parse("redis://[::1]").expect("parses");
        assert_eq!(u.redacted(), "redis://[::1]:6379/0");
    }

    #[test]
    fn errors_never_quote_the_input() {
        for text in ["redis://u:hunter2@h:99999", "redis://u:hunter2%zz@h"] {
            let err = RedisUrl::parse(text).expect_err("bad");
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        }
    }
}
