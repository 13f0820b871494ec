//! PostgreSQL and Redis cut off by a TCP proxy while a receiver uses them: deliveries are
//! answered 503 with the cause, readiness fails, nothing acknowledged is lost, and workers resume
//! when the server is back. Run when `ROAMIFY_TEST_POSTGRES` / `ROAMIFY_TEST_REDIS` are set.

#[path = "../roamify-hooks/tests/support/gated.rs"]
mod gated;
mod support;

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gated::{SECRET, Seen, body, deliver, record};
use roamify_hooks::delivery::{QueueOptions, Store, Unavailable};
use roamify_hooks::health::NotReady;
use roamify_hooks::{Outcome, Receiver, Secret, handlers};
use roamify_hooks_postgres::{PgOptions, PgStore};
use roamify_hooks_redis::{RedisOptions, RedisStore};
use support::runtime::eventually;
use support::{postgres, redis as redis_support};

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
    let Some(url) =
        postgres::postgres_url("losing_postgres_answers_503_and_workers_resume_when_it_is_back")
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
    let schema = postgres::unique_schema("roamify_outage");
    let store = PgStore::connect(
        &through_proxy,
        PgOptions::default()
            .schema(schema.as_str())
            .timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect through the proxy");
    outage(Arc::new(store), &proxy, "database").await;
    postgres::drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_redis_answers_503_and_workers_resume_when_it_is_back() {
    let Some(url) =
        redis_support::redis_url("losing_redis_answers_503_and_workers_resume_when_it_is_back")
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
    let name = redis_support::unique_name("outage");
    let store = RedisStore::connect(
        &format!("redis://{}/", proxy.addr),
        RedisOptions::default()
            .name(name.as_str())
            .timeout(Duration::from_secs(1)),
    )
    .await
    .expect("connect through the proxy");
    outage(Arc::new(store), &proxy, "Redis server").await;
    redis_support::drop_redis_keys(&url, &name).await;
}
