//! The store contract's conformance kit: every promise of [`Queue`] and [`Admin`] checked on
//! a store, the same checks every built-in store passes. Run it in your own store's tests:
//!
//! ```
//! use std::sync::Arc;
//! use roamify_hooks::delivery::{MemoryOptions, MemoryStore, Store};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! roamify_hooks::testing::conformance::check("memory", |limits| async move {
//!     Arc::new(MemoryStore::with_options(MemoryOptions::default().limits(limits))) as Arc<dyn Store>
//! })
//! .await;
//! # });
//! ```
//!
//! The helpers the checks use ([`enqueue`], [`lease_eventually`], [`settle`], [`pending`]) are
//! public too, for a store's own further tests.
//!
//! Each check opens a fresh, empty store with the limits it needs (through the function you
//! give), so a failure names one promise. Stores shared by several receivers (a database, a
//! server) also pass [`check_shared`]. No check depends on timing beyond waiting: waits are
//! bounded polls for a condition, and delays are chosen so the order of events cannot flip on
//! a slow machine.
//!
//! [`Queue`]: crate::delivery::Queue
//! [`Admin`]: crate::delivery::Admin

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::delivery::{Enqueued, Job, Resolution, Settlement, Store, StoreCounts, StoreLimits};

const LONG: Duration = Duration::from_secs(3600);
/// The dedupe window of the stores the checks open, except where they need a short one.
const WINDOW: Duration = Duration::from_secs(86_400);
/// The window of the store [`check`] opens to see keys forgotten when their window ends.
const SHORT_WINDOW: Duration = Duration::from_millis(200);

/// Checks every promise of the store contract on stores made by `open`, which must return a
/// fresh, empty store with the limits it is given each time it is called; `name` prefixes each
/// failure's message.
///
/// # Panics
/// When the store breaks a promise (with the promise and `name` in the message), or a store
/// operation fails.
pub async fn check<F, Fut>(name: &str, mut open: F)
where
    F: FnMut(StoreLimits) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let limits = StoreLimits::default().window(WINDOW).capacity(100);
    enqueue_deduplicates_within_the_window(name, &*open(limits).await).await;
    keys_are_new_again_after_the_window(name, &*open(limits.window(SHORT_WINDOW)).await).await;
    capacity_counts_pending_deliveries(name, &*open(limits.capacity(3)).await).await;
    leases_hide_jobs_and_fence_settlements(name, &*open(limits).await).await;
    retries_come_due_and_dead_letters_replay(name, &*open(limits).await).await;
    released_jobs_are_due_at_once_without_an_attempt(name, &*open(limits).await).await;
    batches_settle_in_order(name, &*open(limits).await).await;
    counts_follow_each_state(name, &*open(limits).await).await;
    dead_letters_are_discarded_or_replayed_in_bulk(name, &*open(limits).await).await;
}

/// Checks that three stores opened on one backend (as three receivers would hold them) share
/// one queue: deduplication, leases and settlements hold across them. For stores meant to be
/// shared; the three must be empty, with a window of at least a minute.
///
/// # Panics
/// As [`check`].
pub async fn check_shared(a: &dyn Store, b: &dyn Store, c: &dyn Store) {
    shared_between_receivers(a, b, c).await;
}

/// Checks that the leases of a holder that is gone are taken back without waiting for their
/// visibility timeout, for stores that can tell (SQLite, PostgreSQL, Redis): `live` and `gone`
/// are two stores opened on one empty backend; each leases one delivery for an hour, then `gone`
/// is dropped (as a killed process's store goes away). Within `within`, `live` must lease the
/// gone holder's delivery, with no attempt counted, while its own lease stays hidden.
///
/// # Panics
/// As [`check`], or when the lease is not taken back within `within`.
pub async fn check_takeover(live: &dyn Store, gone: Box<dyn Store>, within: Duration) {
    assert_eq!(enqueue(live, "held-by-live", 1).await, Enqueued::Stored);
    assert_eq!(lease_eventually(live, 1, LONG).await.len(), 1);
    assert_eq!(enqueue(&*gone, "held-by-gone", 2).await, Enqueued::Stored);
    assert_eq!(lease_eventually(&*gone, 1, LONG).await.len(), 1);
    drop(gone);
    let started = std::time::Instant::now();
    let taken = loop {
        let jobs = live.lease(10, LONG).await.expect("lease");
        if !jobs.is_empty() {
            break jobs;
        }
        assert!(
            started.elapsed() < within,
            "the gone holder's lease was not taken back within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let keys: Vec<&str> = taken.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(
        keys,
        ["held-by-gone"],
        "only the gone holder's lease; the live one's stays hidden"
    );
    assert_eq!(
        taken[0].attempts, 0,
        "taking a lease back is not an attempt"
    );
    assert!(settle(live, &taken[0], Resolution::Completed).await);
    assert_eq!(
        live.counts().await.expect("counts"),
        StoreCounts::new(0, 1, 0, 0),
        "the live lease is left"
    );
}

/// The body the checks store for delivery number `n`: a `partner.top_up` envelope, distinct per
/// `n`.
#[must_use]
pub fn body(n: u32) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"timestamp":{n}}}}}"#)
        .into_bytes()
}

/// Enqueues [`body`]`(n)` under `key`.
///
/// # Panics
/// When the store fails.
pub async fn enqueue(store: &dyn Store, key: &str, n: u32) -> Enqueued {
    store
        .enqueue(key.to_owned(), body(n))
        .await
        .expect("enqueue")
}

/// Deliveries ready, leased or retrying.
///
/// # Panics
/// When the store fails.
pub async fn pending(store: &dyn Store) -> usize {
    store.counts().await.expect("counts").pending()
}

