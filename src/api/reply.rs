//! The responses the API sends: rendered JSON (with CORS headers, as pyramid's
//! `request.response` carries them) and pyramid's HTTP exception pages (without). Pure.

use crate::http::Response;
use serde::Serialize;
use serde_json::{json, Value};

/// Extra headers every rendered response gets (`utils.py` `handle_cors`).
pub type Cors = Vec<(String, String)>;

/// CORS headers for a request with `origin`: `Access-Control-Allow-Origin: *` when
/// `allow_cors` is empty or one of its entries is a substring of the origin.
pub fn cors_headers(allow_cors: &[String], origin: Option<&[u8]>) -> Cors {
    let origin = String::from_utf8_lossy(origin.unwrap_or(b"<>"));
    let origin = if origin.is_empty() {
        "<>".into()
    } else {
        origin
    };
    let mut h = Vec::new();
    if allow_cors.is_empty() || allow_cors.iter().any(|d| origin.contains(d.as_str())) {
        h.push(("Access-Control-Allow-Origin".into(), "*".into()));
    }
    h.push(("XDomainRequestAllowed".into(), "1".into()));
    h.push((
        "Access-Control-Allow-Methods".into(),
        "GET, POST, OPTIONS, PUT, DELETE, PATCH".into(),
    ));
    h.push((
        "Access-Control-Allow-Headers".into(),
        "Content-Type, Depth, User-Agent, X-File-Size, X-Requested-With, If-Modified-Since, \
         X-File-Name, Cache-Control, Pragma, Origin, Connection, Referer, Cookie"
            .into(),
    ));
    h.push(("Access-Control-Max-Age".into(), "86400".into()));
    h
}

/// JSON as the reference renders it: 4-space indentation (keys in sorted order).
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    pretty_sized(v, 0)
}

/// [`pretty`] into a buffer of `capacity` bytes to start with: a caller that knows about
/// how large the answer will be spares the doublings (and copies) of a growing buffer.
pub fn pretty_sized<T: Serialize + ?Sized>(v: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Writing into a Vec cannot fail, and every map this crate serializes has string keys.
    let _ = v.serialize(&mut ser);
    out
}

/// A rendered JSON response.
pub fn rendered<T: Serialize + ?Sized>(status: u16, body: &T, cors: &Cors) -> Response {
    rendered_body(status, pretty(body), cors)
}

/// A JSON response whose body is already rendered (by [`pretty`]).
pub fn rendered_body(status: u16, body: Vec<u8>, cors: &Cors) -> Response {
    let mut r = Response::json(status, body);
    r.headers.extend(cors.iter().cloned());
    r
}

/// 422 with marshmallow's error object (`error_handlers.py`), at most 100 messages of it
/// and keys cut to 64 characters ([`super::bounded_errors`]), so the body stays below 64
/// KiB. Exception views get a fresh response, so no CORS headers (recorded from the
/// reference).
pub fn invalid(errors: Value) -> Response {
    Response::json(422, pretty(&super::bounded_errors::bounded(errors)))
}

/// 413 with an error object in marshmallow's shape: the body holds more items than the
/// config allows (`bounds.rs`). No CORS headers, like [`invalid`].
pub fn too_large(errors: Value) -> Response {
    Response::json(413, pretty(&errors))
}

/// 401 `{"request": "Bad Signature"}` (`error_handlers.py` `signer_error`), no CORS.
pub fn bad_signature() -> Response {
    Response::json(401, pretty(&json!({"request": "Bad Signature"})))
}

/// 403 `{"request": "Bad CSRF token"}`: an admin session without the `X-CSRF-Token` its
/// page got, where one is needed (the API, or a method other than GET). No CORS.
pub fn bad_csrf() -> Response {
    Response::json(403, pretty(&json!({"request": "Bad CSRF token"})))
}

/// A body that is not JSON. The reference answers 500 (an unhandled exception); we
/// answer 400 in the shape of a validation error.
pub fn malformed_json() -> Response {
    Response::json(400, pretty(&json!({"_schema": ["Invalid JSON."]})))
}

/// The three forms pyramid renders its exception pages in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// `text/html` (browsers, `Accept: */*`).
    Html,
    /// `application/json`.
    Json,
    /// `text/plain` (no `Accept` header, or nothing better acceptable).
    Plain,
}

