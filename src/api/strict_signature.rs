//! Strict request signatures (`strict_signatures = true`): a signature that covers one
//! request and can be used once. Pure: `now` is an argument; the nonce is only checked
//! here for form, remembering it is [`super::nonce_book::NonceBook`]'s job on the hub
//! thread. The scheme is documented for users in `docs/API.md` ("Signatures").
//!
//! Header value: `v1.TIMESTAMP.NONCE.SIGNATURE`, where TIMESTAMP is Unix seconds in ASCII
//! decimal, NONCE is 16 to 64 characters of `[A-Za-z0-9_-]`, and SIGNATURE is URL-safe
//! base64 without padding of HMAC-SHA256(secret, MESSAGE) with
//!
//! ```text
//! MESSAGE = "channelstream-v1\n" METHOD "\n" TARGET "\n" TIMESTAMP "\n" NONCE "\n" BODY_HASH
//! ```
//!
//! METHOD and TARGET (path and query) exactly as on the request line, TIMESTAMP and NONCE
//! exactly as in the header, BODY_HASH the lower-case hex SHA-256 of the body bytes.

use super::signature::{check_timestamp, BadSignature};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Names this scheme inside the MAC, so a MAC can never be taken for another scheme's.
const DOMAIN: &str = "channelstream-v1";
/// The version prefix of the header value.
const VERSION: &str = "v1";
/// Shortest nonce: 16 characters of a 64-letter alphabet are 96 bits.
pub const MIN_NONCE_LEN: usize = 16;
/// Longest nonce.
pub const MAX_NONCE_LEN: usize = 64;

/// A nonce to record, as the hub thread's [`NonceBook`](super::nonce_book::NonceBook)
/// keeps it: a digest instead of the text, so each entry has the same small size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceClaim {
    /// The first 16 bytes of SHA-256 of the nonce text.
    pub key: [u8; 16],
    /// The last Unix second in which the signature is accepted; the nonce must be
    /// remembered until then.
    pub expires: u64,
}

/// What a strict signature covers, taken from the request.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    /// The method as on the request line.
    pub method: &'a str,
    /// The request target (path and query) as on the request line.
    pub target: &'a str,
    /// The body bytes (after chunked decoding).
    pub body: &'a [u8],
}

/// Verifies (and, for tests and tools, makes) strict signatures for one secret.
#[derive(Clone)]
pub struct StrictSigner {
    /// HMAC state with the key already absorbed; cloned for each request.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for StrictSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StrictSigner(..)") // never print key material
    }
}

impl StrictSigner {
    /// A signer keyed with the bytes of `secret`.
    pub fn new(secret: &str) -> StrictSigner {
        StrictSigner {
            // HMAC accepts keys of any length.
            mac: <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                .unwrap_or_else(|_| unreachable!()),
        }
    }