/// Leases until `want` jobs came back, for at most 10 s (retries and expired leases come due
/// on their own time).
///
/// # Panics
/// When the store fails, or fewer jobs came due.
pub async fn lease_eventually(store: &dyn Store, want: usize, visibility: Duration) -> Vec<Job> {
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

/// Settles one job; whether it was recorded (`false`: its lease had moved on).
///
/// # Panics
/// When the store fails.
pub async fn settle(store: &dyn Store, job: &Job, resolution: Resolution) -> bool {
    let applied = store
        .settle(vec![Settlement::new(job, resolution)])
        .await
        .expect("settle");
    assert_eq!(applied.len(), 1);
    applied[0]
}

async fn shared_between_receivers(a: &dyn Store, b: &dyn Store, c: &dyn Store) {
    assert_eq!(enqueue(a, "shared-1", 1).await, Enqueued::Stored);
    assert_eq!(
        enqueue(b, "shared-1", 1).await,
        Enqueued::Duplicate,
        "deduplication across receivers"
    );
    assert_eq!(pending(c).await, 1);
    let leased = lease_eventually(b, 1, LONG).await.remove(0);
    assert!(
        c.lease(10, LONG).await.expect("lease").is_empty(),
        "a job leased by one receiver is hidden from the others"
    );
    assert!(
        settle(c, &leased, Resolution::Completed).await,
        "any receiver may settle it"
    );
    assert_eq!(pending(a).await, 0);
}

async fn counts_follow_each_state(name: &str, store: &dyn Store) {
    let now = || async { store.counts().await.expect("counts") };
    assert_eq!(now().await, StoreCounts::new(0, 0, 0, 0), "{name}: empty");
    for (i, key) in ["count-1", "count-2", "count-3"].into_iter().enumerate() {
        assert_eq!(
            enqueue(store, key, 30 + u32::try_from(i).expect("small")).await,
            Enqueued::Stored,
            "{name}"
        );
    }
    assert_eq!(
        now().await,
        StoreCounts::new(3, 0, 0, 0),
        "{name}: three ready"
    );
    let jobs = lease_eventually(store, 3, LONG).await;
    assert_eq!(
        now().await,
        StoreCounts::new(0, 3, 0, 0),
        "{name}: three leased"
    );
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
    assert_eq!(after, StoreCounts::new(0, 1, 1, 1), "{name}: one of each");
    assert_eq!(after.pending(), pending(store).await, "{name}");
    assert!(
        settle(store, &jobs[2], Resolution::Completed).await,
        "{name}"
    );
    assert!(
        store.discard(jobs[1].key.clone()).await.expect("discard"),
        "{name}"
    );
    assert_eq!(
        now().await,
        StoreCounts::new(0, 0, 1, 0),
        "{name}: the retry waits"
    );
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
        StoreCounts::new(0, 0, 0, 0),
        "{name}: nothing is left"
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
}

/// `store` was opened with a window of [`SHORT_WINDOW`].
async fn keys_are_new_again_after_the_window(name: &str, store: &dyn Store) {
    let short = SHORT_WINDOW;
    let stored = enqueue(store, "dup-2", 2).await;
    assert_eq!(stored, Enqueued::Stored, "{name}");
    let jobs = lease_eventually(store, 1, LONG).await;
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let again = enqueue(store, "dup-2", 2).await;
    assert_eq!(again, Enqueued::Stored, "{name}: after the window");
    let jobs = lease_eventually(store, 1, LONG).await;
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    assert_eq!(pending(store).await, 0, "{name}");
}

/// `store` was opened with a capacity of 3.
async fn capacity_counts_pending_deliveries(name: &str, store: &dyn Store) {
    for n in 0..3 {
        let stored = enqueue(store, &format!("cap-{n}"), n).await;
        assert_eq!(stored, Enqueued::Stored, "{name}");
    }
    let full = enqueue(store, "cap-3", 3).await;
    assert_eq!(full, Enqueued::Full, "{name}: 3 pending, capacity 3");
    // A full store still knows its keys: a redelivery of a stored one is a duplicate (200), not
    // a refusal (503) that would make Roamify retry what is already kept.
    let again = enqueue(store, "cap-0", 0).await;
    assert_eq!(again, Enqueued::Duplicate, "{name}: full, but a known key");
    // Refused as full means not stored: the retry is a new delivery, not a duplicate.
    let jobs = lease_eventually(store, 3, LONG).await;
    assert_eq!(pending(store).await, 3, "{name}: leased jobs are pending");
    assert!(
        settle(store, &jobs[0], Resolution::Completed).await,
        "{name}"
    );
    let retried = enqueue(store, "cap-3", 3).await;
    assert_eq!(retried, Enqueued::Stored, "{name}: room again");
    let mut rest = jobs[1..].to_vec();
    rest.extend(lease_eventually(store, 1, LONG).await);
    for job in &rest {
        assert!(settle(store, job, Resolution::Completed).await, "{name}");
    }
    assert_eq!(pending(store).await, 0, "{name}");
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
    assert_eq!(pending(store).await, 1, "{name}");
    assert!(
        settle(store, &second, Resolution::Completed).await,
        "{name}"
    );
    assert!(
        !settle(store, &second, Resolution::Completed).await,
        "{name}: settled once only"
    );
    assert_eq!(pending(store).await, 0, "{name}");
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
    assert_eq!(pending(store).await, 0, "{name}");
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
    assert_eq!(pending(store).await, 1, "{name}");
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
    assert_eq!(pending(store).await, 1, "{name}");
    assert!(
        settle(store, &jobs[2], Resolution::Completed).await,
        "{name}"
    );
    assert_eq!(pending(store).await, 0, "{name}");
}
