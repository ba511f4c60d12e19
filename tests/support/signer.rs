//! The API signature the reference accepts: itsdangerous 1.1
//! `TimestampSigner(secret).sign(value)` with its defaults (salt "itsdangerous.Signer",
//! key derivation "django-concat", HMAC-SHA1). Written from itsdangerous' `signer.py`,
//! `timed.py` and `encoding.py`; checked against tokens Python produced.
//!
//! Independent of `channelstream::api::signature::Signer` on purpose: the differential
//! replay signs with this one, so a bug in the server's signer cannot make the server
//! agree with itself. Shipped code and the load generator use the server's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

/// `value.timestamp.signature`, each part as itsdangerous builds it.
pub fn sign(secret: &str, value: &str, unix_secs: u64) -> String {
    // int_to_bytes: big-endian, leading zero bytes stripped (0 becomes empty).
    let be = unix_secs.to_be_bytes();
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let signed = format!("{value}.{}", URL_SAFE_NO_PAD.encode(&be[first..]));
    // derive_key for "django-concat": sha1(salt + b"signer" + secret).
    let mut derive = Sha1::new();
    derive.update(b"itsdangerous.Signer");
    derive.update(b"signer");
    derive.update(secret.as_bytes());
    let key = derive.finalize();
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    let sig = mac.finalize().into_bytes();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The `X-Channelstream-Secret` value for a scenario's `sign` mode at `now`, or `None`
/// for modes that send no header ("none", "query").
pub fn header_for(mode: &str, secret: &str, now: u64) -> Option<String> {
    match mode {
        "good" => Some(sign(secret, "channelstream", now)),
        "bad" => Some(sign("not-the-secret", "channelstream", now)),
        "expired" => Some(sign(secret, "channelstream", now.saturating_sub(120))),
        "garbage" => Some("no-dots-here".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produced by itsdangerous 1.1 (`TimestampSigner` with `get_timestamp` pinned).
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

    #[test]
    fn signer_matches_tokens_made_by_itsdangerous() {
        for &(secret, value, ts, token) in PYTHON_TOKENS {
            assert_eq!(
                sign(secret, value, ts),
                token,
                "secret {secret:?} value {value:?}"
            );
        }
    }

    #[test]
    fn header_modes_differ_from_the_good_signature() {
        let good = header_for("good", "secret", 1_700_000_000).unwrap();
        for mode in ["bad", "expired", "garbage"] {
            let other = header_for(mode, "secret", 1_700_000_000).unwrap();
            assert_ne!(other, good, "mode {mode}");
        }
        assert_eq!(header_for("none", "secret", 1), None);
        assert_eq!(header_for("query", "secret", 1), None);
    }

    #[test]
    fn expired_signature_is_dated_two_minutes_back() {
        let expired = header_for("expired", "secret", 1_700_000_120).unwrap();
        assert_eq!(expired, sign("secret", "channelstream", 1_700_000_000));
    }
}
