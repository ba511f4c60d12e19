//! The nonces of strict signatures that are still valid, so that each signature is used
//! once. Owned by the hub thread, which runs every signed command one at a time: checking
//! and recording a nonce there needs no lock, and a replay racing its original on another
//! worker still meets it here. Pure: `now` (Unix seconds) is an argument.
//!
//! Bounded: at most `capacity` nonces. A nonce is forgotten only once its signature has
//! expired (after that the age check refuses the signature anyway), never to make room:
//! when the book is full of live nonces, new signed requests get 503 until the oldest
//! expire. Each entry is a 16-byte digest plus its expiry, in a hash set and an ordered
//! set: filling a book of 200 000 (the default capacity) grew RSS by 11 MB, 57 bytes a
//! nonce (release build, measured once by a throwaway program that claims 200 000
//! distinct nonces and reads `VmRSS` before and after).

use super::reply::{self, pretty};
use super::strict_signature::NonceClaim;
use super::Command;
use crate::http::Response;
use serde_json::json;
use std::collections::{BTreeSet, HashSet};

/// Why a nonce was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceRefused {
    /// Already used by a signature that is still valid: a replay. 401.
    Replayed,
    /// The signature expired between the worker's check and the hub thread's. 401.
    Expired,
    /// The book holds `capacity` live nonces; the oldest expires in `retry_after`
    /// seconds. 503.
    Full {
        /// Seconds until a place is free (at least 1).
        retry_after: u64,
    },
}

impl NonceRefused {
    /// The answer: 401 `{"request": "Bad Signature"}` for a reuse or an expired
    /// signature (as for any other bad signature), 503
    /// `{"request": "Too Many Signed Requests"}` with `Retry-After` when full.
    pub fn response(self) -> Response {
        match self {
            NonceRefused::Replayed | NonceRefused::Expired => reply::bad_signature(),
            NonceRefused::Full { retry_after } => {
                let mut r =
                    Response::json(503, pretty(&json!({"request": "Too Many Signed Requests"})));
                r.headers
                    .push(("Retry-After".into(), retry_after.to_string()));
                r
            }
        }
    }
}

/// The nonces of still-valid strict signatures.
#[derive(Debug)]
pub struct NonceBook {
    capacity: usize,
    /// Nonce digests, for the reuse check.
    seen: HashSet<[u8; 16]>,
    /// The same digests by expiry, for pruning in order.
    by_expiry: BTreeSet<(u64, [u8; 16])>,
    /// The latest `now` given: the book's clock never goes back, so a wall-clock step
    /// backwards cannot bring back a nonce that was already forgotten.
    latest: u64,
}

