//! The admin pages in headless Chromium against the real server: signing in (refused,
//! then accepted) and out, the live panel showing a connection made through the API,
//! hostile names shown as text, and the API explorer loading the specification and
//! sending a request as the signed-in admin. With `SAVE_SCREENSHOTS=1` the tests write
//! the screenshots the README shows (`docs/admin-*.png`).

mod browser_common;
mod server_common;

use browser_common::*;
use channelstream::app::Running;
use channelstream::config::Config;
use serde_json::{json, Value};
use server_common::*;
use std::time::Duration;

const PASSWORD: &str = "browser test password";

fn admin_config() -> Config {
    let mut c = loopback_config();
    c.admin_secret = PASSWORD.into();
    c.cookie_secret = "browser test cookie secret".into();
    c
}

struct Session {
    browser: Browser,
    page: Page,
    running: Running,
}

/// A server and a browser tab on its sign-in page, or `None` without Chromium.
fn open(test: &str) -> Option<Session> {
    let mut browser = browser_or_skip(test)?;
    let running = start(admin_config());
    let page = browser
        .open(&format!("http://{}/admin", running.addr))
        .expect("page opens");
    // Every page from here on records what its Content-Security-Policy blocked.
    browser
        .add_init_script(
            &page,
            "window.__csp = []; document.addEventListener('securitypolicyviolation',              (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));",
        )
        .expect("init script");
    Some(Session {
        browser,
        page,
        running,
    })
}

