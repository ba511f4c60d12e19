//! Answers held back for a while (a refused admin sign-in), kept on the hub thread, which
//! already wakes for deadlines, so no worker and no extra thread waits. Each entry is the
//! one answer its connection waits for (a connection sends nothing more until answered),
//! so there are at most as many entries as open connections.

use crate::http::Response;
use crate::server::ConnId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One held answer; ordered by due time, then arrival.
#[derive(Debug)]
struct Held {
    due: Instant,
    seq: u64,
    conn: ConnId,
    response: Response,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The held answers, soonest first.
#[derive(Debug, Default)]
pub struct Delayed {
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Delayed {
    /// Holds `response` for `conn` until `due`.
    pub fn hold(&mut self, conn: ConnId, due: Instant, response: Response) {
        self.seq += 1;
        self.heap.push(Reverse(Held {
            due,
            seq: self.seq,
            conn,
            response,
        }));
    }

    /// When the next answer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(h)| h.due)
    }

    /// Takes every answer due at `now`, soonest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<(ConnId, Response)> {
        let mut out = Vec::new();
        while self.heap.peek().is_some_and(|Reverse(h)| h.due <= now) {
            if let Some(Reverse(h)) = self.heap.pop() {
                out.push((h.conn, h.response));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn conn(key: u32) -> ConnId {
        ConnId {
            worker: 0,
            key,
            gen: 0,
        }
    }

    #[test]
    fn answers_leave_when_due_in_due_order() {
        let t0 = Instant::now();
        let mut d = Delayed::default();
        let r = |s| Response::json(s, Vec::new());
        d.hold(conn(1), t0 + Duration::from_secs(2), r(201));
        d.hold(conn(2), t0 + Duration::from_secs(1), r(202));
        d.hold(conn(3), t0 + Duration::from_secs(1), r(203));
        assert_eq!(d.next_due(), Some(t0 + Duration::from_secs(1)));
        assert!(d.take_due(t0).is_empty());
        let due: Vec<u32> = d
            .take_due(t0 + Duration::from_millis(1500))
            .iter()
            .map(|(c, _)| c.key)
            .collect();
        assert_eq!(due, [2, 3]);
        let rest = d.take_due(t0 + Duration::from_secs(5));
        assert_eq!((rest.len(), rest[0].1.status), (1, 201));
        assert_eq!(d.next_due(), None);
    }
}
