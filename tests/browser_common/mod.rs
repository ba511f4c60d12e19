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

/// A Chromium tab showing [`client_page`], served by a [`TestApp`] that forwards the
/// page's API calls to `server`, with the client module loaded and no script error.
pub struct ClientTab {
    pub browser: Browser,
    pub page: Page,
    /// Kept alive: it serves the page and forwards its API calls.
    _app: TestApp,
    /// A JavaScript expression describing the page, printed when [`ClientTab::wait`]
    /// times out.
    state: &'static str,
}

impl ClientTab {
    /// Opens the tab, or `None` (after saying why) without Chromium.
    pub fn open(test: &str, server: SocketAddr, state: &'static str) -> Option<ClientTab> {
        let mut browser = browser_or_skip(test)?;
        let app = TestApp::start(server, "secret", vec![("/".into(), client_page(server))]);
        let page = browser.open(&app.url("/")).expect("page opens");
        let mut tab = ClientTab {
            browser,
            page,
            _app: app,
            state,
        };
        tab.wait(
            "window.__ready === true || window.__errors.length > 0",
            std::time::Duration::from_secs(10),
        );
        assert_eq!(
            tab.eval("window.__errors"),
            serde_json::json!([]),
            "{test}: page errors"
        );
        Some(tab)
    }

    /// The value of `js` in the page.
    pub fn eval(&mut self, js: &str) -> serde_json::Value {
        self.browser
            .eval(&self.page, js)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Waits until `js` is truthy in the page and returns its value; panics with the
    /// page's state when `within` passes first.
    pub fn wait(&mut self, js: &str, within: std::time::Duration) -> serde_json::Value {
        match self.browser.wait_for(&self.page, js, within) {
            Ok(v) => v,
            Err(e) => {
                let state = self.eval(self.state);
                panic!("{e}\npage state: {state}")
            }
        }
    }
}
