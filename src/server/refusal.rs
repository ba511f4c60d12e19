//! The HTTP answers the engine gives on its own (codec errors, timeouts, a full server,
//! refused upgrades): a JSON body `{"error": "..."}` with the status, never app content.

use crate::http::Response;

/// The short reason put in the JSON body for `status`.
fn reason(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        404 => "not found",
        405 => "method not allowed",
        408 => "request timeout",
        413 => "request body too large",
        426 => "upgrade required",
        431 => "request header fields too large",
        500 => "internal server error",
        501 => "not implemented",
        503 => "server busy",
        505 => "http version not supported",
        _ => "error",
    }
}

/// `{"error": reason}` with `status`; the caller sends it with `Connection: close`.
pub(crate) fn refusal(status: u16) -> Response {
    let body = serde_json::json!({ "error": reason(status) });
    let mut response = Response::json(status, body.to_string().into_bytes());
    if status == 426 {
        // RFC 6455 §4.4: tell the client which version we speak.
        response
            .headers
            .push(("Sec-WebSocket-Version".into(), "13".into()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_body_is_the_documented_json() {
        let r = refusal(503);
        assert_eq!(r.status, 503);
        assert_eq!(r.body, br#"{"error":"server busy"}"#);
    }

    #[test]
    fn upgrade_required_names_version_13() {
        let r = refusal(426);
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| n == "Sec-WebSocket-Version" && v == "13"));
    }
}
