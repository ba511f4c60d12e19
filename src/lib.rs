//! channelstream-rs: a drop-in replacement for the channelstream realtime messaging server.
//!
//! The map (see `../shared/STYLE.md`):
//! - [`http`], [`ws`]: sans-IO codecs. Bytes in, values out; no sockets, no clock.
//! - [`server`]: the engine, the only code that imports mio. Owns sockets, buffers, timers.
//! - [`hub`]: channelstream's domain (channels, users, connections, history). Pure; `now`
//!   is an argument.
//! - [`api`]: the REST layer: request -> validated command -> JSON response.
//! - [`app`]: the glue that implements [`server::App`] and runs the hub thread.
//! - [`config`]: ini file, environment and command line, with documented precedence.
//! - [`conn_id`]: the engine connection id, below `server`, `hub` and `api` alike.
//! - [`web`]: pages for people: the admin pages, sessions and the OpenAPI document, the
//!   landing page and the demo chat (`demo = true`).
//! - [`log`](mod@log): log lines on standard error, filtered by `log_level`.
//! - [`resp`]: the Redis wire protocol (RESP2), a sans-IO codec.
//! - [`redis`]: the Redis client (a sans-IO session per connection and a thread driving
//!   it over mio) and the shared-state scripts; not wired into the hub yet.
//! - [`metrics`]: per-thread counters and the Prometheus text format for `GET /metrics`.
#![deny(unsafe_code)] // one exception: `server::sys`, each block with a SAFETY proof
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod config;
pub mod conn_id;
pub mod decoded;
pub mod http;
pub mod hub;
pub mod log;
pub mod metrics;
pub mod redis;
pub mod resp;
pub mod server;
pub mod web;
pub mod ws;
