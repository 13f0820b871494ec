//! The Redis store: the store contract's conformance kit, the admin API, stores sharing one name, keys that
//! vanish, stopped consumers removed, bad input, leases of a receiver that stopped beating taken
//! back, and keys written by the previous release opened with nothing lost. Run when
//! `ROAMIFY_TEST_REDIS` holds a Redis URL (CI sets it); each test says it was skipped otherwise.

#[path = "../../tests/support/redis.rs"]
mod support;
#[path = "../../tests/support/upgrade.rs"]
mod upgrade;

use roamify_hooks::delivery::Incoming;
use std::sync::Arc;
use std::time::Duration;

use roamify_hooks::delivery::{
    Admin, Enqueued, HistoryLimits, Queue, Resolution, Store, StoreError, StoreLimits,
};
use roamify_hooks::testing::conformance::{self, enqueue, lease_eventually, settle};
use roamify_hooks_redis::{HOLDER_TIMEOUT, RedisOptions, RedisStore};
use support::{drop_redis_keys, redis_url, unique_name};

const LONG: Duration = Duration::from_secs(3600);

/// A connect that must fail, with `expected` in its report.
fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: &str) {
    let error = result.expect_err(expected);
    assert!(error.report().contains(expected), "{}", error.report());
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_store_keeps_the_store_promises() {
    let Some(url) = redis_url("redis_store_keeps_the_store_promises") else {
        return;
    };
    let mut names = Vec::new();
    conformance::check("redis", |limits| {
        let name = unique_name("conformance");
        names.push(name.clone());
        let url = url.clone();
        async move {
            let options = RedisOptions::default().name(name).limits(limits);
            Arc::new(RedisStore::connect(&url, options).await.expect("connect")) as Arc<dyn Store>
        }
    })
    .await;
    for name in names {
        drop_redis_keys(&url, &name).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_the_redis_store() {
    let Some(url) = redis_url("the_admin_api_on_the_redis_store") else {
        return;
    };
    let name = unique_name("admin");
    let options = RedisOptions::default().name(name.as_str());
    let store = RedisStore::connect(&url, options).await.expect("connect");
    conformance::check_admin("redis", Arc::new(store)).await;
    drop_redis_keys(&url, &name).await;
    let name = unique_name("history");
    let limits = StoreLimits::default().history(HistoryLimits::new(25, Duration::from_secs(3600)));
    let options = RedisOptions::default().name(name.as_str()).limits(limits);
    let store = RedisStore::connect(&url, options).await.expect("connect");
    conformance::check_history_bound("redis", Arc::new(store)).await;
    drop_redis_keys(&url, &name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stores_of_one_name_share_everything() {
    let Some(url) = redis_url("redis_stores_of_one_name_share_everything") else {
        return;
    };
    let name = unique_name("shared");
    let options = RedisOptions::default().name(name.as_str());
    let (a, b, c) = tokio::join!(
        RedisStore::connect(&url, options.clone()),
        RedisStore::connect(&url, options.clone()),
        RedisStore::connect(&url, options.clone()),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    assert_ne!(a.consumer(), b.consumer(), "one consumer per process");
    conformance::check_shared(&a, &b, &c).await;
    drop((a, b, c));
    drop_redis_keys(&url, &name).await;
}

/// Redis restarted without persistence: every key is gone, the consumer group with them. The
/// store creates the group again instead of failing on `NOGROUP` forever.
#[tokio::test(flavor = "multi_thread")]
async fn redis_store_recovers_when_its_keys_vanish() {
    let Some(url) = redis_url("redis_store_recovers_when_its_keys_vanish") else {
        return;
    };
    let name = unique_name("vanish");
    let store = RedisStore::connect(&url, RedisOptions::default().name(name.as_str()))
        .await
        .expect("connect");
    assert_eq!(enqueue(&store, "before-1", 1).await, Enqueued::Stored);
    let before = lease_eventually(&store, 1, LONG).await.remove(0);
    drop_redis_keys(&url, &name).await;
    assert!(
        store
            .lease(10, LONG)
            .await
            .expect("lease on an empty Redis")
            .is_empty(),
        "nothing survives a restart without persistence"
    );
    assert!(
        !settle(&store, &before, Resolution::Completed).await,
        "a lease from before the restart is stale"
    );
    assert_eq!(enqueue(&store, "after-1", 2).await, Enqueued::Stored);
    let after = lease_eventually(&store, 1, LONG).await.remove(0);
    assert_eq!(after.key, "after-1");
    assert!(settle(&store, &after, Resolution::Completed).await);
    // The group itself deleted while the stream stays: recreated too.
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    assert_eq!(enqueue(&store, "after-2", 3).await, Enqueued::Stored);
    let _: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(format!("{{{name}}}:stream"))
        .arg("workers")
        .query_async(&mut conn)
        .await
        .expect("destroy the group");
    let again = lease_eventually(&store, 1, LONG).await.remove(0);
    assert_eq!(
        again.key, "after-2",
        "entries from before the group are read"
    );
    drop(store);
    drop_redis_keys(&url, &name).await;
}

/// The names of the consumers in the group of the Redis store `name`.
async fn consumers(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> Vec<String> {
    let consumers: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(format!("{{{name}}}:stream"))
        .arg("workers")
        .query_async(conn)
        .await
        .expect("XINFO CONSUMERS");
    consumers
        .iter()
        .filter_map(|c| match c.get("name") {
            Some(redis::Value::BulkString(bytes)) => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            Some(redis::Value::SimpleString(text)) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Consumers of receivers that stopped are removed from the group once idle, unless they still
/// hold a lease (its entry must be taken over first).
#[tokio::test(flavor = "multi_thread")]
async fn redis_store_removes_consumers_of_stopped_receivers() {
    let Some(url) = redis_url("redis_store_removes_consumers_of_stopped_receivers") else {
        return;
    };
    let name = unique_name("forget");
    let options = RedisOptions::default().name(name.as_str());
    let mut conn = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    // One receiver ran a delivery to completion and stopped; another stopped holding a lease.
    let idle = RedisStore::connect(&url, options.clone())
        .await
        .expect("connect");
    assert_eq!(enqueue(&idle, "done-1", 1).await, Enqueued::Stored);
    let done = lease_eventually(&idle, 1, LONG).await.remove(0);
    assert!(settle(&idle, &done, Resolution::Completed).await);
    let idle_consumer = idle.consumer().to_owned();
    drop(idle);
    let holder = RedisStore::connect(&url, options.clone())
        .await
        .expect("connect");
    assert_eq!(enqueue(&holder, "held-1", 2).await, Enqueued::Stored);
    lease_eventually(&holder, 1, LONG).await;
    let holder_consumer = holder.consumer().to_owned();
    drop(holder);
    let before = consumers(&mut conn, &name).await;
    assert!(before.contains(&idle_consumer), "{before:?}");
    assert!(before.contains(&holder_consumer), "{before:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A receiver starting later removes the idle one on its first lease.
    let live = RedisStore::connect(&url, options.forget_idle(Duration::from_millis(100)))
        .await
        .expect("connect");
    let mut after = before.clone();
    for _ in 0..100 {
        live.lease(1, LONG).await.expect("lease");
        after = consumers(&mut conn, &name).await;
        if !after.contains(&idle_consumer) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !after.contains(&idle_consumer),
        "the idle consumer is removed: {after:?}"
    );
    assert!(
        after.contains(&holder_consumer),
        "a consumer holding a lease stays: {after:?}"
    );
    drop(live);
    drop_redis_keys(&url, &name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_store_refuses_bad_input_clearly() {
    refused(
        RedisStore::connect(
            "redis://127.0.0.1:6379",
            RedisOptions::default().name("a b{c}"),
        )
        .await,
        "invalid store name",
    );
    let url = RedisStore::connect("http://127.0.0.1:6379", RedisOptions::default())
        .await
        .expect_err("not a Redis URL");
    assert!(
        url.report().contains("parse the Redis URL"),
        "{}",
        url.report()
    );
    refused(
        RedisStore::connect(
            "redis://127.0.0.1:1",
            RedisOptions::default().timeout(Duration::from_secs(2)),
        )
        .await,
        "the delivery store could not ",
    );
}

/// A receiver that stopped beating (its store dropped here, as a killed process's heartbeat
/// stops) has its leases taken back by a live one within the holder timeout and a heartbeat,
/// not after their visibility timeout of an hour.
#[tokio::test(flavor = "multi_thread")]
async fn redis_takes_back_the_leases_of_a_receiver_that_stopped_beating() {
    let Some(url) = redis_url("redis_takes_back_the_leases_of_a_receiver_that_stopped") else {
        return;
    };
    let name = unique_name("takeover");
    let options = RedisOptions::default().name(name.as_str());
    let live = RedisStore::connect(&url, options.clone())
        .await
        .expect("live");
    let gone = RedisStore::connect(&url, options).await.expect("gone");
    conformance::check_takeover(&live, Box::new(gone), HOLDER_TIMEOUT * 3).await;
    drop(live);
    drop_redis_keys(&url, &name).await;
}

/// Keys written by the release before the stores moved to their own crates
/// (`tests/fixtures/upgrade/redis-v1.txt`: each key's `DUMP`, restored here) open with every
/// acknowledged delivery, dedupe key and dead letter intact.
#[tokio::test(flavor = "multi_thread")]
async fn redis_opens_keys_written_by_the_previous_release_with_nothing_lost() {
    let Some(url) = redis_url("redis_opens_keys_written_by_the_previous_release") else {
        return;
    };
    let name = "roamify_upgrade_v1";
    drop_redis_keys(&url, name).await;
    let fixture = std::fs::read_to_string(upgrade::fixture("redis-v1.txt")).expect("the fixture");
    let mut conn = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    for line in fixture.lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.split('\t');
        let (Some(key), Some(ttl), Some(dump)) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("a fixture line: {line}");
        };
        let ttl: i64 = ttl.parse().expect("a TTL");
        let dump = hex::decode(dump).expect("hex");
        let _: () = redis::cmd("RESTORE")
            .arg(key)
            .arg(ttl.max(0))
            .arg(dump)
            .arg("REPLACE")
            .query_async(&mut conn)
            .await
            .expect("RESTORE");
    }
    let store = RedisStore::connect(
        &url,
        RedisOptions::default()
            .name(name)
            .limits(StoreLimits::default().window(upgrade::WINDOW)),
    )
    .await
    .expect("open");
    upgrade::upgraded(&store).await;
    drop(store);
    drop_redis_keys(&url, name).await;
}

/// A name records the application that owns it: another application is refused at start-up
/// with a clear error, an operator's store (no owner) opens it, and keys with deliveries but
/// no recorded owner (an earlier release's) is adopted once.
#[tokio::test(flavor = "multi_thread")]
async fn redis_refuses_a_name_owned_by_another_application() {
    let Some(url) = redis_url("redis_refuses_a_name_owned_by_another_application") else {
        return;
    };
    let schema = unique_name("owner");
    let options = RedisOptions::default().name(schema.as_str());
    // Written with no owner, as an earlier release did.
    let unowned = RedisStore::connect(&url, options.clone())
        .await
        .expect("connect");
    let stored = unowned
        .enqueue(Incoming::new("kept".to_owned(), b"{}".to_vec()))
        .await;
    assert_eq!(stored.expect("enqueue"), Enqueued::Stored);
    drop(unowned);
    let adopted = RedisStore::connect(&url, options.clone().owner("esim-reseller"))
        .await
        .expect("adopted by the first application with a name");
    assert_eq!(
        adopted.counts().await.expect("counts").pending(),
        1,
        "nothing lost"
    );
    let again = RedisStore::connect(&url, options.clone().owner("esim-reseller")).await;
    assert!(again.is_ok(), "the owner itself connects again");
    refused(
        RedisStore::connect(&url, options.clone().owner("loyalty-app")).await,
        &format!(
            "the Redis name {schema:?} belongs to the application \"esim-reseller\", not to \"loyalty-app\""
        ),
    );
    assert!(
        RedisStore::connect(&url, options).await.is_ok(),
        "an operator's store, with no owner, opens it"
    );
    drop((adopted, again));
    drop_redis_keys(&url, &schema).await;
}
