//! Admin sessions and CSRF tokens: values signed with HMAC-SHA256 under `cookie_secret`,
//! each carrying its own expiry, so the server keeps no session table and a restart with
//! the same `cookie_secret` keeps admins signed in. Pure: `now` (Unix seconds) and the
//! nonce are arguments.
//!
//! * Session cookie: `v1.USER.EXPIRES.NONCE.MAC`, USER in URL-safe base64, MAC =
//!   HMAC-SHA256(key, "session|" + the part before it). Valid until EXPIRES.
//! * Its CSRF token (the `X-CSRF-Token` header the pages send): HMAC-SHA256(key, "csrf|" +
//!   the session value), so it is bound to one session and useless without its cookie.
//! * The sign-in form's token (field `csrf_token`): `EXPIRES.NONCE.MAC`, sent both as a
//!   cookie and as the hidden field; a POST must carry the same valid value in both
//!   (double submit), which a page on another site cannot do.
//!
//! Every comparison of a MAC goes through `Mac::verify_slice` (constant time).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "channelstream_admin";
/// The sign-in form token's cookie name.
pub const FORM_COOKIE: &str = "channelstream_form";
/// How long a session lasts after sign-in: a working day. The reference's lasts 30 days;
/// a stolen cookie should be worth less than that.
pub const SESSION_LIFETIME: u64 = 12 * 3600;
/// How long a sign-in form stays usable after it was served.
pub const FORM_LIFETIME: u64 = 3600;

/// Why a session cookie was refused. All of them mean "not signed in".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// Not `v1.USER.EXPIRES.NONCE.MAC`.
    Malformed,
    /// The MAC does not match: forged, altered, or signed under another `cookie_secret`.
    BadSignature,
    /// Past its expiry.
    Expired,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed session cookie",
            Self::BadSignature => "session cookie signature does not match",
            Self::Expired => "session expired",
        })
    }
}

impl std::error::Error for SessionError {}

/// A verified session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The admin user it was issued to.
    pub user: String,
    /// Unix second it expires at.
    pub expires: u64,
}

/// The HMAC key derived from `cookie_secret`.
#[derive(Clone)]
pub struct Keys {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)") // never print key material
    }
}

impl Keys {
    /// Keys for `cookie_secret`.
    pub fn new(cookie_secret: &str) -> Keys {
        Keys {
            // HMAC takes keys of any length.
            mac: Hmac::<Sha256>::new_from_slice(cookie_secret.as_bytes())
                .unwrap_or_else(|_| unreachable!()),
        }
    }

    fn keyed(&self, purpose: &str, data: &str) -> Hmac<Sha256> {
        let mut m = self.mac.clone();
        m.update(purpose.as_bytes());
        m.update(b"|");
        m.update(data.as_bytes());
        m
    }

