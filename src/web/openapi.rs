//! `GET /openapi.json`: the OpenAPI 3 description of every route, written by hand in
//! `web/admin/openapi.json` and embedded. A test holds it to the route table
//! (`api/routes.rs`) both ways, and `tests/openapi.rs` runs a real validator on it.

use super::page::security_headers;
use crate::http::Response;

/// The document.
pub const DOCUMENT: &str = include_str!("../../web/admin/openapi.json");

/// The answer to `GET /openapi.json` (for a caller already authorized).
pub fn response() -> Response {
    Response {
        status: 200,
        headers: security_headers("application/json"),
        body: DOCUMENT.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::routes::ROUTES;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    #[test]
    fn every_route_is_documented_with_its_methods() {
        let doc = document();
        for r in ROUTES {
            let item = &doc["paths"][r.path];
            assert!(item.is_object(), "{} is not in openapi.json", r.path);
            // `HEAD` is not listed: it is implied by `GET` (`Route::allows`).
            for m in r.methods {
                let op = &item[m.to_ascii_lowercase()];
                assert!(op.is_object(), "{m} {} is not documented", r.path);
                assert!(op["operationId"].is_string(), "{m} {}: operationId", r.path);
            }
        }
    }

    #[test]
    fn every_documented_operation_is_a_route() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            let route = ROUTES.iter().find(|r| r.path == path);
            let route = route.unwrap_or_else(|| panic!("{path} is documented but not routed"));
            for method in item.as_object().expect("path item").keys() {
                if matches!(method.as_str(), "parameters" | "summary" | "description") {
                    continue;
                }
                let m = method.to_ascii_uppercase();
                assert!(
                    route.methods.contains(&m.as_str()),
                    "{m} {path} is not routed"
                );
            }
        }
    }

    #[test]
    fn the_signature_and_session_are_security_schemes() {
        let doc = document();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["signature"]["in"], "header");
        assert_eq!(schemes["signature"]["name"], "X-Channelstream-Secret");
        assert_eq!(schemes["strictSignature"]["name"], "X-Channelstream-Secret");
        assert_eq!(schemes["adminSession"]["in"], "cookie");
        assert_eq!(schemes["csrfToken"]["name"], "X-CSRF-Token");
    }
}
