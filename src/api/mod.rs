//! The REST layer: request -> validated command -> JSON response, one file per endpoint
//! group, plus the itsdangerous-compatible signature check and the opt-in strict one
//! (`docs/API.md`).
//!
//! Split in two halves so the hub thread does only hub work: [`Api::route`] runs on a
//! worker (authorization, JSON parsing, validation that needs no state) and yields either a
//! finished [`Response`] or a [`Command`]; [`Command::run`] runs on the hub thread against
//! the [`Hub`] (state-dependent validation, the operation, the response body).

pub mod channel_config;
pub mod connect;
pub mod datetime;
pub mod fields;
pub mod info;
pub mod listen;
pub mod message;
pub mod nonce_book;
pub mod reply;
pub mod signature;
pub mod static_files;
pub mod strict_signature;
pub mod subscribe;
pub mod user_state;

use crate::config::Config;
use crate::conn_id::ConnId;
use crate::http::{query_param, Request, Response};
use crate::hub::{Hub, Time};
use reply::{Cors, PageKind};
use serde_json::Value;
use signature::{BadSignature, Signer};
use std::net::IpAddr;
use std::sync::Arc;
use strict_signature::{NonceClaim, Signed, StrictSigner};

/// The version reported by admin info (the reference's).
pub const VERSION: &str = "0.7.1";

/// Signatures older than this are refused when `validate_requests` is on
/// (`wsgi_security.py`), and always with `strict_signatures`.
pub const MAX_SIGNATURE_AGE: u64 = 60;

/// What the worker makes of a request.
#[derive(Debug)]
pub enum Routed {
    /// Answer now.
    Respond(Response),
    /// Run on the hub thread (boxed: it travels through a channel).
    Hub(Box<Command>),
}

/// A request that needs the hub, with what its response needs from the request.
#[derive(Debug)]
pub struct Command {
    /// The operation.
    pub kind: Kind,
    /// CORS headers for rendered responses.
    pub cors: Cors,
    /// How to render exception pages.
    pub page: PageKind,
    /// The strict signature's nonce, recorded by the hub thread before the command runs
    /// ([`Command::claim_nonce`]); `None` without `strict_signatures` or a signature.
    pub nonce: Option<NonceClaim>,
}

/// The operations.
#[derive(Debug)]
pub enum Kind {
    /// `POST /connect`.
    Connect(connect::Connect),
    /// `POST /subscribe` and `POST /unsubscribe`.
    Subscribe(subscribe::Subscribe),
    /// `POST /user_state`.
    UserState(user_state::UserState),
    /// `POST|PATCH|DELETE /message`.
    Message(message::Messages),
    /// `POST /channel_config`.
    ChannelConfig(channel_config::ChannelConfigs),
    /// `/info`.
    Info(crate::hub::InfoConfig),
    /// `GET|POST /admin/admin.json`.
    Admin,
    /// `/disconnect`.
    Disconnect(crate::hub::Uuid),
    /// `GET /listen`.
    Listen(listen::Listen),
    /// `GET /ws`; `None` for a missing or malformed id (closed right after the handshake).
    Ws(Option<crate::hub::Uuid>),
    /// A demo page's call under `/demo/` (`demo = true`), checked and run as a chat user.
    Demo(Box<crate::web::demo::call::Call>),
}

/// What the hub thread does with a command's connection.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Complete the websocket handshake and send these payloads (JSON lists) as text frames.
    Upgrade(Vec<Arc<str>>),
    /// Complete the handshake, then close (1000) at once: unknown connection.
    UpgradeAndClose,
    /// A long-poll now waits in the hub; it is answered by an `Effect::Answer`.
    Waiting,
}

/// The worker half: settings it needs, with the signing key derived once.
#[derive(Debug)]
pub struct Api {
    signer: Signer,
    allow_posting_from: Vec<String>,
    allow_cors: Vec<String>,
    validate_requests: bool,
    /// `Some` with `strict_signatures`: only per-request signatures are accepted.
    strict: Option<StrictSigner>,
    enforce_https: bool,
    /// `Some` with `demo = true`: the demo chat's worker half.
    demo: Option<crate::web::demo::Demo>,
}