/// Chooses between text/html and application/json by `Accept` quality, html winning ties,
/// falling back to text/plain (pyramid `HTTPException.prepare`).
pub fn negotiate(accept: Option<&[u8]>) -> PageKind {
    let accept = String::from_utf8_lossy(accept.unwrap_or(b""));
    // (specificity, q) of the most specific range matching each offer
    let mut best = [(0u8, 0f32); 2];
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        for (i, offer) in ["text/html", "application/json"].iter().enumerate() {
            let spec = if media == *offer {
                3
            } else if media
                .strip_suffix("/*")
                .is_some_and(|t| offer.starts_with(&format!("{t}/")))
            {
                2
            } else if media == "*/*" {
                1
            } else {
                0
            };
            if spec > best[i].0 {
                best[i] = (spec, q);
            }
        }
    }
    let (html, json) = (best[0].1, best[1].1);
    match (html > 0.0 && best[0].0 > 0, json > 0.0 && best[1].0 > 0) {
        (true, true) if json > html => PageKind::Json,
        (true, _) => PageKind::Html,
        (false, true) => PageKind::Json,
        _ => PageKind::Plain,
    }
}

/// A pyramid exception page: `status` like `"403 Forbidden"`.
fn page(kind: PageKind, code: u16, status: &str, explanation: &str, detail: &str) -> Response {
    let title = status.split_once(' ').map(|(_, t)| t).unwrap_or(status);
    let (ctype, body) = match kind {
        PageKind::Plain => {
            ("text/plain; charset=UTF-8", format!("{status}\n\n{explanation}\n\n\n{detail}\n\n"))
        }
        PageKind::Json => {
            let message = format!("{explanation}\n\n\n{detail}\n\n");
            let body = json!({"message": message, "code": status, "title": title});
            // python's json.dumps separators: ", " and ": ", keys in this order
            let body = format!(
                "{{\"message\": {}, \"code\": {}, \"title\": {}}}",
                body["message"], body["code"], body["title"]
            );
            ("application/json", body)
        }
        PageKind::Html => (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  <h1>{status}</h1>\n  \
                 {explanation}<br/><br/>\n{}\n\n\n </body>\n</html>",
                html_escape(detail)
            ),
        ),
    };
    Response {
        status: code,
        headers: vec![("Content-Type".into(), ctype.into())],
        body: body.into_bytes(),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 403 (`HTTPForbidden`): no or unacceptable credentials.
pub fn forbidden(kind: PageKind) -> Response {
    page(
        kind,
        403,
        "403 Forbidden",
        "Access was denied to this resource.",
        "",
    )
}

/// 406 "SSL is required" (`subscribers.py` with `enforce_https`).
pub fn ssl_required(kind: PageKind) -> Response {
    page(kind, 406, "406 Not Acceptable", "", "SSL is required")
}

/// 404 (`HTTPNotFound`) naming the path.
pub fn not_found(kind: PageKind, path: &str) -> Response {
    page(
        kind,
        404,
        "404 Not Found",
        "The resource could not be found.",
        path,
    )
}

/// 401 (`HTTPUnauthorized`): `/listen` for an unknown connection.
pub fn unauthorized(kind: PageKind) -> Response {
    let explanation = "This server could not verify that you are authorized to access the \
        document you requested.  Either you supplied the wrong credentials (e.g., bad \
        password), or your browser does not understand how to supply the credentials required.";
    page(kind, 401, "401 Unauthorized", explanation, "")
}

/// Whether `p` is `/segment/segment...` of URL-safe characters: never `//host` or a
/// scheme, so a redirect built from it stays on this server.
pub fn is_plain_prefix(p: &str) -> bool {
    p.len() <= 256
        && p.split('/').skip(1).all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        })
        && p.starts_with('/')
}

