//! The durable modes survive SIGKILL: the server example runs as a child process in a durable
//! mode (the SQLite store, then the journal) under a steady stream of distinct signed deliveries
//! and is killed (SIGKILL) several times, restarted each time on the same files. In the end
//! every delivery that was answered 200 has been handled — checked by idempotency key in the
//! server's `HANDLED_LOG`, within 30 s of the last restart, with the default visibility timeout
//! of 5 minutes: the leases the killed process held are taken back at once.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use support::start_server;

const SECRET: &str = "whsec_crash";
const KILLS: usize = 4;
const SENDERS: usize = 8;

fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n}.50,"currency":"EUR"}}}}"#)
        .into_bytes()
}

/// Sends distinct deliveries until `stop`, returning the keys answered 200.
async fn sender(url: String, next: Arc<AtomicU32>, stop: Arc<AtomicBool>) -> Vec<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut acknowledged = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let body = body(n);
        let signature = roamify_hooks::testing::sign(SECRET, &body);
        let key = hex::encode(Sha256::digest(&body));
        match client
            .post(&url)
            .header("X-Roamify-Signature", signature)
            .body(body)
            .send()
            .await
        {
            Ok(response) if response.status().as_u16() == 200 => acknowledged.push(key),
            // Refused or cut off by the kill: Roamify would retry; not acknowledged.
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_is_handled_despite_sigkill() {
    survives_sigkill("durable", "deliveries.sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_in_the_journal_is_handled_despite_sigkill() {
    survives_sigkill("journal", "journal").await;
}

/// Kills the server `KILLS` times under load in `ROAMIFY_DELIVERY=<scheme>:<dir>/<name>`, then
/// checks every acknowledged delivery was handled.
async fn survives_sigkill(scheme: &str, name: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join(name);
    let log = dir.path().join("handled.log");
    let mode = format!("{scheme}:{}", store.display());
    let env = [
        ("ROAMIFY_DELIVERY", mode.as_str()),
        ("HANDLED_LOG", log.to_str().expect("utf-8 path")),
        ("WORKERS", "2"),
        // The default visibility timeout (5 min): a killed process's leases are taken back
        // when the next one opens the store, not when their timeout passes.
        ("HANDLER_TIMEOUT_SECS", "1"),
    ];

    let next = Arc::new(AtomicU32::new(1));
    let mut acknowledged = Vec::new();
    for round in 0..KILLS {
        let (server, addr) = start_server(SECRET, &env);
        let url = format!("http://{addr}/webhooks/roamify");
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| tokio::spawn(sender(url.clone(), next.clone(), stop.clone())))
            .collect();
        // Let deliveries flow, then kill the server in the middle of them.
        let before = next.load(Ordering::SeqCst);
        for _ in 0..500 {
            if next.load(Ordering::SeqCst) >= before + 150 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(server); // SIGKILL, while senders are mid-request
        stop.store(true, Ordering::SeqCst);
        for task in senders {
            acknowledged.extend(task.await.expect("sender"));
        }
        assert!(
            !acknowledged.is_empty(),
            "round {round}: nothing was acknowledged"
        );
    }

    // A last start resumes whatever the kills left pending.
    let (_server, _addr) = start_server(SECRET, &env);
    support::all_handled(&acknowledged, &log).await;
    eprintln!(
        "{scheme}: {} deliveries acknowledged across {KILLS} SIGKILLs, all handled",
        acknowledged.len()
    );
}
