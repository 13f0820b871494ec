//! The promises of `delivery::Store`, checked against every built-in store with one suite:
//! atomic enqueue with a dedupe window and a capacity, leases with visibility timeouts, fencing,
//! retries that come due after their delay, dead letters and replay, and the pending count.
//! PostgreSQL runs when `ROAMIFY_TEST_POSTGRES` holds a database URL, Redis when
//! `ROAMIFY_TEST_REDIS` holds a Redis URL (CI sets both); each says it was skipped otherwise.
//! No timing assertions: waits are bounded polls for a condition, and delays are chosen so the
//! order of events cannot flip on a slow machine (a short delay is only ever waited out, never
//! raced).

mod support;

use support::stores;

use std::sync::Arc;
use std::time::Duration;

use roamify_hooks::delivery::{
    Enqueued, Job, JournalOptions, JournalStore, MemoryStore, PgOptions, PgStore, RedisOptions,
    RedisStore, Resolution, Settlement, SqliteStore, Store, StoreCounts, StoreError,
};
use stores::{drop_redis_keys, drop_schema, postgres_url, redis_url, unique_schema};

const LONG: Duration = Duration::from_secs(3600);
const WINDOW: Duration = Duration::from_secs(86_400);

fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n}}}}}"#)
        .into_bytes()
}

async fn enqueue(store: &dyn Store, key: &str, n: u32) -> Enqueued {
    store
        .enqueue(key.to_owned(), body(n), WINDOW, 100)
        .await
        .expect("enqueue")
}

