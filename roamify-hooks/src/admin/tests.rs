use std::sync::Arc;

use crate::delivery::{DeadLetter, Filter, FilterError, MemoryStore};
use crate::time::UnixTime;

use super::{AdminApi, AdminRequest, AdminTokens};

const TOKEN: &str = "unit-test-token-0123";

fn api() -> AdminApi {
    AdminApi::new(
        Arc::new(MemoryStore::new()),
        AdminTokens::new(TOKEN).expect("token"),
    )
}

fn header<'a>(reply: &'a super::AdminReply, name: &str) -> Option<&'a str> {
    reply
        .headers()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_page_is_served_without_a_token_under_a_strict_policy() {
    let api = api();
    let page = api.handle(AdminRequest::new("GET", "/", "")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        header(&page, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = header(&page, "content-security-policy").expect("a policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let text = String::from_utf8_lossy(page.body());
    assert!(text.contains(r#"<script src="assets/app.js" defer></script>"#));
    assert!(!text.contains("<script>"), "no inline script");
    for asset in ["/assets/app.js", "/assets/app.css"] {
        let reply = api.handle(AdminRequest::new("GET", asset, "")).await;
        assert_eq!(reply.status(), 200, "{asset}");
    }
    let script = api
        .handle(AdminRequest::new("GET", "/assets/app.js", ""))
        .await;
    let script = String::from_utf8_lossy(script.body()).into_owned();
    assert!(
        !script.contains("innerHTML"),
        "the script never parses HTML"
    );
    assert!(
        !script.contains("document.cookie"),
        "nor keeps the token in a cookie"
    );
    let moved = api
        .handle(AdminRequest::new("GET", "", "").mount("/ops"))
        .await;
    assert_eq!(
        (moved.status(), header(&moved, "location")),
        (308, Some("/ops/"))
    );
}

#[tokio::test]
async fn everything_else_needs_the_token_first() {
    let api = api();
    for (method, path) in [
        ("GET", "/api/counts"),
        ("GET", "/elsewhere"),
        ("POST", "/"),
        ("GET", "/api/dead-letters/x"),
    ] {
        let reply = api.handle(AdminRequest::new(method, path, "")).await;
        assert_eq!(reply.status(), 401, "{method} {path}");
        assert!(header(&reply, "www-authenticate").is_some());
        assert_eq!(header(&reply, "cache-control"), Some("no-store"));
    }
    let auth = format!("Bearer {TOKEN}");
    let missing = api
        .handle(AdminRequest::new("GET", "/elsewhere", "").authorization(auth.as_bytes()))
        .await;
    assert_eq!(missing.status(), 404);
}

fn letter(body: &[u8], error: &str, at: i64) -> DeadLetter {
    DeadLetter {
        key: "k".to_owned(),
        body: body.to_vec(),
        attempts: 1,
        error: error.to_owned(),
        dead_at: UnixTime::from_secs(at),
        order: None,
    }
}

#[test]
fn filters_read_their_text_and_match_what_bodies_say() {
    let status = br#"{"event_category":"esim","event_type":"status","data":{"timestamp":1,
        "iccid":"8991234567890123456","esim_id":"e","status":"ACTIVATED"}}"#;
    let dead = letter(status, "Carrier TIMEOUT", 1_000);
    let filter = |pairs: &[(&str, &str)]| {
        let mut filter = Filter::default();
        for (name, value) in pairs {
            filter.set(name, value).expect("reads");
        }
        filter
    };
    assert!(filter(&[]).matches(&dead));
    assert!(filter(&[("iccid", "8991234567890123456")]).matches(&dead));
    assert!(filter(&[("iccid", "899123")]).matches(&dead));
    assert!(!filter(&[("iccid", "8992")]).matches(&dead));
    assert!(filter(&[("kind", "esim.status")]).matches(&dead));
    assert!(filter(&[("kind", "esim")]).matches(&dead));
    assert!(!filter(&[("kind", "esim.usage")]).matches(&dead));
    assert!(filter(&[("error", "timeout")]).matches(&dead));
    assert!(filter(&[("since", "1000"), ("until", "1000")]).matches(&dead));
    assert!(!filter(&[("since", "1001")]).matches(&dead));
    assert!(!filter(&[("until", "1970-01-01T00:16:39Z")]).matches(&dead));
    assert!(filter(&[("until", "1970-01-01T00:16:40Z")]).matches(&dead));
    let not_json = letter(b"not json", "", 1_000);
    assert!(!filter(&[("iccid", "8")]).matches(&not_json));
    assert!(!filter(&[("kind", "esim")]).matches(&not_json));
    let mut cleared = filter(&[("iccid", "89")]);
    cleared.set("iccid", "").expect("clears");
    assert!(cleared.is_empty());
    let mut bad = Filter::default();
    assert_eq!(
        bad.set("colour", "red"),
        Err(FilterError::Unknown("colour".to_owned()))
    );
    for (name, value) in [
        ("kind", "a..b"),
        ("kind", ".esim"),
        ("since", "soon"),
        ("iccid", "89 12"),
    ] {
        assert!(bad.set(name, value).is_err(), "{name}={value}");
    }
}
