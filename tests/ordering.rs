//! Events out of order, end to end: three `server` example processes share one store
//! (PostgreSQL, then Redis), with `ROAMIFY_ORDERING` = `latest` or `serial`. Status events for
//! many eSIMs are shuffled and sent to random instances; then older events of each eSIM, with
//! new bodies (so not duplicates), are sent again. The eSIM handlers record each run's start and
//! end (`ORDER_LOG`) and last a while (`HANDLER_SLEEP_MS`), so overlaps would show. Checked:
//! every eSIM's newest status ran; no delivery ran once a newer one of its eSIM had finished
//! (and with `serial`, none started before the one before it ended: runs of one eSIM never
//! overlap, and start in timestamp order); every late event was acknowledged and counted as
//! stale, none ran. Needs `ROAMIFY_TEST_POSTGRES` / `ROAMIFY_TEST_REDIS` (CI sets both); each
//! test says it was skipped otherwise.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::{Running, postgres, redis, start_server_with_metrics};

const SECRET: &str = "whsec_ordering";
const INSTANCES: usize = 3;
const ICCIDS: u64 = 30;
/// Status events per eSIM, signed at `BASE + 1 ..= BASE + STATUSES`.
const STATUSES: i64 = 5;
const BASE: i64 = 1_760_000_000;
const SENDERS: usize = 8;

fn iccid(n: u64) -> String {
    format!("89{:017}", 4_400_000 + n)
}

fn status(iccid: &str, at: i64, status: &str) -> Vec<u8> {
    format!(
        r#"{{"event_category":"esim","event_type":"status","data":{{"timestamp":{at},"iccid":"{iccid}","esim_id":"e-{iccid}","start":{at},"end":{at},"status":"{status}"}}}}"#
    )
    .into_bytes()
}

/// A small deterministic shuffle (xorshift), so a failure replays.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = usize::try_from(seed % (i as u64 + 1)).expect("small");
        items.swap(i, j);
    }
}

struct Instance {
    server: Running,
    webhook: String,
    metrics: String,
}

fn start(env: &[(&str, &str)]) -> Instance {
    let (server, webhook, metrics) = start_server_with_metrics(SECRET, env);
    Instance {
        server,
        webhook,
        metrics,
    }
}

fn webhooks<'a>(instances: impl IntoIterator<Item = &'a Instance>) -> Vec<String> {
    instances.into_iter().map(|i| i.webhook.clone()).collect()
}

