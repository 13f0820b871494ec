//! When stores fail: a store that goes down answers 503 with its real cause, loses nothing it
//! acknowledged and recovers when the store does; a locked or full SQLite file refuses new
//! deliveries with SQLite's own error, and a full one takes them again once workers free room; two
//! processes sharing one SQLite file never take each other's live
//! leases; errors keep their causes; in-memory bounds hold. No timing assertions: bounded waits
//! for conditions.

mod support;
#[path = "support/tapped.rs"]
mod tapped;

use support::stores;

use std::collections::BTreeSet;
use std::error::Error as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roamify_hooks::delivery::{
    Enqueued, MemoryStore, QueueOptions, Resolution, Settlement, SqliteOptions, SqliteStore, Store,
    Unavailable,
};
use roamify_hooks::events::PartnerBalance;
use roamify_hooks::health::NotReady;
use roamify_hooks::{
    BuildError, Dispatch, Outcome, Receiver, Secret, State, delivery::DeliveryMode, handlers,
    on_event, testing,
};
use support::eventually;
use tapped::Tapped;
use tokio::sync::Semaphore;

const SECRET: &str = "whsec_failures";

/// A distinct signed `partner.top_up` body per `n`, padded with `pad` bytes of note.
fn body(n: u32, pad: usize) -> Vec<u8> {
    format!(
        r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n},"balance":{n},"currency":"EUR","note":"{}"}}}}"#,
        "x".repeat(pad)
    )
    .into_bytes()
}

async fn deliver<D: Dispatch>(receiver: &Receiver<D>, body: &[u8]) -> Outcome {
    receiver.receive([testing::sign(SECRET, body)], body).await
}

/// Handled balances (each delivery's `n`), with how many times each ran.
#[derive(Default)]
struct Seen {
    runs: Mutex<Vec<String>>,
    gate: Option<Semaphore>,
}

impl Seen {
    fn distinct(&self) -> BTreeSet<String> {
        self.runs.lock().expect("lock").iter().cloned().collect()
    }
    fn runs(&self) -> usize {
        self.runs.lock().expect("lock").len()
    }
}

#[on_event(category = "partner", kind = "top_up")]
async fn record(event: PartnerBalance, seen: State<Seen>) {
    if let Some(gate) = &seen.gate {
        gate.acquire().await.expect("gate").forget();
    }
    seen.runs
        .lock()
        .expect("lock")
        .push(event.balance.to_string());
}

