//! Headless Chromium driven over the DevTools protocol (CDP): one browser process with a
//! throwaway profile, listening for DevTools on a loopback port it picks itself, and one
//! websocket to it over which pages are opened and scripts evaluated.

use serde_json::{json, Value};
use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a CDP command may take to answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The executable names tried, in order, on `PATH` (or `CHROMIUM` if set).
const CANDIDATES: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

/// A running headless Chromium; closed (then killed if need be) and its profile removed
/// when dropped.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    cdp: tungstenite::WebSocket<TcpStream>,
    next_id: u64,
}

/// A tab, addressed by its flat CDP session.
pub struct Page {
    session: String,
}

/// The browser executable: `$CHROMIUM`, else the first of [`CANDIDATES`] on `PATH`.
pub fn find_executable() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    CANDIDATES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// Starts Chromium headless on a fresh profile and connects to its DevTools socket.
    pub fn launch(executable: &Path) -> Result<Browser, String> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "channelstream-chromium-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).map_err(|e| format!("profile dir: {e}"))?;
        let log = std::fs::File::create(profile.join("chromium.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let child = Command::new(executable)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", executable.display()))?;
        let mut started = Started {
            child: Some(child),
            profile: profile.clone(),
        };
        let (port, path) = wait_for_devtools(&profile, Duration::from_secs(40))?;
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(COMMAND_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (cdp, _) = tungstenite::client(url, stream).map_err(|e| format!("CDP: {e}"))?;
        // Short reads from now on, so `command` can check its deadline between events.
        cdp.get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        Ok(Browser {
            child: started.child.take().ok_or("no child")?,
            profile,
            cdp,
            next_id: 0,
        })
    }

    /// Sends one CDP command (to `session`, or the browser) and waits for its result;
    /// events that arrive meanwhile are dropped.
    pub fn command(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.cdp
            .send(tungstenite::Message::text(msg.to_string()))
            .map_err(|e| format!("{method}: {e}"))?;
        let end = Instant::now() + COMMAND_TIMEOUT;
        while Instant::now() < end {
            match self.cdp.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["id"] != json!(id) {
                        continue;
                    }
                    if !v["error"].is_null() {
                        return Err(format!("{method}: {}", v["error"]));
                    }
                    return Ok(v["result"].clone());
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("{method}: {e}")),
            }
        }
        Err(format!("{method}: no answer in {COMMAND_TIMEOUT:?}"))
    }

    /// Opens a new tab on `url`, waiting until its document has loaded.
    pub fn open(&mut self, url: &str) -> Result<Page, String> {
        let target = self.command(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let attached = self.command(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or("no sessionId")?
            .to_string();
        let page = Page { session };
        self.command(Some(&page.session), "Page.navigate", json!({"url": url}))?;
        self.wait_for(
            &page,
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            Duration::from_secs(20),
        )?;
        Ok(page)
    }

    /// Evaluates `expression` in `page` (awaiting a promise) and returns its JSON value.
    pub fn eval(&mut self, page: &Page, expression: &str) -> Result<Value, String> {
        let r = self.command(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if !r["exceptionDetails"].is_null() {
            return Err(format!(
                "{expression}: {}",
                r["exceptionDetails"]["exception"]["description"]
            ));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Runs `source` in `page` before any script of each document loaded from now on.
    pub fn add_init_script(&mut self, page: &Page, source: &str) -> Result<(), String> {
        self.command(Some(&page.session), "Page.enable", json!({}))?;
        self.command(
            Some(&page.session),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": source}),
        )
        .map(|_| ())
    }

    /// A PNG of `page` drawn in a `width` x `height` viewport (`mobile`: as a phone).
    pub fn screenshot(
        &mut self,
        page: &Page,
        width: u32,
        height: u32,
        mobile: bool,
    ) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let metrics =
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.command(
            Some(&page.session),
            "Emulation.setDeviceMetricsOverride",
            metrics,
        )?;
        // Let the page lay itself out (and refresh) at the new size.
        std::thread::sleep(Duration::from_millis(1200));
        let shot = self.command(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        )?;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .map_err(|e| format!("screenshot: {e}"))
    }

    /// Evaluates `expression` every 50 ms until its value is truthy, and returns that
    /// value; after `within`, an error with the last value.
    pub fn wait_for(
        &mut self,
        page: &Page,
        expression: &str,
        within: Duration,
    ) -> Result<Value, String> {
        let end = Instant::now() + within;
        loop {
            // A navigation (a form submitted, a redirect, a reload) may replace the page
            // while the expression runs: that is "not yet", not a failure.
            let v = match self.eval(page, expression) {
                Ok(v) => v,
                Err(e) if navigated_away(&e) && Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if Instant::now() >= end {
                return Err(format!(
                    "not true within {within:?}: {expression} (was {v})"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether a DevTools error says the page went away under an evaluation (navigated,
/// or its JavaScript context was replaced).
fn navigated_away(error: &str) -> bool {
    error.contains("Inspected target navigated or closed")
        || error.contains("Execution context was destroyed")
        || error.contains("Cannot find context with specified id")
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command(None, "Browser.close", json!({}));
        stop(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A browser process not yet wrapped in a [`Browser`]: stopped and cleaned up if
/// [`Browser::launch`] fails half-way.
struct Started {
    child: Option<Child>,
    profile: PathBuf,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&self.profile);
        }
    }
}

/// Waits up to 5 s for `child` to exit, then kills it.
fn stop(child: &mut Child) {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads the port and browser websocket path Chromium writes to `DevToolsActivePort`
/// in its profile once DevTools listens.
fn wait_for_devtools(profile: &Path, within: Duration) -> Result<(u16, String), String> {
    let file = profile.join("DevToolsActivePort");
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                if let Ok(port) = port.trim().parse::<u16>() {
                    return Ok((port, path.trim().to_string()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(profile.join("chromium.log")).unwrap_or_default();
    Err(format!(
        "Chromium wrote no DevToolsActivePort in {within:?}; its log:\n{log}"
    ))
}
