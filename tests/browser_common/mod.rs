//! What browser tests share: headless Chromium over the DevTools protocol
//! ([`chromium::Browser`]), a tiny web application that serves test pages and signs the
//! browser client's API calls ([`app::TestApp`]), and the page that loads our client.
//!
//! Without Chromium the tests print why and pass, so `cargo test` works on a machine
//! without a browser; with `CI` set they fail instead (`.ci/run` installs Chromium).
#![allow(dead_code)] // each test file uses a different part

pub mod app;
pub mod chromium;

#[allow(unused_imports)] // not every browser test serves pages of its own
pub use app::TestApp;
pub use chromium::{Browser, Page};
use std::net::SocketAddr;

/// A started browser, or `None` (after saying why) when no Chromium is installed and
/// `CI` is not set. Panics when the browser cannot be found under `CI`, or is found but
/// does not start.
pub fn browser_or_skip(test: &str) -> Option<Browser> {
    let Some(exe) = chromium::find_executable() else {
        let why = "no chromium on PATH (apt-get install chromium, or set CHROMIUM)";
        if std::env::var_os("CI").is_some() {
            panic!("{test}: {why}, and CI is set");
        }
        eprintln!("{test}: skipped: {why}");
        return None;
    };
    match Browser::launch(&exe) {
        Ok(b) => Some(b),
        Err(e) => panic!("{test}: {e}"),
    }
}

/// A page that imports our browser client from `server` as an ES module (from another
/// origin, as a user's page does), puts both exports on `window` and sets
/// `window.__ready`; script errors are collected in `window.__errors`.
pub fn client_page(server: SocketAddr) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>channelstream client test</title>
<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));
</script>
<script type="module" onerror="window.__errors.push('the client module did not load')">
import {{ChannelStreamConnection, ChannelStreamSigner}} from "http://{server}/static/channelstream/index.js";
window.ChannelStreamConnection = ChannelStreamConnection;
window.ChannelStreamSigner = ChannelStreamSigner;
window.__ready = true;
</script>
</head><body></body></html>
"#
    )
}