/// A queued receiver on `store` whose handlers wait for `seen.gate`, two at a time.
fn gated(store: Arc<dyn Store>) -> (Receiver<impl Dispatch>, Arc<Seen>) {
    let seen = Arc::new(Seen {
        gate: Some(Semaphore::new(0)),
        ..Seen::default()
    });
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen.clone())
        .store(store, QueueOptions::default().concurrency(2))
        .build(handlers![record])
        .expect("build");
    (receiver, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_store_answers_503_with_its_cause_loses_nothing_and_recovers() {
    let store = Arc::new(Tapped::new(Arc::new(MemoryStore::new())));
    let (receiver, seen) = gated(store.clone());
    for n in 1..=5 {
        let outcome = deliver(&receiver, &body(n, 0)).await;
        assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    }
    // Two handlers are running (the gate holds them) when the store goes down.
    eventually("two handlers running", || receiver.stats().in_flight == 2).await;
    store.down.store(true, Ordering::SeqCst);

    let refused = deliver(&receiver, &body(6, 0)).await;
    let Outcome::Unavailable {
        event,
        reason: Unavailable::Store(error),
    } = &refused
    else {
        panic!("a new delivery is refused while the store is down: {refused:?}");
    };
    assert_eq!((event.category(), event.kind()), ("partner", "top_up"));
    let cause = error.source().expect("the store error keeps its cause");
    assert_eq!(cause.to_string(), "connection refused");
    assert_eq!(
        error.report(),
        "the delivery store could not enqueue: connection refused"
    );
    let stats = receiver.stats();
    assert_eq!(
        (stats.refused_unavailable, stats.refused_full),
        (1, 0),
        "{stats}"
    );

    // The running handlers (and any other job leased before the store went down) finish while
    // the store is down: their outcomes cannot be recorded yet, and are not lost.
    seen.gate.as_ref().expect("gate").add_permits(100);
    eventually("the running handlers finished", || seen.runs() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.inner.pending().await.expect("pending"),
        5,
        "nothing recorded while the store is down"
    );

    store.down.store(false, Ordering::SeqCst);
    // Roamify retries what was refused.
    let retried = deliver(&receiver, &body(6, 0)).await;
    assert!(matches!(retried, Outcome::Queued { .. }), "{retried:?}");
    eventually("every acknowledged delivery handled", || {
        seen.distinct().len() == 6
    })
    .await;
    eventually("every outcome recorded", || {
        futures_executor::block_on(store.inner.pending()).expect("pending") == 0
    })
    .await;
    assert_eq!(
        seen.runs(),
        6,
        "each delivery ran once: the outcomes recorded late were not run again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_sqlite_file_refuses_with_sqlites_error_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locked.sqlite");
    let store = SqliteStore::open_with(
        &path,
        SqliteOptions::default().busy_timeout(Duration::from_millis(200)),
    )
    .expect("open");
    let (receiver, seen) = gated(Arc::new(store));
    for n in 1..=3 {
        let outcome = deliver(&receiver, &body(n, 0)).await;
        assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    }
    eventually("two handlers running", || receiver.stats().in_flight == 2).await;

    // Another process takes the file's write lock and keeps it.
    let other = rusqlite::Connection::open(&path).expect("open");
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let refused = deliver(&receiver, &body(4, 0)).await;
    let Outcome::Unavailable { reason, .. } = &refused else {
        panic!("refused while the file is locked: {refused:?}");
    };
    assert_eq!(reason.label(), "store_failed");
    let report = reason.report();
    assert!(
        report.starts_with("the delivery store could not begin a transaction: database is locked"),
        "SQLite's own error reaches the delivery: {report}"
    );
    // Handlers finish meanwhile; their outcomes wait for the lock.
    seen.gate.as_ref().expect("gate").add_permits(100);
    eventually("the running handlers finished", || seen.runs() >= 2).await;

    other.execute_batch("ROLLBACK").expect("unlock");
    let retried = deliver(&receiver, &body(4, 0)).await;
    assert!(matches!(retried, Outcome::Queued { .. }), "{retried:?}");
    eventually("every acknowledged delivery handled", || {
        seen.distinct().len() == 4
    })
    .await;
    eventually("every outcome recorded", || {
        futures_executor::block_on(receiver.pending()).expect("pending") == 0
    })
    .await;
    assert_eq!(seen.runs(), 4, "each delivery ran once");
}

/// A SQLite file bounded to 96 KiB with deliveries of about 6 KB (each body spills into two
/// overflow pages, freed once its job is done).
const FULL_AT: u64 = 96 * 1024;
const LARGE: usize = 6000;

#[tokio::test(flavor = "multi_thread")]
async fn a_full_sqlite_file_refuses_new_deliveries_and_accepts_them_again_once_workers_free_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_with(
        dir.path().join("full.sqlite"),
        SqliteOptions::default().max_size(FULL_AT),
    )
    .expect("open");
    let (receiver, seen) = gated(Arc::new(store));

    let mut stored = 0;
    let refused = loop {
        let outcome = deliver(&receiver, &body(stored + 1, LARGE)).await;
        if !matches!(outcome, Outcome::Queued { .. }) {
            break outcome;
        }
        stored += 1;
        assert!(
            stored < 64,
            "a 96 KiB file took {stored} deliveries of 6 KB"
        );
    };
    assert!(stored >= 3, "the file held only {stored} deliveries");
    let Outcome::Unavailable {
        reason: Unavailable::Store(error),
        ..
    } = &refused
    else {
        panic!("a new delivery is refused when the file is full: {refused:?}");
    };
    let report = error.report();
    assert!(
        report.starts_with("the delivery store could not enqueue: database or disk is full"),
        "SQLite's own error reaches the delivery: {report}"
    );
    assert_eq!(receiver.stats().refused_unavailable, 1);

    // Every stored delivery runs once and its outcome is recorded, although the file is full.
    seen.gate.as_ref().expect("gate").add_permits(1000);
    eventually("every stored delivery handled", || {
        seen.distinct().len() == usize::try_from(stored).expect("count")
    })
    .await;
    eventually("every outcome recorded", || {
        futures_executor::block_on(receiver.pending()).expect("pending") == 0
    })
    .await;

    // Their bodies' room is reused: Roamify's retry of the refused delivery is stored and runs.
    let retried = deliver(&receiver, &body(stored + 1, LARGE)).await;
    assert!(matches!(retried, Outcome::Queued { .. }), "{retried:?}");
    eventually("the retried delivery handled", || {
        seen.distinct().len() == usize::try_from(stored + 1).expect("count")
    })
    .await;
    assert_eq!(
        seen.runs(),
        usize::try_from(stored + 1).expect("count"),
        "each delivery ran once"
    );
}

