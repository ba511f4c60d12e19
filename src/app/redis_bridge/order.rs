//! Each stream's order: where this node is in Redis's numbering, and the reads that
//! keep it exact (sync after each SUBSCRIBE, gap repair, preload of a channel new here);
//! a sync that finds Redis behind this node in its epoch raises Redis's number.

use super::{Pending, RedisBridge, MAX_HELD, REDIS_FRAMES};
use crate::hub::{Hub, Stream, Time};
use crate::redis::{CommandError, PublishedFrame, SeqFloor};
use crate::resp::Reply;
use serde_json::{Map, Value};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

/// Per stream: where this node is in Redis's numbering.
#[derive(Default)]
pub(super) struct Track {
    pub(super) epoch: Option<String>,
    pub(super) last: u64,
    /// The meta has been read once since the first SUBSCRIBE.
    pub(super) synced: bool,
    /// A sync or repair is out: frames are held until it answers.
    pub(super) busy: bool,
    /// Frames held, by sequence number: (epoch, payload).
    pub(super) held: BTreeMap<u64, (String, Vec<u8>)>,
    /// A frame came since the last position check ([`RedisBridge::check_quiet`]).
    pub(super) heard: bool,
}

impl RedisBridge {
    /// Reads `stream`'s epoch and last sequence number.
    pub(super) fn sync(&mut self, stream: &Stream) {
        let meta = format!("{}:meta", self.base(stream));
        let tag = self.tag(Pending::Sync(stream.clone()));
        match self.link.command(&["HMGET", meta.as_str(), "e", "s"], tag) {
            Ok(()) => {
                if let Some(t) = self.tracks.get_mut(stream) {
                    t.busy = true;
                }
            }
            Err(_) => {
                self.pending.remove(&tag);
            }
        }
    }

    /// Compares the streams that heard nothing since the last call with Redis (a sync:
    /// `HMGET meta`, then a repair if Redis is further on), as Centrifuge's position
    /// check does: a frame lost on a quiet stream has no next frame to show the gap.
    pub(super) fn check_quiet(&mut self) {
        let quiet: Vec<Stream> = self
            .tracks
            .iter_mut()
            .filter_map(|(stream, t)| {
                let check = t.synced && !t.busy && !t.heard;
                t.heard = false;
                check.then(|| stream.clone())
            })
            .collect();
        for stream in quiet {
            self.sync(&stream);
        }
    }

    /// Reads `stream`'s stored frames to fill a gap.
    pub(super) fn repair(&mut self, stream: &Stream) {
        let hist = format!("{}:hist", self.base(stream));
        let tag = self.tag(Pending::Repair(stream.clone()));
        let last = (REDIS_FRAMES - 1).to_string();
        let queued = self
            .link
            .command(&["LRANGE", hist.as_str(), "0", last.as_str()], tag);
        if queued.is_err() {
            self.pending.remove(&tag);
        }
        if let Some(t) = self.tracks.get_mut(stream) {
            t.busy = queued.is_ok();
        }
    }

    pub(super) fn on_sync(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        result: Result<Reply, CommandError>,
        now: Time,
    ) {
        let meta = parse_meta(result);
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        let Some((epoch, seq)) = meta else {
            // Redis went away again; the next `Subscribed` syncs.
            return;
        };
        let mut needs_repair = false;
        let mut preload = false;
        // Redis is behind this node in the same epoch: it came back with older data than
        // it acknowledged.
        let mut raise = false;
        match (&t.epoch, epoch) {
            (_, None) => {
                // No state in Redis: nothing published yet, or lost. Numbering starts
                // with the first frame's epoch.
                if t.epoch.take().is_some() {
                    t.last = 0;
                    sync_channel(hub, stream, 0, true);
                }
            }
            (None, Some(e)) if !t.synced => {
                // First sync: this node starts here, or with the first frame that came
                // since it subscribed, if that is earlier.
                let first_held = t
                    .held
                    .iter()
                    .find(|(_, (epoch, _))| *epoch == e)
                    .map(|(s, _)| s.saturating_sub(1));
                t.last = first_held.map_or(seq, |f| f.min(seq));
                t.epoch = Some(e);
                if let Stream::Channel(_) = stream {
                    // A channel new here is filled with the frames Redis keeps, so
                    // catch-up, recovery by position and history work as on the
                    // nodes that had it (a node started later catches up).
                    preload = true;
                }
            }
            (Some(known), Some(e)) if *known == e => {
                needs_repair = seq > t.last;
                raise = seq < t.last;
            }
            (_, Some(e)) => {
                // Another epoch: Redis lost the stream; what the new one holds is read.
                t.epoch = Some(e);
                t.last = 0;
                sync_channel(hub, stream, 0, true);
                needs_repair = seq > 0;
            }
        }
        t.synced = true;
        if raise {
            let last = t.last;
            self.raise_floor(stream, last);
        }
        if preload {
            self.preload(hub, stream);
        } else if needs_repair {
            self.repair(stream);
        } else {
            self.drain_held(hub, stream, true, now);
        }
    }

