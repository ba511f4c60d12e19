//! The API secret check: a verifier for itsdangerous 1.1 `TimestampSigner(secret)` tokens
//! with default settings, as `utils.py` `DefaultSigner` uses them. Pure: `now` is an
//! argument.
//!
//! Token: `value.TIMESTAMP.SIGNATURE`. The key is `sha1("itsdangerous.Signer" + "signer" +
//! secret)` ("django-concat" derivation); SIGNATURE is HMAC-SHA1(key, "value.TIMESTAMP");
//! TIMESTAMP is the big-endian Unix time with leading zero bytes dropped. Both parts are
//! URL-safe base64 without padding. What was signed is not checked, as in the reference.
//!
//! Unlike itsdangerous, a timestamp more than [`MAX_CLOCK_SKEW`] seconds ahead of `now`
//! is refused, whatever `max_age` is: an honest signer never makes one, and without the
//! bound a token stamped years ahead is a bearer token for years even with
//! `validate_requests` on (`docs/COMPATIBILITY.md`).

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

/// Why a token was refused. All of them answer 401 `{"request": "Bad Signature"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadSignature {
    /// No `.` separator, or the signature does not decode or does not match.
    Mismatch,
    /// Signed, but without a decodable timestamp.
    MalformedTimestamp,
    /// Older than `max_age`.
    Expired,
    /// Stamped more than [`MAX_CLOCK_SKEW`] seconds after `now`.
    FromTheFuture,
    /// With `strict_signatures`: not a `v1.TIMESTAMP.NONCE.SIGNATURE` value (an
    /// itsdangerous token, say), or passed as `?secret=` instead of the header.
    NotStrict,
    /// With `strict_signatures`: a nonce that is not 16 to 64 of `[A-Za-z0-9_-]`.
    MalformedNonce,
}

/// How far ahead of our clock a signature's timestamp may be: the clock difference we
/// tolerate between the signing web app and this server. One minute, the same as the
/// reference's maximum age, so a token is never valid for longer than about two minutes.
pub const MAX_CLOCK_SKEW: u64 = 60;

/// Checks a signature's Unix timestamp `ts` against `now`: at most `max_age` seconds old
/// (when given) and at most [`MAX_CLOCK_SKEW`] seconds ahead.
pub fn check_timestamp(ts: u64, now: u64, max_age: Option<u64>) -> Result<(), BadSignature> {
    if ts > now.saturating_add(MAX_CLOCK_SKEW) {
        return Err(BadSignature::FromTheFuture);
    }
    match max_age {
        Some(max) if now.saturating_sub(ts) > max => Err(BadSignature::Expired),
        _ => Ok(()),
    }
}

/// Decodes like itsdangerous' `base64_decode` (lenient about padding and trailing bits).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Verifies (and, for tests and tools, makes) tokens for one secret.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 20],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)") // never print key material
    }
}

impl Signer {
    /// A signer for `secret`, with the key derived once.
    pub fn new(secret: &str) -> Signer {
        let mut h = Sha1::new();
        h.update(b"itsdangerous.Signer");
        h.update(b"signer");
        h.update(secret.as_bytes());
        Signer {
            key: h.finalize().into(),
        }
    }