/// A group commit that fails because the file is full fails only the commands that need room: an
/// outcome recorded in the same transaction as a delivery that does not fit is still recorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_sqlite_file_fails_only_the_commands_that_need_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("group.sqlite");
    let store =
        SqliteStore::open_with(&path, SqliteOptions::default().max_size(FULL_AT)).expect("open");
    let window = Duration::from_secs(3600);
    let mut n = 0;
    let full = loop {
        n += 1;
        match store
            .enqueue(format!("k{n}"), body(n, LARGE), window, 1000)
            .await
        {
            Ok(Enqueued::Stored) => assert!(n < 64, "the file never filled"),
            Ok(other) => panic!("{other:?}"),
            Err(error) => break error,
        }
    };
    let report = full.report();
    assert!(
        report.starts_with("the delivery store could not enqueue: database or disk is full"),
        "{report}"
    );
    let job = store
        .lease(1, Duration::from_secs(60))
        .await
        .expect("lease")
        .pop()
        .expect("a job");

    // Another connection holds the write lock while the store takes a first command, so the
    // next two wait together and are committed as one group: a delivery that does not fit, then
    // an outcome that frees room.
    let other = rusqlite::Connection::open(&path).expect("open");
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let first = store.pending();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let enqueue = store.enqueue(format!("k{n}"), body(n, LARGE), window, 1000);
    let settle = store.settle(vec![Settlement::new(&job, Resolution::Completed)]);
    other.execute_batch("ROLLBACK").expect("unlock");
    first.await.expect("pending");
    let enqueued = enqueue.await;
    assert!(
        enqueued
            .as_ref()
            .is_err_and(|e| e.report().contains("database or disk is full")),
        "{enqueued:?}"
    );
    assert_eq!(settle.await.expect("the outcome is recorded"), vec![true]);
    // The finished job's room takes the delivery that did not fit.
    assert_eq!(
        store
            .enqueue(format!("k{n}"), body(n, LARGE), window, 1000)
            .await
            .expect("stored once room is freed"),
        Enqueued::Stored
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_opening_a_shared_file_takes_over_only_expired_leases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.sqlite");
    let long = Duration::from_secs(3600);
    let first = SqliteStore::open(&path).expect("open");
    for key in ["a", "b"] {
        let stored = first
            .enqueue(key.to_owned(), body(1, 0), long, 100)
            .await
            .expect("enqueue");
        assert_eq!(stored, Enqueued::Stored);
    }
    let short = first
        .lease(1, Duration::from_millis(1500))
        .await
        .expect("lease")
        .remove(0);
    let held = first.lease(1, long).await.expect("lease").remove(0);

    // Another process starts on the same file while the first still runs its jobs.
    let second = SqliteStore::open(&path).expect("open a second time");
    assert!(
        second.lease(10, long).await.expect("lease").is_empty(),
        "live leases of another process are not taken over on start"
    );
    assert_eq!(
        second.pending().await.expect("pending"),
        2,
        "the count is shared"
    );
    assert_eq!(
        second
            .enqueue("a".to_owned(), body(1, 0), long, 100)
            .await
            .expect("enqueue"),
        Enqueued::Duplicate,
        "deduplication is shared"
    );

    // Once the short lease's visibility timeout passes, the second process takes that job.
    let mut taken = Vec::new();
    for _ in 0..1000 {
        taken = second.lease(10, long).await.expect("lease");
        if !taken.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(taken.len(), 1, "only the expired lease");
    let retaken = taken.remove(0);
    assert_eq!(retaken.key, short.key);
    assert!(
        retaken.lease > held.lease,
        "lease tokens are unique across processes"
    );
    let stale = first
        .settle(vec![Settlement::new(&short, Resolution::Completed)])
        .await
        .expect("settle");
    assert_eq!(
        stale,
        [false],
        "the first process's late completion is refused"
    );
    let applied = second
        .settle(vec![Settlement::new(&retaken, Resolution::Completed)])
        .await
        .expect("settle");
    assert_eq!(applied, [true]);
    let applied = first
        .settle(vec![Settlement::new(&held, Resolution::Completed)])
        .await
        .expect("settle");
    assert_eq!(applied, [true], "its live lease stayed its own");
    assert_eq!(first.pending().await.expect("pending"), 0);
    assert_eq!(second.pending().await.expect("pending"), 0);
}

#[test]
fn errors_keep_their_causes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state(Seen::default())
        .delivery(DeliveryMode::Durable {
            path: dir.path().join("no-such-dir").join("x.sqlite"),
            options: QueueOptions::default(),
        })
        .build(handlers![record])
        .expect_err("the directory does not exist");
    assert!(matches!(error, BuildError::Store(_)), "{error:?}");
    assert_eq!(error.to_string(), "cannot build the receiver");
    let store_error = error.source().expect("a store error");
    assert!(
        store_error
            .to_string()
            .starts_with("the delivery store could not"),
        "{store_error}"
    );
    let sqlite = store_error.source().expect("SQLite's error");
    assert!(sqlite.to_string().contains("no-such-dir"), "{sqlite}");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_memory_dead_letters_are_bounded_newest_kept() {
    let store = MemoryStore::with_limits(1000, 2);
    for n in 0..3 {
        let key = format!("dead-{n}");
        let stored = store
            .enqueue(key, body(n, 0), Duration::from_secs(60), 100)
            .await
            .expect("enqueue");
        assert_eq!(stored, Enqueued::Stored);
        let job = store
            .lease(1, Duration::from_secs(60))
            .await
            .expect("lease")
            .remove(0);
        let dead = Resolution::Dead {
            error: "boom".to_owned(),
        };
        let applied = store
            .settle(vec![Settlement::new(&job, dead)])
            .await
            .expect("settle");
        assert_eq!(applied, [true]);
    }
    let keys: Vec<String> = store
        .dead_letters()
        .await
        .expect("dead letters")
        .into_iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(
        keys,
        ["dead-1", "dead-2"],
        "the oldest was dropped (and logged)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_in_memory_dedupe_index_is_bounded() {
    let store = MemoryStore::with_limits(2, 10);
    let window = Duration::from_secs(3600);
    for key in ["k1", "k2", "k3"] {
        let stored = store
            .enqueue(key.to_owned(), body(1, 0), window, 100)
            .await
            .expect("enqueue");
        assert_eq!(stored, Enqueued::Stored);
    }
    let again = |key: &'static str| {
        futures_executor::block_on(store.enqueue(key.to_owned(), body(1, 0), window, 100))
            .expect("enqueue")
    };
    assert_eq!(again("k3"), Enqueued::Duplicate);
    assert_eq!(
        again("k1"),
        Enqueued::Stored,
        "the oldest key was forgotten at the bound"
    );
    // Inline mode's index has the same bound, set on the builder.
    let seen = Arc::new(Seen::default());
    let inline = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen.clone())
        .dedupe_capacity(2)
        .build(handlers![record])
        .expect("build");
    for n in [1, 2, 3, 1] {
        let outcome = deliver(&inline, &body(n, 0)).await;
        assert!(matches!(outcome, Outcome::Handled { .. }), "{outcome:?}");
    }
    let duplicate = deliver(&inline, &body(1, 0)).await;
    assert!(
        matches!(duplicate, Outcome::Duplicate { .. }),
        "{duplicate:?}"
    );
}

