//! When stores fail: a store that goes down answers 503 with its real cause, loses nothing it
//! acknowledged and recovers when the store does (PostgreSQL and Redis cut off by a proxy: the
//! workspace's `tests/store_outages.rs`); a locked or full SQLite file refuses new
//! deliveries with SQLite's own error, and a full one takes them again once workers free room; two
//! processes sharing one SQLite file never take each other's live
//! leases; errors keep their causes; in-memory bounds hold. No timing assertions: bounded waits
//! for conditions.

#[path = "support/gated.rs"]
mod gated;
mod support;
#[path = "support/tapped.rs"]
mod tapped;

use roamify_hooks::delivery::Incoming;
use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gated::{SECRET, Seen, body, deliver, gated, record};
use roamify_hooks::delivery::{
    Admin, Enqueued, MemoryOptions, MemoryStore, Queue, QueueOptions, Resolution, Settlement,
    SqliteOptions, SqliteStore, Unavailable,
};
use roamify_hooks::{BuildError, Outcome, Receiver, Secret, delivery::DeliveryMode, handlers};
use support::eventually;
use tapped::Tapped;

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
        store.inner.counts().await.expect("counts").pending(),
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
        futures_executor::block_on(store.inner.counts())
            .expect("counts")
            .pending()
            == 0
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
    // The jobs whose outcomes free room are leased first: a lease rewrites a row and its index
    // entry, which may need a page of its own in a full file. Two of them, so the room they
    // free takes a delivery whatever page splits it needs.
    for key in ["k0a", "k0b"] {
        let first = store.enqueue(Incoming::new(key, body(0, LARGE))).await;
        assert_eq!(first.expect("enqueue"), Enqueued::Stored);
    }
    let jobs = store
        .lease(2, Duration::from_secs(60))
        .await
        .expect("lease");
    assert_eq!(jobs.len(), 2);
    let mut n = 0;
    let full = loop {
        n += 1;
        match store
            .enqueue(Incoming::new(format!("k{n}"), body(n, LARGE)))
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

    // Another connection holds the write lock while the store takes a first command, so the
    // next two wait together and are committed as one group: a delivery that does not fit, then
    // an outcome that frees room.
    let other = rusqlite::Connection::open(&path).expect("open");
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let first = store.counts();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let enqueue = store.enqueue(Incoming::new(format!("k{n}"), body(n, LARGE)));
    let done: Vec<Settlement> = jobs
        .iter()
        .map(|job| Settlement::new(job, Resolution::Completed))
        .collect();
    let settle = store.settle(done);
    other.execute_batch("ROLLBACK").expect("unlock");
    first.await.expect("pending");
    let enqueued = enqueue.await;
    assert!(
        enqueued
            .as_ref()
            .is_err_and(|e| e.report().contains("database or disk is full")),
        "{enqueued:?}"
    );
    assert_eq!(
        settle.await.expect("the outcomes are recorded"),
        vec![true, true]
    );
    // The finished jobs' room takes the delivery that did not fit.
    assert_eq!(
        store
            .enqueue(Incoming::new(format!("k{n}"), body(n, LARGE)))
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
            .enqueue(Incoming::new(key.to_owned(), body(1, 0)))
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
        second.counts().await.expect("counts").pending(),
        2,
        "the count is shared"
    );
    assert_eq!(
        second
            .enqueue(Incoming::new("a".to_owned(), body(1, 0)))
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
    assert_eq!(first.counts().await.expect("counts").pending(), 0);
    assert_eq!(second.counts().await.expect("counts").pending(), 0);
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
    let store =
        MemoryStore::with_options(MemoryOptions::default().dedupe_keys(1000).dead_letters(2));
    for n in 0..3 {
        let key = format!("dead-{n}");
        let stored = store
            .enqueue(Incoming::new(key, body(n, 0)))
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
    let store = MemoryStore::with_options(MemoryOptions::default().dedupe_keys(2).dead_letters(10));
    for key in ["k1", "k2", "k3"] {
        let stored = store
            .enqueue(Incoming::new(key.to_owned(), body(1, 0)))
            .await
            .expect("enqueue");
        assert_eq!(stored, Enqueued::Stored);
    }
    let again = |key: &'static str| {
        futures_executor::block_on(store.enqueue(Incoming::new(key.to_owned(), body(1, 0))))
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
