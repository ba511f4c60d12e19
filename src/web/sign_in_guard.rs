//! Slows password guessing on `/admin/sign_in`: each address's failed sign-ins lock it
//! out for a time that doubles with every failure (1 s, 2 s, 4 s ... at most
//! [`MAX_LOCK`]), and an attempt during the lock is refused without looking at the
//! password. The wrong answer itself is sent when the lock ends (the caller delays it off
//! the worker), so an honest typo costs a second and a guesser gets about one try per lock,
//! however many connections it opens. Pure: `now` (Unix time in milliseconds) is an argument.
//!
//! Memory is bounded: at most `capacity` addresses are remembered; a full table first
//! forgets addresses quiet for [`FORGET_AFTER`], then the one whose last failure is
//! oldest. IPv6 addresses count per /64, the block one subscriber usually gets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// The longest lock, in milliseconds.
pub const MAX_LOCK: u64 = 60_000;
/// An address with no failure for this long (milliseconds) starts again from zero.
pub const FORGET_AFTER: u64 = 15 * 60_000;

/// What to do with a sign-in attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Check,
    /// Refuse without checking; answer after `wait`.
    Locked {
        /// Until the lock ends.
        wait: Duration,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: u64,
    locked_until: u64,
}

/// Failed sign-ins per address.
#[derive(Debug)]
pub struct SignInGuard {
    entries: HashMap<IpAddr, Entry>,
    capacity: usize,
}

/// The address a failure is charged to: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by /64.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// Lock after the `failures`-th failure, in milliseconds.
fn lock_for(failures: u32) -> u64 {
    (1000u64 << failures.saturating_sub(1).min(16)).min(MAX_LOCK)
}

impl SignInGuard {
    /// A guard remembering at most `capacity` addresses (at least one).
    pub fn new(capacity: usize) -> SignInGuard {
        SignInGuard {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Whether an attempt from `addr` at `now` may be checked.
    pub fn check(&self, addr: IpAddr, now: u64) -> Verdict {
        match self.entries.get(&key(addr)) {
            Some(e) if now < e.locked_until => Verdict::Locked {
                wait: Duration::from_millis(e.locked_until - now),
            },
            _ => Verdict::Check,
        }
    }

    /// Records a wrong password from `addr`; returns how long to hold the answer (the new
    /// lock).
    pub fn failed(&mut self, addr: IpAddr, now: u64) -> Duration {
        let k = key(addr);
        if !self.entries.contains_key(&k) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let e = self.entries.entry(k).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: now,
        });
        if now.saturating_sub(e.last_failure) > FORGET_AFTER {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        let lock = lock_for(e.failures);
        e.locked_until = now.saturating_add(lock);
        Duration::from_millis(lock)
    }

    /// Forgets `addr`'s failures after a correct password.
    pub fn succeeded(&mut self, addr: IpAddr) {
        self.entries.remove(&key(addr));
    }

    /// Number of addresses remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: u64) {
        self.entries
            .retain(|_, e| now.saturating_sub(e.last_failure) <= FORGET_AFTER);
        if self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_failure_doubles_the_lock_up_to_the_maximum() {
        let mut g = SignInGuard::new(8);
        let a = ip("10.0.0.1");
        let mut now = T;
        let mut locks = Vec::new();
        for _ in 0..9 {
            assert_eq!(g.check(a, now), Verdict::Check);
            let lock = g.failed(a, now);
            assert_eq!(g.check(a, now), Verdict::Locked { wait: lock });
            assert_eq!(
                g.check(a, now + 1),
                Verdict::Locked {
                    wait: lock - Duration::from_millis(1)
                }
            );
            locks.push(lock.as_secs());
            now += lock.as_millis() as u64;
        }
        assert_eq!(locks, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(g.check(ip("10.0.0.2"), now - 1), Verdict::Check);
    }

    #[test]
    fn success_and_a_quiet_quarter_hour_start_over() {
        let mut g = SignInGuard::new(8);
        let a = ip("10.0.0.1");
        g.failed(a, T);
        assert_eq!(g.failed(a, T + 1000).as_secs(), 2);
        g.succeeded(a);
        assert_eq!(g.failed(a, T + 3000).as_secs(), 1);
        assert_eq!(g.failed(a, T + 4000 + FORGET_AFTER).as_secs(), 1);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let mut g = SignInGuard::new(8);
        g.failed(ip("2001:db8:1:2::1"), T);
        assert!(matches!(
            g.check(ip("2001:db8:1:2:ffff::9"), T),
            Verdict::Locked { .. }
        ));
        assert_eq!(g.check(ip("2001:db8:1:3::1"), T), Verdict::Check);
        g.failed(ip("::ffff:10.0.0.7"), T);
        assert!(matches!(g.check(ip("10.0.0.7"), T), Verdict::Locked { .. }));
    }

    #[test]
    fn a_full_table_forgets_the_oldest_address() {
        let mut g = SignInGuard::new(3);
        for (i, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            g.failed(ip(a), T + 100 * i as u64);
        }
        g.failed(ip("10.0.0.4"), T + 300);
        assert_eq!(g.len(), 3);
        assert_eq!(g.check(ip("10.0.0.1"), T + 300), Verdict::Check);
        assert!(matches!(
            g.check(ip("10.0.0.4"), T + 300),
            Verdict::Locked { .. }
        ));
        for i in 0..1000u32 {
            g.failed(IpAddr::V4(i.into()), T + 1000);
        }
        assert_eq!(g.len(), 3);
    }
}
