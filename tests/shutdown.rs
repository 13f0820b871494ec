//! A clean stop under load loses nothing: the server example takes a steady stream of distinct
//! signed deliveries from several senders, gets SIGTERM, fails its readiness at once, goes on
//! taking deliveries for its grace (`SHUTDOWN_GRACE_SECS`), then stops taking connections and
//! lets its handlers finish (`DRAIN_GRACE_SECS`). No delivery is answered 503 (one sent during
//! the grace is answered 200 like any other), and every delivery answered 200 is handled — in
//! the queued mode before the process exits (its memory dies with it), in the journal mode
//! before it exits or at the next start.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::start_server;

const SECRET: &str = "whsec_shutdown";
const SENDERS: usize = 4;
const GRACE: Duration = Duration::from_secs(2);

fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n}.25,"currency":"EUR"}}}}"#)
        .into_bytes()
}

/// One request: when it was sent, its key, and its status (`None`: no answer, the server had
/// stopped taking connections).
type Sent = (Instant, String, Option<u16>);

/// Sends distinct deliveries until the server stops answering (or `stop`).
async fn sender(url: String, next: Arc<AtomicU32>, stop: Arc<AtomicBool>) -> Vec<Sent> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut sent = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let body = body(n);
        let signature = roamify_hooks::testing::sign(SECRET, &body);
        let key = hex::encode(Sha256::digest(&body));
        let at = Instant::now();
        let status = client
            .post(&url)
            .header("X-Roamify-Signature", signature)
            .body(body)
            .send()
            .await
            .ok()
            .map(|response| response.status().as_u16());
        let refused = status.is_none();
        sent.push((at, key, status));
        if refused {
            break;
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_in_the_queued_mode_loses_nothing() {
    stops_cleanly("server", "queued", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_in_the_journal_mode_loses_nothing() {
    stops_cleanly("server", "journal", Some("journal")).await;
}

/// The same through axum (`roamify_hooks_axum::serve_until_stopped`; the `server` example uses
/// `roamify_hooks_actix::run_until_stopped`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_on_axum_loses_nothing() {
    stops_cleanly("axum_server", "queued", None).await;
}

/// Stops the `example` server with SIGTERM under load in `ROAMIFY_DELIVERY=<mode>` (with a path
/// under a temporary directory when `path` is given), and checks what the module docs say.
async fn stops_cleanly(example: &str, mode: &str, path: Option<&str>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("handled.log");
    let delivery = match path {
        Some(name) => format!("{mode}:{}", dir.path().join(name).display()),
        None => mode.to_owned(),
    };
    let grace = GRACE.as_secs().to_string();
    let env = [
        ("ROAMIFY_DELIVERY", delivery.as_str()),
        ("HANDLED_LOG", log.to_str().expect("utf-8 path")),
        ("WORKERS", "2"),
        ("SHUTDOWN_GRACE_SECS", grace.as_str()),
        ("DRAIN_GRACE_SECS", "20"),
    ];
    let (mut server, addr) = support::start_example(example, SECRET, &env);
    let url = format!("http://{addr}/webhooks/roamify");
    let ready = format!("http://{addr}/readyz");
    let probe = reqwest::Client::new();
    assert_eq!(
        probe
            .get(&ready)
            .send()
            .await
            .expect("probe")
            .status()
            .as_u16(),
        200
    );

    let next = Arc::new(AtomicU32::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| tokio::spawn(sender(url.clone(), next.clone(), stop.clone())))
        .collect();
    // Let deliveries flow, then stop the server in the middle of them.
    while next.load(Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let terminated = Instant::now();
    server.terminate();

    // Readiness fails while the server still answers.
    let mut not_ready = None;
    for _ in 0..200 {
        match probe.get(&ready).send().await {
            Ok(response) if response.status().as_u16() == 503 => {
                not_ready = Some(response.text().await.expect("body"));
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(error) => {
                panic!("the server stopped answering before its readiness failed: {error}")
            }
        }
    }
    assert_eq!(
        not_ready.as_deref(),
        Some(r#"{"code":503,"message":"not ready","reason":"shutting_down"}"#)
    );

    let status = server.exited(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "the server exits cleanly: {status:?}"
    );
    stop.store(true, Ordering::SeqCst);
    let mut sent: Vec<Sent> = Vec::new();
    for task in senders {
        sent.extend(task.await.expect("sender"));
    }

    let acknowledged: Vec<String> = sent
        .iter()
        .filter(|(_, _, status)| *status == Some(200))
        .map(|(_, key, _)| key.clone())
        .collect();
    let refused: Vec<&Sent> = sent
        .iter()
        .filter(|(_, _, status)| status.is_some_and(|s| s != 200))
        .collect();
    assert!(refused.is_empty(), "answered other than 200: {refused:?}");
    // Sent during the grace (with a margin for the signal to arrive): taken, not refused.
    let during_grace = sent
        .iter()
        .filter(|(at, _, _)| {
            *at > terminated && *at < terminated + GRACE - Duration::from_millis(500)
        })
        .collect::<Vec<_>>();
    assert!(
        !during_grace.is_empty(),
        "deliveries were sent during the grace"
    );
    assert!(
        during_grace
            .iter()
            .all(|(_, _, status)| *status == Some(200)),
        "a delivery sent during the grace was not taken: {during_grace:?}"
    );

    // Every acknowledged delivery handled: before the exit in the queued mode; in the journal
    // mode before the exit or once the next start resumes it.
    let handled: std::collections::HashSet<String> =
        support::handled_keys(&log).into_iter().collect();
    let missing = acknowledged
        .iter()
        .filter(|k| !handled.contains(*k))
        .count();
    if mode == "queued" {
        assert_eq!(
            missing, 0,
            "acknowledged deliveries lost with the queue's memory"
        );
    } else if missing > 0 {
        let (_server, _addr) = start_server(SECRET, &env);
        support::all_handled(&acknowledged, &log).await;
    }
    eprintln!(
        "{example}, {mode}: {} acknowledged ({} during the grace), all handled; {missing} resumed after a restart",
        acknowledged.len(),
        during_grace.len()
    );
}
