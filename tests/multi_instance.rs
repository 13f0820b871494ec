//! Several receivers, one PostgreSQL: three `server` example processes share one database
//! schema; distinct signed deliveries are spread across them (a share sent again to another
//! instance, as a load balancer would after a timeout); one instance is SIGKILLed mid-run and
//! restarted. In the end every delivery answered 200 was handled, at most 1 % more than once
//! (only those in flight at the kill), and duplicates sent to another instance were not
//! handled again. Needs `ROAMIFY_TEST_POSTGRES` (CI sets it); says it was skipped otherwise.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use support::{Running, handled_keys, start_server};

const SECRET: &str = "whsec_multi";
const INSTANCES: usize = 3;
const SENDERS: u32 = 6;
const DELIVERIES: u32 = 900;
const KILL_AT: u32 = 300;

fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n}.25,"currency":"EUR"}}}}"#)
        .into_bytes()
}

struct Cluster {
    addrs: Mutex<Vec<String>>,
}

impl Cluster {
    fn url(&self, instance: usize) -> String {
        let addrs = self.addrs.lock().expect("lock");
        format!("http://{}/webhooks/roamify", addrs[instance % addrs.len()])
    }
}

/// Posts `body` to `instance`, moving to the next instance on a connection error or a 503 (as a
/// load balancer would), until one answers 200. Returns whether it was acknowledged.
async fn post(client: &reqwest::Client, cluster: &Cluster, instance: usize, body: &[u8]) -> bool {
    let signature = roamify_hooks::testing::sign(SECRET, body);
    for attempt in 0..200 {
        let url = cluster.url(instance + attempt);
        match client
            .post(&url)
            .header("X-Roamify-Signature", &signature)
            .body(body.to_vec())
            .send()
            .await
        {
            Ok(response) if response.status().as_u16() == 200 => return true,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    false
}

fn instance_env(url: &str, schema: &str, log: &str) -> Vec<(String, String)> {
    [
        ("ROAMIFY_DELIVERY", url),
        ("PG_SCHEMA", schema),
        ("HANDLED_LOG", log),
        ("VISIBILITY_TIMEOUT_SECS", "2"),
        ("HANDLER_TIMEOUT_SECS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn start(url: &str, schema: &str, log: &Path) -> (Running, String) {
    let env = instance_env(url, schema, log.to_str().expect("utf-8 path"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    start_server(SECRET, &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_receivers_on_one_postgres_lose_nothing_and_run_each_delivery_once() {
    let Ok(url) = std::env::var("ROAMIFY_TEST_POSTGRES") else {
        eprintln!("skipped: set ROAMIFY_TEST_POSTGRES to a PostgreSQL URL to run it");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = format!(
        "roamify_multi_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let mut logs = Vec::new();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..INSTANCES {
        let log = dir.path().join(format!("handled-{i}.log"));
        let (server, addr) = start(&url, &schema, &log);
        logs.push(log);
        servers.push(Some(server));
        addrs.push(addr);
    }
    let cluster = Arc::new(Cluster {
        addrs: Mutex::new(addrs),
    });
    let next = Arc::new(AtomicU32::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (cluster, next, client) = (cluster.clone(), next.clone(), client.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut resent = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= DELIVERIES {
                        return (acknowledged, resent);
                    }
                    let body = body(n);
                    let key = hex::encode(Sha256::digest(&body));
                    let instance = n as usize % INSTANCES;
                    if post(&client, &cluster, instance, &body).await {
                        acknowledged.push(key.clone());
                        // Every fifth delivery arrives again, at another instance.
                        if n % 5 == 0 && post(&client, &cluster, instance + 1, &body).await {
                            resent.push(key);
                        }
                    }
                }
            })
        })
        .collect();

    // Kill instance 0 in the middle of the stream, then start it again.
    while next.load(Ordering::SeqCst) < KILL_AT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(servers[0].take()); // SIGKILL
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = dir.path().join("handled-0-restarted.log");
    let (server, addr) = start(&url, &schema, &log);
    logs.push(log);
    servers[0] = Some(server);
    cluster.addrs.lock().expect("lock")[0] = addr;

    let mut acknowledged = Vec::new();
    let mut resent = Vec::new();
    for sender in senders {
        let (a, r) = sender.await.expect("sender");
        acknowledged.extend(a);
        resent.extend(r);
    }
    assert!(
        acknowledged.len() >= DELIVERIES as usize * 9 / 10,
        "most deliveries acknowledged: {}",
        acknowledged.len()
    );

    // Every acknowledged delivery is handled, by some instance (the killed one's in-flight
    // deliveries once their visibility timeout passes).
    let mut handled: HashMap<String, usize> = HashMap::new();
    for _ in 0..3000 {
        handled.clear();
        for log in &logs {
            for key in handled_keys(log) {
                *handled.entry(key).or_default() += 1;
            }
        }
        if acknowledged.iter().all(|k| handled.contains_key(k)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let missing = acknowledged
        .iter()
        .filter(|k| !handled.contains_key(*k))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged deliveries were never handled",
        acknowledged.len()
    );
    let twice = handled.values().filter(|n| **n > 1).count();
    assert!(
        twice * 100 <= acknowledged.len(),
        "{twice} of {} deliveries handled more than once (over 1 %)",
        acknowledged.len()
    );
    let resent_twice = resent.iter().filter(|k| handled[*k] > 1).count();
    assert!(
        resent_twice * 100 <= resent.len().max(100),
        "{resent_twice} of {} deliveries sent to two instances ran twice",
        resent.len()
    );
    eprintln!(
        "{} deliveries acknowledged by {INSTANCES} instances (one SIGKILLed and restarted), {} sent again to another instance; all handled, {twice} more than once",
        acknowledged.len(),
        resent.len()
    );
    drop(servers);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("drop the test schema");
}
