//! The admin API on a store: tokens, each filter, pages, a delivery's detail, replay and
//! discard by keys and by filter, dry runs.

use std::sync::Arc;

use serde_json::json;

use crate::admin::{AdminApi, AdminTokens};
use crate::catalog::EventKind;
use crate::delivery::{Incoming, Resolution, Store, StoreCounts};
use crate::testing::sample_with;

use super::caller::Caller;
use super::{LONG, lease_eventually, settle};

/// The full token of the API [`check_admin`] builds.
pub(super) const FULL: &str = "conformance-full-token-0123";
/// Its read-only token.
const READ: &str = "conformance-read-token-0123";

pub(super) const ICCID_A: &str = "8991000000000000001";
const ICCID_B: &str = "8992000000000000002";

/// Checks the admin API ([`crate::admin`]) on `store`, which must be empty: 401 without a token
/// or with a wrong one on every route, 403 for a read-only token's writes (nothing changed);
/// each filter (ICCID, kind, category, time, error text) and their combination; pages; one dead
/// letter with its body; replay and discard by keys and by filter, with dry runs; counts
/// following each change. `name` prefixes each failure's message.
///
/// # Panics
/// When an answer is not the one promised, or a store operation fails.
pub async fn check_admin(name: &str, store: Arc<dyn Store>) {
    let letters = [
        (
            "st-a1",
            EventKind::EsimStatus,
            ICCID_A,
            "activation Timeout at the carrier",
        ),
        ("us-a2", EventKind::EsimUsage, ICCID_A, "ledger unavailable"),
        (
            "st-b1",
            EventKind::EsimStatus,
            ICCID_B,
            "timeout talking to the CRM",
        ),
        (
            "bal-1",
            EventKind::PartnerLowBalance,
            "",
            "mailer refused <script>alert(1)</script>",
        ),
    ];
    for (n, (key, kind, iccid, _)) in letters.iter().enumerate() {
        let body = sample_with(*kind, |v| {
            if !iccid.is_empty() {
                v["data"]["iccid"] = json!(iccid);
            }
            v["data"]["timestamp"] = json!(1_700_000_000 + n);
        });
        store
            .enqueue(Incoming::new(*key, body))
            .await
            .expect("enqueue");
    }
    store
        .enqueue(Incoming::new(
            "done-1",
            crate::testing::sample(EventKind::EsimStatus).to_vec(),
        ))
        .await
        .expect("enqueue");
    for job in lease_eventually(&*store, 5, LONG).await {
        let resolution = match letters.iter().find(|l| l.0 == job.key) {
            Some(letter) => Resolution::Dead {
                error: letter.3.to_owned(),
            },
            None => Resolution::Completed,
        };
        assert!(settle(&*store, &job, resolution).await, "{name}: settled");
    }
    let admin: Arc<dyn crate::delivery::Admin> = store.clone();
    let tokens = AdminTokens::new(FULL)
        .and_then(|t| t.read_only(READ))
        .expect("tokens");
    let api = AdminApi::new(admin, tokens);
    let call = Caller { api: &api, name };

    // Refused without a token, with a wrong one, and a read-only token's writes.
    for (method, path, body) in [
        ("GET", "/api/counts", ""),
        ("GET", "/api/dead-letters", ""),
        ("GET", "/api/dead-letters/st-a1", ""),
        ("GET", "/api/deliveries", ""),
        ("GET", "/api/deliveries/st-a1", ""),
        ("GET", "/api/nothing-here", ""),
        ("POST", "/api/dead-letters/replay", r#"{"filter":{}}"#),
        ("POST", "/api/dead-letters/discard", r#"{"filter":{}}"#),
    ] {
        for token in [None, Some("Bearer wrong-token-0123456789"), Some("Basic x")] {
            let (status, _) = call.raw(method, path, "", body, token).await;
            assert_eq!(status, 401, "{name}: {method} {path} with {token:?}");
        }
    }
    for (path, body) in [
        ("/api/dead-letters/replay", r#"{"filter":{}}"#),
        ("/api/dead-letters/discard", r#"{"keys":["st-a1"]}"#),
    ] {
        let auth = format!("Bearer {READ}");
        let (status, _) = call.raw("POST", path, "", body, Some(&auth)).await;
        assert_eq!(status, 403, "{name}: a read-only token cannot {path}");
    }
    let auth = format!("Bearer {READ}");
    let (status, _) = call.raw("GET", "/api/counts", "", "", Some(&auth)).await;
    assert_eq!(status, 200, "{name}: a read-only token reads");
    call.counts(StoreCounts::new(0, 0, 0, 4)).await;

    // Each filter.
    for (query, keys) in [
        ("", &["bal-1", "st-a1", "st-b1", "us-a2"][..]),
        (&*format!("iccid={ICCID_A}"), &["st-a1", "us-a2"]),
        ("iccid=8992", &["st-b1"]),
        ("kind=esim.status", &["st-a1", "st-b1"]),
        ("kind=esim", &["st-a1", "st-b1", "us-a2"]),
        ("kind=partner.low_balance", &["bal-1"]),
        ("error=TIMEOUT", &["st-a1", "st-b1"]),
        ("error=%3Cscript%3E", &["bal-1"]),
        (&*format!("iccid={ICCID_A}&kind=esim.status"), &["st-a1"]),
        ("since=1h", &["bal-1", "st-a1", "st-b1", "us-a2"]),
        ("until=1h", &[]),
        (
            "since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
            &["bal-1", "st-a1", "st-b1", "us-a2"],
        ),
        (
            &*format!("since={}", crate::time::UnixTime::now().as_secs() + 3600),
            &[],
        ),
    ] {
        assert_eq!(call.keys(query).await, keys, "{name}: ?{query}");
    }
    let listed = call
        .ok("GET", "/api/dead-letters", &format!("iccid={ICCID_B}"), "")
        .await;
    let item = &listed["items"][0];
    assert_eq!(
        (
            item["event"].as_str(),
            item["iccid"].as_str(),
            item["attempts"].as_u64()
        ),
        (Some("esim.status"), Some(ICCID_B), Some(1)),
        "{name}: {item}"
    );
    let first = call.ok("GET", "/api/dead-letters", "limit=2", "").await;
    let second = call
        .ok("GET", "/api/dead-letters", "limit=2&offset=2", "")
        .await;
    assert_eq!(
        (first["total"].as_u64(), second["total"].as_u64()),
        (Some(4), Some(4))
    );
    let mut paged: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().expect("items").clone())
        .map(|item| item["key"].as_str().expect("key").to_owned())
        .collect();
    paged.sort();
    assert_eq!(
        paged,
        ["bal-1", "st-a1", "st-b1", "us-a2"],
        "{name}: two pages"
    );
    for bad in [
        "kind=a.b.c",
        "since=yesterday-ish",
        "colour=red",
        "limit=many",
        "iccid=89-1",
    ] {
        let (status, body) = call
            .raw("GET", "/api/dead-letters", bad, "", Some(&call.full()))
            .await;
        assert_eq!(status, 400, "{name}: ?{bad} is refused: {body}");
    }

    // One dead letter, with its body.
    let shown = call.ok("GET", "/api/dead-letters/bal-1", "", "").await;
    assert_eq!(shown["error"], "mailer refused <script>alert(1)</script>");
    let body = shown["body"].as_str().expect("body");
    assert!(body.contains("low_balance"), "{name}: {body}");
    let (status, _) = call
        .raw("GET", "/api/dead-letters/nope", "", "", Some(&call.full()))
        .await;
    assert_eq!(status, 404, "{name}: no such dead letter");

    let history = store.limits().history.is_on();
    if history {
        call.history_before_changes().await;
        let again = store
            .enqueue(Incoming::new("done-1", b"again".to_vec()))
            .await;
        assert_eq!(
            again.expect("enqueue"),
            crate::delivery::Enqueued::Duplicate
        );
        let done = call.ok("GET", "/api/deliveries/done-1", "", "").await;
        assert_eq!(done["duplicates"], 1, "{name}: {done}");
    } else {
        let listed = call.ok("GET", "/api/deliveries", "", "").await;
        assert_eq!(listed["total"], 0, "{name}: no history kept, none shown");
    }

    // Replay and discard, by filter and by keys, with dry runs.
    let dry = call
        .ok(
            "POST",
            "/api/dead-letters/replay",
            "",
            r#"{"filter":{"kind":"esim.status"},"dry_run":true}"#,
        )
        .await;
    assert_eq!(
        (dry["matched"].as_u64(), dry["done"].as_u64()),
        (Some(2), Some(0)),
        "{name}"
    );
    call.counts(StoreCounts::new(0, 0, 0, 4)).await;
    let filter = format!(r#"{{"filter":{{"iccid":"{ICCID_A}","kind":"esim.status"}}}}"#);
    let replayed = call
        .ok("POST", "/api/dead-letters/replay", "", &filter)
        .await;
    assert_eq!(replayed["keys"], json!(["st-a1"]), "{name}: {replayed}");
    call.counts(StoreCounts::new(1, 0, 0, 3)).await;
    if history {
        let replayed = call.ok("GET", "/api/deliveries/st-a1", "", "").await;
        assert_eq!(
            (replayed["outcome"].as_str(), replayed["replays"].as_u64()),
            (Some("pending"), Some(1)),
            "{name}: {replayed}"
        );
    }
    let job = lease_eventually(&*store, 1, LONG).await.remove(0);
    assert_eq!(
        (job.key.as_str(), job.attempts),
        ("st-a1", 0),
        "{name}: replayed anew"
    );
    assert!(settle(&*store, &job, Resolution::Completed).await);
    if history {
        let handled = call.ok("GET", "/api/deliveries/st-a1", "", "").await;
        assert_eq!(handled["outcome"], "handled", "{name}: {handled}");
        let attempts = handled["attempts"].as_array().map(Vec::len);
        assert_eq!(attempts, Some(2), "{name}: {handled}");
        assert!(handled["finished_ms"].is_i64(), "{name}: {handled}");
    }
    let discarded = call
        .ok(
            "POST",
            "/api/dead-letters/discard",
            "",
            r#"{"keys":["bal-1","no-such-key"]}"#,
        )
        .await;
    assert_eq!(
        (discarded["matched"].as_u64(), discarded["done"].as_u64()),
        (Some(1), Some(1))
    );
    call.counts(StoreCounts::new(0, 0, 0, 2)).await;
    let dry = call
        .ok(
            "POST",
            "/api/dead-letters/discard",
            "",
            r#"{"filter":{"error":"timeout"},"dry_run":true}"#,
        )
        .await;
    assert_eq!(dry["keys"], json!(["st-b1"]), "{name}: {dry}");
    if history {
        let gone = call.ok("GET", "/api/deliveries/bal-1", "", "").await;
        assert_eq!(gone["outcome"], "discarded", "{name}: {gone}");
    }
    let all = call
        .ok("POST", "/api/dead-letters/discard", "", r#"{"filter":{}}"#)
        .await;
    assert_eq!(all["done"].as_u64(), Some(2), "{name}: {all}");
    call.counts(StoreCounts::new(0, 0, 0, 0)).await;
    for bad in [
        "",
        "[]",
        r#"{"keys":["a"],"filter":{}}"#,
        r#"{"keys":"a"}"#,
        r#"{"filter":{"kind":"a.b.c"}}"#,
        r#"{"all":true}"#,
    ] {
        let (status, body) = call
            .raw(
                "POST",
                "/api/dead-letters/replay",
                "",
                bad,
                Some(&call.full()),
            )
            .await;
        assert_eq!(status, 400, "{name}: {bad:?} is refused: {body}");
    }
    pause_and_resume(&call, &*store).await;
    let (status, _) = call
        .raw("DELETE", "/api/counts", "", "", Some(&call.full()))
        .await;
    assert_eq!(status, 405, "{name}: another method");
}

/// Pausing `esim.status` holds its deliveries (stored, counted ready, not leased) while others
/// flow; resuming hands them out. A store that cannot pause answers 503 with its error.
async fn pause_and_resume(call: &Caller<'_>, store: &dyn Store) {
    let name = call.name;
    let status = json!({"kind": "esim.status"}).to_string();
    if store.paused().await.is_err() || store.pause("x.y".to_owned()).await.is_err() {
        let (code, body) = call
            .raw("POST", "/api/pause", "", &status, Some(&call.full()))
            .await;
        assert_eq!(
            code, 503,
            "{name}: a store that cannot pause says so: {body}"
        );
        return;
    }
    assert!(store.resume("x.y".to_owned()).await.expect("resume"));
    let read = format!("Bearer {READ}");
    let (code, _) = call
        .raw("POST", "/api/pause", "", &status, Some(&read))
        .await;
    assert_eq!(code, 403, "{name}: a read-only token cannot pause");
    for bad in ["", "{}", r#"{"kind":"esim"}"#, r#"{"kind":".status"}"#] {
        let (code, _) = call
            .raw("POST", "/api/pause", "", bad, Some(&call.full()))
            .await;
        assert_eq!(code, 400, "{name}: {bad:?}");
    }
    let paused = call.ok("POST", "/api/pause", "", &status).await;
    assert_eq!(paused["changed"], true, "{name}: {paused}");
    let again = call.ok("POST", "/api/pause", "", &status).await;
    assert_eq!(again["changed"], false, "{name}: paused already");
    let listed = call.ok("GET", "/api/paused", "", "").await;
    assert_eq!(listed["paused"], json!(["esim.status"]), "{name}: {listed}");
    let counts = call.ok("GET", "/api/counts", "", "").await;
    assert_eq!(counts["paused"], json!(["esim.status"]), "{name}: {counts}");
    for (key, kind) in [
        ("p-status", EventKind::EsimStatus),
        ("p-top-up", EventKind::PartnerTopUp),
    ] {
        let body = crate::testing::sample(kind).to_vec();
        let stored = store
            .enqueue(Incoming::new(key, body))
            .await
            .expect("enqueue");
        assert_eq!(stored, crate::delivery::Enqueued::Stored, "{name}");
    }
    let flowing = lease_eventually(store, 1, LONG).await;
    assert_eq!(flowing[0].key, "p-top-up", "{name}: the other kind flows");
    assert!(settle(store, &flowing[0], Resolution::Completed).await);
    for _ in 0..3 {
        let leased = store.lease(10, LONG).await.expect("lease");
        assert!(
            leased.is_empty(),
            "{name}: a paused kind is not leased: {leased:?}"
        );
    }
    call.counts(StoreCounts::new(1, 0, 0, 0)).await;
    let resumed = call.ok("POST", "/api/resume", "", &status).await;
    assert_eq!(resumed["changed"], true, "{name}: {resumed}");
    let again = call.ok("POST", "/api/resume", "", &status).await;
    assert_eq!(again["changed"], false, "{name}: not paused any more");
    let held = lease_eventually(store, 1, LONG).await;
    assert_eq!(held[0].key, "p-status", "{name}: handed out once resumed");
    assert!(settle(store, &held[0], Resolution::Completed).await);
    call.counts(StoreCounts::new(0, 0, 0, 0)).await;
}