impl NonceBook {
    /// An empty book for at most `capacity` nonces (at least one).
    pub fn new(capacity: usize) -> NonceBook {
        NonceBook {
            capacity: capacity.max(1),
            seen: HashSet::new(),
            by_expiry: BTreeSet::new(),
            latest: 0,
        }
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records `claim` at Unix time `now`, after forgetting expired nonces. Refuses a
    /// nonce already recorded, a claim that has expired, and any claim while full.
    pub fn claim(&mut self, claim: NonceClaim, now: u64) -> Result<(), NonceRefused> {
        self.latest = self.latest.max(now);
        self.prune();
        if claim.expires < self.latest {
            return Err(NonceRefused::Expired);
        }
        if self.seen.contains(&claim.key) {
            return Err(NonceRefused::Replayed);
        }
        if self.seen.len() >= self.capacity {
            let oldest = self.by_expiry.first().map_or(self.latest, |(e, _)| *e);
            return Err(NonceRefused::Full {
                retry_after: oldest - self.latest + 1,
            });
        }
        self.seen.insert(claim.key);
        self.by_expiry.insert((claim.expires, claim.key));
        Ok(())
    }

    /// Forgets the nonces whose signatures expired before `latest`.
    fn prune(&mut self) {
        while let Some(&(expires, key)) = self.by_expiry.first() {
            if expires >= self.latest {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&key);
        }
    }
}

impl Command {
    /// On the hub thread, before [`Command::run`]: records the command's strict-signature
    /// nonce, if it has one, at Unix time `now`. `Err` is the answer instead of running.
    pub fn claim_nonce(&self, book: &mut NonceBook, now: u64) -> Result<(), Response> {
        match self.nonce {
            Some(claim) => book.claim(claim, now).map_err(NonceRefused::response),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000;

    fn nonce(n: u8, expires: u64) -> NonceClaim {
        NonceClaim {
            key: [n; 16],
            expires,
        }
    }

    #[test]
    fn a_nonce_is_accepted_once_while_it_is_valid() {
        let mut book = NonceBook::new(10);
        assert_eq!(book.claim(nonce(1, T + 60), T), Ok(()));
        assert_eq!(
            book.claim(nonce(1, T + 60), T + 1),
            Err(NonceRefused::Replayed)
        );
        assert_eq!(
            book.claim(nonce(1, T + 60), T + 60),
            Err(NonceRefused::Replayed),
            "still valid in its last second"
        );
        assert_eq!(book.claim(nonce(2, T + 60), T), Ok(()), "another nonce");
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn expired_nonces_are_pruned_and_expired_claims_refused() {
        let mut book = NonceBook::new(10);
        assert_eq!(book.claim(nonce(1, T + 60), T), Ok(()));
        assert_eq!(book.claim(nonce(2, T + 90), T), Ok(()));
        assert_eq!(book.claim(nonce(3, T + 100), T + 61), Ok(()));
        assert_eq!(book.len(), 2, "nonce 1 forgotten after its expiry");
        assert_eq!(
            book.claim(nonce(1, T + 60), T + 61),
            Err(NonceRefused::Expired),
            "a forgotten nonce cannot come back: its signature has expired"
        );
    }

    #[test]
    fn the_clock_never_goes_back_for_the_book() {
        let mut book = NonceBook::new(10);
        assert_eq!(
            book.claim(nonce(1, T + 60), T + 61),
            Err(NonceRefused::Expired)
        );
        // The wall clock steps back a minute: a claim that expired by the book's clock
        // is still refused.
        assert_eq!(book.claim(nonce(1, T + 60), T), Err(NonceRefused::Expired));
    }

    #[test]
    fn a_full_book_refuses_with_retry_after_and_keeps_every_live_nonce() {
        let mut book = NonceBook::new(2);
        assert_eq!(book.claim(nonce(1, T + 30), T), Ok(()));
        assert_eq!(book.claim(nonce(2, T + 60), T), Ok(()));
        assert_eq!(
            book.claim(nonce(3, T + 60), T + 10),
            Err(NonceRefused::Full { retry_after: 21 })
        );
        // Nothing live was forgotten to make room: both are still replays.
        assert_eq!(
            book.claim(nonce(1, T + 30), T + 10),
            Err(NonceRefused::Replayed)
        );
        assert_eq!(
            book.claim(nonce(2, T + 60), T + 10),
            Err(NonceRefused::Replayed)
        );
        // Once nonce 1 expires there is room again.
        assert_eq!(book.claim(nonce(3, T + 60), T + 31), Ok(()));
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn refusals_answer_401_bad_signature_or_503_with_retry_after() {
        for refused in [NonceRefused::Replayed, NonceRefused::Expired] {
            let r = refused.response();
            assert_eq!(r.status, 401, "{refused:?}");
            assert_eq!(r.body, b"{\n    \"request\": \"Bad Signature\"\n}");
        }
        let r = NonceRefused::Full { retry_after: 7 }.response();
        assert_eq!(r.status, 503);
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body, json!({"request": "Too Many Signed Requests"}));
        assert!(r
            .headers
            .contains(&("Retry-After".to_string(), "7".to_string())));
    }
}
