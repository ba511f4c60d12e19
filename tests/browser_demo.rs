//! The demo chat (`demo = true`) in headless Chromium: three pages of one browser chat at
//! `/demo` on the real server, driven through the page's own forms and buttons, and
//! checked by what each page shows, through a reload (the name is kept) and a quit.
//! Only with `SAVE_SCREENSHOTS=1` does the test also write `docs/demo-chat.png` (shown in
//! the README), so a plain `cargo test` leaves the tree as it was.

#[allow(unused_imports)] // its `TestApp`: the demo page comes from the server itself
mod browser_common;
mod server_common;

use base64::Engine;
use browser_common::*;
use serde_json::{json, Value};
use server_common::*;
use std::time::Duration;

/// How long a page may take to show something another page did.
const WITHIN: Duration = Duration::from_secs(10);

/// A browser with pages open on the demo.
struct Chat {
    browser: Browser,
    pages: Vec<Page>,
}

impl Chat {
    fn eval(&mut self, page: usize, js: &str) -> Value {
        self.browser
            .eval(&self.pages[page], js)
            .unwrap_or_else(|e| panic!("page {page}: {e}"))
    }

    fn wait(&mut self, page: usize, js: &str) -> Value {
        match self.browser.wait_for(&self.pages[page], js, WITHIN) {
            Ok(v) => v,
            Err(e) => {
                let shown = self.eval(
                    page,
                    "JSON.stringify({me: document.getElementById('me-name').textContent, \
                     error: document.getElementById('join-error').textContent + ' ' + \
                     document.getElementById('compose-error').textContent, \
                     messages: document.getElementById('messages').innerText, \
                     people: document.getElementById('people').innerText})",
                );
                panic!("page {page}: {e}\nit shows: {shown}")
            }
        }
    }

    /// Opens the demo in a new page; its index.
    fn open(&mut self, url: &str) -> usize {
        let page = self.browser.open(url).expect("demo page opens");
        self.pages.push(page);
        let i = self.pages.len() - 1;
        self.wait(i, "window.demoReady === true");
        i
    }