/// Leases until `want` jobs came back, for at most 10 s (retries and expired leases come due
/// on their own time).
async fn lease_eventually(store: &dyn Store, want: usize, visibility: Duration) -> Vec<Job> {
    let mut jobs = Vec::new();
    for _ in 0..1000 {
        jobs.extend(
            store
                .lease(want - jobs.len(), visibility)
                .await
                .expect("lease"),
        );
        if jobs.len() >= want {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("only {} of {want} jobs came due", jobs.len());
}

async fn settle(store: &dyn Store, job: &Job, resolution: Resolution) -> bool {
    let applied = store
        .settle(vec![Settlement::new(job, resolution)])
        .await
        .expect("settle");
    assert_eq!(applied.len(), 1);
    applied[0]
}

/// Three stores on one backend, as three receivers would hold them, share one queue.
async fn shared_between_receivers(a: &dyn Store, b: &dyn Store, c: &dyn Store) {
    assert_eq!(enqueue(a, "shared-1", 1).await, Enqueued::Stored);
    assert_eq!(
        enqueue(b, "shared-1", 1).await,
        Enqueued::Duplicate,
        "deduplication across receivers"
    );
    assert_eq!(c.pending().await.expect("pending"), 1);
    let leased = lease_eventually(b, 1, LONG).await.remove(0);
    assert!(
        c.lease(10, LONG).await.expect("lease").is_empty(),
        "a job leased by one receiver is hidden from the others"
    );
    assert!(
        settle(c, &leased, Resolution::Completed).await,
        "any receiver may settle it"
    );
    assert_eq!(a.pending().await.expect("pending"), 0);
}

/// A connect that must fail, with `expected` in its report.
fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>, expected: &str) {
    let error = result.expect_err(expected);
    assert!(error.report().contains(expected), "{}", error.report());
}

/// Every promise, in sequence, on a fresh store.
async fn conformance(name: &str, store: Arc<dyn Store>) {
    let store = &*store;
    enqueue_deduplicates_within_the_window(name, store).await;
    capacity_counts_pending_deliveries(name, store).await;
    leases_hide_jobs_and_fence_settlements(name, store).await;
    retries_come_due_and_dead_letters_replay(name, store).await;
    released_jobs_are_due_at_once_without_an_attempt(name, store).await;
    batches_settle_in_order(name, store).await;
    counts_follow_each_state(name, store).await;
    dead_letters_are_discarded_or_replayed_in_bulk(name, store).await;
}

fn counts(ready: usize, leased: usize, retrying: usize, dead: usize) -> StoreCounts {
    let mut counts = StoreCounts::default();
    counts.ready = ready;
    counts.leased = leased;
    counts.retrying = retrying;
    counts.dead = dead;
    counts
}

async fn counts_follow_each_state(name: &str, store: &dyn Store) {
    let now = || async { store.counts().await.expect("counts") };
    assert_eq!(now().await, counts(0, 0, 0, 0), "{name}: empty");
    for (i, key) in ["count-1", "count-2", "count-3"].into_iter().enumerate() {
        assert_eq!(
            enqueue(store, key, 30 + u32::try_from(i).expect("small")).await,
            Enqueued::Stored,
            "{name}"
        );
    }
    assert_eq!(now().await, counts(3, 0, 0, 0), "{name}: three ready");
    let jobs = lease_eventually(store, 3, LONG).await;
    assert_eq!(now().await, counts(0, 3, 0, 0), "{name}: three leased");
    let retry = Resolution::Retry {
        after: LONG,
        error: "later".to_owned(),
    };
    let dead = Resolution::Dead {
        error: "no".to_owned(),
    };
    assert!(settle(store, &jobs[0], retry).await, "{name}");
    assert!(settle(store, &jobs[1], dead).await, "{name}");
    let after = now().await;
    assert_eq!(after, counts(0, 1, 1, 1), "{name}: one of each");
    assert_eq!(
        after.pending(),
        store.pending().await.expect("pending"),
        "{name}"
    );
    assert!(
        settle(store, &jobs[2], Resolution::Completed).await,
        "{name}"
    );
    assert!(
        store.discard(jobs[1].key.clone()).await.expect("discard"),
        "{name}"
    );
    assert_eq!(now().await, counts(0, 0, 1, 0), "{name}: the retry waits");
}

async fn dead_letters_are_discarded_or_replayed_in_bulk(name: &str, store: &dyn Store) {
    for (i, key) in ["bulk-1", "bulk-2", "bulk-3", "bulk-4"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            enqueue(store, key, 40 + u32::try_from(i).expect("small")).await,
            Enqueued::Stored,
            "{name}"
        );
    }
    for job in lease_eventually(store, 4, LONG).await {
        let dead = Resolution::Dead {
            error: "bulk".to_owned(),
        };
        assert!(settle(store, &job, dead).await, "{name}");
    }
    assert_eq!(store.counts().await.expect("counts").dead, 4, "{name}");
    assert!(
        !store
            .discard("no-such-key".to_owned())
            .await
            .expect("discard"),
        "{name}"
    );
    assert!(
        store.discard("bulk-1".to_owned()).await.expect("discard"),
        "{name}"
    );
    assert!(
        !store.discard("bulk-1".to_owned()).await.expect("discard"),
        "{name}: discarded once"
    );
    assert!(
        !store.replay("bulk-1".to_owned()).await.expect("replay"),
        "{name}: a discarded letter cannot be replayed"
    );
    assert_eq!(
        enqueue(store, "bulk-1", 40).await,
        Enqueued::Duplicate,
        "{name}: a discarded key is still known within the window"
    );
    assert!(
        store.replay("bulk-2".to_owned()).await.expect("replay"),
        "{name}"
    );
    assert_eq!(store.discard_all().await.expect("discard all"), 2, "{name}");
    assert!(
        store.dead_letters().await.expect("dead letters").is_empty(),
        "{name}"
    );
    // bulk-2, replayed, dies again; then every dead letter is replayed at once.
    let job = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(job.key, "bulk-2", "{name}");
    let dead = Resolution::Dead {
        error: "again".to_owned(),
    };
    assert!(settle(store, &job, dead).await, "{name}");
    assert_eq!(store.replay_all().await.expect("replay all"), 1, "{name}");
    let job = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(job.key, "bulk-2", "{name}");
    assert!(settle(store, &job, Resolution::Completed).await, "{name}");
    assert_eq!(
        store.counts().await.expect("counts"),
        counts(0, 0, 1, 0),
        "{name}: only the earlier check's retry (due in an hour) is left"
    );
}

