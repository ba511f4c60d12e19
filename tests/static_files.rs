//! `/static/...` over the real server: the embedded browser client with its content type,
//! `ETag`/`If-None-Match` revalidation, `Cache-Control` and CORS; and every way of
//! spelling a path outside the table (traversal, encoded `..`, wrong method) is a 404
//! that serves no file.

mod server_common;

use server_common::*;
use std::net::SocketAddr;

/// The value of header `name` in the first response of `bytes`.
fn header(bytes: &[u8], name: &str) -> Option<String> {
    let head = &bytes[..bytes.len() - body_of(bytes).len()];
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Vec<u8> {
    raw(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// The client files as they are in the source tree.
fn source(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/web/static/channelstream/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("client file in the source tree")
}

#[test]
fn the_client_modules_are_served_as_javascript_with_etag_and_cache_control() {
    let running = start(loopback_config());
    for name in ["index.js", "channelstream.js", "signer.js"] {
        let out = request(
            running.addr,
            "GET",
            &format!("/static/channelstream/{name}"),
            "",
        );
        assert_eq!(status_of(&out), 200, "{name}");
        assert_eq!(
            header(&out, "content-type").as_deref(),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(body_of(&out), source(name), "{name}");
        let etag = header(&out, "etag").expect("etag");
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert_eq!(header(&out, "cache-control").as_deref(), Some("no-cache"));
        // Module scripts from another origin's page are fetched with CORS.
        assert_eq!(
            header(&out, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert_eq!(
            header(&out, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
    }
}

#[test]
fn a_query_string_does_not_change_the_file() {
    let running = start(loopback_config());
    let out = request(
        running.addr,
        "GET",
        "/static/channelstream/signer.js?v=2",
        "",
    );
    assert_eq!(status_of(&out), 200);
    assert_eq!(body_of(&out), source("signer.js"));
}

#[test]
fn if_none_match_with_the_current_tag_is_304_without_body_and_another_tag_is_200() {
    let running = start(loopback_config());
    let path = "/static/channelstream/channelstream.js";
    let first = request(running.addr, "GET", path, "");
    let etag = header(&first, "etag").expect("etag");

    let again = request(
        running.addr,
        "GET",
        path,
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(status_of(&again), 304);
    assert!(body_of(&again).is_empty());
    assert_eq!(header(&again, "etag"), Some(etag.clone()));
    assert_eq!(header(&again, "cache-control").as_deref(), Some("no-cache"));

    let stale = request(
        running.addr,
        "GET",
        path,
        "If-None-Match: \"0000000000000000\"\r\n",
    );
    assert_eq!(status_of(&stale), 200);
    assert_eq!(body_of(&stale), source("channelstream.js"));

    // Each file has its own tag: one file's tag does not validate another.
    let other = request(
        running.addr,
        "GET",
        "/static/channelstream/index.js",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(status_of(&other), 200);
}

#[test]
fn head_answers_the_headers_without_the_file() {
    let running = start(loopback_config());
    let out = request(running.addr, "HEAD", "/static/channelstream/index.js", "");
    assert_eq!(status_of(&out), 200);
    assert_eq!(
        header(&out, "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert!(header(&out, "etag").is_some());
    assert_eq!(
        header(&out, "content-length"),
        Some(source("index.js").len().to_string()),
        "the length a GET gets"
    );
    assert!(body_of(&out).is_empty());
}

#[test]
fn paths_outside_the_table_are_404_and_serve_no_file() {
    let running = start(loopback_config());
    for path in [
        "/static/channelstream/..%2f..%2fCargo.toml",
        "/static/channelstream/..%2F..%2F..%2FCargo.toml",
        "/static/channelstream/%2e%2e/%2e%2e/%2e%2e/Cargo.toml",
        "/static/../Cargo.toml",
        "/static/channelstream/../../../Cargo.toml",
        "/static/%2e%2e/%2e%2e/Cargo.toml",
        "/static/channelstream/..\\..\\..\\Cargo.toml",
        "/static/channelstream/index.js%00.txt",
        "/static/channelstream/",
        "/static/",
        "/static/channelstream/sha1-esm.js",
        "/static//channelstream/index.js",
        "/static/channelstream/Index.js",
        "/static/../src/main.rs",
    ] {
        let out = request(running.addr, "GET", path, "Accept: application/json\r\n");
        assert_eq!(status_of(&out), 404, "{path}");
        let body = String::from_utf8_lossy(body_of(&out)).to_string();
        assert!(!body.contains("[package]"), "{path}: {body}");
        assert!(!body.contains("fn main"), "{path}: {body}");
        assert_eq!(
            header(&out, "content-type").as_deref(),
            Some("application/json"),
            "{path}"
        );
    }
}

#[test]
fn only_get_and_head_reach_the_files() {
    let running = start(loopback_config());
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let out = request(
            running.addr,
            method,
            "/static/channelstream/index.js",
            "Content-Length: 0\r\n",
        );
        assert_eq!(status_of(&out), 404, "{method}");
        assert!(!body_of(&out).starts_with(b"//"), "{method}");
    }
}