/// Posts every body, `SENDERS` at a time, each to an instance (`host:port`) picked from its
/// position; panics unless each is answered 200.
async fn send_all(client: &reqwest::Client, webhooks: &[String], bodies: Vec<Vec<u8>>) {
    let queue = Arc::new(tokio::sync::Mutex::new(bodies.into_iter().enumerate()));
    let urls: Arc<Vec<String>> = Arc::new(
        webhooks
            .iter()
            .map(|addr| format!("http://{addr}/webhooks/roamify"))
            .collect(),
    );
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (queue, urls, client) = (queue.clone(), urls.clone(), client.clone());
            tokio::spawn(async move {
                loop {
                    let Some((n, body)) = queue.lock().await.next() else {
                        return;
                    };
                    let url = &urls[(n * 7 + n / 3) % urls.len()];
                    let response = client
                        .post(url)
                        .header(
                            "X-Roamify-Signature",
                            roamify_hooks::testing::sign(SECRET, &body),
                        )
                        .body(body)
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(response.status().as_u16(), 200, "acknowledged");
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
}

/// One run of an eSIM handler, as `ORDER_LOG` records it.
#[derive(Debug, Clone, Copy)]
struct Run {
    at: i64,
    start: u128,
    end: Option<u128>,
    pid: u32,
}

/// The runs recorded so far, by ICCID, in the order they started.
fn runs(log: &Path) -> HashMap<String, Vec<Run>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut open: HashMap<(String, i64), Vec<usize>> = HashMap::new();
    let mut runs: HashMap<String, Vec<Run>> = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [what, "status", iccid, at, nanos, pid] = fields[..] else {
            continue;
        };
        let (at, nanos): (i64, u128) = (at.parse().expect("at"), nanos.parse().expect("ns"));
        let pid: u32 = pid.parse().expect("pid");
        let list = runs.entry(iccid.to_owned()).or_default();
        if what == "start" {
            open.entry((iccid.to_owned(), at))
                .or_default()
                .push(list.len());
            list.push(Run {
                at,
                start: nanos,
                end: None,
                pid,
            });
        } else if let Some(i) = open.get_mut(&(iccid.to_owned(), at)).and_then(Vec::pop) {
            list[i].end = Some(nanos);
        }
    }
    for list in runs.values_mut() {
        list.sort_by_key(|run| run.start);
    }
    runs
}

/// Sum of the `roamify_jobs_total{result="stale"}` counters of every instance.
async fn stale(client: &reqwest::Client, instances: &[Instance]) -> u64 {
    let mut total = 0;
    for instance in instances {
        let text = client
            .get(format!("http://{}/metrics", instance.metrics))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        total += text
            .lines()
            .filter(|l| l.starts_with("roamify_jobs_total") && l.contains(r#"result="stale""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// Starts `INSTANCES` servers on the store `(url, scope_var, scope)` with `ordering`, recording
/// the eSIM handlers' runs in `log`, each run lasting `sleep_ms`.
fn cluster(store: (&str, &str, &str), ordering: &str, log: &Path, sleep_ms: &str) -> Vec<Instance> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (url, scope_var, scope) = store;
    let env = [
        ("ROAMIFY_DELIVERY", url),
        (scope_var, scope),
        ("ROAMIFY_ORDERING", ordering),
        ("ORDER_LOG", log.to_str().expect("utf-8")),
        ("HANDLER_SLEEP_MS", sleep_ms),
    ];
    (0..INSTANCES).map(|_| start(&env)).collect()
}

async fn out_of_order(url: &str, scope_var: &str, scope: &str, ordering: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("order.log");
    let instances = cluster((url, scope_var, scope), ordering, &log, "15");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // Every status of every eSIM, shuffled.
    let mut events: Vec<(u64, i64)> = (0..ICCIDS)
        .flat_map(|n| (1..=STATUSES).map(move |k| (n, BASE + k)))
        .collect();
    shuffle(&mut events, 0x9e37_79b9_7f4a_7c15);
    let bodies = events
        .iter()
        .map(|&(n, at)| status(&iccid(n), at, "ACTIVATED"))
        .collect();
    send_all(&client, &webhooks(&instances), bodies).await;

    // Every eSIM's newest status runs, and ends.
    let newest = BASE + STATUSES;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = runs(&log);
        let done = (0..ICCIDS).all(|n| {
            runs.get(&iccid(n))
                .is_some_and(|list| list.iter().any(|run| run.at == newest && run.end.is_some()))
        });
        if done && runs.values().flatten().all(|run| run.end.is_some()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every eSIM's newest status ran within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whatever was older and still queued is judged stale, never run: let it be settled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stale_before = stale(&client, &instances).await;

    // Older statuses again, with new bodies: acknowledged, stale, never run.
    let runs_before: usize = runs(&log).values().map(Vec::len).sum();
    let late: Vec<Vec<u8>> = (0..ICCIDS)
        .flat_map(|n| (1..STATUSES).map(move |k| status(&iccid(n), BASE + k, "INSTALLED")))
        .collect();
    let late_count = late.len() as u64;
    send_all(&client, &webhooks(&instances), late).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stale(&client, &instances).await < stale_before + late_count {
        assert!(
            std::time::Instant::now() < deadline,
            "the late events were not all judged stale within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = runs(&log);
    let runs_after: usize = runs.values().map(Vec::len).sum();
    assert_eq!(runs_after, runs_before, "{ordering}: no late event ran");
    assert_eq!(
        stale(&client, &instances).await,
        stale_before + late_count,
        "{ordering}: every late event counted stale once"
    );

    for (iccid, list) in &runs {
        for (i, a) in list.iter().enumerate() {
            for b in &list[..i] {
                // `b` started first. Once a run has ended, nothing older of its eSIM starts.
                if b.end.is_some_and(|end| end < a.start) {
                    assert!(
                        a.at >= b.at,
                        "{ordering}: {iccid}: {} started after {} had ended",
                        a.at,
                        b.at
                    );
                }
                if ordering == "serial" {
                    assert!(
                        b.end.is_some_and(|end| end <= a.start),
                        "{ordering}: {iccid}: runs of {} and {} overlap",
                        b.at,
                        a.at
                    );
                    assert!(
                        a.at >= b.at,
                        "{ordering}: {iccid}: {} started after {}",
                        a.at,
                        b.at
                    );
                }
            }
        }
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos()
}

/// `serial`, and the instance running a delivery is SIGKILLed mid-handler: the delivery is
/// taken back once the instance's heartbeat stops, runs again, and no later delivery of its eSIM
/// started before it did; every eSIM's newest status runs to its end, and runs of one eSIM are
/// one at a time, in timestamp order. (A status that arrived after a newer one of its eSIM had
/// started is stale, and never runs.)
async fn killed_mid_handler(url: &str, scope_var: &str, scope: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("order.log");
    let mut instances: Vec<Option<Instance>> =
        cluster((url, scope_var, scope), "serial", &log, "1000")
            .into_iter()
            .map(Some)
            .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let esims = 6;
    let bodies = (1..=3)
        .flat_map(|k| (0..esims).map(move |n| status(&iccid(n), BASE + k, "ACTIVATED")))
        .collect();
    send_all(&client, &webhooks(instances.iter().flatten()), bodies).await;
    // The victim: whichever instance is running a first status now.
    let victim_pid = loop {
        let running = runs(&log)
            .values()
            .flatten()
            .find(|run| run.end.is_none())
            .map(|run| run.pid);
        if let Some(pid) = running {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let victim = instances
        .iter()
        .position(|i| i.as_ref().is_some_and(|i| i.server.0.id() == victim_pid))
        .expect("the victim is one of the instances");
    drop(instances[victim].take()); // SIGKILL
    let killed_at = now_nanos();

    // Every eSIM's newest status runs to its end, and every run the kill cut short runs again
    // (once taken back) to its end.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let runs = runs(&log);
        let done = (0..esims).all(|n| {
            runs.get(&iccid(n)).is_some_and(|list| {
                let ended = |at: i64| list.iter().any(|r| r.at == at && r.end.is_some());
                ended(BASE + 3) && list.iter().all(|r| r.end.is_some() || ended(r.at))
            })
        });
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every newest or cut-short status ran within 90 s of the kill: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = runs(&log);
    let mut cut = 0;
    for (iccid, list) in &runs {
        for (i, a) in list.iter().enumerate() {
            for b in &list[..i] {
                // A run the kill cut short ended when the process died.
                let b_end = b.end.or_else(|| (b.pid == victim_pid).then_some(killed_at));
                assert!(
                    b_end.is_some_and(|end| end <= a.start),
                    "{iccid}: runs of {} and {} overlap (pid {} then {})",
                    b.at,
                    a.at,
                    b.pid,
                    a.pid
                );
                assert!(a.at >= b.at, "{iccid}: {} started after {}", a.at, b.at);
            }
        }
        cut += list.iter().filter(|r| r.end.is_none()).count();
    }
    assert!(cut >= 1, "the kill cut a run short");
}

/// What a test checks on three instances sharing a store.
#[derive(Clone, Copy)]
enum Check {
    /// [`out_of_order`] with this `ROAMIFY_ORDERING`.
    Ordering(&'static str),
    /// [`killed_mid_handler`].
    Kill,
}

async fn check(check: Check, url: &str, scope_var: &str, scope: &str) {
    match check {
        Check::Ordering(ordering) => out_of_order(url, scope_var, scope, ordering).await,
        Check::Kill => killed_mid_handler(url, scope_var, scope).await,
    }
}

async fn on_postgres(test: &str, what: Check) {
    let Some(url) = postgres::postgres_url(test) else {
        return;
    };
    let schema = postgres::unique_schema("roamify_order");
    check(what, &url, "PG_SCHEMA", &schema).await;
    postgres::drop_schema(&url, &schema).await;
}

async fn on_redis(test: &str, what: Check) {
    let Some(url) = redis::redis_url(test) else {
        return;
    };
    let name = redis::unique_name("order");
    check(what, &url, "REDIS_NAME", &name).await;
    redis::drop_redis_keys(&url, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_never_run_an_older_status_after_a_newer_one() {
    on_postgres("ordering_latest_on_postgres", Check::Ordering("latest")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_run_one_status_of_an_esim_at_a_time() {
    on_postgres("ordering_serial_on_postgres", Check::Ordering("serial")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_redis_never_run_an_older_status_after_a_newer_one() {
    on_redis("ordering_latest_on_redis", Check::Ordering("latest")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_redis_run_one_status_of_an_esim_at_a_time() {
    on_redis("ordering_serial_on_redis", Check::Ordering("serial")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_on_postgres_holds_an_esim_through_a_sigkill_mid_handler() {
    on_postgres("ordering_sigkill_on_postgres", Check::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_on_redis_holds_an_esim_through_a_sigkill_mid_handler() {
    on_redis("ordering_sigkill_on_redis", Check::Kill).await;
}
