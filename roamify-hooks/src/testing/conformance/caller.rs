//! Calls to the admin API as the kit's checks make them, with what every answer must be.

use serde_json::Value;

use crate::admin::{AdminApi, AdminRequest};
use crate::delivery::StoreCounts;

use super::admin::{FULL, ICCID_A};

pub(super) struct Caller<'a> {
    pub(super) api: &'a AdminApi,
    pub(super) name: &'a str,
}

impl Caller<'_> {
    /// The history after the set-up: four dead letters and one handled delivery.
    pub(super) async fn history_before_changes(&self) {
        let name = self.name;
        let all = &["bal-1", "done-1", "st-a1", "st-b1", "us-a2"][..];
        for (query, keys) in [
            ("", all),
            ("outcome=handled", &["done-1"]),
            ("outcome=dead", &["bal-1", "st-a1", "st-b1", "us-a2"]),
            (&*format!("iccid={ICCID_A}"), &["st-a1", "us-a2"]),
            ("kind=partner", &["bal-1"]),
            ("kind=esim.status&outcome=dead", &["st-a1", "st-b1"]),
            ("error=TIMEOUT", &["st-a1", "st-b1"]),
            ("since=1h", all),
            ("until=1h", &[]),
            ("outcome=stale", &[]),
        ] {
            let found = self.keys_of("/api/deliveries", query).await;
            assert_eq!(found, keys, "{name}: deliveries?{query}");
        }
        let one = self.ok("GET", "/api/deliveries/st-a1", "", "").await;
        assert_eq!(
            (
                one["outcome"].as_str(),
                one["event"].as_str(),
                one["iccid"].as_str()
            ),
            (Some("dead"), Some("esim.status"), Some(ICCID_A)),
            "{name}: {one}"
        );
        let attempts = one["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "{name}: {one}");
        assert_eq!(attempts[0]["error"], "activation Timeout at the carrier");
        assert!(
            one["received_ms"].is_i64() && one["finished_ms"].is_i64(),
            "{one}"
        );
        let body = one["body"].as_str();
        assert!(
            body.is_some_and(|b| b.contains(ICCID_A)),
            "{name}: the body"
        );
        let handled = self.ok("GET", "/api/deliveries/done-1", "", "").await;
        assert_eq!(handled["outcome"], "handled", "{name}: {handled}");
        assert!(handled["body"].is_null(), "{name}: no body once handled");
        let first = self.ok("GET", "/api/deliveries", "limit=2", "").await;
        let rest = self
            .ok("GET", "/api/deliveries", "limit=10&offset=2", "")
            .await;
        let sizes = (
            first["items"].as_array().map(Vec::len),
            rest["items"].as_array().map(Vec::len),
        );
        assert_eq!(sizes, (Some(2), Some(3)), "{name}: pages of the history");
        let full = self.full();
        let (status, _) = self
            .raw("GET", "/api/deliveries", "outcome=lost", "", Some(&full))
            .await;
        assert_eq!(status, 400, "{name}: an unknown outcome");
        let (status, _) = self
            .raw("GET", "/api/deliveries/never-seen", "", "", Some(&full))
            .await;
        assert_eq!(status, 404, "{name}: an unknown delivery");
    }

    pub(super) fn full(&self) -> String {
        format!("Bearer {FULL}")
    }

    pub(super) async fn raw(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
        authorization: Option<&str>,
    ) -> (u16, Value) {
        let mut request = AdminRequest::new(method, path, query).body(body.as_bytes());
        if let Some(value) = authorization {
            request = request.authorization(value.as_bytes());
        }
        let reply = self.api.handle(request).await;
        let value = serde_json::from_slice(reply.body()).expect("every answer is JSON");
        (reply.status(), value)
    }

    pub(super) async fn ok(&self, method: &str, path: &str, query: &str, body: &str) -> Value {
        let (status, value) = self
            .raw(method, path, query, body, Some(&self.full()))
            .await;
        assert_eq!(
            status, 200,
            "{}: {method} {path}?{query}: {value}",
            self.name
        );
        value
    }

    /// The dead letters a listing with `query` finds, their keys sorted.
    pub(super) async fn keys(&self, query: &str) -> Vec<String> {
        self.keys_of("/api/dead-letters", query).await
    }

    /// The keys a listing of `path` with `query` finds, sorted.
    pub(super) async fn keys_of(&self, path: &str, query: &str) -> Vec<String> {
        let listed = self.ok("GET", path, query, "").await;
        let mut keys: Vec<String> = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["key"].as_str().expect("key").to_owned())
            .collect();
        assert_eq!(
            listed["total"].as_u64(),
            Some(keys.len() as u64),
            "{}",
            self.name
        );
        keys.sort();
        keys
    }

    pub(super) async fn counts(&self, want: StoreCounts) {
        let counts = self.ok("GET", "/api/counts", "", "").await;
        let got = StoreCounts::new(
            read(&counts, "ready"),
            read(&counts, "leased"),
            read(&counts, "retrying"),
            read(&counts, "dead"),
        );
        assert_eq!(got, want, "{}: counts {counts}", self.name);
    }
}

fn read(counts: &Value, field: &str) -> usize {
    counts[field]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .expect("a count")
}
