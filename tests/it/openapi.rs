//! `GET /openapi.json`: the served document is valid OpenAPI 3.1 (checked by a real
//! validator, `openapi-spec-validator` from PyPI), open to anyone who can connect, and in
//! step with the route table `patina::api::ROUTES`.
use crate::common;

use common::Daemon;
use patina::api::ROUTES;
use patina::auth::Access;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    serde_json::from_str(patina::api::openapi::DOCUMENT).expect("openapi.json is JSON")
}

/// Every (method, path) the document describes, method upper-case.
fn spec_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (k, _) in item.as_object().unwrap() {
            if METHODS.contains(&k.as_str()) {
                out.insert((k.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn access_name(a: Access) -> &'static str {
    match a {
        Access::Open => "open",
        Access::Query => "query",
        Access::Local => "local",
        Access::Patina => "patina",
    }
}

#[test]
fn every_served_route_is_described_with_its_access() {
    let doc = spec();
    let described = spec_routes(&doc);
    for r in ROUTES {
        let key = (r.method.as_str().to_string(), r.path.to_string());
        assert!(
            described.contains(&key),
            "{} {} is served but not in src/api/openapi.json",
            key.0,
            key.1
        );
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        assert_eq!(
            op["x-patina-access"].as_str(),
            Some(access_name(r.access)),
            "{} {}: x-patina-access differs from the route table",
            key.0,
            key.1
        );
    }
}

/// And the other way: everything the document describes is served (the two are equal).
#[test]
fn every_described_route_is_served() {
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .collect();
    for (m, p) in spec_routes(&spec()) {
        assert!(
            served.contains(&(m.clone(), p.clone())),
            "{m} {p} is described in src/api/openapi.json but not served"
        );
    }
}

#[test]
fn every_brief_section_6_route_is_described() {
    let described = spec_routes(&spec());
    let others = [
        ("GET", "/health"),
        ("GET", "/version"),
        ("POST", "/api/scry"),
        ("GET", "/mother/projects"),
        ("POST", "/mother/projects"),
        ("DELETE", "/mother/projects/{name}"),
        ("POST", "/mother/scry"),
        ("POST", "/auth/challenge"),
        ("POST", "/auth/verify"),
        ("GET", "/openapi.json"),
    ];
    for &(m, p) in common::SESSION_ROUTES.iter().chain(&others) {
        assert!(
            described.contains(&(m.to_string(), p.to_string())),
            "{m} {p} missing"
        );
    }
}

#[test]
fn the_error_shape_and_bearer_scheme_are_described() {
    let doc = spec();
    let err = &doc["components"]["schemas"]["Error"];
    assert_eq!(err["required"], serde_json::json!(["error"]));
    assert_eq!(err["properties"]["error"]["type"], "string");
    let bearer = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (bearer["type"].as_str(), bearer["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    // Every operation documents its error responses with that shape.
    for (_, item) in doc["paths"].as_object().unwrap() {
        for (k, op) in item.as_object().unwrap() {
            if METHODS.contains(&k.as_str()) {
                assert_eq!(
                    op["responses"]["default"]["$ref"], "#/components/responses/Error",
                    "{op}"
                );
            }
        }
    }
}

#[test]
fn the_served_document_is_valid_openapi_and_open_over_tcp() {
    let d = Daemon::start_with(&["--port", "0"]);
    let r = d.get("/openapi.json");
    r.assert_well_formed();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, patina::api::openapi::DOCUMENT.as_bytes());
    // Open access: no token needed over TCP. (The Unix socket answers before the TCP line is
    // logged: wait for it.)
    let t = std::time::Instant::now();
    while !d.log().contains("TCP on") && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = d.tcp("GET", "/openapi.json", None, None);
    assert_eq!(t.status, 200);

    let py = std::env::var("PATINA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let have = Command::new(&py)
        .args(["-c", "import openapi_spec_validator"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have,
        "the Python module `openapi_spec_validator` is missing for {py}: run the tests with `scripts/test` (it makes a venv with the pinned packages), or set PATINA_TEST_PYTHON"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &r.body).unwrap();
    let out = common::run_timeout(
        Command::new(&py).arg("-c").arg(
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ).arg(&file),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the document:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