    fn mac(&self) -> Hmac<Sha1> {
        // HMAC accepts keys of any length.
        <Hmac<Sha1> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    /// `TimestampSigner.sign(value)` at Unix time `now`.
    pub fn sign(&self, value: &str, now: u64) -> String {
        let ts = now.to_be_bytes();
        let first = ts.iter().position(|b| *b != 0).unwrap_or(ts.len());
        let signed = format!(
            "{value}.{}",
            LENIENT.encode(&ts[first..]).trim_end_matches('=')
        );
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let sig = LENIENT.encode(mac.finalize().into_bytes());
        format!("{signed}.{}", sig.trim_end_matches('='))
    }

    /// `TimestampSigner.unsign(token, max_age)` at Unix time `now`. The signature is
    /// compared in constant time. A timestamp more than [`MAX_CLOCK_SKEW`] in the future
    /// is refused, which itsdangerous does not do.
    pub fn verify(&self, token: &[u8], now: u64, max_age: Option<u64>) -> Result<(), BadSignature> {
        let dot = token
            .iter()
            .rposition(|b| *b == b'.')
            .ok_or(BadSignature::Mismatch)?;
        let (signed, sig) = (&token[..dot], &token[dot + 1..]);
        let sig = decode(sig).ok_or(BadSignature::Mismatch)?;
        let mut mac = self.mac();
        mac.update(signed);
        mac.verify_slice(&sig).map_err(|_| BadSignature::Mismatch)?;
        let dot = signed
            .iter()
            .rposition(|b| *b == b'.')
            .ok_or(BadSignature::MalformedTimestamp)?;
        let ts = decode(&signed[dot + 1..]).filter(|b| b.len() <= 8);
        let ts = ts.ok_or(BadSignature::MalformedTimestamp)?;
        let ts = ts.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
        check_timestamp(ts, now, max_age)
    }
}

/// URL-safe base64, ignoring non-ASCII bytes and stray characters as Python's
/// non-validating decoder does.
fn decode(s: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s
        .iter()
        .map(|b| match b {
            b'+' => b'-',
            b'/' => b'_',
            other => *other,
        })
        .take_while(|b| *b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        .collect();
    LENIENT.decode(clean).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // python: s = TimestampSigner('secret'); s.get_timestamp = lambda: 1700000000;
    //         s.sign('/connect')
    const PY_TOKEN: &str = "/connect.ZVPxAA.LGgz2XYmQrtshS37benqptPevTY";
    const PY_TIME: u64 = 1_700_000_000;

    #[test]
    fn signs_exactly_as_python_itsdangerous() {
        assert_eq!(Signer::new("secret").sign("/connect", PY_TIME), PY_TOKEN);
        // TimestampSigner('other secret') at time 1, value ''
        assert_eq!(
            Signer::new("other secret").sign("", 1),
            ".AQ.Emiqdtar_jwwOXJJbDiQ9rDkkRE"
        );
    }

    #[test]
    fn python_token_verifies_within_max_age_and_expires_after() {
        let s = Signer::new("secret");
        assert_eq!(
            s.verify(PY_TOKEN.as_bytes(), PY_TIME + 60, Some(60)),
            Ok(())
        );
        assert_eq!(
            s.verify(PY_TOKEN.as_bytes(), PY_TIME + 61, Some(60)),
            Err(BadSignature::Expired)
        );
        assert_eq!(
            s.verify(PY_TOKEN.as_bytes(), PY_TIME + 10_000, None),
            Ok(())
        );
    }

    #[test]
    fn future_timestamps_pass_within_the_skew_and_fail_past_it_with_or_without_max_age() {
        let s = Signer::new("secret");
        for max_age in [Some(60), None] {
            let at = |now| s.verify(PY_TOKEN.as_bytes(), now, max_age);
            assert_eq!(at(PY_TIME - MAX_CLOCK_SKEW), Ok(()), "{max_age:?}");
            assert_eq!(
                at(PY_TIME - MAX_CLOCK_SKEW - 1),
                Err(BadSignature::FromTheFuture),
                "{max_age:?}"
            );
            assert_eq!(at(0), Err(BadSignature::FromTheFuture), "{max_age:?}");
        }
        // The largest timestamp a token can carry, against the largest clock.
        let far = s.sign("x", u64::MAX);
        assert_eq!(
            s.verify(far.as_bytes(), u64::MAX, Some(60)),
            Ok(()),
            "no overflow at the top"
        );
        assert_eq!(
            s.verify(far.as_bytes(), 1_700_000_000, None),
            Err(BadSignature::FromTheFuture)
        );
    }

    #[test]
    fn wrong_secret_tampering_and_garbage_are_refused() {
        let s = Signer::new("secret");
        let cases: &[(&str, &[u8], BadSignature)] = &[
            (
                "other secret",
                b".AQ.Emiqdtar_jwwOXJJbDiQ9rDkkRE",
                BadSignature::Mismatch,
            ),
            (
                "tampered value",
                b"/connecT.ZVPxAA.LGgz2XYmQrtshS37benqptPevTY",
                BadSignature::Mismatch,
            ),
            ("no dot", b"abc", BadSignature::Mismatch),
            ("empty", b"", BadSignature::Mismatch),
            ("bad base64", b"/connect.ZVPxAA.L", BadSignature::Mismatch),
            (
                "non-ascii",
                "x.\u{e9}.\u{e9}".as_bytes(),
                BadSignature::Mismatch,
            ),
        ];
        for (name, token, want) in cases {
            assert_eq!(s.verify(token, PY_TIME, Some(60)), Err(*want), "{name}");
        }
    }

    #[test]
    fn signed_value_without_timestamp_is_malformed() {
        let s = Signer::new("secret");
        let mut mac = s.mac();
        mac.update(b"nodot");
        let sig = LENIENT.encode(mac.finalize().into_bytes());
        let token = format!("nodot.{}", sig.trim_end_matches('='));
        assert_eq!(
            s.verify(token.as_bytes(), 0, None),
            Err(BadSignature::MalformedTimestamp)
        );
    }

    /// Tokens itsdangerous 1.1 made (`get_timestamp` pinned), kept from the load
    /// generator's former signer when it moved to this one: a non-ASCII secret, a value
    /// with dots, an empty value and a five-byte timestamp.
    #[test]
    fn signs_like_itsdangerous_for_odd_secrets_values_and_times() {
        const PYTHON_TOKENS: &[(&str, &str, u64, &str)] = &[
            (
                "secret",
                "channelstream",
                1_700_000_000,
                "channelstream.ZVPxAA.UB9ITnnv9UITu0ka92WJCn1VFsQ",
            ),
            (
                "s3cr3t \u{e9}",
                "a.b",
                1,
                "a.b.AQ.Zu67xz88wqfIazs_nzuaQWxM1yg",
            ),
            (
                "secret",
                "",
                4_102_444_800,
                ".9IZXAA.OmDtOTYL8PQkC_DRyevNhD51ib0",
            ),
        ];
        for &(secret, value, ts, token) in PYTHON_TOKENS {
            assert_eq!(
                Signer::new(secret).sign(value, ts),
                token,
                "{secret:?} {value:?}"
            );
        }
    }
}
