//! How often one demo connection (or, for `/demo/connect`, one address) may call: a fixed
//! window per key, in a table of bounded size. Pure apart from its lock: `now` (Unix
//! seconds) is an argument.
//!
//! Why a lock on the workers and not state on the hub thread: a refused call should cost
//! the hub thread nothing, and a check is a map lookup under a lock held for that lookup.

use crate::hub::Uuid;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Who is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    /// Calls made with a demo connection's id.
    Conn(Uuid),
    /// `/demo/connect` calls from an address (they create users and connections).
    Peer(IpAddr),
}

/// Calls counted in the current window of one caller.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Unix second the window began.
    start: u64,
    calls: u32,
}

/// A fixed-window counter per [`Caller`], holding at most `max_callers` windows.
#[derive(Debug)]
pub struct RateBook {
    windows: Mutex<HashMap<Caller, Window>>,
    /// Calls allowed per window.
    per_window: u32,
    /// Window length in seconds.
    window_secs: u64,
    /// Windows kept at once. When the table is full and none has expired, new callers are
    /// refused until one does (the callers already counted are not affected), so forged
    /// connection ids cannot grow it.
    max_callers: usize,
}

impl RateBook {
    /// `per_window` calls per `window_secs` seconds for each of up to `max_callers`.
    pub fn new(per_window: u32, window_secs: u64, max_callers: usize) -> RateBook {
        RateBook {
            windows: Mutex::new(HashMap::new()),
            per_window,
            window_secs: window_secs.max(1),
            max_callers,
        }
    }

    /// Counts one call of `caller` at `now`; false if it is over its allowance (or a new
    /// caller finds the table full).
    pub fn allow(&self, caller: Caller, now: u64) -> bool {
        // A panic while the lock was held leaves counts that are still counts.
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let expired = |w: &Window| now.saturating_sub(w.start) >= self.window_secs;
        if !windows.contains_key(&caller) && windows.len() >= self.max_callers {
            windows.retain(|_, w| !expired(w));
            if windows.len() >= self.max_callers {
                return false;
            }
        }
        let w = windows.entry(caller).or_insert(Window {
            start: now,
            calls: 0,
        });
        if expired(w) {
            *w = Window {
                start: now,
                calls: 0,
            };
        }
        if w.calls >= self.per_window {
            return false;
        }
        w.calls += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn conn(n: u128) -> Caller {
        Caller::Conn(Uuid(n))
    }

    #[test]
    fn a_caller_gets_its_allowance_per_window_and_others_are_not_affected() {
        let book = RateBook::new(3, 10, 100);
        for i in 0..3 {
            assert!(book.allow(conn(1), 1000 + i), "call {i}");
        }
        assert!(!book.allow(conn(1), 1009), "fourth call in the window");
        assert!(book.allow(conn(2), 1009), "another connection");
        assert!(book.allow(Caller::Peer(Ipv4Addr::LOCALHOST.into()), 1009));
        assert!(book.allow(conn(1), 1010), "next window");
    }

    #[test]
    fn a_full_table_refuses_new_callers_until_a_window_expires() {
        let book = RateBook::new(5, 10, 2);
        assert!(book.allow(conn(1), 100));
        assert!(book.allow(conn(2), 105));
        assert!(!book.allow(conn(3), 106), "table full, nothing expired");
        assert!(book.allow(conn(1), 107), "known callers still count");
        assert!(
            book.allow(conn(3), 110),
            "conn 1's window expired and made room"
        );
        assert!(!book.allow(conn(4), 110));
    }
}