/// Whether a route needs the API secret.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Secret,
    /// Admin routes: without the secret, a redirect to the sign-in page.
    Admin,
}

impl Api {
    /// The worker half for `config`.
    pub fn new(config: &Config) -> Api {
        Api {
            signer: Signer::new(&config.secret),
            allow_posting_from: config.allow_posting_from.clone(),
            allow_cors: config.allow_cors.clone(),
            validate_requests: config.validate_requests,
            strict: config
                .strict_signatures
                .then(|| StrictSigner::new(&config.secret)),
            enforce_https: config.enforce_https,
            demo: config.demo.then(crate::web::demo::Demo::new),
        }
    }

    /// Authorizes, routes and validates a request (`wsgi_security.py` `APIFactory`, then
    /// the view). `now` is Unix time in seconds, for signature age.
    pub fn route(&self, req: &Request, peer: IpAddr, now: u64) -> Routed {
        let cors = reply::cors_headers(&self.allow_cors, req.header("origin"));
        let page = reply::negotiate(req.header("accept"));
        if self.enforce_https {
            // `subscribers.py`: the scheme seen by the app is never https here (no TLS),
            // so every request is refused, as the reference does behind plain HTTP.
            return Routed::Respond(reply::ssl_required(page));
        }
        let path = strip_script_name(req);
        let method = req.method.as_str();
        if path.starts_with("/static/") && matches!(method, "GET" | "HEAD") {
            // Embedded files only; any other path under /static/ is the usual 404 below.
            if let Some(file) = static_files::serve(req, path) {
                return Routed::Respond(file);
            }
        }
        // The landing page, and the demo when it is on: no signature involved.
        if let Some(routed) = crate::web::route(self.demo.as_ref(), req, path, peer, now) {
            return routed;
        }
        let (authorized, nonce) = match self.authorize(req, peer, now) {
            Ok(Caller::Anonymous) => (false, None),
            Ok(Caller::Signed(nonce)) => (true, nonce),
            Err(_) => return Routed::Respond(reply::bad_signature()),
        };
        let (access, allowed) = match path {
            "/connect" | "/subscribe" | "/unsubscribe" | "/user_state" | "/channel_config" => {
                (Access::Secret, method == "POST")
            }
            "/message" => (
                Access::Secret,
                matches!(method, "POST" | "PATCH" | "DELETE"),
            ),
            "/info" => (Access::Secret, true),
            "/admin/admin.json" => (Access::Admin, matches!(method, "GET" | "POST")),
            "/listen" => (Access::Public, method == "GET"),
            "/disconnect" => (Access::Public, true),
            _ => (Access::Public, false),
        };
        if method == "OPTIONS" {
            let mut r = Response {
                status: 200,
                headers: Vec::new(),
                body: Vec::new(),
            };
            r.headers
                .push(("Content-Type".into(), "text/plain; charset=UTF-8".into()));
            r.headers.extend(cors);
            return Routed::Respond(r);
        }
        if !allowed {
            return Routed::Respond(reply::not_found(page, path));
        }
        if !authorized {
            match access {
                Access::Secret => return Routed::Respond(reply::forbidden(page)),
                Access::Admin => {
                    let prefix = script_name(req).filter(|p| req.path().starts_with(p));
                    return Routed::Respond(reply::to_sign_in(page, prefix.unwrap_or("")));
                }
                Access::Public => {}
            }
        }
        let kind = match self.parse(req, path, method) {
            Ok(kind) => kind,
            Err(Rejection::Json) => return Routed::Respond(reply::malformed_json()),
            Err(Rejection::Invalid(errors)) => return Routed::Respond(reply::invalid(errors)),
            Err(Rejection::BadRequest(errors)) => {
                return Routed::Respond(Response::json(400, reply::pretty(&errors)))
            }
        };
        Routed::Hub(Box::new(Command {
            kind,
            cors,
            page,
            nonce,
        }))
    }

