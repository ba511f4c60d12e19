//! Pages a person opens in a browser: the landing page at `/` (`landing.rs`) and, with
//! `demo = true`, the demo chat under `/demo` (`demo/`). Their HTML, CSS and JavaScript
//! are files under `web/`, embedded in the binary; nothing is read from disk or a CDN.
//!
//! Runs on the workers, like the rest of [`crate::api`]'s routing: a page is answered at
//! once, a demo call becomes an API [`crate::api::Command`].

pub mod demo;
pub mod landing;

use crate::api::Routed;
use crate::http::{Request, Response};
use std::net::IpAddr;

/// The pages' `Content-Security-Policy`: scripts, styles and connections from this
/// server only, no inline code, no plugins, no framing, no form posts. Data shown on a
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
        let head = match req.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => return None,
        };
        return Some(Routed::Respond(landing::page(demo.is_some(), head)));
    }
    if let Some(r) = landing::serve_asset(req, path) {
        return Some(Routed::Respond(r));
    }
    demo?.route(req, path, peer, now)
}

/// An HTML page with [`CSP`], never cached (it is small, and must match the embedded
/// scripts of this build), without a body for `HEAD`.
pub fn html(body: &[u8], head: bool) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/html; charset=utf-8".into()),
            ("Content-Security-Policy".into(), CSP.into()),
            ("Cache-Control".into(), "no-cache".into()),
            ("Referrer-Policy".into(), "no-referrer".into()),
        ],
        body: if head { Vec::new() } else { body.to_vec() },
    }
}
