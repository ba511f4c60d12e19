//! What a person opens in a browser: the admin sign-in, the admin panel, the API explorer
//! and the OpenAPI document. HTML templates and their scripts and styles are embedded
//! (`web/admin/*.html`, `web/static/admin/*`, the latter served by
//! [`crate::api::static_files`]); pages carry a strict Content-Security-Policy, so the
//! scripts are separate files and no inline script runs.
//!
//! Routing and authorization stay in [`crate::api::Api::route`] (one route table,
//! `api/routes.rs`); this module renders the pages and owns the admin session
//! ([`session`]) and the sign-in throttle ([`sign_in_guard`]). Pure apart from the
//! throttle's mutex: time is an argument, and a delayed answer is returned as
//! [`WebReply::After`] for the app to send later.
//!
//! Also the pages everyone may open: the landing page at `/` (`landing.rs`) and, with
//! `demo = true`, the demo chat under `/demo` (`demo/`). Their HTML, CSS and JavaScript
//! are files under `web/`, embedded in the binary; nothing is read from disk or a CDN.
//!
//! Runs on the workers, like the rest of [`crate::api`]'s routing: a page is answered at
//! once, a demo call becomes an API [`crate::api::Command`].

pub mod admin;
pub mod demo;
pub mod landing;
pub mod openapi;
pub mod page;
pub mod session;
pub mod sign_in_guard;

use crate::api::Routed;
use crate::config::Config;
use crate::http::Request;
use crate::http::Response;
use session::Keys;
use sign_in_guard::SignInGuard;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `admin_secret` the reference ships with: sign-in stays off until it is changed.
pub const DEFAULT_ADMIN_SECRET: &str = "admin_secret";

/// Addresses the sign-in throttle remembers at most (about 40 bytes each).
pub const SIGN_IN_GUARD_CAPACITY: usize = 4096;

/// An answer from a page handler.
#[derive(Debug)]
pub enum WebReply {
    /// Send now.
    Now(Response),
    /// Send after this long (a refused sign-in), without holding a worker.
    After(Duration, Response),
}

/// The admin side's settings and state, shared by the workers.
pub struct Web {
    keys: Keys,
    admin_user: String,
    admin_secret: String,
    /// Whether cookies get `Secure` (`http_scheme = https` or `enforce_https`).
    secure: bool,
    /// Why sign-in is off, if it is.
    disabled: Option<&'static str>,
    /// Shared with the `Web` a SIGHUP reload builds ([`Web::reloaded`]), so a reload does
    /// not wipe the lockouts of addresses guessing passwords.
    guard: Arc<Mutex<SignInGuard>>,
    /// Shared like `guard`, so nonces stay unique across reloads.
    nonce: Arc<AtomicU64>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password or the cookie key: `Debug` output can end up in logs.
        f.debug_struct("Web")
            .field("admin_user", &self.admin_user)
            .field("secure", &self.secure)
            .field("disabled", &self.disabled.is_some())
            .finish_non_exhaustive()
    }
}

impl Web {
    /// The admin side for `config`. `cookie_secret` must be set (the app fills an empty
    /// one with random bytes, as the reference does); while it is empty, sign-in is off,
    /// so no session can be signed with an empty key.
    pub fn new(config: &Config) -> Web {
        let disabled = if config.admin_secret.trim().is_empty()
            || config.admin_secret == DEFAULT_ADMIN_SECRET
        {
            Some(
                "Sign-in is disabled while admin_secret has its default value. Set \
                 admin_secret (ini key admin_secret, environment CHANNELSTREAM_ADMIN_SECRET \
                 or --admin-secret) and restart.",
            )
        } else if config.cookie_secret.is_empty() {
            Some("Sign-in is disabled: cookie_secret is empty. Set cookie_secret and restart.")
        } else {
            None
        };
        Web {
            keys: Keys::new(&config.cookie_secret),
            admin_user: config.admin_user.clone(),
            admin_secret: config.admin_secret.clone(),
            secure: config.http_scheme == "https" || config.enforce_https,
            disabled,
            guard: Arc::new(Mutex::new(SignInGuard::new(SIGN_IN_GUARD_CAPACITY))),
            nonce: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The admin side for `config` after a SIGHUP reload: settings from `config`, but the
    /// sign-in throttle's table (and the nonce counter) carried over from `self`, shared
    /// with it while requests routed before the reload finish. Otherwise a guesser locked
    /// out would get fresh tries with every `systemctl reload`. The throttle's limits are
    /// constants ([`SIGN_IN_GUARD_CAPACITY`], [`sign_in_guard::MAX_LOCK`]), so no setting
    /// needs applying to the carried-over table.
    pub fn reloaded(&self, config: &Config) -> Web {
        Web {
            guard: Arc::clone(&self.guard),
            nonce: Arc::clone(&self.nonce),
            ..Web::new(config)
        }
    }

    /// A value never handed out before by this process (made unguessable by the MAC it
    /// is signed under, not by itself).
    fn next_nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    /// The request's session cookie value, if it carries a valid, unexpired session.
    pub fn session<'r>(&self, headers: &'r [(String, Vec<u8>)], now: u64) -> Option<&'r str> {
        if self.disabled.is_some() {
            return None;
        }
        let value = session::cookie(headers, session::SESSION_COOKIE)?;
        self.keys.verify_session(value, now).ok().map(|_| value)
    }

    /// Whether `token` (the `X-CSRF-Token` header) belongs to the session `value`.
    pub fn csrf_ok(&self, value: &str, token: Option<&[u8]>) -> bool {
        token
            .and_then(|t| std::str::from_utf8(t).ok())
            .is_some_and(|t| self.keys.check_csrf(value, t))
    }

    /// `Set-Cookie` for `name=value` living `max_age` seconds (0: delete it).
    fn set_cookie(&self, name: &str, value: &str, max_age: u64) -> (String, String) {
        let secure = if self.secure { "; Secure" } else { "" };
        (
            "Set-Cookie".into(),
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"),
        )
    }
}

/// The landing page's and the demo's `Content-Security-Policy`: scripts, styles and
/// connections from this server only, no inline code, no plugins, no framing, no form
/// posts (the admin pages have [`page::ADMIN_CSP`]). Data shown on a
/// page is set with `textContent`; this is the second line of defence.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       connect-src 'self'; img-src 'self'; base-uri 'none'; \
                       form-action 'none'; frame-ancestors 'none'";

/// Answers `path` (the request path without any `X-Script-Name` prefix) if it is a page
/// or, with the demo on (`demo` is `Some`), a demo path; `None` for every other path.
pub fn route(
    demo: Option<&demo::Demo>,
    req: &Request,
    path: &str,
    peer: IpAddr,
    now: u64,
) -> Option<Routed> {
    if matches!(path, "/" | "") {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return None;
        }
        return Some(Routed::Respond(landing::page(demo.is_some())));
    }
    if let Some(r) = landing::serve_asset(req, path) {
        return Some(Routed::Respond(r));
    }
    demo?.route(req, path, peer, now)
}

/// An HTML page with [`CSP`], never cached (it is small, and must match the embedded
/// scripts of this build). Also the answer to `HEAD`: the engine sends only its head.
pub fn html(body: &[u8]) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/html; charset=utf-8".into()),
            ("Content-Security-Policy".into(), CSP.into()),
            ("Cache-Control".into(), "no-cache".into()),
            ("Referrer-Policy".into(), "no-referrer".into()),
        ],
        body: body.to_vec(),
    }
}
