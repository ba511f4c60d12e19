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
    /// Per [`TIMELINE_STEP_NS`] of receive time since the run's start: what arrived then
    /// (to line up a latency tail with what the server was doing, e.g. heartbeats).
    pub timeline: Vec<Slice>,
}

/// Width of one [`RecvStats::timeline`] slice: 100 ms.
pub const TIMELINE_STEP_NS: u64 = 100_000_000;

/// At most this many slices (1 000 s) are kept; later arrivals are not placed.
const TIMELINE_MAX: usize = 10_000;

/// What arrived in one slice of the timeline.
#[derive(Clone, Copy, Default)]
pub struct Slice {
    /// First deliveries.
    pub deliveries: u64,
    /// Of which took longer than 50 ms.
    pub late: u64,
    /// The longest latency, ns.
    pub max_ns: u64,
    /// `[]` heartbeats.
    pub heartbeats: u64,
}

impl RecvStats {
    /// The slice for receive time `now_ns`, if within [`TIMELINE_MAX`].
    pub fn slice(&mut self, now_ns: u64) -> Option<&mut Slice> {
        let i = (now_ns / TIMELINE_STEP_NS) as usize;
        if i >= TIMELINE_MAX {
            return None;
        }
        if self.timeline.len() <= i {
            self.timeline.resize(i + 1, Slice::default());
        }
        self.timeline.get_mut(i)
    }
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
        if self.timeline.len() < o.timeline.len() {
            self.timeline.resize(o.timeline.len(), Slice::default());
        }
        for (a, b) in self.timeline.iter_mut().zip(&o.timeline) {
            a.deliveries += b.deliveries;
            a.late += b.late;
            a.max_ns = a.max_ns.max(b.max_ns);
            a.heartbeats += b.heartbeats;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_slices_add_up_across_threads_and_keep_the_worst_latency() {
        let mut a = RecvStats::default();
        let mut b = RecvStats::default();
        if let Some(s) = a.slice(50_000_000) {
            s.deliveries += 2;
            s.max_ns = 7;
        }
        if let Some(s) = b.slice(99_999_999) {
            s.deliveries += 1;
            s.late += 1;
            s.max_ns = 60_000_000;
        }
        if let Some(s) = b.slice(250_000_000) {
            s.heartbeats += 3;
        }
        a.merge(&b);
        assert_eq!(a.timeline.len(), 3);
        let first = a.timeline[0];
        assert_eq!(
            (first.deliveries, first.late, first.max_ns),
            (3, 1, 60_000_000)
        );
        assert_eq!(a.timeline[1].deliveries + a.timeline[1].heartbeats, 0);
        assert_eq!(a.timeline[2].heartbeats, 3);
        assert!(
            a.slice(TIMELINE_STEP_NS * TIMELINE_MAX as u64).is_none(),
            "bounded"
        );
    }
}
