//! The `server` example's Prometheus endpoint (`METRICS_ADDR`), scraped over HTTP: counters
//! move with signed deliveries (by outcome, category and kind), with refusals (by reason), and
//! the handler duration histogram counts each run.

mod support;

use support::start_server_with_metrics;

const SECRET: &str = "whsec_metrics";

fn top_up(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":1.50,"currency":"EUR"}}}}"#)
        .into_bytes()
}

/// The value of the first sample of `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_endpoint_counts_deliveries_refusals_and_handler_runs() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_server, addr, metrics) = start_server_with_metrics(SECRET, &[]);
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/webhooks/roamify");
    let scrape = || async {
        let response = client
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.status().as_u16(), 200);
        response.text().await.expect("metrics text")
    };
    let post = |signature: String, body: Vec<u8>| {
        let request = client
            .post(&url)
            .header("X-Roamify-Signature", signature)
            .body(body);
        async move { request.send().await.expect("post").status().as_u16() }
    };

    let before = scrape().await;
    let handled = [
        "outcome=\"handled\"",
        "category=\"partner\"",
        "kind=\"top_up\"",
    ];
    assert_eq!(sample(&before, "roamify_deliveries_total", &handled), 0.0);

    for n in 1..=3 {
        let body = top_up(n);
        let signature = roamify_hooks::testing::sign(SECRET, &body);
        assert_eq!(post(signature, body).await, 200);
    }
    assert_eq!(post("0".repeat(64), top_up(9)).await, 401);
    let not_an_event = br#"{"hello":"world"}"#.to_vec();
    let signature = roamify_hooks::testing::sign(SECRET, &not_an_event);
    assert_eq!(post(signature, not_an_event).await, 400);

    let after = scrape().await;
    assert_eq!(
        sample(&after, "roamify_deliveries_total", &handled),
        3.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "roamify_deliveries_total",
            &["outcome=\"bad_signature\""]
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "roamify_refused_total",
            &["reason=\"bad_signature\""]
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "roamify_refused_total", &["reason=\"malformed\""]),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "roamify_handler_duration_seconds_count",
            &["kind=\"top_up\"", "result=\"ok\""]
        ),
        3.0,
        "{after}"
    );
    // A histogram with buckets, not a summary: every run is under the last finite bucket.
    assert_eq!(
        sample(
            &after,
            "roamify_handler_duration_seconds_bucket",
            &["kind=\"top_up\"", "result=\"ok\"", "le=\"60\""]
        ),
        3.0,
        "{after}"
    );
    assert!(
        !after.contains("quantile="),
        "no summary quantiles: {after}"
    );
    // Every metric says what it is.
    for metric in [
        "roamify_deliveries_total",
        "roamify_refused_total",
        "roamify_handler_duration_seconds",
    ] {
        assert!(
            after
                .lines()
                .any(|l| l.starts_with(&format!("# HELP {metric} "))),
            "HELP for {metric}: {after}"
        );
    }
}
