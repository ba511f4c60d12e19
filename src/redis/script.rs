//! [`Script`]: a Lua script and its SHA1, so commands can name it with `EVALSHA` (a 40-byte
//! hash instead of the whole source on every call). The link loads every script it is
//! given with `SCRIPT LOAD` on each (re)connect, before any caller command, and falls back
//! to `EVAL` when Redis answers `NOSCRIPT` (its script cache was flushed mid-connection).
//! Pure.

use sha1::{Digest, Sha1};

/// A Lua script Redis runs atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    source: &'static str,
    sha1: String,
}

impl Script {
    /// A script from its source (usually `include_str!` of a `.lua` file).
    pub fn new(source: &'static str) -> Script {
        let sha1 = Sha1::digest(source.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Script { source, sha1 }
    }

    /// The Lua source.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The lower-case hex SHA1 Redis names the script by (`SCRIPT LOAD` returns it).
    pub fn sha1(&self) -> &str {
        &self.sha1
    }

    /// `[verb, script or sha, numkeys, keys..., args...]` for `EVALSHA` or `EVAL`.
    pub(crate) fn invocation(
        &self,
        by_sha: bool,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
    ) -> Vec<Vec<u8>> {
        let (verb, body) = match by_sha {
            true => ("EVALSHA", self.sha1.as_bytes()),
            false => ("EVAL", self.source.as_bytes()),
        };
        let mut all = Vec::with_capacity(3 + keys.len() + args.len());
        all.push(verb.as_bytes().to_vec());
        all.push(body.to_vec());
        all.push(keys.len().to_string().into_bytes());
        all.extend(keys.iter().cloned());
        all.extend(args.iter().cloned());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_the_one_redis_computes() {
        // `redis-cli SCRIPT LOAD "return 1"` answers this hash.
        let script = Script::new("return 1");
        assert_eq!(script.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let call = script.invocation(true, &[b"k".to_vec()], &[b"a".to_vec(), b"b".to_vec()]);
        let want: [&[u8]; 6] = [b"EVALSHA", script.sha1().as_bytes(), b"1", b"k", b"a", b"b"];
        assert_eq!(call, want.map(<[u8]>::to_vec));
        assert_eq!(script.invocation(false, &[], &[])[1], b"return 1");
    }
}