    /// [`Caller::Signed`] with a valid secret from an allowed address,
    /// [`Caller::Anonymous`] without one, `Err` for a secret that does not verify (401 on
    /// every route, as the reference's root factory runs for all of them).
    fn authorize(&self, req: &Request, peer: IpAddr, now: u64) -> Result<Caller, BadSignature> {
        // A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`.
        let ip = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        }
        .to_string();
        if !self
            .allow_posting_from
            .iter()
            .any(|a| a == "0.0.0.0" || *a == ip)
        {
            return Ok(Caller::Anonymous);
        }
        if let Some(strict) = &self.strict {
            return Self::authorize_strict(strict, req, now);
        }
        // The header wins even when empty (`headers.get(name, url_secret)`).
        let secret = match req.header("x-channelstream-secret") {
            Some(h) => h.to_vec(),
            None => query_param(req.query(), "secret")
                .unwrap_or_default()
                .into_bytes(),
        };
        if secret.is_empty() {
            return Ok(Caller::Anonymous);
        }
        let max_age = self.validate_requests.then_some(MAX_SIGNATURE_AGE);
        self.signer.verify(&secret, now, max_age)?;
        Ok(Caller::Signed(None))
    }

    /// [`Api::authorize`] with `strict_signatures`: only the header is read, and a
    /// `?secret=` without it is refused (a signature in the target cannot cover the
    /// target, and query strings end up in logs). The age limit applies even with
    /// `validate_requests` off: a nonce is only remembered for that long.
    fn authorize_strict(
        strict: &StrictSigner,
        req: &Request,
        now: u64,
    ) -> Result<Caller, BadSignature> {
        let token = match req.header("x-channelstream-secret") {
            Some(h) => h,
            None if query_param(req.query(), "secret").is_some_and(|s| !s.is_empty()) => {
                return Err(BadSignature::NotStrict)
            }
            None => &[],
        };
        if token.is_empty() {
            return Ok(Caller::Anonymous);
        }
        let signed = Signed {
            method: &req.method,
            target: &req.target,
            body: &req.body,
        };
        let claim = strict.verify(token, signed, now, MAX_SIGNATURE_AGE)?;
        Ok(Caller::Signed(Some(claim)))
    }

    fn parse(&self, req: &Request, path: &str, method: &str) -> Result<Kind, Rejection> {
        match (path, method) {
            ("/listen", _) => listen::parse_listen(req).map(Kind::Listen),
            ("/disconnect", "POST") => listen::parse_disconnect(Some(&json_body(req)?), req),
            ("/disconnect", _) => listen::parse_disconnect(None, req),
            ("/info", _) if req.body.is_empty() => Ok(Kind::Info(info::everything())),
            ("/info", _) => info::parse(&json_body(req)?).map(Kind::Info),
            ("/admin/admin.json", _) => Ok(Kind::Admin),
            ("/connect", _) => connect::parse(&json_body(req)?).map(Kind::Connect),
            ("/subscribe", _) => {
                subscribe::parse(&json_body(req)?, req, false).map(Kind::Subscribe)
            }
            ("/unsubscribe", _) => {
                subscribe::parse(&json_body(req)?, req, true).map(Kind::Subscribe)
            }
            ("/user_state", _) => user_state::parse(&json_body(req)?).map(Kind::UserState),
            ("/channel_config", _) => {
                channel_config::parse(&json_body(req)?).map(Kind::ChannelConfig)
            }
            ("/message", m) => message::parse(&json_body(req)?, m).map(Kind::Message),
            _ => Err(Rejection::Invalid(Value::Null)),
        }
    }

    /// Routes `GET /ws?conn_id=` (outside pyramid in the reference: no secret, no CORS).
    /// `None` if this is not the websocket path.
    pub fn route_ws(&self, req: &Request) -> Option<Command> {
        if req.path() != "/ws" {
            return None;
        }
        let id = query_param(req.query(), "conn_id").and_then(|s| crate::hub::Uuid::parse(&s));
        Some(Command {
            kind: Kind::Ws(id),
            cors: Vec::new(),
            page: PageKind::Plain,
            nonce: None,
        })
    }
}

