//! Incremental UTF-8 validation for text that arrives in pieces (frames, fragments, partial
//! reads). Owns only the state of one partly seen code point; never holds message bytes.

/// The input can no longer become valid UTF-8, whatever follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

/// Validates UTF-8 fed in arbitrary pieces and fails as soon as one byte makes the input
/// invalid, even mid-frame: Autobahn (6.4.x) checks that a server gives up before the rest
/// of a bad message arrives. `std::str::from_utf8` checks the bulk of each piece; the state
/// machine here carries a code point cut by a piece boundary over to the next piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Continuation bytes the current code point still needs (0 between code points).
    need: u8,
    /// Inclusive range allowed for the next byte of the current code point. RFC 3629 §4
    /// narrows the byte after E0, ED, F0 and F4 to rule out overlong forms, surrogates and
    /// code points past U+10FFFF; every later continuation byte is 80..=BF.
    lo: u8,
    /// See `lo`.
    hi: u8,
}

impl Default for Utf8Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Utf8Validator {
            need: 0,
            lo: 0x80,
            hi: 0xBF,
        }
    }

    /// Checks the next piece of the text. After an error the validator is meaningless.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Utf8Error> {
        while self.need > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.step(b)?;
            bytes = rest;
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // `error_len` is `None` only when the piece ends inside a code point that could
            // still be completed: carry that tail over in the state machine.
            Err(e) if e.error_len().is_none() => {
                let tail = bytes.get(e.valid_up_to()..).unwrap_or_default();
                tail.iter().try_for_each(|&b| self.step(b))
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Whether the text fed so far ends on a code point boundary, so it may end here.
    pub fn is_complete(&self) -> bool {
        self.need == 0
    }

    /// Advances the state machine by one byte (RFC 3629 §4 syntax).
    fn step(&mut self, b: u8) -> Result<(), Utf8Error> {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Err(Utf8Error);
            }
            self.need -= 1;
            self.lo = 0x80;
            self.hi = 0xBF;
            return Ok(());
        }
        let (need, lo, hi) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(Utf8Error),
        };
        *self = Utf8Validator { need, lo, hi };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a fail-fast validator must say after seeing exactly `prefix`: an error iff no
    /// continuation can make it valid, which is when std reports an `error_len`.
    fn expected(prefix: &[u8]) -> (bool, bool) {
        match std::str::from_utf8(prefix) {
            Ok(_) => (true, true),
            Err(e) => (e.error_len().is_none(), false),
        }
    }

    /// Feeds `bytes` in pieces cut at `cuts` and returns (still possible, complete).
    fn fed(bytes: &[u8], cuts: &[usize]) -> (bool, bool) {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let cut = cut.clamp(start, bytes.len());
            if v.feed(&bytes[start..cut]).is_err() {
                return (false, false);
            }
            start = cut;
        }
        (true, v.is_complete())
    }

    /// Feeds one byte at a time through the bare state machine.
    fn stepped(bytes: &[u8]) -> (bool, bool) {
        let mut v = Utf8Validator::new();
        match bytes.iter().try_for_each(|&b| v.step(b)) {
            Ok(()) => (true, v.is_complete()),
            Err(_) => (false, false),
        }
    }

    #[test]
    fn state_machine_agrees_with_std_on_every_two_byte_input() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let input = [a, b];
                for len in 1..=2 {
                    let p = &input[..len];
                    assert_eq!(stepped(p), expected(p), "{p:02x?}");
                    assert_eq!(fed(p, &[]), expected(p), "{p:02x?} whole");
                    assert_eq!(fed(p, &[1]), expected(p), "{p:02x?} split");
                }
            }
        }
    }

    #[test]
    fn every_prefix_of_boundary_byte_strings_fails_exactly_when_std_says_it_must() {
        // Bytes at every edge of the RFC 3629 table; all strings of up to 4 of them.
        const EDGES: &[u8] = &[
            0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
            0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ];
        let n = EDGES.len();
        for code in 0..n.pow(4) {
            let s: Vec<u8> = (0..4).map(|i| EDGES[code / n.pow(i) % n]).collect();
            assert_eq!(stepped(&s), expected(&s), "{s:02x?}");
            for cut in 0..=4 {
                assert_eq!(fed(&s, &[cut]), expected(&s), "{s:02x?} cut {cut}");
            }
        }
    }

    #[test]
    fn random_texts_give_the_same_verdict_at_any_split() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let samples = ["a", "é", "€", "𝄞", "\u{10FFFF}", "\u{D7FF}", "\u{E000}"];
        for round in 0..3000 {
            let mut s = Vec::new();
            while s.len() < (next() % 64) as usize {
                s.extend_from_slice(samples[(next() % 7) as usize].as_bytes());
            }
            if round % 2 == 1 && !s.is_empty() {
                let at = (next() as usize) % s.len();
                s[at] = next() as u8; // corrupt one byte, often into invalid UTF-8
            }
            let cuts: Vec<usize> = (0..(next() % 5)).map(|_| (next() as usize) % 65).collect();
            let mut sorted = cuts.clone();
            sorted.sort_unstable();
            assert_eq!(fed(&s, &sorted), expected(&s), "{s:02x?} cuts {sorted:?}");
        }
    }

    #[test]
    fn invalid_byte_fails_at_once_not_at_the_end() {
        let mut v = Utf8Validator::new();
        assert_eq!(
            v.feed(b"ok \xE2\x82"),
            Ok(()),
            "a cut euro sign is still possible"
        );
        assert!(!v.is_complete());
        assert_eq!(
            v.feed(b"\x28"),
            Err(Utf8Error),
            "0x28 cannot continue E2 82"
        );
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xED"), Ok(()));
        assert_eq!(v.feed(b"\xA0"), Err(Utf8Error), "ED A0 starts a surrogate");
        let mut v = Utf8Validator::new();
        assert_eq!(
            v.feed(b"\xF4\x90"),
            Err(Utf8Error),
            "F4 90 is past U+10FFFF"
        );
    }
}