/// A TCP proxy in front of PostgreSQL or Redis that can cut every connection and refuse new ones, then
/// let them through again: the database "goes away" without touching the real server.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0_u64);
        let accepting = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused, as by a database that is down
                }
                let target = target.clone();
                let mut cuts = cuts.clone();
                // Only cuts after this connection opened end it.
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, cut }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

/// Deliveries through `store`, whose server the `proxy` cuts off and lets back: 503 with the
/// cause while it is away (and readiness failing, `store_unavailable`), accepted again (and
/// ready) and every delivery handled once when it is back.
async fn outage(store: Arc<dyn Store>, proxy: &Proxy, what: &str) {
    let seen = Arc::new(Seen::default());
    let receiver = Receiver::builder()
        .secret(Secret::new(SECRET).expect("secret"))
        .state_arc(seen.clone())
        .store(store, QueueOptions::default())
        .build(handlers![record])
        .expect("build");
    for n in 1..=3 {
        let outcome = deliver(&receiver, &body(n, 0)).await;
        assert!(matches!(outcome, Outcome::Queued { .. }), "{outcome:?}");
    }
    eventually("handled before the outage", || seen.distinct().len() == 3).await;

    proxy.set_up(false);
    // The cut reaches the store's open connections a moment later (the proxy's tasks close
    // them): a delivery that arrives first is still stored, and counted with the others.
    let mut n = 4;
    let refused = loop {
        let outcome = deliver(&receiver, &body(n, 0)).await;
        if matches!(outcome, Outcome::Queued { .. }) && n < 50 {
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        break outcome;
    };
    let Outcome::Unavailable {
        reason: Unavailable::Store(error),
        ..
    } = &refused
    else {
        panic!("refused while the {what} is unreachable: {refused:?}");
    };
    assert!(
        error.source().is_some(),
        "the cause is kept: {}",
        error.report()
    );
    // Readiness says so too (asked at most once a second, within a second).
    let mut readiness = Ok(());
    for _ in 0..100 {
        readiness = receiver.readiness().await;
        if readiness == Err(NotReady::StoreUnavailable) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        readiness,
        Err(NotReady::StoreUnavailable),
        "while the {what} is cut off"
    );

    proxy.set_up(true);
    let mut last = None;
    for _ in 0..100 {
        // Roamify retries; the store reconnects once its server is back. A write cut off
        // after it reached the server (the answer lost) was refused yet stored: its retry is
        // then a duplicate, acknowledged, and the delivery still runs once.
        let outcome = deliver(&receiver, &body(n, 0)).await;
        if matches!(outcome, Outcome::Queued { .. } | Outcome::Duplicate { .. }) {
            last = None;
            break;
        }
        last = Some(outcome);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(outcome) = last {
        panic!("not accepted again once the {what} is back: {outcome:?}");
    }
    let mut readiness = Err(NotReady::StoreUnavailable);
    for _ in 0..100 {
        readiness = receiver.readiness().await;
        if readiness.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(readiness, Ok(()), "ready again once the {what} is back");
    let delivered = usize::try_from(n).expect("a count");
    eventually("the workers resumed", || seen.distinct().len() == delivered).await;
    assert_eq!(seen.runs(), delivered, "each delivery ran once");

    drop(receiver);
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_postgres_answers_503_and_workers_resume_when_it_is_back() {
    use roamify_hooks::delivery::{PgOptions, PgStore};
    let Some(url) =
        stores::postgres_url("losing_postgres_answers_503_and_workers_resume_when_it_is_back")
    else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().expect("ROAMIFY_TEST_POSTGRES");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let user = config.get_user().unwrap_or("postgres");
    let dbname = config.get_dbname().unwrap_or("test");
    let through_proxy = format!(
        "postgres://{user}@{}:{}/{dbname}",
        proxy.addr.ip(),
        proxy.addr.port()
    );
    let schema = stores::unique_schema("roamify_outage");
    let store = PgStore::connect(
        &through_proxy,
        PgOptions::default()
            .schema(schema.as_str())
            .timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect through the proxy");
    outage(Arc::new(store), &proxy, "database").await;
    stores::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_redis_answers_503_and_workers_resume_when_it_is_back() {
    use roamify_hooks::delivery::{RedisOptions, RedisStore};
    let Some(url) =
        stores::redis_url("losing_redis_answers_503_and_workers_resume_when_it_is_back")
    else {
        return;
    };
    let info = redis::Client::open(url.as_str())
        .expect("ROAMIFY_TEST_REDIS")
        .get_connection_info()
        .clone();
    let target = match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => panic!("ROAMIFY_TEST_REDIS must be a redis:// TCP URL, not {other:?}"),
    };
    let proxy = Proxy::start(target).await;
    let name = stores::unique_schema("outage");
    let store = RedisStore::connect(
        &format!("redis://{}/", proxy.addr),
        RedisOptions::default()
            .name(name.as_str())
            .timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect through the proxy");
    outage(Arc::new(store), &proxy, "Redis server").await;
    stores::drop_redis_keys(&url, &name).await;
}