/// 302 to the admin sign-in page (`unauthorized_handler` for `/admin` routes). The
/// `Location` is relative (`prefix` + `/admin/sign_in`): the reference builds an absolute
/// URL from the `Host` header, which lets a forged header send browsers (and caches)
/// elsewhere. `prefix` is the `X-Script-Name` the request was routed under, used only
/// when it is a plain path ([`is_plain_prefix`]).
pub fn to_sign_in(kind: PageKind, prefix: &str) -> Response {
    let prefix = if is_plain_prefix(prefix) { prefix } else { "" };
    let location = format!("{prefix}/admin/sign_in");
    let text =
        format!("The resource was found at {location}; you should be redirected automatically.");
    let (ctype, body) = match kind {
        PageKind::Plain => ("text/plain; charset=UTF-8", format!("302 Found\n\n{text}\n\n")),
        PageKind::Json => (
            "application/json",
            format!(
                "{{\"message\": {}, \"code\": \"302 Found\", \"title\": \"Found\"}}",
                json!(format!("{text}\n\n"))
            ),
        ),
        PageKind::Html => (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>302 Found</title>\n </head>\n <body>\n  <h1>302 Found</h1>\n  \
                 {text}\n\n\n </body>\n</html>"
            ),
        ),
    };
    Response {
        status: 302,
        headers: vec![
            ("Content-Type".into(), ctype.into()),
            ("Location".into(), location),
        ],
        body: body.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_matches_pyramid() {
        let cases: &[(Option<&str>, PageKind)] = &[
            (None, PageKind::Plain),
            (Some("*/*"), PageKind::Html),
            (Some("text/html"), PageKind::Html),
            (Some("application/json, text/plain"), PageKind::Json),
            (Some("text/plain"), PageKind::Plain),
            (
                Some("application/json;q=0.5, text/html;q=0.4"),
                PageKind::Json,
            ),
            (Some("text/*;q=0, application/*"), PageKind::Json),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(accept.map(str::as_bytes)), *want, "{accept:?}");
        }
    }

    #[test]
    fn forbidden_pages_are_byte_identical_to_pyramid() {
        let cases = [
            (PageKind::Plain, "403 Forbidden\n\nAccess was denied to this resource.\n\n\n\n\n"),
            (
                PageKind::Json,
                "{\"message\": \"Access was denied to this resource.\\n\\n\\n\\n\\n\", \"code\": \
                 \"403 Forbidden\", \"title\": \"Forbidden\"}",
            ),
            (
                PageKind::Html,
                "<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n  <h1>403 \
                 Forbidden</h1>\n  Access was denied to this resource.<br/><br/>\n\n\n\n </body>\n</html>",
            ),
        ];
        for (kind, want) in cases {
            let r = forbidden(kind);
            assert_eq!(
                (r.status, String::from_utf8_lossy(&r.body)),
                (403, want.into()),
                "{kind:?}"
            );
        }
        let r = not_found(PageKind::Plain, "/nope");
        assert_eq!(
            r.body,
            b"404 Not Found\n\nThe resource could not be found.\n\n\n/nope\n\n"
        );
    }

    #[test]
    fn sign_in_redirect_is_relative_whatever_the_prefix_says() {
        let location = |prefix: &str| {
            let r = to_sign_in(PageKind::Html, prefix);
            let l = r.headers.iter().find(|(n, _)| n == "Location").cloned();
            (r.status, l.map(|(_, v)| v).unwrap_or_default())
        };
        assert_eq!(location(""), (302, "/admin/sign_in".into()));
        assert_eq!(location("/cs"), (302, "/cs/admin/sign_in".into()));
        assert_eq!(location("/a/b-c"), (302, "/a/b-c/admin/sign_in".into()));
        for hostile in [
            "//evil.example",
            "http://evil.example",
            "/a//b",
            "/<x>",
            "evil",
            "/",
        ] {
            assert_eq!(
                location(hostile),
                (302, "/admin/sign_in".into()),
                "{hostile}"
            );
        }
    }

    #[test]
    fn pages_escape_the_path_they_echo() {
        let r = not_found(PageKind::Html, "/<script>alert(1)</script>&\"");
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains("<script>"), "{body}");
        assert!(
            body.contains("/&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;"),
            "{body}"
        );
        let r = not_found(PageKind::Json, "/\"<script>");
        let v: Value = serde_json::from_slice(&r.body).expect("json page");
        assert!(v["message"].as_str().unwrap_or("").contains("/\"<script>"));
    }

    #[test]
    fn pretty_json_uses_four_spaces_like_python() {
        assert_eq!(
            pretty(&json!({"request": "Bad Signature"})),
            b"{\n    \"request\": \"Bad Signature\"\n}"
        );
    }

    #[test]
    fn cors_allows_any_origin_when_unset_and_listed_substrings_otherwise() {
        let star = |h: &Cors| h.iter().any(|(k, _)| k == "Access-Control-Allow-Origin");
        assert!(star(&cors_headers(&[], None)));
        let allow = vec!["example.com".to_string()];
        assert!(star(&cors_headers(
            &allow,
            Some(b"https://app.example.com")
        )));
        assert!(!star(&cors_headers(&allow, Some(b"https://evil.test"))));
        assert_eq!(cors_headers(&allow, None).len(), 4);
    }
}