async fn enqueue_deduplicates_within_the_window(name: &str, store: &dyn Store) {
    assert_eq!(enqueue(store, "dup-1", 1).await, Enqueued::Stored, "{name}");
    assert_eq!(
        enqueue(store, "dup-1", 1).await,
        Enqueued::Duplicate,
        "{name}: the same key within the window"
    );
    // The key stays known after its job completed: the window is not the job's life.
    let jobs = lease_eventually(store, 1, LONG).await;
    assert_eq!(jobs[0].key, "dup-1", "{name}");
    assert_eq!(jobs[0].body, body(1), "{name}: the exact bytes");
    assert_eq!(jobs[0].attempts, 0, "{name}");
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    assert_eq!(
        enqueue(store, "dup-1", 1).await,
        Enqueued::Duplicate,
        "{name}: completed, still within the window"
    );
    // A short window ends: the same key is a new delivery again.
    let short = Duration::from_millis(200);
    let stored = store
        .enqueue("dup-2".to_owned(), body(2), short, 100)
        .await
        .expect("enqueue");
    assert_eq!(stored, Enqueued::Stored, "{name}");
    let jobs = lease_eventually(store, 1, LONG).await;
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let again = store
        .enqueue("dup-2".to_owned(), body(2), short, 100)
        .await
        .expect("enqueue");
    assert_eq!(again, Enqueued::Stored, "{name}: after the window");
    let jobs = lease_eventually(store, 1, LONG).await;
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    assert_eq!(store.pending().await.expect("pending"), 0, "{name}");
}

async fn capacity_counts_pending_deliveries(name: &str, store: &dyn Store) {
    for n in 0..3 {
        let stored = store
            .enqueue(format!("cap-{n}"), body(n), WINDOW, 3)
            .await
            .expect("enqueue");
        assert_eq!(stored, Enqueued::Stored, "{name}");
    }
    let full = store
        .enqueue("cap-3".to_owned(), body(3), WINDOW, 3)
        .await
        .expect("enqueue");
    assert_eq!(full, Enqueued::Full, "{name}: 3 pending, capacity 3");
    // A full store still knows its keys: a redelivery of a stored one is a duplicate (200), not
    // a refusal (503) that would make Roamify retry what is already kept.
    let again = store
        .enqueue("cap-0".to_owned(), body(0), WINDOW, 3)
        .await
        .expect("enqueue");
    assert_eq!(again, Enqueued::Duplicate, "{name}: full, but a known key");
    // Refused as full means not stored: the retry is a new delivery, not a duplicate.
    let jobs = lease_eventually(store, 3, LONG).await;
    assert_eq!(
        store.pending().await.expect("pending"),
        3,
        "{name}: leased jobs are pending"
    );
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    let retried = store
        .enqueue("cap-3".to_owned(), body(3), WINDOW, 3)
        .await
        .expect("enqueue");
    assert_eq!(retried, Enqueued::Stored, "{name}: room again");
    let mut rest = jobs[1..].to_vec();
    rest.extend(lease_eventually(store, 1, LONG).await);
    for job in &rest {
        assert!(settle(store, job, Resolution::Completed).await, "{name}");
    }
    assert_eq!(store.pending().await.expect("pending"), 0, "{name}");
}

async fn leases_hide_jobs_and_fence_settlements(name: &str, store: &dyn Store) {
    assert_eq!(
        enqueue(store, "lease-1", 1).await,
        Enqueued::Stored,
        "{name}"
    );
    let visibility = Duration::from_millis(1500);
    let first = lease_eventually(store, 1, visibility).await.remove(0);
    assert!(
        store.lease(10, LONG).await.expect("lease").is_empty(),
        "{name}: a leased job is hidden"
    );
    // The worker is presumed dead: after the visibility timeout another worker takes it.
    let second = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(second.key, "lease-1", "{name}");
    assert_ne!(second.lease, first.lease, "{name}: a new lease token");
    assert_eq!(
        second.attempts, 0,
        "{name}: an expired lease is not a failed attempt"
    );
    // The first worker wakes up and reports: nothing happens.
    assert!(
        !settle(store, &first, Resolution::Completed).await,
        "{name}: a stale completion is refused"
    );
    assert!(
        !settle(
            store,
            &first,
            Resolution::Dead {
                error: "stale".to_owned()
            }
        )
        .await,
        "{name}: a stale failure is refused"
    );
    assert_eq!(store.pending().await.expect("pending"), 1, "{name}");
    assert!(
        settle(store, &second, Resolution::Completed).await,
        "{name}"
    );
    assert!(
        !settle(store, &second, Resolution::Completed).await,
        "{name}: settled once only"
    );
    assert_eq!(store.pending().await.expect("pending"), 0, "{name}");
}

