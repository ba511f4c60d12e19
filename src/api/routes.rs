//! Every route the server answers, in one table: path, methods, who may call it and what
//! handles it. [`Api::route`](super::Api::route) looks requests up here, and a test checks
//! this table against the OpenAPI document (`web/admin/openapi.json`) both ways, so the
//! document cannot miss a route nor describe one that does not exist.

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// The API signature, or an admin session with its CSRF header; otherwise 403.
    Secret,
    /// The API signature or an admin session; otherwise a redirect to the sign-in page
    /// (the reference's `unauthorized_handler` for `/admin` and the explorer).
    Admin,
    /// The API signature or an admin session; otherwise 403 (`/openapi.json`, as in the
    /// reference).
    AdminNoRedirect,
}

/// What answers a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// The REST API (`Api::parse`, then the hub thread).
    Api,
    /// The websocket upgrade (`Api::route_ws`, before `Api::route`).
    Ws,
    /// An embedded file (`static_files.rs`), served before authorization.
    Static,
    /// A page or document of `crate::web`.
    Page(Page),
    /// Answered before the table is looked up, by the app or `crate::web`: health checks
    /// (`api::health`), `/metrics` (`Api::route_metrics`), the landing page and the demo
    /// (`web::route`, the demo only with `demo = true`). Listed here so that the
    /// document covers them; a request that reaches the table for one of them (the demo
    /// while it is off) is 404. `tests/routes_live.rs` checks each one answers.
    Early,
}

/// The pages and documents of `crate::web`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `/admin/sign_in`.
    SignIn,
    /// `/admin/sign_out`.
    SignOut,
    /// `/admin`.
    Admin,
    /// `/api-explorer`.
    Explorer,
    /// `/openapi.json`.
    OpenApi,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// The path as OpenAPI writes it; `{file}` at the end matches one or more segments
    /// (only [`Handler::Static`] has one).
    pub path: &'static str,
    /// The methods it answers and documents. `HEAD` is never listed: every route with
    /// `GET` answers it ([`Route::allows`]).
    pub methods: &'static [&'static str],
    /// Whether it answers every method, as the reference's views without
    /// `request_method` do; `methods` are then the ones documented.
    pub any_method: bool,
    /// Who may call it.
    pub access: Access,
    /// What answers it.
    pub handler: Handler,
}

const fn route(
    path: &'static str,
    methods: &'static [&'static str],
    access: Access,
    handler: Handler,
) -> Route {
    Route {
        path,
        methods,
        any_method: false,
        access,
        handler,
    }
}

const fn any_method(
    path: &'static str,
    documented: &'static [&'static str],
    access: Access,
) -> Route {
    Route {
        path,
        methods: documented,
        any_method: true,
        access,
        handler: Handler::Api,
    }
}

use Access::*;

/// The routes. Anything else is 404.
pub static ROUTES: &[Route] = &[
    route("/connect", &["POST"], Secret, Handler::Api),
    route("/subscribe", &["POST"], Secret, Handler::Api),
    route("/unsubscribe", &["POST"], Secret, Handler::Api),
    route("/user_state", &["POST"], Secret, Handler::Api),
    route("/channel_config", &["POST"], Secret, Handler::Api),
    route(
        "/message",
        &["POST", "PATCH", "DELETE"],
        Secret,
        Handler::Api,
    ),
    any_method("/info", &["GET", "POST"], Secret),
    route("/admin/admin.json", &["GET", "POST"], Admin, Handler::Api),
    route("/listen", &["GET"], Public, Handler::Api),
    any_method("/disconnect", &["GET", "POST"], Public),
    route("/ws", &["GET"], Public, Handler::Ws),
    route("/static/{file}", &["GET"], Public, Handler::Static),
    route("/admin", &["GET"], Admin, Handler::Page(Page::Admin)),
    route(
        "/admin/sign_in",
        &["GET", "POST"],
        Public,
        Handler::Page(Page::SignIn),
    ),
    route(
        "/admin/sign_out",
        &["GET", "POST"],
        Public,
        Handler::Page(Page::SignOut),
    ),
    route(
        "/api-explorer",
        &["GET"],
        Admin,
        Handler::Page(Page::Explorer),
    ),
    route(
        "/openapi.json",
        &["GET"],
        AdminNoRedirect,
        Handler::Page(Page::OpenApi),
    ),
    route("/healthz", &["GET"], Public, Handler::Early),
    route("/readyz", &["GET"], Public, Handler::Early),
    // `metrics_allow_from` or the signature; checked by `Api::route_metrics`.
    route("/metrics", &["GET"], Public, Handler::Early),
    route("/", &["GET"], Public, Handler::Early),
    route("/landing.css", &["GET"], Public, Handler::Early),
    route("/demo", &["GET"], Public, Handler::Early),
    route("/demo/connect", &["POST"], Public, Handler::Early),
    route("/demo/subscribe", &["POST"], Public, Handler::Early),
    route("/demo/unsubscribe", &["POST"], Public, Handler::Early),
    route("/demo/user_state", &["POST"], Public, Handler::Early),
    route(
        "/demo/message",
        &["POST", "PATCH", "DELETE"],
        Public,
        Handler::Early,
    ),
    // After the demo's calls: `find` takes the first match.
    route("/demo/{file}", &["GET"], Public, Handler::Early),
];