    fn mac_of(&self, req: Signed<'_>, timestamp: &str, nonce: &str) -> Hmac<Sha256> {
        let body_hash = Sha256::digest(req.body);
        let mut hex = [0u8; 64];
        for (i, b) in body_hash.iter().enumerate() {
            hex[2 * i] = HEX[usize::from(b >> 4)];
            hex[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        let mut mac = self.mac.clone();
        for part in [DOMAIN, req.method, req.target, timestamp, nonce] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac.update(&hex);
        mac
    }

    /// The header value for `req` at Unix time `timestamp` with `nonce` (which the caller
    /// must make unique and of the allowed form).
    pub fn sign(&self, req: Signed<'_>, timestamp: u64, nonce: &str) -> String {
        let timestamp = timestamp.to_string();
        let mac = self.mac_of(req, &timestamp, nonce).finalize().into_bytes();
        format!(
            "{VERSION}.{timestamp}.{nonce}.{}",
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// Checks header value `token` for `req` at Unix time `now`: its form, its MAC (in
    /// constant time), its age (at most `max_age`) and that it is not more than
    /// [`MAX_CLOCK_SKEW`](super::signature::MAX_CLOCK_SKEW) ahead. Returns the nonce to
    /// record; a reuse is only found by the book.
    pub fn verify(
        &self,
        token: &[u8],
        req: Signed<'_>,
        now: u64,
        max_age: u64,
    ) -> Result<NonceClaim, BadSignature> {
        let token = std::str::from_utf8(token).map_err(|_| BadSignature::NotStrict)?;
        let mut parts = token.split('.');
        let (Some(VERSION), Some(timestamp), Some(nonce), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(BadSignature::NotStrict);
        };
        let ts = parse_timestamp(timestamp).ok_or(BadSignature::MalformedTimestamp)?;
        if !is_nonce(nonce) {
            return Err(BadSignature::MalformedNonce);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| BadSignature::Mismatch)?;
        self.mac_of(req, timestamp, nonce)
            .verify_slice(&sig)
            .map_err(|_| BadSignature::Mismatch)?;
        check_timestamp(ts, now, Some(max_age))?;
        let digest = Sha256::digest(nonce.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Ok(NonceClaim {
            key,
            expires: ts.saturating_add(max_age),
        })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// ASCII decimal digits only (no sign, no spaces), fitting in a `u64`.
fn parse_timestamp(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// 16 to 64 characters of `[A-Za-z0-9_-]` (what Python's `secrets.token_urlsafe` makes).
fn is_nonce(s: &str) -> bool {
    (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::signature::MAX_CLOCK_SKEW;

    const CONNECT: Signed<'static> = Signed {
        method: "POST",
        target: "/connect",
        body: br#"{"username": "alice"}"#,
    };
    const NONCE: &str = "nonce-0123456789abcdef";
    const TIME: u64 = 1_700_000_000;

    // Computed once with the function in docs/API.md ("Signatures"), Python 3.11:
    //   channelstream_signature("secret", "POST", "/connect", '{"username": "alice"}',
    //                           timestamp=1700000000, nonce="nonce-0123456789abcdef")
    const PY_HEADER: &str =
        "v1.1700000000.nonce-0123456789abcdef.47zWcW4c4ScqjSNt9Qgw9d88jDBwiJKfcCnfGSnHYGE";

    #[test]
    fn signs_exactly_as_the_documented_python_function() {
        let signer = StrictSigner::new("secret");
        assert_eq!(signer.sign(CONNECT, TIME, NONCE), PY_HEADER);
        assert!(signer
            .verify(PY_HEADER.as_bytes(), CONNECT, TIME, 60)
            .is_ok());
    }

    #[test]
    fn a_valid_signature_yields_its_nonce_digest_and_expiry() {
        let signer = StrictSigner::new("secret");
        let header = signer.sign(CONNECT, TIME, NONCE);
        let claim = signer.verify(header.as_bytes(), CONNECT, TIME + 10, 60);
        let claim = claim.expect("valid");
        assert_eq!(claim.expires, TIME + 60);
        let other = signer.sign(CONNECT, TIME, "another-nonce-0123456789");
        let other = signer.verify(other.as_bytes(), CONNECT, TIME, 60);
        assert_ne!(other.expect("valid").key, claim.key, "nonces differ");
    }

    #[test]
    fn anything_signed_for_another_request_or_time_is_refused() {
        let signer = StrictSigner::new("secret");
        let header = signer.sign(CONNECT, TIME, NONCE);
        let other_body = Signed {
            body: br#"{"username": "mallory"}"#,
            ..CONNECT
        };
        let other_path = Signed {
            target: "/message",
            ..CONNECT
        };
        let other_query = Signed {
            target: "/connect?x=1",
            ..CONNECT
        };
        let other_method = Signed {
            method: "PATCH",
            ..CONNECT
        };
        let cases: &[(&str, Signed<'_>, u64, BadSignature)] = &[
            ("another body", other_body, TIME, BadSignature::Mismatch),
            ("another path", other_path, TIME, BadSignature::Mismatch),
            ("another query", other_query, TIME, BadSignature::Mismatch),
            ("another method", other_method, TIME, BadSignature::Mismatch),
            ("stale", CONNECT, TIME + 61, BadSignature::Expired),
            (
                "from the future",
                CONNECT,
                TIME - MAX_CLOCK_SKEW - 1,
                BadSignature::FromTheFuture,
            ),
        ];
        for (name, req, now, want) in cases {
            assert_eq!(
                signer.verify(header.as_bytes(), *req, *now, 60),
                Err(*want),
                "{name}"
            );
        }
        let wrong_key = StrictSigner::new("not the secret").sign(CONNECT, TIME, NONCE);
        assert_eq!(
            signer.verify(wrong_key.as_bytes(), CONNECT, TIME, 60),
            Err(BadSignature::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused_before_any_mac() {
        let signer = StrictSigner::new("secret");
        let sig = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let cases: &[(&str, String, BadSignature)] = &[
            (
                "itsdangerous token",
                "channelstream.ZVPxAA.UB9ITnnv9UITu0ka92WJCn1VFsQ".into(),
                BadSignature::NotStrict,
            ),
            ("empty", String::new(), BadSignature::NotStrict),
            (
                "other version",
                format!("v2.{TIME}.{NONCE}.{sig}"),
                BadSignature::NotStrict,
            ),
            (
                "extra part",
                format!("v1.{TIME}.{NONCE}.{sig}.x"),
                BadSignature::NotStrict,
            ),
            (
                "signed timestamp",
                format!("v1.+{TIME}.{NONCE}.{sig}"),
                BadSignature::MalformedTimestamp,
            ),
            (
                "timestamp past u64",
                format!("v1.99999999999999999999.{NONCE}.{sig}"),
                BadSignature::MalformedTimestamp,
            ),
            (
                "short nonce",
                format!("v1.{TIME}.{}.{sig}", &NONCE[..15]),
                BadSignature::MalformedNonce,
            ),
            (
                "long nonce",
                format!("v1.{TIME}.{}.{sig}", "n".repeat(65)),
                BadSignature::MalformedNonce,
            ),
            (
                "nonce outside the alphabet",
                format!("v1.{TIME}.nonce+0123456789abcdef.{sig}"),
                BadSignature::MalformedNonce,
            ),
            (
                "padded signature",
                format!("v1.{TIME}.{NONCE}.{sig}="),
                BadSignature::Mismatch,
            ),
        ];
        for (name, token, want) in cases {
            assert_eq!(
                signer.verify(token.as_bytes(), CONNECT, TIME, 60),
                Err(*want),
                "{name}"
            );
        }
        assert_eq!(
            signer.verify(b"v1.\xff", CONNECT, TIME, 60),
            Err(BadSignature::NotStrict),
            "not UTF-8"
        );
    }

    #[test]
    fn nonce_lengths_at_the_bounds_are_accepted() {
        let signer = StrictSigner::new("secret");
        for nonce in ["a".repeat(MIN_NONCE_LEN), "Z_-9".repeat(MAX_NONCE_LEN / 4)] {
            let header = signer.sign(CONNECT, TIME, &nonce);
            assert!(
                signer.verify(header.as_bytes(), CONNECT, TIME, 60).is_ok(),
                "{nonce}"
            );
        }
    }
}