impl Session {
    fn eval(&mut self, js: &str) -> Value {
        self.browser
            .eval(&self.page, js)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn wait(&mut self, js: &str, within: Duration) -> Value {
        match self.browser.wait_for(&self.page, js, within) {
            Ok(v) => v,
            Err(e) => {
                let state = self.eval("location.href + '\\n' + document.body.innerText");
                panic!("{e}\npage: {state}")
            }
        }
    }

    /// Fills and submits the sign-in form on the current page.
    fn submit_sign_in(&mut self, user: &str, password: &str) {
        self.wait(
            "location.pathname === '/admin/sign_in' && document.readyState === 'complete' \
             && !!document.querySelector('form')",
            Duration::from_secs(10),
        );
        self.eval(&format!(
            "document.querySelector('input[name=username]').value = {};\
             document.querySelector('input[name=password]').value = {};\
             document.querySelector('form').requestSubmit(); true",
            json!(user),
            json!(password)
        ));
    }

    /// Signs in with the right password and waits for the panel's first refresh.
    fn sign_in(&mut self) {
        self.submit_sign_in("admin", PASSWORD);
        self.wait(
            "location.pathname === '/admin' && document.querySelectorAll('#totals .card').length > 0",
            Duration::from_secs(10),
        );
    }

    fn navigate(&mut self, path: &str) {
        let url = format!("http://{}{path}", self.running.addr);
        self.eval(&format!("location.href = {}; true", json!(url)));
        self.wait(
            &format!(
                "location.pathname === {} && document.readyState === 'complete'",
                json!(path)
            ),
            Duration::from_secs(10),
        );
    }

    /// With `SAVE_SCREENSHOTS` set: a PNG of the page at `width`x`height` to `docs/NAME`.
    fn screenshot(&mut self, name: &str, width: u32, height: u32, mobile: bool) {
        if std::env::var_os("SAVE_SCREENSHOTS").is_none() {
            return;
        }
        let png = self
            .browser
            .screenshot(&self.page, width, height, mobile)
            .unwrap_or_else(|e| panic!("{e}"));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("wrote {}", path.display());
    }
}

#[test]
fn sign_in_is_refused_with_a_wrong_password_accepted_with_the_right_one_and_sign_out_ends_it() {
    let Some(mut s) = open("browser_admin sign in") else {
        return;
    };
    // /admin without a session lands on the form.
    s.wait(
        "location.pathname === '/admin/sign_in'",
        Duration::from_secs(5),
    );
    s.submit_sign_in("admin", "not the password");
    let notice = s.wait(
        "document.readyState === 'complete' && document.getElementById('notice') \
         && document.getElementById('notice').textContent",
        Duration::from_secs(10),
    );
    assert_eq!(notice, json!("Wrong user name or password."));
    assert_eq!(s.eval("location.pathname"), json!("/admin/sign_in"));
    s.sign_in();
    assert_eq!(
        s.eval("document.cookie"),
        json!(""),
        "the session is HttpOnly"
    );
    let admin_json =
        "fetch('/admin/admin.json', {redirect: 'manual'}).then(r => r.type + ' ' + r.status)";
    assert_eq!(s.eval(admin_json), json!("basic 200"));
    s.eval("document.getElementById('sign-out').click(); true");
    s.wait(
        "location.pathname === '/admin/sign_in'",
        Duration::from_secs(10),
    );
    // Signed out: the panel's data now answers the redirect to the sign-in page.
    assert_eq!(s.eval(admin_json), json!("opaqueredirect 0"));
}

#[test]
fn the_panel_shows_a_connection_made_through_the_api_within_two_seconds() {
    let Some(mut s) = open("browser_admin panel") else {
        return;
    };
    s.wait(
        "location.pathname === '/admin/sign_in'",
        Duration::from_secs(5),
    );
    s.sign_in();
    let addr = s.running.addr;
    let hostile = "<img src=x id=pwned>";
    post(
        addr,
        "/channel_config",
        json!({"lobby": {"store_history": true, "notify_presence": true}}),
    );
    connect(
        addr,
        "alice",
        "00000000-0000-4000-8000-0000000000a1",
        &["lobby", hostile],
    );
    connect(
        addr,
        "bob",
        "00000000-0000-4000-8000-0000000000b1",
        &["lobby"],
    );
    post(
        addr,
        "/message",
        json!([{"channel": "lobby", "user": "alice", "message": {"text": "hello <b>bob</b>"}},
               {"channel": "lobby", "user": "bob", "message": {"text": "hi alice"}}]),
    );
    s.wait(
        "!!document.querySelector('.user[data-name=\"bob\"]') \
         && !!document.querySelector('.channel[data-name=\"lobby\"]')",
        Duration::from_secs(2),
    );
    // Names and messages are text, never markup.
    assert_eq!(
        s.eval("document.getElementById('pwned') === null"),
        json!(true)
    );
    let text = s.eval("document.getElementById('channels').textContent");
    let text = text.as_str().unwrap_or("");
    assert!(
        text.contains(hostile) && text.contains("<b>bob</b>"),
        "{text}"
    );
    let totals = s.eval("document.getElementById('totals').innerText");
    assert!(
        totals.as_str().unwrap_or("").contains("connections"),
        "{totals}"
    );
    assert_eq!(
        s.eval("window.__csp"),
        json!([]),
        "the panel trips its own policy"
    );
    s.screenshot("admin-panel.png", 1200, 900, false);
    // The filter hides what does not match.
    s.eval(
        "const f = document.getElementById('filter'); f.value = 'bob';\
         f.dispatchEvent(new Event('input')); true",
    );
    s.wait(
        "!document.querySelector('.user[data-name=\"alice\"]') \
         && !!document.querySelector('.user[data-name=\"bob\"]')",
        Duration::from_secs(2),
    );
    s.eval(
        "const g = document.getElementById('filter'); g.value = '';\
         g.dispatchEvent(new Event('input')); true",
    );
    s.screenshot("admin-panel-phone.png", 390, 844, true);
}

#[test]
fn the_explorer_loads_the_specification_and_sends_a_request_as_the_admin() {
    let Some(mut s) = open("browser_admin explorer") else {
        return;
    };
    s.wait(
        "location.pathname === '/admin/sign_in'",
        Duration::from_secs(5),
    );
    s.sign_in();
    s.navigate("/api-explorer");
    let ops = s.wait(
        "document.querySelectorAll('.op').length",
        Duration::from_secs(10),
    );
    assert!(ops.as_u64().unwrap_or(0) >= 20, "{ops} operations");
    s.eval(
        "const op = document.querySelector('[data-op=\"POST /connect\"]');\
         op.querySelector('textarea').value = JSON.stringify({username: 'from-explorer', channels: ['x']});\
         op.querySelector('button.send').click(); true",
    );
    let status = s.wait(
        "document.querySelector('[data-op=\"POST /connect\"] .result').dataset.status",
        Duration::from_secs(10),
    );
    assert_eq!(status, json!("200"));
    let result =
        s.eval("document.querySelector('[data-op=\"POST /connect\"] .result').textContent");
    assert!(
        result.as_str().unwrap_or("").contains("\"from-explorer\""),
        "{result}"
    );
    let (code, info) = call(
        s.running.addr,
        "POST",
        "/info",
        &json!({"info": {"channels": ["x"]}}),
    );
    assert_eq!(code, 200);
    assert!(info["channels"]["x"].is_object(), "{info}");
    assert_eq!(
        s.eval("window.__csp"),
        json!([]),
        "the explorer trips its own policy"
    );
    s.eval("window.scrollTo(0, 0); true");
    s.screenshot("api-explorer.png", 1200, 900, false);
}