async fn retries_come_due_and_dead_letters_replay(name: &str, store: &dyn Store) {
    assert_eq!(
        enqueue(store, "retry-1", 7).await,
        Enqueued::Stored,
        "{name}"
    );
    let job = lease_eventually(store, 1, LONG).await.remove(0);
    let retry = Resolution::Retry {
        after: Duration::from_millis(1500),
        error: "try later".to_owned(),
    };
    assert!(settle(store, &job, retry).await, "{name}");
    assert!(
        store.lease(10, LONG).await.expect("lease").is_empty(),
        "{name}: not due before its delay"
    );
    let job = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(job.attempts, 1, "{name}: one failed attempt counted");
    let dead = Resolution::Dead {
        error: "gave up: boom".to_owned(),
    };
    assert!(settle(store, &job, dead).await, "{name}");
    assert_eq!(store.pending().await.expect("pending"), 0, "{name}");
    let letters = store.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1, "{name}");
    assert_eq!(letters[0].key, "retry-1", "{name}");
    assert_eq!(letters[0].body, body(7), "{name}: the body is kept");
    assert_eq!(letters[0].attempts, 2, "{name}");
    assert_eq!(letters[0].error, "gave up: boom", "{name}");
    assert!(letters[0].dead_at.as_secs() > 0, "{name}: when it died");
    assert_eq!(
        enqueue(store, "retry-1", 7).await,
        Enqueued::Duplicate,
        "{name}: a dead key is still known within the window"
    );
    assert!(
        !store
            .replay("no-such-key".to_owned())
            .await
            .expect("replay"),
        "{name}"
    );
    assert!(
        store.replay("retry-1".to_owned()).await.expect("replay"),
        "{name}"
    );
    assert!(
        !store.replay("retry-1".to_owned()).await.expect("replay"),
        "{name}: replayed once"
    );
    assert!(
        store.dead_letters().await.expect("dead letters").is_empty(),
        "{name}"
    );
    assert_eq!(store.pending().await.expect("pending"), 1, "{name}");
    let job = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(job.attempts, 0, "{name}: replay resets the attempts");
    assert_eq!(job.body, body(7), "{name}");
    assert!(settle(store, &job, Resolution::Completed).await, "{name}");
}

async fn released_jobs_are_due_at_once_without_an_attempt(name: &str, store: &dyn Store) {
    assert_eq!(
        enqueue(store, "release-1", 1).await,
        Enqueued::Stored,
        "{name}"
    );
    let job = lease_eventually(store, 1, LONG).await.remove(0);
    assert!(settle(store, &job, Resolution::Released).await, "{name}");
    let again = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(again.key, "release-1", "{name}");
    assert_eq!(again.attempts, 0, "{name}: not counted as an attempt");
    assert!(settle(store, &again, Resolution::Completed).await, "{name}");
}

