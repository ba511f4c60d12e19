//! `GET|HEAD /static/...`: the files built into the binary (the browser client under
//! `/static/channelstream/`). A fixed table maps each URL path to bytes embedded with
//! `include_bytes!`: the URL is only ever compared with the table, never turned into a
//! filesystem path, so no spelling of `..` (plain or percent-encoded) can reach a file.
//!
//! Each file has an `ETag` computed at build time, so a browser revalidates with
//! `If-None-Match` and gets a bodiless 304 while the binary is unchanged; `Cache-Control:
//! no-cache` makes it revalidate every time, because the URLs carry no version and the
//! modules of the client must never mix two builds. The files are public and meant to be
//! imported by other origins' pages (module scripts are fetched with CORS), so every answer
//! allows any origin.

use crate::http::{Request, Response};

/// One embedded file.
pub struct StaticFile {
    /// The URL path it answers, e.g. `/static/channelstream/index.js`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// FNV-1a 64 of `body`, computed by the compiler; the `ETag` is its hex form.
    pub hash: u64,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The `Cache-Control` of every file: always revalidate (cheap: a 304 without body).
pub const CACHE_CONTROL: &str = "no-cache";

/// FNV-1a, 64 bits: a fingerprint for `ETag`s (not a security measure), cheap enough to
/// run in a `const` at build time.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// A table row for a file under `web/static/`, embedded from the source tree.
macro_rules! embedded {
    ($rel:literal, $ctype:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!("../../web/static/", $rel));
        StaticFile {
            path: concat!("/static/", $rel),
            content_type: $ctype,
            body: BODY,
            hash: fnv1a(BODY),
        }
    }};
}

/// Every file served. Adding one means adding a row here; nothing else is reachable.
pub static FILES: &[StaticFile] = &[
    embedded!("channelstream/index.js", JS),
    embedded!("channelstream/channelstream.js", JS),
    embedded!("channelstream/signer.js", JS),
    embedded!("admin/admin.js", JS),
    embedded!("admin/explorer.js", JS),
    embedded!("admin/admin.css", CSS),
];

/// The file at exactly `path`, if the table has it.
pub fn lookup(path: &str) -> Option<&'static StaticFile> {
    FILES.iter().find(|f| f.path == path)
}

impl StaticFile {
    /// The quoted entity tag.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }

    /// The answer to `GET` or `HEAD` of this file, or 304 when `if_none_match` names its
    /// tag. Both methods get the same response: for `HEAD` the engine sends only its
    /// head, whose `Content-Length` is then the file's length.
    pub fn respond(&self, if_none_match: Option<&[u8]>) -> Response {
        let etag = self.etag();
        let fresh = if_none_match.is_some_and(|v| matches_etag(v, &etag));
        let mut headers = vec![
            ("ETag".to_string(), etag),
            ("Cache-Control".to_string(), CACHE_CONTROL.to_string()),
            ("Access-Control-Allow-Origin".to_string(), "*".to_string()),
        ];
        if fresh {
            return Response {
                status: 304,
                headers,
                body: Vec::new(),
            };
        }
        headers.insert(0, ("Content-Type".into(), self.content_type.into()));
        Response {
            status: 200,
            headers,
            body: self.body.to_vec(),
        }
    }
}

/// Whether an `If-None-Match` value (`*` or a list of tags, weak or strong) names `etag`.
/// Weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`.
fn matches_etag(header: &[u8], etag: &str) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The answer to a `GET` or `HEAD` of `path` under `/static/`, or `None` when no embedded
/// file has exactly that path (the caller answers its usual 404).
pub fn serve(req: &Request, path: &str) -> Option<Response> {
    let file = lookup(path)?;
    Some(file.respond(req.header("if-none-match")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_by_its_path_and_nothing_else_is() {
        for f in FILES {
            assert!(std::ptr::eq(lookup(f.path).unwrap(), f));
            assert!(!f.body.is_empty(), "{}", f.path);
        }
        for path in [
            "/static/channelstream/",
            "/static/channelstream",
            "/static/channelstream/../../Cargo.toml",
            "/static/channelstream/..%2f..%2fCargo.toml",
            "/static/channelstream/%2e%2e/%2e%2e/Cargo.toml",
            "/static/../Cargo.toml",
            "/static/channelstream/INDEX.JS",
            "/static/channelstream/index.js/",
            "/static/channelstream//index.js",
            "/static/channelstream/index.js%00",
        ] {
            assert!(lookup(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_client_modules_are_javascript() {
        let f = lookup("/static/channelstream/index.js").unwrap();
        let r = f.respond(None);
        assert_eq!(r.status, 200);
        let ctype = r.headers.iter().find(|(n, _)| n == "Content-Type").unwrap();
        assert_eq!(ctype.1, "text/javascript; charset=utf-8");
        assert_eq!(r.body, f.body);
        let text = std::str::from_utf8(f.body).unwrap();
        assert!(text.contains("export {ChannelStreamConnection}"));
        assert!(text.contains("export {ChannelStreamSigner}"));
    }

    #[test]
    fn etags_differ_between_files_and_are_quoted_hex() {
        let tags: Vec<String> = FILES.iter().map(StaticFile::etag).collect();
        for (i, t) in tags.iter().enumerate() {
            assert_eq!(t.len(), 18, "{t}");
            assert!(t.starts_with('"') && t.ends_with('"'));
            assert!(!tags[i + 1..].contains(t), "duplicate tag {t}");
        }
    }

    #[test]
    fn fnv1a_matches_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn if_none_match_with_the_tag_is_304_without_body() {
        let f = lookup("/static/channelstream/signer.js").unwrap();
        let tag = f.etag();
        for header in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"other\", {tag}"),
            "*".to_string(),
        ] {
            let r = f.respond(Some(header.as_bytes()));
            assert_eq!(r.status, 304, "{header}");
            assert!(r.body.is_empty());
            assert!(r.headers.contains(&("ETag".into(), tag.clone())));
        }
        for header in ["\"other\"", "", "W/\"0\"", "\u{fffd}"] {
            assert_eq!(f.respond(Some(header.as_bytes())).status, 200);
        }
        assert_eq!(f.respond(Some(&[0xff, 0xfe])).status, 200);
    }

    #[test]
    fn head_gets_the_get_response_for_the_engine_to_send_the_head_of() {
        let request = |method: &str, if_none_match: Option<String>| Request {
            method: method.into(),
            target: "/static/channelstream/channelstream.js".into(),
            version: crate::http::Version::Http11,
            headers: if_none_match
                .map(|t| vec![("if-none-match".to_string(), t.into_bytes())])
                .unwrap_or_default(),
            body: Vec::new(),
            keep_alive: true,
        };
        let path = "/static/channelstream/channelstream.js";
        let get = serve(&request("GET", None), path).unwrap();
        assert_eq!(get.body, lookup(path).unwrap().body);
        assert_eq!(serve(&request("HEAD", None), path), Some(get));
        let tag = lookup(path).unwrap().etag();
        let fresh = serve(&request("HEAD", Some(tag.clone())), path).unwrap();
        assert_eq!(fresh.status, 304);
        assert_eq!(serve(&request("GET", Some(tag)), path), Some(fresh));
    }
}
