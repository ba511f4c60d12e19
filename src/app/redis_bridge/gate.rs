//! [`EventGate`]: bounds what the Redis link may queue for the hub thread. The link
//! hands every event to the hub thread's channel; if the hub thread falls behind (more
//! is published than this node can deliver), messages would pile up there without
//! bound. Past [`MAX_QUEUED_MESSAGES`] queued events, published messages are dropped at
//! the link instead: the stream's next frame shows the gap, which is repaired from the
//! frames Redis keeps, or counted lost beyond them (`docs/SCALING.md`). Replies and
//! subscription events always pass: each answers something the hub thread waits for, and
//! there are at most `max_pending` of them.

use crate::redis::RedisEvent;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Published messages queued for the hub thread at most.
pub const MAX_QUEUED_MESSAGES: usize = 100_000;

/// Counts events between the link thread and the hub thread.
#[derive(Clone, Debug)]
pub struct EventGate {
    queued: Arc<AtomicUsize>,
    /// Payload bytes of the published messages among them (backpressure's measure).
    bytes: Arc<AtomicUsize>,
    max: usize,
    dropped: Arc<AtomicUsize>,
}

impl Default for EventGate {
    fn default() -> Self {
        EventGate::new(MAX_QUEUED_MESSAGES)
    }
}

impl EventGate {
    /// A gate that lets at most `max` events wait, messages first to be refused.
    pub fn new(max: usize) -> EventGate {
        EventGate {
            queued: Arc::new(AtomicUsize::new(0)),
            bytes: Arc::new(AtomicUsize::new(0)),
            max,
            dropped: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// On the link thread: whether `event` may be queued (it is then counted until
    /// [`EventGate::taken`]).
    pub fn admit(&self, event: &RedisEvent) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        if let RedisEvent::Message { payload, .. } = event {
            if queued >= self.max {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            self.bytes.fetch_add(payload.len(), Ordering::AcqRel);
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// On the hub thread: admitted `event` was taken off the queue.
    pub fn taken(&self, event: &RedisEvent) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if let RedisEvent::Message { payload, .. } = event {
            let _ = self
                .bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    Some(n.saturating_sub(payload.len()))
                });
        }
    }

    /// Payload bytes of the published messages waiting.
    pub fn bytes_waiting(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Events admitted and not yet taken by the hub thread.
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Messages refused so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Reply;

    fn message() -> RedisEvent {
        RedisEvent::Message {
            channel: b"c".to_vec(),
            payload: b"1:e:{}".to_vec(),
        }
    }

    #[test]
    fn past_the_bound_messages_are_refused_and_replies_still_pass() {
        let gate = EventGate::new(2);
        assert!(gate.admit(&message()));
        assert!(gate.admit(&message()));
        assert!(!gate.admit(&message()), "two are waiting");
        let reply = RedisEvent::Reply {
            tag: 1,
            result: Ok(Reply::Integer(1)),
        };
        assert!(gate.admit(&reply), "a reply always passes");
        assert_eq!(gate.dropped(), 1);
        assert_eq!(gate.bytes_waiting(), 2 * 6, "two payloads of 6 bytes");
        gate.taken(&message());
        gate.taken(&reply);
        assert_eq!((gate.waiting(), gate.bytes_waiting()), (1, 6));
        assert!(gate.admit(&message()), "room again once the hub took some");
    }
}
