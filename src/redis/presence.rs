//! [`PresenceScripts`]: presence kept in Redis (`presence_join.lua`,
//! `presence_leave.lua`), so that `joined` and `parted` are about a user's connections
//! over every node, and a dead node's connections expire. Per channel, in its hash slot:
//! `<base>:pres` (connection → user), `<base>:pres:exp` (connection → expiry, by Redis's
//! clock, so nodes' clocks do not matter) and `<base>:users` (user → connections). Pure.

use super::{NotQueued, RedisHandle, Script};
use std::sync::Arc;
use std::time::Duration;

/// Connections one sweep of one channel expires at most.
pub const SWEEP_BATCH: usize = 1000;

/// Connections one refresh call carries at most.
pub const REFRESH_BATCH: usize = 500;

/// The two presence scripts.
/// `node` (every call) is the calling node's id: a connection is held by one node, and
/// a leave from a node that no longer holds it (another took it over) changes nothing.
#[derive(Clone, Debug)]
pub struct PresenceScripts {
    join: Arc<Script>,
    leave: Arc<Script>,
}

impl Default for PresenceScripts {
    fn default() -> Self {
        Self::new()
    }
}

impl PresenceScripts {
    /// The scripts.
    pub fn new() -> PresenceScripts {
        PresenceScripts {
            join: Arc::new(Script::new(include_str!("presence_join.lua"))),
            leave: Arc::new(Script::new(include_str!("presence_leave.lua"))),
        }
    }

    /// Both, for `LinkConfig::scripts`.
    pub fn scripts(&self) -> [Arc<Script>; 2] {
        [self.join.clone(), self.leave.clone()]
    }

    fn keys(base: &str) -> Vec<Vec<u8>> {
        ["pres", "pres:exp", "users"]
            .iter()
            .map(|s| format!("{base}:{s}").into_bytes())
            .collect()
    }

    /// Connection `conn` of `user` is in the channel under `base` (or is still: a
    /// refresh) for `ttl`. The reply is an integer: 1 when this is the user's first
    /// connection there.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &self,
        handle: &RedisHandle,
        node: &str,
        base: &str,
        conn: &str,
        user: &str,
        ttl: Duration,
        tag: u64,
    ) -> Result<(), NotQueued> {
        self.refresh(handle, node, base, &[(conn, user)], ttl, tag)
    }

    /// [`PresenceScripts::join`] for many connections of one channel in one call (a
    /// refresh: the reply says nothing useful).
    pub fn refresh(
        &self,
        handle: &RedisHandle,
        node: &str,
        base: &str,
        conns: &[(&str, &str)],
        ttl: Duration,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let mut args = vec![
            ttl.as_millis().to_string().into_bytes(),
            super::CHANNEL_TTL_SECONDS.to_string().into_bytes(),
            node.as_bytes().to_vec(),
        ];
        for (conn, user) in conns {
            args.push(conn.as_bytes().to_vec());
            args.push(user.as_bytes().to_vec());
        }
        handle.eval(&self.join, Self::keys(base), args, tag)
    }

    /// Connection `conn` left the channel under `base`. The reply lists the users that
    /// parted (the user, if it was their last connection there).
    pub fn leave(
        &self,
        handle: &RedisHandle,
        node: &str,
        base: &str,
        conn: &str,
        tag: u64,
    ) -> Result<(), NotQueued> {
        let args = vec![
            b"leave".to_vec(),
            conn.as_bytes().to_vec(),
            node.as_bytes().to_vec(),
        ];
        handle.eval(&self.leave, Self::keys(base), args, tag)
    }

    /// Expires the channel's connections whose time to live passed. The reply lists the
    /// users that parted.
    pub fn sweep(&self, handle: &RedisHandle, base: &str, tag: u64) -> Result<(), NotQueued> {
        let args = vec![b"sweep".to_vec(), SWEEP_BATCH.to_string().into_bytes()];
        handle.eval(&self.leave, Self::keys(base), args, tag)
    }
}
