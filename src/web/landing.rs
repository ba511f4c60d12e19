//! `GET /`: a small page that says what this server is and links to the admin panel, the
//! demo chat (only when `demo = true`; otherwise it says how to turn it on), the browser
//! client's path, and the documentation that comes with the source. Always served.
//!
//! Links are relative (`admin`, `demo`), so they keep an `X-Script-Name` prefix.

use crate::api::static_files::{fnv1a, StaticFile};
use crate::http::{Request, Response};

/// The page, with `{{version}}`, `{{api_version}}` and one `data-demo` line per demo
/// setting to pick from.
const TEMPLATE: &str = include_str!("../../web/landing/index.html");

/// The page's stylesheet (a file of its own: the page's CSP allows no inline style).
static STYLE: StaticFile = {
    const BODY: &[u8] = include_bytes!("../../web/landing/landing.css");
    StaticFile {
        path: "/landing.css",
        content_type: "text/css; charset=utf-8",
        body: BODY,
        hash: fnv1a(BODY),
    }
};

/// The landing page's HTML for a server with the demo on or off.
pub fn render(demo_on: bool) -> String {
    let drop = if demo_on {
        "data-demo=\"off\""
    } else {
        "data-demo=\"on\""
    };
    TEMPLATE
        .lines()
        .filter(|line| !line.contains(drop))
        .map(|line| {
            line.replace("{{version}}", env!("CARGO_PKG_VERSION"))
                .replace("{{api_version}}", crate::api::VERSION)
                + "\n"
        })
        .collect()
}

/// The answer to `GET /` and `HEAD /` (the engine sends only the head for `HEAD`).
pub fn page(demo_on: bool) -> Response {
    super::html(render(demo_on).as_bytes())
}

/// The stylesheet for `GET|HEAD /landing.css`; `None` for any other request.
pub fn serve_asset(req: &Request, path: &str) -> Option<Response> {
    if path != STYLE.path || !matches!(req.method.as_str(), "GET" | "HEAD") {
        return None;
    }
    Some(STYLE.respond(req.header("if-none-match")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_link_is_there_only_when_the_demo_is_on() {
        let on = render(true);
        let off = render(false);
        assert!(on.contains("<a href=\"demo\">"), "{on}");
        assert!(!on.contains("demo = true"), "{on}");
        assert!(!off.contains("href=\"demo\""), "{off}");
        assert!(off.contains("<code>demo = true</code>"), "{off}");
        for page in [&on, &off] {
            assert!(page.contains("<a href=\"admin\">"));
            assert!(page.contains("/static/channelstream/index.js"));
            assert!(page.contains("docs/API.md"));
            assert!(!page.contains("{{"), "unfilled placeholder");
            assert!(!page.contains("http://") && !page.contains("https://"));
        }
    }

    #[test]
    fn the_page_carries_a_strict_csp_and_no_inline_code() {
        let r = page(false);
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("Content-Security-Policy"), Some(super::super::CSP));
        assert_eq!(header("Content-Type"), Some("text/html; charset=utf-8"));
        let html = String::from_utf8_lossy(&r.body);
        assert!(
            !html.contains("<script") && !html.contains("style="),
            "{html}"
        );
    }
}