/// The route for `path`, if any.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| match r.path.strip_suffix("{file}") {
        Some(prefix) => path.len() > prefix.len() && path.starts_with(prefix),
        None => r.path == path,
    })
}

impl Route {
    /// Whether it answers `method`. `HEAD` wherever `GET` is (RFC 9110 §9.3.2, and
    /// Pyramid's rule in the reference: "GET implies HEAD"), as one rule here rather than
    /// per route: the handler answers it as `GET`, and the engine sends only the head
    /// (`Pending.head`, `Response::encode_head_for`). The one exception is [`GET_TAKES_MESSAGES`]: a long-poll's `GET` takes the
    /// messages queued for its connection, so a `HEAD` would take them and deliver none.
    pub fn allows(&self, method: &str) -> bool {
        self.any_method
            || self.methods.contains(&method)
            || (method == "HEAD"
                && self.methods.contains(&"GET")
                && !GET_TAKES_MESSAGES.contains(&self.path))
    }
}

/// Routes whose `GET` changes what the server holds (the long-poll hands over and drops
/// its connection's queued messages), so `HEAD` is not implied there: it answers 404, as
/// any method a route does not answer. (The reference's Pyramid runs the view for `HEAD`
/// too and loses the messages; `docs/COMPATIBILITY.md`.)
pub const GET_TAKES_MESSAGES: &[&str] = &["/listen"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_route_and_nothing_else_does() {
        for r in ROUTES.iter().filter(|r| !r.path.contains('{')) {
            assert!(std::ptr::eq(find(r.path).unwrap(), r), "{}", r.path);
        }
        assert_eq!(
            find("/static/channelstream/index.js").map(|r| r.handler),
            Some(Handler::Static)
        );
        assert_eq!(find("/demo/demo.js").map(|r| r.path), Some("/demo/{file}"));
        assert_eq!(find("/demo/message").map(|r| r.path), Some("/demo/message"));
        for path in [
            "/static/",
            "/demo/",
            "/admin/",
            "/admin/debug",
            "/connect/",
            "/CONNECT",
        ] {
            assert!(find(path).is_none(), "{path}");
        }
    }

    #[test]
    fn every_get_route_allows_head_and_no_other_does() {
        for r in ROUTES {
            let get = r.allows("GET") && !GET_TAKES_MESSAGES.contains(&r.path);
            assert_eq!(r.allows("HEAD"), get, "{}", r.path);
            assert!(!r.methods.contains(&"HEAD"), "{}: HEAD is implied", r.path);
        }
        let head = |path| find(path).is_some_and(|r| r.allows("HEAD"));
        for path in ["/admin", "/api-explorer", "/openapi.json", "/metrics"] {
            assert!(head(path), "{path}");
        }
        assert!(
            !head("/listen"),
            "a long-poll's GET takes the queued messages"
        );
        assert!(!head("/connect"), "POST only");
    }

    #[test]
    fn every_path_is_listed_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[i + 1..].iter().all(|o| o.path != r.path),
                "{}",
                r.path
            );
        }
    }
}
