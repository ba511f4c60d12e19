//! The routes answered before the route table (health, metrics, the landing page, the
//! demo) are listed in it so that `/openapi.json` documents them
//! (`web::openapi` tests compare the table and the document both ways). This checks the
//! other half against a live server: every such route and method answers, and nothing
//! in the table is a 404 in disguise.

mod server_common;

use channelstream::api::routes::{Handler, ROUTES};
use server_common::*;

#[test]
fn every_early_route_in_the_table_is_answered_by_the_live_server() {
    let mut config = loopback_config();
    config.demo = true;
    let running = start(config);
    let early: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.handler == Handler::Early)
        .collect();
    assert!(
        early.len() >= 10,
        "health, metrics, landing and demo routes"
    );
    for route in early {
        let path = route.path.replace("{file}", "demo.js");
        let head = route.allows("HEAD").then_some(&"HEAD");
        for method in route.methods.iter().chain(head) {
            let body = if matches!(*method, "GET" | "HEAD") {
                ""
            } else {
                "{}"
            };
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let out = raw(running.addr, request.as_bytes());
            let status = status_of(&out);
            assert!(
                status != 0 && status != 404 && status < 500,
                "{method} {path}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
}
