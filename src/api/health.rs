//! `GET /healthz` (the process answers) and `GET /readyz` (it is listening with its state
//! loaded, is not shutting down and, with `redis_url` set, reaches Redis): plain text, no authentication, nothing about the
//! server's insides in the body, so a load balancer or systemd watchdog script may call
//! them as often as it likes. Answered on the worker, without the hub thread.

use crate::http::Response;

/// Whether this node should get traffic (`GET /readyz`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Serving.
    Ready,
    /// Shutdown has begun.
    ShuttingDown,
    /// `redis_url` is set and the Redis command connection is down: writes would answer
    /// 503, so a load balancer should send clients to a node that reaches Redis. The body
    /// says only "not ready".
    SharedStateDown,
}

/// The answer to a health path, or `None` for any other path. `HEAD` gets the same
/// response; the engine sends only its head.
pub fn answer(path: &str, method: &str, ready: Readiness) -> Option<Response> {
    if !matches!(method, "GET" | "HEAD") {
        return None;
    }
    let (status, body) = match (path, ready) {
        ("/healthz", _) => (200, "ok\n"),
        ("/readyz", Readiness::Ready) => (200, "ready\n"),
        ("/readyz", Readiness::ShuttingDown) => (503, "shutting down\n"),
        ("/readyz", Readiness::SharedStateDown) => (503, "not ready\n"),
        _ => return None,
    };
    Some(Response {
        status,
        headers: vec![
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: body.as_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use Readiness::*;

    #[test]
    fn alive_always_ready_until_shutdown_and_nothing_else() {
        assert_eq!(answer("/healthz", "GET", ShuttingDown).unwrap().status, 200);
        assert_eq!(answer("/readyz", "GET", Ready).unwrap().status, 200);
        let draining = answer("/readyz", "HEAD", ShuttingDown).unwrap();
        assert_eq!(draining.status, 503);
        // The engine sends only the head for HEAD, with this body's length.
        assert_eq!(Some(draining), answer("/readyz", "GET", ShuttingDown));
        assert_eq!(
            answer("/readyz", "GET", ShuttingDown).unwrap().body,
            b"shutting down\n"
        );
        assert!(answer("/healthz", "POST", Ready).is_none());
        assert!(answer("/healthzz", "GET", Ready).is_none());
    }

    #[test]
    fn redis_down_is_not_ready_and_says_nothing_more() {
        assert_eq!(
            answer("/healthz", "GET", SharedStateDown).unwrap().status,
            200
        );
        let down = answer("/readyz", "GET", SharedStateDown).unwrap();
        assert_eq!(
            (down.status, down.body.as_slice()),
            (503, &b"not ready\n"[..])
        );
    }
}
