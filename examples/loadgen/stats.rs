//! What a receiver thread counted. Plain data; merged by addition at the end of a run.

use crate::histogram::Histogram;
use std::collections::BTreeMap;

/// Counters of one receiver thread (or, merged, of all).
#[derive(Clone, Default)]
pub struct RecvStats {
    /// Publish-to-receive latency of first deliveries, ns.
    pub latency: Histogram,
    /// `/connect` start (or TCP connect start without registration) to open, ns.
    pub setup: Histogram,
    /// Probes found, duplicates included.
    pub probes: u64,
    /// First deliveries (distinct seq per receiver).
    pub unique: u64,
    /// Repeated deliveries of a seq to the same receiver.
    pub duplicates: u64,
    /// Probes for a channel the receiver is not in.
    pub foreign: u64,
    /// Probes with an impossible seq.
    pub out_of_range: u64,
    /// `[]` frames (websocket) or empty polls (long-poll).
    pub heartbeats: u64,
    /// Non-empty frames without a probe (presence, catch-up of other things).
    pub other_frames: u64,
    /// Data frames (or poll responses) received.
    pub frames: u64,
    /// Bytes read from receiver sockets.
    pub bytes: u64,
    /// Receivers that reached the open state.
    pub opened: u64,
    /// Receivers that never opened.
    pub failed: u64,
    /// Open receivers lost before the run closed them.
    pub drops: u64,
    /// Receivers closed by the run with a close handshake or clean EOF.
    pub closed_clean: u64,
    /// Failure reasons, counted.
    pub errors: BTreeMap<String, u64>,
    /// Receivers open, per channel index (for expected deliveries).
    pub open_per_channel: Vec<u64>,
    /// CPU seconds of the receiver threads.
    pub cpu_s: f64,
}

impl RecvStats {
    /// Counts one failure reason.
    pub fn error(&mut self, reason: impl Into<String>) {
        *self.errors.entry(reason.into()).or_insert(0) += 1;
    }

    /// Adds another thread's counters.
    pub fn merge(&mut self, o: &Self) {
        self.latency.merge(&o.latency);
        self.setup.merge(&o.setup);
        for (a, b) in [
            (&mut self.probes, o.probes),
            (&mut self.unique, o.unique),
            (&mut self.duplicates, o.duplicates),
            (&mut self.foreign, o.foreign),
            (&mut self.out_of_range, o.out_of_range),
            (&mut self.heartbeats, o.heartbeats),
            (&mut self.other_frames, o.other_frames),
            (&mut self.frames, o.frames),
            (&mut self.bytes, o.bytes),
            (&mut self.opened, o.opened),
            (&mut self.failed, o.failed),
            (&mut self.drops, o.drops),
            (&mut self.closed_clean, o.closed_clean),
        ] {
            *a += b;
        }
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
        if self.open_per_channel.len() < o.open_per_channel.len() {
            self.open_per_channel.resize(o.open_per_channel.len(), 0);
        }
        for (a, b) in self.open_per_channel.iter_mut().zip(&o.open_per_channel) {
            *a += b;
        }
        self.cpu_s += o.cpu_s;
    }
}