    /// Raises `stream`'s last sequence number in Redis to `last`, the one this node saw,
    /// if Redis still has this node's epoch and a lower one: so no node's next publish
    /// reuses a number already delivered (they would drop it as a duplicate).
    fn raise_floor(&mut self, stream: &Stream, last: u64) {
        let Some(epoch) = self.tracks.get(stream).and_then(|t| t.epoch.clone()) else {
            return;
        };
        crate::log!(
            Warning,
            "redis is behind this node on a stream (restarted with older data): \
             raising its sequence number to {last}"
        );
        let base = self.base(stream);
        let tag = self.tag(Pending::Write);
        let floor = SeqFloor {
            epoch: &epoch,
            seq: last,
        };
        if self
            .publish
            .raise_floor(&self.link, &base, floor, tag)
            .is_err()
        {
            self.pending.remove(&tag);
        }
    }

    /// Reads a channel's stored frames to fill it here ([`Pending::Preload`]).
    pub(super) fn preload(&mut self, hub: &mut Hub, stream: &Stream) {
        let hist = format!("{}:hist", self.base(stream));
        let tag = self.tag(Pending::Preload(stream.clone()));
        let last = (REDIS_FRAMES - 1).to_string();
        let queued = self
            .link
            .command(&["LRANGE", hist.as_str(), "0", last.as_str()], tag);
        match (queued, self.tracks.get_mut(stream)) {
            (Ok(()), Some(t)) => t.busy = true,
            (_, t) => {
                self.pending.remove(&tag);
                if let Some(t) = t {
                    sync_channel(hub, stream, t.last, false);
                }
            }
        }
    }