async fn batches_settle_in_order(name: &str, store: &dyn Store) {
    for n in 0..5 {
        assert_eq!(
            enqueue(store, &format!("batch-{n}"), n).await,
            Enqueued::Stored,
            "{name}"
        );
    }
    let jobs = lease_eventually(store, 5, LONG).await;
    let mut keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["batch-0", "batch-1", "batch-2", "batch-3", "batch-4"],
        "{name}: one lease, several jobs"
    );
    let mut stale = jobs[2].clone();
    stale.lease += 1_000_000;
    let batch = vec![
        Settlement::new(&jobs[0], Resolution::Completed),
        Settlement::new(&jobs[1], Resolution::Completed),
        Settlement::new(&stale, Resolution::Completed),
        Settlement::new(&jobs[3], Resolution::Completed),
        Settlement::new(&jobs[4], Resolution::Completed),
    ];
    let applied = store.settle(batch).await.expect("settle");
    assert_eq!(
        applied,
        [true, true, false, true, true],
        "{name}: each settlement answered in order, the stale one refused"
    );
    assert_eq!(store.pending().await.expect("pending"), 1, "{name}");
    assert!(
        settle(store, &jobs[2], Resolution::Completed).await,
        "{name}"
    );
    assert_eq!(store.pending().await.expect("pending"), 0, "{name}");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_keeps_the_store_promises() {
    conformance("memory", Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_keeps_the_store_promises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("conformance.sqlite")).expect("open");
    conformance("sqlite", Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_store_keeps_the_store_promises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        JournalStore::open_with(dir.path(), JournalOptions::default().segment_size(1 << 16))
            .expect("open");
    conformance("journal", Arc::new(store)).await;
}

/// Finished deliveries and expired keys are purged: under a stream of distinct deliveries, the
/// file's row count comes back to what is live (here one dead letter, kept until replayed or
/// discarded) once each batch's dedupe window has passed, instead of growing with the stream.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_purge_keeps_the_row_count_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("purge.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    let window = Duration::from_millis(50);
    let rows = || -> i64 {
        rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row("SELECT count(*) FROM deliveries", [], |r| r.get(0)))
            .expect("count rows")
    };
    assert_eq!(
        store
            .enqueue("kept-dead".to_owned(), body(0), window, 100)
            .await
            .expect("enqueue"),
        Enqueued::Stored
    );
    let job = lease_eventually(&store, 1, LONG).await.remove(0);
    let dead = Resolution::Dead {
        error: "kept".to_owned(),
    };
    assert!(settle(&store, &job, dead).await);
    let mut n = 0;
    for phase in 0..3 {
        for _ in 0..10 {
            for _ in 0..200 {
                n += 1;
                let key = format!("stream-{n}");
                let stored = store
                    .enqueue(key, body(n), window, 10_000)
                    .await
                    .expect("enqueue");
                assert_eq!(stored, Enqueued::Stored);
            }
            let jobs = store.lease(200, LONG).await.expect("lease");
            let done = jobs
                .iter()
                .map(|job| Settlement::new(job, Resolution::Completed))
                .collect();
            store.settle(done).await.expect("settle");
        }
        let during = rows();
        assert!(
            during > 1,
            "phase {phase}: finished rows are kept for their window"
        );
        // Once the window passed, purge passes (paced, 1000 rows each) bring the table back to
        // the one dead letter; each store operation runs one when due.
        let mut now = during;
        for _ in 0..1000 {
            store.pending().await.expect("pending");
            now = rows();
            if now == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            now, 1,
            "phase {phase}: {during} rows after 2000 deliveries, {now} later"
        );
    }
    assert_eq!(
        store.dead_letters().await.expect("dead letters").len(),
        1,
        "dead letters are not purged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_keeps_what_it_stored_across_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("reopen.sqlite");
    {
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(enqueue(&store, "kept-1", 1).await, Enqueued::Stored);
        assert_eq!(enqueue(&store, "kept-2", 2).await, Enqueued::Stored);
        let job = lease_eventually(&store, 1, LONG).await.remove(0);
        assert!(
            settle(
                &store,
                &job,
                Resolution::Dead {
                    error: "e".to_owned()
                }
            )
            .await
        );
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.pending().await.expect("pending"), 1);
    assert_eq!(store.dead_letters().await.expect("dead").len(), 1);
    assert_eq!(
        enqueue(&store, "kept-1", 1).await,
        Enqueued::Duplicate,
        "keys survive a reopen"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_keeps_the_store_promises() {
    let Some(url) = postgres_url("postgres_store_keeps_the_store_promises") else {
        return;
    };
    let schema = unique_schema("roamify_conformance");
    let store = PgStore::connect(&url, PgOptions::default().schema(schema.as_str()))
        .await
        .expect("connect");
    conformance("postgres", Arc::new(store)).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stores_on_one_schema_share_everything_and_migrate_once() {
    let Some(url) = postgres_url("postgres_stores_on_one_schema_share_everything_and_migrate_once")
    else {
        return;
    };
    let schema = unique_schema("roamify_shared");
    // Three receivers starting at once migrate the same schema once.
    let options = PgOptions::default().schema(schema.as_str());
    let (a, b, c) = tokio::join!(
        PgStore::connect(&url, options.clone()),
        PgStore::connect(&url, options.clone()),
        PgStore::connect(&url, options.clone()),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    shared_between_receivers(&a, &b, &c).await;
    drop((a, b, c));
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_refuses_bad_input_clearly() {
    refused(
        PgStore::connect(
            "postgres://127.0.0.1/test",
            PgOptions::default().schema("x; DROP TABLE y"),
        )
        .await,
        "invalid schema name",
    );
    refused(
        PgStore::connect(
            "postgres://nobody@127.0.0.1:1/none",
            PgOptions::default().timeout(Duration::from_secs(2)),
        )
        .await,
        "the delivery store could not ",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_store_keeps_the_store_promises() {
    let Some(url) = redis_url("redis_store_keeps_the_store_promises") else {
        return;
    };
    let name = unique_schema("conformance");
    let store = RedisStore::connect(&url, RedisOptions::default().name(name.as_str()))
        .await
        .expect("connect");
    conformance("redis", Arc::new(store)).await;
    drop_redis_keys(&url, &name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stores_of_one_name_share_everything() {
    let Some(url) = redis_url("redis_stores_of_one_name_share_everything") else {
        return;
    };
    let name = unique_schema("shared");
    let options = RedisOptions::default().name(name.as_str());
    let (a, b, c) = tokio::join!(
        RedisStore::connect(&url, options.clone()),
        RedisStore::connect(&url, options.clone()),
        RedisStore::connect(&url, options.clone()),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    assert_ne!(a.consumer(), b.consumer(), "one consumer per process");
    shared_between_receivers(&a, &b, &c).await;
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
    let name = unique_schema("vanish");
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
    let name = unique_schema("forget");
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

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_migrates_a_file_written_by_the_previous_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.sqlite");
    {
        // The schema and rows as the release before schema versioning wrote them.
        let old = rusqlite::Connection::open(&path).expect("open");
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE deliveries (
                 key TEXT PRIMARY KEY, body BLOB NOT NULL, state INTEGER NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0, due_ms INTEGER NOT NULL,
                 lease INTEGER NOT NULL DEFAULT 0, received_ms INTEGER NOT NULL, error TEXT
             );
             CREATE INDEX deliveries_due ON deliveries (state, due_ms);",
        )
        .expect("old schema");
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("ms");
        for (key, state, due, lease) in [
            ("ready", 0, now, 0),
            ("leased-long-ago", 1, now - 1000, 7),
            ("done", 2, now, 5),
            ("dead", 3, now, 6),
        ] {
            old.execute(
                "INSERT INTO deliveries (key, body, state, due_ms, lease, received_ms, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'old error')",
                rusqlite::params![key, body(1), state, due, lease, now],
            )
            .expect("old row");
        }
    }
    let store = SqliteStore::open(&path).expect("migrate");
    assert_eq!(
        store.pending().await.expect("pending"),
        2,
        "ready and leased rows count"
    );
    assert_eq!(
        enqueue(&store, "done", 1).await,
        Enqueued::Duplicate,
        "a finished delivery's key is still known"
    );
    let dead = store.dead_letters().await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "dead");
    let mut jobs = lease_eventually(&store, 2, LONG).await;
    jobs.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        jobs[0].key, "leased-long-ago",
        "an expired lease is taken over"
    );
    assert_eq!(jobs[1].key, "ready");
    assert!(
        jobs.iter().all(|j| j.lease > 7),
        "new lease tokens continue after the old ones"
    );
    for job in &jobs {
        assert!(settle(&store, job, Resolution::Completed).await);
    }
    assert_eq!(store.pending().await.expect("pending"), 0);
    drop(store);
    // Opening again finds the current version and changes nothing.
    let again = SqliteStore::open(&path).expect("reopen");
    assert_eq!(again.pending().await.expect("pending"), 0);
    assert_eq!(again.dead_letters().await.expect("dead").len(), 1);
}

#[test]
fn sqlite_store_refuses_a_file_from_a_newer_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("newer.sqlite");
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch("PRAGMA user_version = 99;"))
        .expect("a file from the future");
    let error = SqliteStore::open(&path).expect_err("newer schema");
    assert!(
        error
            .report()
            .contains("schema version 99, newer than this release's 2"),
        "{}",
        error.report()
    );
}