    fn tag(&self, purpose: &str, data: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.keyed(purpose, data).finalize().into_bytes())
    }

    /// Whether `tag` (base64) is the MAC of `data` for `purpose`, in constant time.
    fn verify(&self, purpose: &str, data: &str, tag: &str) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        self.keyed(purpose, data).verify_slice(&bytes).is_ok()
    }

    /// A session cookie value for `user`, valid for [`SESSION_LIFETIME`] from `now`.
    pub fn issue_session(&self, user: &str, now: u64, nonce: u64) -> String {
        let body = format!(
            "v1.{}.{}.{nonce:x}",
            URL_SAFE_NO_PAD.encode(user),
            now.saturating_add(SESSION_LIFETIME)
        );
        let tag = self.tag("session", &body);
        format!("{body}.{tag}")
    }

    /// The session a cookie value stands for, if it is ours, intact and not expired.
    pub fn verify_session(&self, value: &str, now: u64) -> Result<Session, SessionError> {
        let (body, tag) = value.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let parts: Vec<&str> = body.split('.').collect();
        let [version, user, expires, _nonce] = parts[..] else {
            return Err(SessionError::Malformed);
        };
        if version != "v1" {
            return Err(SessionError::Malformed);
        }
        if !self.verify("session", body, tag) {
            return Err(SessionError::BadSignature);
        }
        let expires: u64 = expires.parse().map_err(|_| SessionError::Malformed)?;
        let user = URL_SAFE_NO_PAD
            .decode(user)
            .ok()
            .and_then(|u| String::from_utf8(u).ok())
            .ok_or(SessionError::Malformed)?;
        if now >= expires {
            return Err(SessionError::Expired);
        }
        Ok(Session { user, expires })
    }

    /// The CSRF token bound to the session cookie value `session`.
    pub fn csrf_token(&self, session: &str) -> String {
        self.tag("csrf", session)
    }

    /// Whether `token` is the CSRF token of `session`, in constant time.
    pub fn check_csrf(&self, session: &str, token: &str) -> bool {
        self.verify("csrf", session, token)
    }

    /// A sign-in form token, valid for [`FORM_LIFETIME`] from `now`.
    pub fn issue_form_token(&self, now: u64, nonce: u64) -> String {
        let body = format!("{}.{nonce:x}", now.saturating_add(FORM_LIFETIME));
        let tag = self.tag("form", &body);
        format!("{body}.{tag}")
    }

    /// Whether a sign-in form token is ours and not expired.
    pub fn check_form_token(&self, token: &str, now: u64) -> bool {
        let Some((body, tag)) = token.rsplit_once('.') else {
            return false;
        };
        let Some((expires, _nonce)) = body.split_once('.') else {
            return false;
        };
        self.verify("form", body, tag) && expires.parse::<u64>().is_ok_and(|e| now < e)
    }

    /// Whether `given` equals `expected`, in time that does not depend on where they
    /// differ: both are MACed and the MACs compared with `verify_slice`.
    pub fn same_secret(&self, given: &str, expected: &str) -> bool {
        let want = self.keyed("compare", expected).finalize().into_bytes();
        self.keyed("compare", given).verify_slice(&want).is_ok()
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (`a=b; c=d`).
pub fn cookie<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_session_verifies_until_it_expires() {
        let keys = Keys::new("cookie secret");
        let value = keys.issue_session("admin", NOW, 7);
        let want = Session {
            user: "admin".into(),
            expires: NOW + SESSION_LIFETIME,
        };
        assert_eq!(keys.verify_session(&value, NOW), Ok(want.clone()));
        assert_eq!(
            keys.verify_session(&value, NOW + SESSION_LIFETIME - 1),
            Ok(want)
        );
        assert_eq!(
            keys.verify_session(&value, NOW + SESSION_LIFETIME),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn forged_altered_and_foreign_sessions_are_refused() {
        let keys = Keys::new("cookie secret");
        let value = keys.issue_session("admin", NOW, 7);
        let other = Keys::new("another secret").issue_session("admin", NOW, 7);
        let later = value.replacen(
            &(NOW + SESSION_LIFETIME).to_string(),
            &(NOW + 10 * SESSION_LIFETIME).to_string(),
            1,
        );
        let cases: &[(&str, &str, SessionError)] = &[
            ("other secret", &other, SessionError::BadSignature),
            ("expiry pushed later", &later, SessionError::BadSignature),
            ("empty", "", SessionError::Malformed),
            ("no mac", "v1.YWRtaW4.1.1", SessionError::Malformed),
            (
                "v2",
                &value.replacen("v1", "v2", 1),
                SessionError::Malformed,
            ),
            (
                "mac cut",
                &value[..value.len() - 2],
                SessionError::BadSignature,
            ),
            ("junk", "a.b.c.d.e", SessionError::Malformed),
        ];
        for (name, v, want) in cases {
            assert_eq!(keys.verify_session(v, NOW), Err(*want), "{name}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let keys = Keys::new("k");
        let a = keys.issue_session("admin", NOW, 1);
        let b = keys.issue_session("admin", NOW, 2);
        let token = keys.csrf_token(&a);
        assert!(keys.check_csrf(&a, &token));
        assert!(!keys.check_csrf(&b, &token));
        assert!(!keys.check_csrf(&a, ""));
        assert!(!keys.check_csrf(&a, "not base64 !"));
        assert!(!Keys::new("other").check_csrf(&a, &token));
    }

    #[test]
    fn form_tokens_expire_and_need_our_key() {
        let keys = Keys::new("k");
        let t = keys.issue_form_token(NOW, 3);
        assert!(keys.check_form_token(&t, NOW + FORM_LIFETIME - 1));
        assert!(!keys.check_form_token(&t, NOW + FORM_LIFETIME));
        assert!(!Keys::new("other").check_form_token(&t, NOW));
        for bad in ["", "1.2", "x.y.z", "99999999999.1.AAAA"] {
            assert!(!keys.check_form_token(bad, NOW), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        let keys = Keys::new("k");
        assert!(keys.same_secret("hunter2", "hunter2"));
        for other in ["hunter3", "hunter", "hunter22", "", "HUNTER2"] {
            assert!(!keys.same_secret(other, "hunter2"), "{other}");
        }
    }

    #[test]
    fn debug_output_shows_no_key_or_password() {
        let keys = Keys::new("cookie-key-material");
        assert!(!format!("{keys:?}").contains("cookie-key"));
        let config = crate::config::Config {
            admin_secret: "the-admin-password".into(),
            cookie_secret: "the-cookie-secret".into(),
            ..Default::default()
        };
        let web = format!("{:?}", crate::web::Web::new(&config));
        assert!(
            !web.contains("the-admin-password") && !web.contains("the-cookie-secret"),
            "{web}"
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let headers = vec![
            ("host".to_string(), b"x".to_vec()),
            (
                "cookie".to_string(),
                b"a=1; channelstream_admin_x=2; channelstream_admin=v1.abc".to_vec(),
            ),
        ];
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("v1.abc"));
        assert_eq!(cookie(&headers, "a"), Some("1"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
