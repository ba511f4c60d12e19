//! Runs a golden file's steps against a live server and reports what it observed, in
//! the same shape `tools/reference/record.py` records (before normalization).

use super::raw_http;
use super::signer;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::protocol::WebSocket;
use tungstenite::Message;

type Poll = (
    JoinHandle<Result<raw_http::Response, String>>,
    Option<String>,
);

/// One scenario's live state: open websockets and pending long-polls by name.
pub struct Replay<'a> {
    addr: SocketAddr,
    secret: String,
    ids: &'a Map<String, Value>,
    sockets: HashMap<String, WebSocket<TcpStream>>,
    polls: HashMap<String, Poll>,
}

fn str_of<'v>(step: &'v Value, key: &str) -> &'v str {
    step.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn ms_of(step: &Value, key: &str, default: u64) -> Duration {
    Duration::from_millis(step.get(key).and_then(Value::as_u64).unwrap_or(default))
}

impl<'a> Replay<'a> {
    /// A replay against `addr` signing with `secret`; `ids` resolves `conn` names.
    pub fn new(addr: SocketAddr, secret: &str, ids: &'a Map<String, Value>) -> Self {
        Replay {
            addr,
            secret: secret.to_string(),
            ids,
            sockets: HashMap::new(),
            polls: HashMap::new(),
        }
    }

    /// Runs one step and returns its raw result.
    pub fn run(&mut self, step: &Value) -> Value {
        match str_of(step, "op") {
            "http" => self.http(step),
            "sleep" => {
                thread::sleep(ms_of(step, "ms", 0));
                json!({})
            }
            "ws_open" => self.ws_open(step),
            "ws_send" => self.ws_send(step),
            "ws_close" => self.ws_close(step),
            "ws_recv" => self.ws_recv(step),
            "listen_start" => self.listen_start(step),
            "listen_wait" => self.listen_wait(step),
            other => json!({"error": format!("unknown op {other:?}")}),
        }
    }

    fn query_for(&self, step: &Value) -> String {
        match step.get("query").and_then(Value::as_str) {
            Some(q) => q.to_string(),
            None => {
                let name = str_of(step, "conn");
                let id = self.ids.get(name).and_then(Value::as_str).unwrap_or(name);
                format!("conn_id={id}")
            }
        }
    }

