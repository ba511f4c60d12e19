//! What the engine notes about each request and websocket for the operator: one log line
//! per answered request and per websocket open and close, and the worker's counters
//! (`crate::metrics`). Nothing here reads a header: the path is logged without its query
//! string, so a `?secret=` never reaches the log.

use crate::log::{self, Level, Value};
use crate::metrics::{bump, Endpoint, WorkerCounters};
use std::net::IpAddr;
use std::time::Instant;

/// A request the app has seen and not yet answered.
#[derive(Debug)]
pub(crate) struct Exchange {
    method: String,
    path: String,
    started: Instant,
    endpoint: Endpoint,
    client: IpAddr,
}

impl Exchange {
    /// A request for `target` (its query string is dropped here, before anything can
    /// log it).
    pub(crate) fn new(
        method: String,
        mut target: String,
        started: Instant,
        described: Option<(Endpoint, IpAddr)>,
        peer: IpAddr,
    ) -> Exchange {
        if let Some(query) = target.find('?') {
            target.truncate(query);
        }
        let (endpoint, client) = described.unwrap_or_else(|| (Endpoint::of(&target), peer));
        Exchange {
            method,
            path: target,
            started,
            endpoint,
            client,
        }
    }

    /// The request was answered with `status`: counts it and writes its line. A 101
    /// also opens a websocket record. The clock is read here, not taken from the
    /// worker's turn, so an answer given in the same turn does not count as 0 s.
    pub(crate) fn finish(self, status: u16, counters: &WorkerCounters) -> Option<WsRecord> {
        let now = Instant::now();
        let took = now.saturating_duration_since(self.started);
        counters.record_request(self.endpoint, status, took);
        if log::enabled(Level::Info) {
            let client = self.client.to_string();
            log::event(
                Level::Info,
                format_args!("request"),
                &[
                    ("method", Value::Str(&self.method)),
                    ("path", Value::Str(&self.path)),
                    ("status", Value::Int(u64::from(status))),
                    ("duration_ms", Value::Millis(took.as_secs_f64() * 1000.0)),
                    ("client", Value::Str(&client)),
                ],
            );
        }
        (status == 101).then(|| {
            bump(&counters.ws_opened, 1);
            if log::enabled(Level::Info) {
                let client = self.client.to_string();
                log::event(
                    Level::Info,
                    format_args!("websocket open"),
                    &[("client", Value::Str(&client))],
                );
            }
            WsRecord {
                opened: now,
                client: self.client,
            }
        })
    }
}

/// An open websocket, for its close line.
#[derive(Debug)]
pub(crate) struct WsRecord {
    opened: Instant,
    client: IpAddr,
}

impl WsRecord {
    /// The websocket is gone: `code` is the close code sent or received (1006 when the
    /// connection dropped without one); `slow` says it was cut for not reading.
    pub(crate) fn closed(self, code: u16, slow: bool, now: Instant, counters: &WorkerCounters) {
        bump(&counters.ws_closed, 1);
        if slow {
            bump(&counters.slow_consumers_cut, 1);
        }
        if log::enabled(Level::Info) {
            let client = self.client.to_string();
            let took = now.saturating_duration_since(self.opened);
            log::event(
                Level::Info,
                format_args!("websocket closed"),
                &[
                    ("code", Value::Int(u64::from(code))),
                    ("duration_ms", Value::Millis(took.as_secs_f64() * 1000.0)),
                    ("client", Value::Str(&client)),
                ],
            );
        }
    }
}