    /// Waits until `js` is true on a page that is navigating: evaluation errors while the
    /// old document goes and the new one loads count as "not yet".
    fn wait_through_reload(&mut self, page: usize, js: &str) {
        let end = std::time::Instant::now() + WITHIN;
        while std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            if let Ok(Value::Bool(true)) = self.browser.eval(&self.pages[page], js) {
                return;
            }
        }
        self.wait(page, js);
    }

    /// Types `name` into the join form and submits it; waits until the page is in.
    fn join(&mut self, page: usize, name: &str) {
        self.eval(
            page,
            &format!(
                "document.getElementById('name-input').value = {};
                 document.getElementById('join-form').requestSubmit(); true",
                json!(name)
            ),
        );
        self.wait(
            page,
            &format!(
                "document.getElementById('me-name').textContent === {0} &&
                 !!document.querySelector('#people li[data-user=\"demo:' + {0} + '\"]') &&
                 window.demoConn.websocket && window.demoConn.websocket.readyState === 1",
                json!(name)
            ),
        );
    }

    /// Types `text` into the message box and sends it (to wherever the page is set to).
    fn say(&mut self, page: usize, text: &str) {
        self.eval(
            page,
            &format!(
                "document.getElementById('text-input').value = {};
                 document.getElementById('compose').requestSubmit(); true",
                json!(text)
            ),
        );
    }

    /// Waits until the shown conversation has a message with `text` (from `who`).
    fn wait_shown(&mut self, page: usize, who: &str, text: &str) {
        self.wait(
            page,
            &format!(
                "{}.some(([w, t]) => w === {} && t === {})",
                SHOWN,
                json!(who),
                json!(text)
            ),
        );
    }

    /// Clicks `selector` in page `page`.
    fn click(&mut self, page: usize, selector: &str) {
        let clicked = self.eval(
            page,
            &format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
                json!(selector)
            ),
        );
        assert_eq!(clicked, json!(true), "page {page}: nothing at {selector}");
    }

    /// Clicks `button` (a class) on the page's own message with `text`.
    fn click_own(&mut self, page: usize, text: &str, button: &str) {
        let clicked = self.eval(
            page,
            &format!(
                "(() => {{ const li = [...document.querySelectorAll('#messages .msg.mine')]
                     .find((li) => li.querySelector('.text').textContent === {});
                   if (!li) return false; li.querySelector('.{}').click(); return true; }})()",
                json!(text),
                button
            ),
        );
        assert_eq!(clicked, json!(true), "page {page}: no own message {text:?}");
    }

    /// The full names in the page's people list, in order.
    fn people(&mut self, page: usize) -> Value {
        self.eval(
            page,
            "[...document.querySelectorAll('#people li')].map((li) => li.dataset.user)",
        )
    }

    /// With `SAVE_SCREENSHOTS` set, a PNG at 1100x620 of the page whose URL ends with
    /// `marker` to `docs/NAME`. (A second DevTools session is attached to that tab, found
    /// by its URL: the harness keeps its own sessions to itself.)
    fn screenshot(&mut self, marker: &str, name: &str) {
        if std::env::var_os("SAVE_SCREENSHOTS").is_none() {
            return;
        }
        let b = &mut self.browser;
        let targets = b
            .command(None, "Target.getTargets", json!({}))
            .expect("targets");
        let target = targets["targetInfos"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|t| t["url"].as_str().is_some_and(|u| u.ends_with(marker)))
            })
            .map(|t| t["targetId"].clone())
            .expect("the tab to photograph");
        let attached = b
            .command(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .expect("attach");
        let session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let metrics =
            json!({"width": 1100, "height": 620, "deviceScaleFactor": 1, "mobile": false});
        b.command(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            metrics,
        )
        .expect("viewport");
        b.command(Some(&session), "Page.bringToFront", json!({}))
            .expect("front");
        std::thread::sleep(Duration::from_millis(500));
        let shot = b
            .command(
                Some(&session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("base64 PNG");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("wrote {}", path.display());
    }
}

/// JS: the shown conversation as `[who, text]` pairs.
const SHOWN: &str = "[...document.querySelectorAll('#messages .msg')].map((li) => \
                     [li.querySelector('.who').textContent, li.querySelector('.text').textContent])";

#[test]
fn two_pages_chat_in_the_demo_with_presence_private_messages_edits_and_statuses() {
    let Some(browser) = browser_or_skip("two_pages_chat_in_the_demo") else {
        return;
    };
    let mut config = loopback_config();
    config.demo = true;
    let running = start(config);
    let url = format!("http://{}/demo", running.addr);
    let mut chat = Chat {
        browser,
        pages: Vec::new(),
    };
    // alice's tab is told apart by its URL, for the screenshot.
    let alice = chat.open(&format!("{url}?alice"));
    let bob = chat.open(&url);
    let carol = chat.open(&url);

    // Presence: alice sees bob join, and bob's list has both.
    chat.join(alice, "alice");
    chat.join(bob, "bob");
    chat.wait(
        alice,
        "!!document.querySelector('#people li[data-user=\"demo:bob\"]')",
    );
    chat.wait(alice, &notice("bob joined"));
    assert_eq!(chat.people(bob), json!(["demo:alice", "demo:bob"]));

    // Both directions.
    chat.say(alice, "hello from alice");
    chat.wait_shown(bob, "alice", "hello from alice");
    chat.say(bob, "hi alice! who else is here?");
    chat.wait_shown(alice, "bob", "hi alice! who else is here?");

    // A late joiner gets the history, and the others see her arrive.
    chat.join(carol, "carol");
    chat.wait_shown(carol, "alice", "hello from alice");
    chat.wait_shown(carol, "bob", "hi alice! who else is here?");
    chat.wait(
        bob,
        "!!document.querySelector('#people li[data-user=\"demo:carol\"]')",
    );

    // A private message reaches bob (and alice's own view), not carol: carol does get
    // the public message alice sends right after it, so she had her chance.
    chat.click(alice, "#people li[data-user=\"demo:bob\"] .pm");
    chat.say(alice, "psst, bob");
    chat.click(alice, "#compose-cancel");
    chat.say(alice, "back in public");
    chat.wait_shown(carol, "alice", "back in public");
    chat.click(bob, ".tab[data-view=\"private\"] .open");
    chat.wait_shown(bob, "alice → bob", "psst, bob");
    chat.click(alice, ".tab[data-view=\"private\"] .open");
    chat.wait_shown(alice, "alice → bob", "psst, bob");
    let carol_has = chat.eval(
        carol,
        "[...window.demoState.views.values()].some((v) => [...v.values()].some((m) => m.text === 'psst, bob'))",
    );
    assert_eq!(carol_has, json!(false), "carol got bob's private message");
    chat.click(carol, ".tab[data-view=\"private\"] .open");
    assert_eq!(chat.eval(carol, &format!("{SHOWN}.length")), json!(0));
    for page in [alice, carol] {
        chat.click(page, ".tab[data-view=\"demo:lobby\"] .open");
    }
    chat.click(bob, ".tab[data-view=\"demo:lobby\"] .open");

    // Edit and delete: alice edits her message, bob sees the new text marked edited;
    // bob's page offers no edit on alice's messages.
    chat.click_own(alice, "hello from alice", "edit");
    chat.say(alice, "hello, edited");
    chat.wait(
        bob,
        "[...document.querySelectorAll('#messages .msg')].some((li) => \
         li.querySelector('.text').textContent === 'hello, edited' && !!li.querySelector('.edited'))",
    );
    let foreign_buttons = chat.eval(
        bob,
        "[...document.querySelectorAll('#messages .msg')].filter((li) => \
         li.querySelector('.who').textContent === 'alice' && li.querySelector('.edit, .delete')).length",
    );
    assert_eq!(foreign_buttons, json!(0));
    chat.say(alice, "a message to delete");
    chat.wait_shown(bob, "alice", "a message to delete");
    chat.click_own(alice, "a message to delete", "delete");
    chat.wait(
        bob,
        &format!("!{SHOWN}.some(([w, t]) => t === 'a message to delete')"),
    );

    // Status: bob sets one; alice's people list shows it.
    chat.eval(
        bob,
        "document.getElementById('status-input').value = 'fixing the build';
         document.getElementById('status-form').requestSubmit(); true",
    );
    chat.wait(
        alice,
        "(document.querySelector('#people li[data-user=\"demo:bob\"] .status') || {}).textContent === 'fixing the build'",
    );
    chat.say(carol, "see you all tomorrow");
    chat.wait_shown(alice, "carol", "see you all tomorrow");
    chat.screenshot("?alice", "demo-chat.png");

    // Text is shown as text: markup in a message stays characters.
    let markup = "<img src=x onerror=\"window.pwned=1\"><b>bold?</b>";
    chat.say(bob, markup);
    chat.wait_shown(alice, "bob", markup);
    let injected = chat.eval(
        alice,
        "!!document.querySelector('#messages img, #messages b') || !!window.pwned",
    );
    assert_eq!(injected, json!(false), "a message became markup");

    // Join another channel, then part: bob moves to #random; alice sees him leave the lobby.
    chat.click(bob, ".tab[data-view=\"demo:random\"] .enter");
    chat.wait(
        bob,
        "window.demoConn.channels.includes('demo:random') && \
         document.querySelector('.tab.active').dataset.view === 'demo:random'",
    );
    chat.say(bob, "anyone in random?");
    chat.wait_shown(bob, "bob", "anyone in random?");
    // Part: bob leaves the lobby; alice sees him go.
    chat.click(bob, ".tab[data-view=\"demo:lobby\"] .leave");
    chat.wait(alice, &notice("bob left"));
    chat.wait(
        alice,
        "!document.querySelector('#people li[data-user=\"demo:bob\"]')",
    );
    assert_eq!(chat.people(alice), json!(["demo:alice", "demo:carol"]));

    // A reload keeps the name: the page offers its last connection id, which holds it.
    chat.eval(carol, "setTimeout(() => location.reload(), 0); true");
    chat.wait_through_reload(
        carol,
        "window.demoReady === true && document.getElementById('me-name').textContent === 'carol' \
         && window.demoConn.websocket && window.demoConn.websocket.readyState === 1",
    );
    chat.wait_shown(carol, "carol", "see you all tomorrow");

    // Quit: carol's connection is dropped; alice sees her go.
    chat.click(carol, "#quit-button");
    chat.wait(alice, &notice("carol left"));
    // The notice alone does not prove the list changed (a notice of her reload may
    // already be shown, and each channel says she left on its own): wait for the list.
    chat.wait(
        alice,
        "!document.querySelector('#people li[data-user=\"demo:carol\"]')",
    );
    assert_eq!(chat.people(alice), json!(["demo:alice"]));
    drop(chat);
    running.shutdown().expect("clean shutdown");
}

/// JS: whether the conversation shows the notice `text`.
fn notice(text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#messages .notice')].some((n) => n.textContent === {})",
        json!(text)
    )
}
