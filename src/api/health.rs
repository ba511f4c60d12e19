//! `GET /healthz` (the process answers) and `GET /readyz` (it is listening with its state
//! loaded and is not shutting down): plain text, no authentication, nothing about the
//! server's insides in the body, so a load balancer or systemd watchdog script may call
//! them as often as it likes. Answered on the worker, without the hub thread.

use crate::http::Response;

/// The answer to a health path, or `None` for any other path. `ready` is false once
/// shutdown has begun. `HEAD` gets the status without a body.
pub fn answer(path: &str, method: &str, ready: bool) -> Option<Response> {
    if !matches!(method, "GET" | "HEAD") {
        return None;
    }
    let (status, body) = match path {
        "/healthz" => (200, "ok\n"),
        "/readyz" if ready => (200, "ready\n"),
        "/readyz" => (503, "shutting down\n"),
        _ => return None,
    };
    Some(Response {
        status,
        headers: vec![
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: if method == "HEAD" {
            Vec::new()
        } else {
            body.as_bytes().to_vec()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_always_ready_until_shutdown_and_nothing_else() {
        assert_eq!(answer("/healthz", "GET", false).unwrap().status, 200);
        assert_eq!(answer("/readyz", "GET", true).unwrap().status, 200);
        let draining = answer("/readyz", "HEAD", false).unwrap();
        assert_eq!(draining.status, 503);
        assert!(draining.body.is_empty(), "HEAD has no body");
        assert_eq!(
            answer("/readyz", "GET", false).unwrap().body,
            b"shutting down\n"
        );
        assert!(answer("/healthz", "POST", true).is_none());
        assert!(answer("/healthzz", "GET", true).is_none());
    }
}
