//! The store contract's conformance kit (`roamify_hooks::testing::conformance`) run on every
//! store of this crate — memory, SQLite, journal — and on a minimal store written as a user
//! would, outside the crate; then what only SQLite promises: purges, reopening, migrations, and
//! leases of a holder that is gone taken back at once. (The PostgreSQL and Redis stores run the
//! kit in their own crates.) No timing assertions: waits are bounded polls for a condition.

mod user_store;

use roamify_hooks::delivery::Incoming;
use std::sync::Arc;
use std::time::Duration;

use roamify_hooks::delivery::{
    Admin, Enqueued, JournalOptions, JournalStore, MemoryOptions, MemoryStore, Queue, Resolution,
    Settlement, SqliteOptions, SqliteStore, Store, StoreLimits, TAKEOVER_EVERY,
};
use roamify_hooks::testing::conformance::{self, body, enqueue, lease_eventually, pending, settle};

const LONG: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_keeps_the_store_promises() {
    conformance::check("memory", |limits| async move {
        let options = MemoryOptions::default().limits(limits);
        Arc::new(MemoryStore::with_options(options)) as Arc<dyn Store>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_keeps_the_store_promises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    conformance::check("sqlite", |limits| {
        n += 1;
        let path = dir.path().join(format!("conformance-{n}.sqlite"));
        async move {
            let options = SqliteOptions::default().limits(limits);
            Arc::new(SqliteStore::open_with(path, options).expect("open")) as Arc<dyn Store>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_stores_on_one_file_share_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.sqlite");
    let a = SqliteStore::open(&path).expect("a");
    let b = SqliteStore::open(&path).expect("b");
    let c = SqliteStore::open(&path).expect("c");
    conformance::check_shared(&a, &b, &c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_store_keeps_the_store_promises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    conformance::check("journal", |limits| {
        n += 1;
        let path = dir.path().join(format!("journal-{n}"));
        async move {
            let options = JournalOptions::default()
                .segment_size(1 << 16)
                .limits(limits);
            Arc::new(JournalStore::open_with(path, options).expect("open")) as Arc<dyn Store>
        }
    })
    .await;
}

/// A store written outside the crate, from the traits' docs alone, passes the same kit.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_written_store_keeps_the_store_promises() {
    conformance::check("user", |limits| async move {
        Arc::new(user_store::VecStore::new(limits)) as Arc<dyn Store>
    })
    .await;
}

/// A store opened on a file whose previous holder is gone (dropped here, as a killed process's
/// lock is released) gets that holder's leases back at once, whatever their visibility timeout;
/// a live holder's leases stay hidden.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_takes_back_the_leases_of_a_holder_that_is_gone_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("holders.sqlite");
    let live = SqliteStore::open(&path).expect("open");
    let gone = SqliteStore::open(&path).expect("open");
    assert_eq!(enqueue(&live, "held-by-live", 1).await, Enqueued::Stored);
    let kept = lease_eventually(&live, 1, LONG).await.remove(0);
    assert_eq!(enqueue(&gone, "held-by-gone", 2).await, Enqueued::Stored);
    let lost = lease_eventually(&gone, 1, LONG).await.remove(0);
    assert_eq!(lost.key, "held-by-gone");
    drop(gone);
    let next = SqliteStore::open(&path).expect("reopen");
    let jobs = next.lease(10, LONG).await.expect("lease");
    assert_eq!(
        jobs.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
        ["held-by-gone"],
        "the gone holder's lease is due at once; the live one's stays hidden"
    );
    assert_eq!(jobs[0].attempts, 0, "taking a lease back is not an attempt");
    assert!(
        !settle(&live, &lost, Resolution::Completed).await,
        "the old lease is fenced"
    );
    assert!(settle(&next, &jobs[0], Resolution::Completed).await);
    assert!(settle(&live, &kept, Resolution::Completed).await);
    assert_eq!(pending(&live).await, 0);
}

/// A live store looks for gone holders on its own, every `TAKEOVER_EVERY`.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_sqlite_store_takes_back_the_leases_of_one_that_went_away() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.sqlite");
    let live = SqliteStore::open(&path).expect("open");
    let gone = SqliteStore::open(&path).expect("open");
    conformance::check_takeover(&live, Box::new(gone), TAKEOVER_EVERY * 5).await;
}

/// Finished deliveries and expired keys are purged: under a stream of distinct deliveries, the
/// file's row count comes back to what is live (here one dead letter, kept until replayed or
/// discarded) once each batch's dedupe window has passed, instead of growing with the stream.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_purge_keeps_the_row_count_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("purge.sqlite");
    let window = Duration::from_millis(50);
    let limits = StoreLimits::default().window(window).capacity(10_000);
    let store =
        SqliteStore::open_with(&path, SqliteOptions::default().limits(limits)).expect("open");
    let rows = || -> i64 {
        rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row("SELECT count(*) FROM deliveries", [], |r| r.get(0)))
            .expect("count rows")
    };
    assert_eq!(
        store
            .enqueue(Incoming::new("kept-dead".to_owned(), body(0)))
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
                    .enqueue(Incoming::new(key, body(n)))
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
            store.counts().await.expect("counts");
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
    assert_eq!(pending(&store).await, 1);
    assert_eq!(store.dead_letters().await.expect("dead").len(), 1);
    assert_eq!(
        enqueue(&store, "kept-1", 1).await,
        Enqueued::Duplicate,
        "keys survive a reopen"
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
    assert_eq!(pending(&store).await, 2, "ready and leased rows count");
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
    assert_eq!(pending(&store).await, 0);
    drop(store);
    // Opening again finds the current version and changes nothing.
    let again = SqliteStore::open(&path).expect("reopen");
    assert_eq!(pending(&again).await, 0);
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
            .contains("schema version 99, newer than this release's 5"),
        "{}",
        error.report()
    );
}
