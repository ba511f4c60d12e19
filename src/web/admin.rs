//! The admin pages: sign-in (form, check, throttle), sign-out, the panel and the API
//! explorer. The routes and who may see them are decided by `Api::route`; these
//! functions render the answers. Pure apart from the throttle's mutex.
//!
//! Sign-in follows the reference's form (`sign_in.jinja2`: fields `username` and
//! `password`, both stripped of surrounding spaces as `server.py` does), plus a
//! `csrf_token` field that must match the form cookie, a refusal while `admin_secret` has
//! its default value, and answers to wrong passwords held back by [`super::sign_in_guard`].

use super::page::{self, html, redirect, render};
use super::session::{self, FORM_COOKIE, FORM_LIFETIME, SESSION_COOKIE, SESSION_LIFETIME};
use super::sign_in_guard::Verdict;
use super::{Web, WebReply};
use crate::http::{query_param, Request};
use std::net::IpAddr;
use std::time::Duration;

/// Shown after a wrong user name or password.
pub const WRONG_PASSWORD: &str = "Wrong user name or password.";
/// Shown when the form token is missing, expired or not this server's.
pub const STALE_FORM: &str =
    "This form has expired or did not come from this server. Please sign in again.";
/// Shown to an address that is locked out after failed sign-ins.
pub const TOO_MANY: &str =
    "Too many failed sign-ins from your address. Wait a minute and try again.";

impl Web {
    /// `GET /admin/sign_in`: the form, with a fresh form token (field and cookie).
    pub fn sign_in_form(&self, now: u64) -> WebReply {
        WebReply::Now(self.form(200, self.disabled.unwrap_or(""), now))
    }

    /// The sign-in form with `notice`, a new form token and its cookie.
    fn form(&self, status: u16, notice: &str, now: u64) -> crate::http::Response {
        let token = self.keys.issue_form_token(now, self.next_nonce());
        let disabled = if self.disabled.is_some() {
            "disabled"
        } else {
            ""
        };
        let body = render(
            page::SIGN_IN,
            &[
                ("csrf_token", &token),
                ("notice", notice),
                ("disabled", disabled),
            ],
        );
        let mut r = html(status, body);
        r.headers
            .push(self.set_cookie(FORM_COOKIE, &token, FORM_LIFETIME));
        r
    }

    /// `POST /admin/sign_in` from `peer`. `prefix` is the (plain) `X-Script-Name` the
    /// request came under, for the redirect to the panel.
    /// `now_ms` is Unix time in milliseconds (the throttle's locks are shorter than
    /// seconds allow to express).
    pub fn sign_in(&self, req: &Request, peer: IpAddr, now_ms: u64, prefix: &str) -> WebReply {
        let now = now_ms / 1000;
        let body = std::str::from_utf8(&req.body).unwrap_or("");
        let field = |name| query_param(body, name).unwrap_or_default();
        let token = field("csrf_token");
        let cookie = session::cookie(&req.headers, FORM_COOKIE).unwrap_or("");
        let token_ok = !token.is_empty()
            && self.keys.same_secret(&token, cookie)
            && self.keys.check_form_token(&token, now);
        if !token_ok {
            return WebReply::Now(self.form(403, STALE_FORM, now));
        }
        if let Some(why) = self.disabled {
            return WebReply::Now(self.form(403, why, now));
        }
        let mut guard = self.guard.lock().unwrap_or_else(|p| p.into_inner());
        if let Verdict::Locked { wait } = guard.check(peer, now_ms) {
            let wait = wait.max(Duration::from_secs(1));
            return WebReply::After(wait, self.form(429, TOO_MANY, now));
        }
        // Both compared every time, so the time taken does not say which one was wrong.
        let user_ok = self
            .keys
            .same_secret(field("username").trim(), &self.admin_user);
        let password_ok = self
            .keys
            .same_secret(field("password").trim(), &self.admin_secret);
        if !(user_ok & password_ok) {
            let delay = guard.failed(peer, now_ms);
            drop(guard);
            crate::log!(Warning, "admin sign-in failed from {peer}");
            return WebReply::After(delay, self.form(200, WRONG_PASSWORD, now));
        }
        guard.succeeded(peer);
        drop(guard);
        crate::log!(Info, "admin signed in from {peer}");
        let value = self
            .keys
            .issue_session(&self.admin_user, now, self.next_nonce());
        WebReply::Now(redirect(
            format!("{prefix}/admin"),
            vec![
                self.set_cookie(SESSION_COOKIE, &value, SESSION_LIFETIME),
                self.set_cookie(FORM_COOKIE, "", 0),
            ],
        ))
    }

    /// `/admin/sign_out`: deletes the session cookie, back to the form. (The cookie is
    /// self-contained: a copy taken before sign-out stays valid until it expires.)
    pub fn sign_out(&self, prefix: &str) -> WebReply {
        WebReply::Now(redirect(
            format!("{prefix}/admin/sign_in"),
            vec![self.set_cookie(SESSION_COOKIE, "", 0)],
        ))
    }

    /// `GET /admin` (`template` = [`page::ADMIN`]) or `GET /api-explorer`
    /// ([`page::EXPLORER`]) for an authorized caller; `session` is its cookie value, if it
    /// came with one (an API signature works too, but then the page cannot send requests).
    pub fn admin_page(&self, template: &str, session: Option<&str>) -> WebReply {
        let csrf = session.map(|s| self.keys.csrf_token(s)).unwrap_or_default();
        WebReply::Now(html(200, render(template, &[("csrf_token", &csrf)])))
    }
}
