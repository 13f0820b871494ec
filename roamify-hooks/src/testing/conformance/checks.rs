//! The promises, one function each, run by [`check`](super::check) on fresh stores.

use std::time::Duration;

use super::{LONG, SHORT_WINDOW, body, enqueue, lease_eventually, pending, settle};
use crate::delivery::{Enqueued, Resolution, Settlement, Store, StoreCounts};

pub(super) async fn shared_between_receivers(a: &dyn Store, b: &dyn Store, c: &dyn Store) {
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

pub(super) async fn counts_follow_each_state(name: &str, store: &dyn Store) {
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

pub(super) async fn dead_letters_are_discarded_or_replayed_in_bulk(name: &str, store: &dyn Store) {
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

pub(super) async fn enqueue_deduplicates_within_the_window(name: &str, store: &dyn Store) {
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
pub(super) async fn keys_are_new_again_after_the_window(name: &str, store: &dyn Store) {
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
pub(super) async fn capacity_counts_pending_deliveries(name: &str, store: &dyn Store) {
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

pub(super) async fn leases_hide_jobs_and_fence_settlements(name: &str, store: &dyn Store) {
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

pub(super) async fn retries_come_due_and_dead_letters_replay(name: &str, store: &dyn Store) {
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

pub(super) async fn released_jobs_are_due_at_once_without_an_attempt(
    name: &str,
    store: &dyn Store,
) {
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

pub(super) async fn batches_settle_in_order(name: &str, store: &dyn Store) {
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