    pub(super) fn on_preload(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        result: Result<Reply, CommandError>,
        now: Time,
    ) {
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        let (top, epoch) = (t.last, t.epoch.clone().unwrap_or_default());
        if let Stream::Channel(name) = stream {
            let hist: Vec<Vec<u8>> = result
                .ok()
                .and_then(|r| r.into_array().ok())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.into_bulk().ok())
                .collect();
            let mut frames = stored_frames(&hist, &epoch);
            frames.retain(|(seq, _, _)| *seq <= top);
            hub.preload_frames(name, top, frames);
            hub.sync_position(name, top, false);
        }
        self.drain_held(hub, stream, true, now);
    }

    pub(super) fn on_repair(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        result: Result<Reply, CommandError>,
        now: Time,
    ) {
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.busy = false;
        if let Some(frames) = result.ok().and_then(|r| r.into_array().ok()) {
            self.repairs.gaps += 1;
            for f in frames {
                let Ok(bytes) = f.into_bulk() else { continue };
                let Some(frame) = PublishedFrame::parse(&bytes) else {
                    continue;
                };
                if frame.seq > t.last && t.epoch.as_deref() == Some(frame.epoch) {
                    if let Entry::Vacant(slot) = t.held.entry(frame.seq) {
                        slot.insert((frame.epoch.to_string(), frame.payload.to_vec()));
                        self.repairs.frames += 1;
                    }
                }
            }
        }
        // What the stored frames do not hold is lost: delivered past, not repaired again.
        self.drain_held(hub, stream, false, now);
    }

    /// Processes the held frames in order; `may_repair`: a gap starts a repair (else the
    /// missing frames are counted lost).
    pub(super) fn drain_held(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        may_repair: bool,
        now: Time,
    ) {
        loop {
            let Some(t) = self.tracks.get_mut(stream) else {
                return;
            };
            if t.busy {
                return;
            }
            let Some((seq, (epoch, payload))) = t.held.pop_first() else {
                return;
            };
            self.on_frame(hub, stream, seq, epoch, payload, may_repair, now);
        }
    }

    /// One frame of `stream`, live or held: delivered, dropped, or held for a repair.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_frame(
        &mut self,
        hub: &mut Hub,
        stream: &Stream,
        seq: u64,
        epoch: String,
        payload: Vec<u8>,
        may_repair: bool,
        now: Time,
    ) {
        let Some(t) = self.tracks.get_mut(stream) else {
            return;
        };
        t.heard = true;
        if !t.synced || t.busy {
            if t.held.len() < MAX_HELD {
                t.held.insert(seq, (epoch, payload));
            }
            return;
        }
        if t.epoch.as_deref() != Some(epoch.as_str()) {
            // A stream's first frame, or Redis lost the stream and numbers it anew.
            let restarted = t.epoch.is_some();
            t.epoch = Some(epoch.clone());
            t.last = 0;
            if restarted {
                sync_channel(hub, stream, 0, true);
            }
        }
        if seq <= t.last {
            return; // a duplicate
        }
        if seq > t.last + 1 && may_repair {
            t.held.insert(seq, (epoch, payload));
            self.repair(stream);
            return;
        }
        self.repairs.lost += seq - t.last - 1;
        t.last = seq;
        match unwrap_message(&payload) {
            Some((_, msg)) => {
                hub.apply_published(stream, &msg, seq, now);
            }
            None => crate::log!(Warning, "a frame from redis whose message is not ours"),
        }
    }
}

/// `HMGET meta e s` read: the epoch (none: Redis has no state) and the last sequence
/// number; `None` if Redis did not answer.
pub(super) fn parse_meta(result: Result<Reply, CommandError>) -> Option<(Option<String>, u64)> {
    result.ok().and_then(|r| r.into_array().ok()).map(|items| {
        let mut it = items
            .into_iter()
            .map(|i| i.into_optional_bulk().ok().flatten());
        let epoch = it.next().flatten().and_then(|e| String::from_utf8(e).ok());
        let seq = it
            .next()
            .flatten()
            .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u64>().ok());
        (epoch, seq.unwrap_or(0))
    })
}

/// A published payload, `{"t": micros, "m": message}`, split.
pub(super) fn unwrap_message(payload: &[u8]) -> Option<(Time, Map<String, Value>)> {
    match serde_json::from_slice::<Value>(payload).ok()? {
        Value::Object(mut wire) => {
            let t = wire.get("t").and_then(Value::as_u64).unwrap_or(0);
            match wire.remove("m") {
                Some(Value::Object(msg)) => Some((Time(t), msg)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The stored frames of one epoch (as `LRANGE` gives them, newest first) as
/// `(seq, time, message)`, oldest first.
pub(super) fn stored_frames(hist: &[Vec<u8>], epoch: &str) -> Vec<(u64, Time, Map<String, Value>)> {
    let mut frames: Vec<_> = hist
        .iter()
        .filter_map(|bytes| {
            let f = PublishedFrame::parse(bytes)?;
            if f.epoch != epoch {
                return None;
            }
            let (t, msg) = unwrap_message(f.payload)?;
            Some((f.seq, t, msg))
        })
        .collect();
    frames.sort_by_key(|(seq, _, _)| *seq);
    frames.dedup_by_key(|(seq, _, _)| *seq);
    frames
}

/// Tells the hub where a channel's numbering stands (user streams have no positions).
pub(super) fn sync_channel(hub: &mut Hub, stream: &Stream, seq: u64, new_epoch: bool) {
    if let Stream::Channel(name) = stream {
        hub.sync_position(name, seq, new_epoch);
    }
}
