//! Configuration: embedded defaults, the `[channelstream]` section of an ini file,
//! `CHANNELSTREAM_<KEY>` environment variables and command-line flags, in that order of
//! precedence (later wins). Pure parsing; reading files and the environment is done by
//! the caller-facing `load` functions only.
//!
//! STUB: the fields below are the contract the app codes against. The owner of this
//! module fills in parsing, validation, `--help`, `make-config` and may add fields.

use crate::server::Limits;
use std::net::IpAddr;

/// Every setting the server runs with. CONTRACT (fields may be added).
#[derive(Clone, Debug)]
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
    /// Serve the demo (not implemented; accepted for compatibility).
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
    /// Worker threads (`workers`, default: number of CPUs).
    pub workers: usize,
    /// Engine limits (`max_connections`, `max_head_bytes`, ...).
    pub limits: Limits,
}
