//! The demo's page, script and stylesheet, embedded from `web/demo/`. The page links
//! them relative to `/demo` (`demo/demo.js`), so an `X-Script-Name` prefix is kept.

use crate::api::static_files::{fnv1a, StaticFile};
use crate::http::{Request, Response};

/// The page. It holds no data: the script fills it in.
const PAGE: &[u8] = include_bytes!("../../../web/demo/index.html");

/// A table row for a file under `web/demo/`, served at `/demo/<name>`.
macro_rules! asset {
    ($name:literal, $ctype:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!("../../../web/demo/", $name));
        StaticFile {
            path: concat!("/demo/", $name),
            content_type: $ctype,
            body: BODY,
            hash: fnv1a(BODY),
        }
    }};
}

/// The script and stylesheet (separate files: the page's CSP allows nothing inline).
pub static ASSETS: &[StaticFile] = &[
    asset!("demo.js", "text/javascript; charset=utf-8"),
    asset!("demo.css", "text/css; charset=utf-8"),
];

/// The answer to a `GET` or `HEAD` of the page or one of its files (the same response:
/// the engine sends only the head for `HEAD`); `None` otherwise.
pub fn serve(req: &Request, path: &str) -> Option<Response> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return None;
    }
    match path {
        "/demo" => Some(crate::web::html(PAGE)),
        // The page's relative links only work from `/demo`.
        "/demo/" => Some(Response {
            status: 302,
            headers: vec![("Location".into(), "../demo".into())],
            body: Vec::new(),
        }),
        _ => {
            let file = ASSETS.iter().find(|f| f.path == path)?;
            Some(file.respond(req.header("if-none-match")))
        }
    }
}
