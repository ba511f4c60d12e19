//! The REST layer: request -> validated command -> JSON response, one file per endpoint
//! group, plus the itsdangerous-compatible signature check and the opt-in strict one
//! (`docs/API.md`).
//!
//! Split in two halves so the hub thread does only hub work: [`Api::route`] runs on a
//! worker (authorization, JSON parsing, validation that needs no state) and yields either a
//! finished [`Response`] or a [`Command`]; [`Command::run`] runs on the hub thread against
//! the [`Hub`] (state-dependent validation, the operation, the response body).

pub mod bounded_errors;
pub mod bounds;
pub mod channel_config;
pub mod connect;
pub mod datetime;
pub mod fields;
pub mod forwarded;
pub mod health;
pub mod info;
pub mod json_limits;
pub mod listed;
pub mod listen;
pub mod message;
pub mod nonce_book;
pub mod recover;
pub mod reply;
pub mod routes;
pub mod signature;
pub mod static_files;
pub mod strict_signature;
pub mod subscribe;
pub mod user_state;

use crate::config::Config;
use crate::conn_id::ConnId;
use crate::http::{query_param, Request, Response};
use crate::hub::{Hub, Time};
use forwarded::{Cidr, TrustedProxies};
use reply::{Cors, PageKind};
use routes::{Access, Handler};
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
    /// Answer after this long, without holding the worker (a refused admin sign-in).
    After(std::time::Duration, Response),
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
    /// Then the `recover` parameter ([`recover`]), or the error object of its 422.
    Ws(
        Option<crate::hub::Uuid>,
        Result<Option<crate::hub::Recover>, Value>,
    ),
    /// `GET /metrics`: rendered by the hub thread, which can read every counter
    /// (`app::metrics_page`), not by [`Command::run`].
    Metrics,
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
    /// Counts one request may hold (`max_channels_per_request`, ...).
    bounds: bounds::RequestBounds,
    /// Admin sessions, sign-in and the pages.
    web: crate::web::Web,
    /// `trusted_proxies`: whose `X-Forwarded-For`/`-Proto` count.
    trusted: TrustedProxies,
    /// `metrics`.
    metrics: bool,
    /// `metrics_allow_from`.
    metrics_allow_from: Vec<Cidr>,
    /// `Some` with `demo = true`: the demo chat's worker half (its rate counters, shared
    /// with the `Api` a reload builds: [`Api::reloaded`]).
    demo: Option<Arc<crate::web::demo::Demo>>,
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
            bounds: bounds::RequestBounds::new(config),
            web: crate::web::Web::new(config),
            trusted: TrustedProxies::new(&config.trusted_proxies),
            metrics: config.metrics,
            metrics_allow_from: config
                .metrics_allow_from
                .iter()
                .filter_map(|e| Cidr::parse(e))
                .collect(),
            demo: config.demo.then(|| Arc::new(crate::web::demo::Demo::new())),
        }
    }

    /// The worker half for `config` after a SIGHUP reload. Settings come from `config`;
    /// state that protects the server is carried over from `self` (shared, as requests
    /// routed before the swap may still be using it): the admin sign-in throttle's
    /// lockouts ([`crate::web::Web::reloaded`]) and, while the demo stays on, its
    /// per-caller rate counters. Starting them afresh would let a reload undo a lockout
    /// or a 429. A demo switched on starts with empty counters; switched off, they go.
    /// The demo's limits are constants, so the carried-over counters need no new ones.
    pub fn reloaded(&self, config: &Config) -> Api {
        let mut api = Api::new(config);
        api.web = self.web.reloaded(config);
        if let (Some(new), Some(old)) = (&mut api.demo, &self.demo) {
            *new = Arc::clone(old);
        }
        api
    }

    /// The client address of a request from `peer`: the peer itself, or what a trusted
    /// proxy says in `X-Forwarded-For` (`api::forwarded`).
    pub fn client(&self, req: &Request, peer: IpAddr) -> IpAddr {
        self.trusted.client(req, peer)
    }

    /// Authorizes, routes and validates a request (`wsgi_security.py` `APIFactory`, then
    /// the view). `now` is Unix time in seconds, for signature age.
    pub fn route(&self, req: &Request, peer: IpAddr, now: u64) -> Routed {
        self.route_at(req, peer, std::time::Duration::from_secs(now))
    }

    /// [`Api::route`] with the time to the millisecond (`unix`: since the Unix epoch),
    /// which the admin sign-in throttle needs.
    pub fn route_at(&self, req: &Request, peer: IpAddr, unix: std::time::Duration) -> Routed {
        let now = unix.as_secs();
        let cors = reply::cors_headers(&self.allow_cors, req.header("origin"));
        let page = reply::negotiate(req.header("accept"));
        let client = self.client(req, peer);
        let path = strip_script_name(req);
        let method = req.method.as_str();
        if path == "/metrics" {
            // Before `enforce_https`: Prometheus scrapes over plain http on loopback.
            return self.route_metrics(req, client, now, method, page);
        }
        if self.enforce_https && !self.trusted.https(req, peer) {
            // `subscribers.py`: we have no TLS, so only a trusted proxy's
            // `X-Forwarded-Proto: https` makes a request https; anything else is refused,
            // as the reference does behind plain HTTP.
            return Routed::Respond(reply::ssl_required(page));
        }
        if path.starts_with("/static/") && matches!(method, "GET" | "HEAD") {
            // Embedded files only; any other path under /static/ is the usual 404 below.
            if let Some(file) = static_files::serve(req, path) {
                return Routed::Respond(file);
            }
        }
        // The landing page, and the demo when it is on: no signature involved.
        if let Some(routed) = crate::web::route(self.demo.as_deref(), req, path, client, now) {
            return routed;
        }
        let (mut authorized, nonce) = match self.authorize(req, client, now) {
            Ok(Caller::Anonymous) => (false, None),
            Ok(Caller::Signed(nonce)) => (true, nonce),
            Err(_) => return Routed::Respond(reply::bad_signature()),
        };
        let route = routes::find(path);
        let (access, allowed) = match route {
            Some(r) => (r.access, r.allows(method)),
            None => (Access::Public, false),
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
        let Some(route) = route.filter(|_| allowed) else {
            return Routed::Respond(reply::not_found(page, path));
        };
        // An admin session stands in for the signature: alone for reading admin pages,
        // with its CSRF header for the API and for anything but GET (docs/API.md).
        let session = match (authorized, access) {
            (true, _) | (false, Access::Public) => None,
            (false, _) => self.web.session(&req.headers, now),
        };
        if let Some(s) = session {
            let needs_csrf = access == Access::Secret || !matches!(method, "GET" | "HEAD");
            if needs_csrf && !self.web.csrf_ok(s, req.header("x-csrf-token")) {
                return Routed::Respond(reply::bad_csrf());
            }
            authorized = true;
        }
        let prefix = script_name(req)
            .filter(|p| req.path().starts_with(p) && reply::is_plain_prefix(p))
            .unwrap_or("");
        if !authorized {
            match access {
                Access::Secret | Access::AdminNoRedirect => {
                    return Routed::Respond(reply::forbidden(page))
                }
                Access::Admin => return Routed::Respond(reply::to_sign_in(page, prefix)),
                Access::Public => {}
            }
        }
        match route.handler {
            Handler::Api => {}
            Handler::Page(p) => return self.page(p, req, client, unix, prefix, session),
            // Answered before this point (`route_ws`, the static table, health, metrics,
            // the landing page and the demo when it is on).
            Handler::Ws | Handler::Static | Handler::Early => {
                return Routed::Respond(reply::not_found(page, path));
            }
        }
        let kind = match self.parse(req, path, method) {
            Ok(kind) => kind,
            Err(Rejection::Json) => return Routed::Respond(reply::malformed_json()),
            Err(Rejection::Invalid(errors)) => return Routed::Respond(reply::invalid(errors)),
            Err(Rejection::BadRequest(errors)) => {
                return Routed::Respond(Response::json(400, reply::pretty(&errors)))
            }
            Err(Rejection::TooMany(errors)) => return Routed::Respond(reply::too_large(errors)),
        };
        Routed::Hub(Box::new(Command {
            kind,
            cors,
            page,
            nonce,
        }))
    }

    /// `GET /metrics` (and `HEAD`): 404 when `metrics = false`; from an address in
    /// `metrics_allow_from`, or with a valid API signature, the page; else 403.
    fn route_metrics(
        &self,
        req: &Request,
        client: IpAddr,
        now: u64,
        method: &str,
        page: PageKind,
    ) -> Routed {
        let allowed = routes::find("/metrics").is_some_and(|r| r.allows(method));
        if !self.metrics || !allowed {
            return Routed::Respond(reply::not_found(page, "/metrics"));
        }
        let nonce = if self.metrics_allow_from.iter().any(|c| c.contains(client)) {
            None
        } else {
            // Signed like any API call (so also only from `allow_posting_from`); a strict
            // signature's nonce is claimed on the hub thread as for other commands.
            match self.authorize(req, client, now) {
                Ok(Caller::Signed(nonce)) => nonce,
                Ok(Caller::Anonymous) => return Routed::Respond(reply::forbidden(page)),
                Err(_) => return Routed::Respond(reply::bad_signature()),
            }
        };
        Routed::Hub(Box::new(Command {
            kind: Kind::Metrics,
            cors: Vec::new(),
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
        // Every body goes through the bounds of `path` on its way to JSON.
        let json_body = |req: &Request| self.json_body(req, path);
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
            ("/message", m) => message::parse(json_body(req)?, m).map(Kind::Message),
            _ => Err(Rejection::Invalid(Value::Null)),
        }
    }

    /// Answers a page of `crate::web` for a caller already authorized for it.
    fn page(
        &self,
        p: routes::Page,
        req: &Request,
        peer: IpAddr,
        unix: std::time::Duration,
        prefix: &str,
        session: Option<&str>,
    ) -> Routed {
        use crate::web::{page, WebReply};
        let now = unix.as_secs();
        let now_ms = u64::try_from(unix.as_millis()).unwrap_or(u64::MAX);
        let reply = match (p, req.method.as_str()) {
            (routes::Page::SignIn, "POST") => self.web.sign_in(req, peer, now_ms, prefix),
            (routes::Page::SignIn, _) => self.web.sign_in_form(now),
            (routes::Page::SignOut, _) => self.web.sign_out(prefix),
            (routes::Page::Admin, _) => self.web.admin_page(page::ADMIN, session),
            (routes::Page::Explorer, _) => self.web.admin_page(page::EXPLORER, session),
            (routes::Page::OpenApi, _) => WebReply::Now(crate::web::openapi::response()),
        };
        match reply {
            WebReply::Now(r) => Routed::Respond(r),
            WebReply::After(delay, r) => Routed::After(delay, r),
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
            kind: Kind::Ws(id, recover::parse_recover(req)),
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
    /// More items than the config allows (`bounds`): 413 with this error object.
    TooMany(Value),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json => f.write_str("request body is not JSON"),
            Self::Invalid(errors) => write!(f, "invalid request: {errors}"),
            Self::BadRequest(errors) => write!(f, "bad request: {errors}"),
            Self::TooMany(errors) => write!(f, "too many items: {errors}"),
        }
    }
}

impl std::error::Error for Rejection {}

impl Api {
    /// The request body as JSON, refused (413) if it holds more items than the API reads,
    /// first by a scan of its bytes before any `Value` is built, then by the counts of
    /// `path`'s fields.
    fn json_body(&self, req: &Request, path: &str) -> Result<Value, Rejection> {
        json_limits::scan(&req.body, self.bounds.max_items()).map_err(bounds::too_many_items)?;
        let body = serde_json::from_slice(&req.body).map_err(|_| Rejection::Json)?;
        self.bounds.check(path, &body)?;
        Ok(body)
    }
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
            Kind::Ws(_, Err(errors)) => Outcome::Respond(reply::invalid(errors)),
            Kind::Ws(id, Ok(recover)) => {
                match id.and_then(|id| hub.attach_ws_recovering(id, conn, recover.as_ref(), now)) {
                    Some(frames) => Outcome::Upgrade(frames),
                    None => Outcome::UpgradeAndClose,
                }
            }
            Kind::Metrics => Outcome::Respond(reply::not_found(self.page, "/metrics")),
            Kind::Demo(call) => call.run(hub, now, cors),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod reload_tests;
