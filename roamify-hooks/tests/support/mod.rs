//! The runtime's test helpers, one module for every test binary: access to the shared fixtures
//! (`shared/fixtures` beside the workspace checkout, or `$ROAMIFY_FIXTURES`). The workspace's
//! end-to-end tests use it too
//! (as `support::runtime`). `tapped.rs` beside it, a store that records and fails on demand,
//! needs the feature `queue`: the tests that use it declare it themselves
//! (`#[path = "support/tapped.rs"] mod tapped;`).
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROAMIFY_FIXTURES") {
        return PathBuf::from(dir);
    }
    // From the workspace root or from a member crate.
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../shared/fixtures"),
        here.join("../../shared/fixtures"),
    ]
    .into_iter()
    .find(|dir| dir.join("signatures.json").is_file())
    .expect("the shared fixtures beside the workspace (or set ROAMIFY_FIXTURES)")
}

pub fn event(name: &str) -> Vec<u8> {
    let path = fixtures().join("events").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// A fixture, parsed (as a verified body).
pub fn parsed_event(name: &str) -> roamify_hooks::Event {
    let body = event(name);
    roamify_hooks::Event::parse(&roamify_hooks::signature::Verified::assume_signed(&body))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn event_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("events"))
        .expect("fixtures/events exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// `signatures.json`: vectors made with node:crypto.
#[derive(serde::Deserialize)]
pub struct Vectors {
    /// The header's name.
    pub header: String,
    pub vectors: Vec<Vector>,
}

#[derive(serde::Deserialize)]
pub struct Vector {
    pub name: String,
    pub secret: String,
    pub body_hex: String,
    pub header: String,
    pub expect: String,
}

pub fn vectors() -> Vectors {
    let text =
        std::fs::read_to_string(fixtures().join("signatures.json")).expect("signatures.json");
    serde_json::from_str(&text).expect("signatures.json parses")
}

/// Waits until `done` holds, for at most 30 s (a bound, not a timing assertion).
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("gave up waiting: {what}");
}