    fn http(&mut self, step: &Value) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mode = step.get("sign").and_then(Value::as_str).unwrap_or("good");
        let mut path = str_of(step, "path").to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(map) = step.get("headers").and_then(Value::as_object) {
            for (k, v) in map {
                headers.push((k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
        if let Some(sig) = signer::header_for(mode, &self.secret, now) {
            headers.push(("X-Channelstream-Secret".into(), sig));
        } else if mode == "query" {
            let sep = if path.contains('?') { '&' } else { '?' };
            path = format!(
                "{path}{sep}secret={}",
                signer::sign(&self.secret, "channelstream", now)
            );
        }
        let body: Option<Vec<u8>> = if let Some(j) = step.get("json") {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(serde_json::to_vec(j).unwrap_or_default())
        } else {
            step.get("raw")
                .and_then(Value::as_str)
                .map(|s| s.as_bytes().to_vec())
        };
        let method = str_of(step, "method");
        let timeout = Duration::from_secs(10);
        match raw_http::request(self.addr, method, &path, &headers, body.as_deref(), timeout) {
            Ok(resp) => http_result(&resp, step, self.addr, None),
            Err(e) => json!({"error": e}),
        }
    }

    fn ws_open(&mut self, step: &Value) -> Value {
        let url = format!("ws://{}/ws?{}", self.addr, self.query_for(step));
        let stream = match TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)) {
            Ok(s) => s,
            Err(e) => return json!({"error": format!("connect: {e}")}),
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        match tungstenite::client::client(url.as_str(), stream) {
            Ok((ws, resp)) => {
                self.sockets.insert(str_of(step, "conn").to_string(), ws);
                json!({"status": resp.status().as_u16()})
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                json!({"status": resp.status().as_u16()})
            }
            Err(e) => json!({"error": format!("handshake: {e}")}),
        }
    }

    fn ws_send(&mut self, step: &Value) -> Value {
        if let Some(ws) = self.sockets.get_mut(str_of(step, "conn")) {
            let _ = ws.send(Message::text(str_of(step, "text")));
        }
        json!({})
    }

    fn ws_close(&mut self, step: &Value) -> Value {
        if let Some(mut ws) = self.sockets.remove(str_of(step, "conn")) {
            let _ = ws.close(None);
            let deadline = Instant::now() + Duration::from_secs(1);
            // Let the close handshake finish, as websocket-client's close(timeout=1) does.
            while Instant::now() < deadline {
                let _ = ws
                    .get_mut()
                    .set_read_timeout(Some(Duration::from_millis(100)));
                match ws.read() {
                    Ok(_) => continue,
                    Err(tungstenite::Error::Io(e)) if is_timeout(&e) => continue,
                    Err(_) => break,
                }
            }
        }
        json!({})
    }

    /// Reads frames until `count` non-heartbeat frames arrived or `timeout_ms` passed,
    /// then `quiet_ms` more to catch extra frames (record.py `op_ws_recv`).
    fn ws_recv(&mut self, step: &Value) -> Value {
        let want = step.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
        let deadline = Instant::now() + ms_of(step, "timeout_ms", 1500);
        let quiet = ms_of(step, "quiet_ms", 200);
        let Some(ws) = self.sockets.get_mut(str_of(step, "conn")) else {
            return json!({"frames": [], "closed": true, "close_code": null});
        };
        let mut frames = Vec::new();
        let mut result = Map::new();
        let mut quiet_until: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if frames.len() >= want && quiet_until.is_none() {
                quiet_until = Some(now + quiet);
            }
            let end = quiet_until.unwrap_or(deadline);
            if now >= end {
                break;
            }
            let wait = (end - now).max(Duration::from_millis(10));
            let _ = ws.get_mut().set_read_timeout(Some(wait));
            match ws.read() {
                Ok(Message::Text(text)) => {
                    let frame = serde_json::from_str::<Value>(&text)
                        .unwrap_or_else(|_| json!({"text": text}));
                    let keep = step
                        .get("keep_heartbeats")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if keep || frame != json!([]) {
                        frames.push(frame);
                    }
                }
                Ok(Message::Close(close)) => {
                    result.insert("closed".into(), json!(true));
                    result.insert(
                        "close_code".into(),
                        close.map_or(Value::Null, |c| json!(u16::from(c.code))),
                    );
                    break;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
                Err(_) => {
                    result.insert("closed".into(), json!(true));
                    result.insert("close_code".into(), Value::Null);
                    break;
                }
            }
        }
        result.insert("frames".into(), Value::Array(frames));
        Value::Object(result)
    }

    fn listen_start(&mut self, step: &Value) -> Value {
        let mut query = self.query_for(step);
        let callback = step
            .get("callback")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(cb) = &callback {
            query.push_str(&format!("&callback={cb}"));
        }
        let addr = self.addr;
        let handle = thread::spawn(move || {
            raw_http::request(
                addr,
                "GET",
                &format!("/listen?{query}"),
                &[],
                None,
                Duration::from_secs(15),
            )
        });
        self.polls
            .insert(str_of(step, "tag").to_string(), (handle, callback));
        thread::sleep(Duration::from_millis(50));
        json!({})
    }

    fn listen_wait(&mut self, step: &Value) -> Value {
        let Some((handle, callback)) = self.polls.remove(str_of(step, "tag")) else {
            return json!({"error": "no such poll"});
        };
        match handle.join() {
            Ok(Ok(resp)) => http_result(&resp, step, self.addr, callback.as_deref()),
            Ok(Err(e)) => json!({"error": e}),
            Err(_) => json!({"error": "poll thread panicked"}),
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The observable result of an HTTP step (record.py `http_result` + `parse_body`).
pub fn http_result(
    resp: &raw_http::Response,
    step: &Value,
    addr: SocketAddr,
    callback: Option<&str>,
) -> Value {
    let here = addr.to_string();
    let content_type = resp.header("content-type");
    let mut out = Map::new();
    out.insert("status".into(), json!(resp.status));
    out.insert("content_type".into(), json!(content_type));
    if step.get("body").and_then(Value::as_str) != Some("ignore") {
        let text = String::from_utf8_lossy(&resp.body).replace(&here, "<server>");
        parse_body(&text, content_type, callback, &mut out);
    }
    if let Some(wanted) = step.get("record_headers").and_then(Value::as_array) {
        let mut headers = Map::new();
        for name in wanted.iter().filter_map(Value::as_str) {
            let name = name.to_ascii_lowercase();
            let value = resp.header(&name).map(|v| v.replace(&here, "<server>"));
            headers.insert(name, json!(value));
        }
        out.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(out)
}

/// Body classification: JSON (after stripping a JSONP wrapper), else an HTML error page
/// (not compared), else text.
pub fn parse_body(
    text: &str,
    content_type: Option<&str>,
    callback: Option<&str>,
    out: &mut Map<String, Value>,
) {
    let mut text = text;
    if let Some(cb) = callback {
        let prefix = format!("{cb}(");
        if let Some(inner) = text.strip_prefix(&prefix).and_then(|t| t.strip_suffix(')')) {
            out.insert("jsonp_callback".into(), json!(cb));
            text = inner;
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            out.insert("json".into(), v);
        }
        Err(_) if content_type.unwrap_or_default().contains("html") => {
            out.insert("html".into(), json!(true));
        }
        Err(_) => {
            out.insert("text".into(), json!(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(text: &str, ct: Option<&str>, cb: Option<&str>) -> Value {
        let mut out = Map::new();
        parse_body(text, ct, cb, &mut out);
        Value::Object(out)
    }

    #[test]
    fn bodies_are_classified_like_the_recorder_does() {
        assert_eq!(
            classify("[1]", Some("text/html; charset=UTF-8"), None),
            json!({"json": [1]})
        );
        assert_eq!(
            classify("cb([])", Some("text/html"), Some("cb")),
            json!({"json": [], "jsonp_callback": "cb"})
        );
        assert_eq!(
            classify("<html>x</html>", Some("text/html"), None),
            json!({"html": true})
        );
        assert_eq!(classify("", Some("text/plain"), None), json!({"text": ""}));
        // A callback the server did not apply leaves the body as it is.
        assert_eq!(
            classify("[]", Some("text/html"), Some("cb")),
            json!({"json": []})
        );
    }
}
