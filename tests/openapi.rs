//! `/openapi.json` as served, checked by a real validator: PyPI's `openapi-spec-validator`
//! (`python3 -m openapi_spec_validator FILE`, installed by `.ci/run`). Without it the test
//! says why and passes, unless `CI` is set. That the document lists exactly the router's
//! routes is checked by the unit tests in `src/web/openapi.rs`.

mod server_common;

use server_common::*;
use std::process::Command;

/// Whether `python3 -m openapi_spec_validator` can run here.
fn validator_available() -> bool {
    Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_served_document_passes_openapi_spec_validator() {
    if !validator_available() {
        let why = "python3 -m openapi_spec_validator is not available \
                   (pip install openapi-spec-validator)";
        if std::env::var_os("CI").is_some() {
            panic!("{why}, and CI is set");
        }
        eprintln!("openapi: skipped: {why}");
        return;
    }
    let running = start(loopback_config());
    let out = raw(running.addr, &signed("GET", "/openapi.json", b""));
    assert_eq!(status_of(&out), 200);
    let body = body_of(&out);
    let doc: serde_json::Value = serde_json::from_slice(body).expect("JSON");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    let path =
        std::env::temp_dir().join(format!("channelstream-openapi-{}.json", std::process::id()));
    std::fs::write(&path, body).expect("write document");
    let run = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("run validator");
    let _ = std::fs::remove_file(&path);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success(),
        "validator refused the document:\n{report}"
    );
    assert!(report.contains("OK"), "{report}");
}

#[test]
fn a_broken_document_is_refused_by_the_same_validator() {
    // The check above can fail: the validator refuses a document with an undefined
    // reference and a response without a description.
    if !validator_available() {
        return;
    }
    let path = std::env::temp_dir().join(format!(
        "channelstream-openapi-bad-{}.json",
        std::process::id()
    ));
    let bad = r##"{"openapi": "3.0.3", "info": {"title": "x", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": {"$ref": "#/components/responses/Nope"}}}}}}"##;
    std::fs::write(&path, bad).expect("write");
    let run = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .expect("run validator");
    let _ = std::fs::remove_file(&path);
    assert!(!run.status.success());
}