/// Who the secret check says sent a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// No secret, or a request from an address not in `allow_posting_from`.
    Anonymous,
    /// A valid signature; with `strict_signatures`, the nonce the hub thread must record.
    Signed(Option<NonceClaim>),
}

/// The path with an `X-Script-Name` prefix removed (`events.py` `use_prefix`).
fn strip_script_name(req: &Request) -> &str {
    let path = req.path();
    match script_name(req) {
        Some(p) => path.strip_prefix(p).unwrap_or(path),
        None => path,
    }
}

/// The non-empty `X-Script-Name` (or `X_Script_Name`) header.
fn script_name(req: &Request) -> Option<&str> {
    req.header("x-script-name")
        .or_else(|| req.header("x_script_name"))
        .and_then(|p| std::str::from_utf8(p).ok())
        .filter(|p| !p.is_empty())
}

/// Why a request never reaches the hub.
#[derive(Debug)]
pub enum Rejection {
    /// The body is not JSON (or nests deeper than serde_json's limit of 128).
    Json,
    /// Validation failed: 422 with this error object.
    Invalid(Value),
    /// A request no client library sends (a JSONP callback that is not a name): 400 with
    /// this error object.
    BadRequest(Value),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json => f.write_str("request body is not JSON"),
            Self::Invalid(errors) => write!(f, "invalid request: {errors}"),
            Self::BadRequest(errors) => write!(f, "bad request: {errors}"),
        }
    }
}

impl std::error::Error for Rejection {}

/// The request body as JSON.
fn json_body(req: &Request) -> Result<Value, Rejection> {
    serde_json::from_slice(&req.body).map_err(|_| Rejection::Json)
}

impl Command {
    /// Runs on the hub thread. `conn` is the engine connection the request came on.
    pub fn run(self, hub: &mut Hub, conn: ConnId, now: Time) -> Outcome {
        let cors = &self.cors;
        let json = |v: Value| Outcome::Respond(reply::rendered(200, &v, cors));
        match self.kind {
            Kind::Connect(c) => json(connect::run(c, hub, now)),
            Kind::Subscribe(s) => match subscribe::run(s, hub, now) {
                Ok(v) => json(v),
                Err(e) => Outcome::Respond(reply::invalid(e)),
            },
            Kind::UserState(u) => match user_state::run(u, hub, now) {
                Ok(v) => json(v),
                Err(e) => Outcome::Respond(reply::invalid(e)),
            },
            Kind::Message(m) => {
                Outcome::Respond(reply::rendered_body(200, message::run(m, hub, now), cors))
            }
            Kind::ChannelConfig(c) => json(channel_config::run(c, hub, now)),
            // Rendered from borrowed views straight into the body: no `Value` tree of a
            // listing that may be tens of megabytes (`hub/info.rs`).
            Kind::Info(cfg) => {
                Outcome::Respond(reply::rendered(200, &hub.channels_info(&cfg), cors))
            }
            Kind::Admin => {
                Outcome::Respond(reply::rendered(200, &hub.admin_info(now, VERSION), cors))
            }
            Kind::Disconnect(id) => json(Value::Bool(hub.disconnect(id))),
            Kind::Listen(l) => listen::run_listen(l, hub, conn, now, self.page, cors.clone()),
            Kind::Ws(id) => match id.and_then(|id| hub.attach_ws(id, conn, now)) {
                Some(frames) => Outcome::Upgrade(frames),
                None => Outcome::UpgradeAndClose,
            },
            Kind::Demo(call) => call.run(hub, now, cors),
        }
    }
}

#[cfg(test)]
mod tests;
