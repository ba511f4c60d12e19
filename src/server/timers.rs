//! Deadlines of one worker's connections: a min-heap of `(deadline, key, gen)` with lazy
//! deletion. Pure: time is an argument; the worker decides what an expiry means.
//!
//! Why lazy: a connection's deadline moves on every read (idle timeout). Instead of
//! updating the heap each time, a connection keeps at most one live entry (`armed`), and a
//! popped entry only tells the worker "look at this connection now"; the connection acts
//! if its current deadline has passed (`Conn::on_timeout`), and the worker re-arms with
//! its next one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// A popped entry: connection `key` of generation `gen` asked to be looked at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Due {
    pub at: Instant,
    pub key: u32,
    pub gen: u32,
}

/// The heap of pending checks.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Timers {
    /// Schedules a check; the caller remembers `at` as the entry it considers live.
    pub(crate) fn arm(&mut self, at: Instant, key: u32, gen: u32) {
        self.heap.push(Reverse(Due { at, key, gen }));
    }

    /// How long the poll may sleep: until the earliest entry, or forever if none.
    /// `extra` is another deadline the caller has (the worker's next look at requests
    /// held by admission control).
    pub(crate) fn next_wait(&self, now: Instant, extra: Option<Instant>) -> Option<Duration> {
        let first = self.heap.peek().map(|Reverse(d)| d.at);
        let at = match (first, extra) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        // Round up to the next millisecond: epoll sleeps in whole milliseconds, and
        // waking a hair early would cost a spurious loop turn.
        let wait = at.saturating_duration_since(now);
        Some(Duration::from_millis(
            wait.as_nanos().div_ceil(1_000_000) as u64
        ))
    }

    /// Pops the next entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse(d)) if d.at <= now => self.heap.pop().map(|Reverse(d)| d),
            _ => None,
        }
    }

    /// Entries in the heap, stale ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.arm(t0 + Duration::from_millis(30), 1, 0);
        t.arm(t0 + Duration::from_millis(10), 2, 5);
        t.arm(t0 + Duration::from_millis(20), 3, 0);
        assert_eq!(t.pop_due(t0), None);
        let now = t0 + Duration::from_millis(25);
        let keys: Vec<u32> = std::iter::from_fn(|| t.pop_due(now))
            .map(|d| d.key)
            .collect();
        assert_eq!(keys, vec![2, 3]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn next_wait_is_the_earliest_of_heap_and_extra_rounded_up() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.next_wait(t0, None), None);
        assert_eq!(
            t.next_wait(t0, Some(t0 + Duration::from_millis(7))),
            Some(Duration::from_millis(7))
        );
        t.arm(t0 + Duration::from_micros(2500), 1, 0);
        assert_eq!(
            t.next_wait(t0, Some(t0 + Duration::from_secs(1))),
            Some(Duration::from_millis(3))
        );
        assert_eq!(
            t.next_wait(t0 + Duration::from_secs(9), None),
            Some(Duration::ZERO)
        );
    }
}
