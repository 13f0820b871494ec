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
//! The helpers the checks use ([`enqueue`], [`enqueue_ordered`], [`lease_eventually`],
//! [`settle`], [`pending`]) are
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

use crate::delivery::{
    Enqueued, Incoming, Job, Resolution, Settlement, Store, StoreCounts, StoreLimits,
};
use crate::ordering::Order;

#[cfg(feature = "admin")]
mod admin;
#[cfg(feature = "admin")]
mod caller;
mod checks;
mod history;
mod ordering;

#[cfg(feature = "admin")]
pub use admin::check_admin;
pub use history::check_history_bound;

use checks::{
    batches_settle_in_order, capacity_counts_pending_deliveries, counts_follow_each_state,
    dead_letters_are_discarded_or_replayed_in_bulk, enqueue_deduplicates_within_the_window,
    keys_are_new_again_after_the_window, leases_hide_jobs_and_fence_settlements,
    released_jobs_are_due_at_once_without_an_attempt, retries_come_due_and_dead_letters_replay,
    shared_between_receivers,
};

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
    ordering::older_deliveries_are_leased_as_stale(name, &*open(limits).await).await;
    ordering::serial_streams_hold_later_deliveries(name, &*open(limits).await).await;
    ordering::serial_streams_survive_lost_leases(name, &*open(limits).await).await;
}

/// Checks that three stores opened on one backend (as three receivers would hold them) share
/// one queue: deduplication, leases and settlements, ordering marks and serial streams hold
/// across them. For stores meant to be shared; the three must be empty, with a window of at
/// least a minute.
///
/// # Panics
/// As [`check`].
pub async fn check_shared(a: &dyn Store, b: &dyn Store, c: &dyn Store) {
    shared_between_receivers(a, b, c).await;
    ordering::ordering_is_shared(a, b, c).await;
}

/// Checks that the leases of a holder that is gone are taken back without waiting for their
/// visibility timeout, for stores that can tell (SQLite, PostgreSQL, Redis): `live` and `gone`
/// are two stores opened on one empty backend; each leases one delivery for an hour, then `gone`
/// is dropped (as a killed process's store goes away). Within `within`, `live` must lease the
/// gone holder's delivery, with no attempt counted, while its own lease stays hidden. The gone
/// holder's delivery is of a serial stream with a later delivery waiting behind it: that one
/// must go on waiting until the taken-back delivery is settled.
///
/// # Panics
/// As [`check`], or when the lease is not taken back within `within`.
pub async fn check_takeover(live: &dyn Store, gone: Box<dyn Store>, within: Duration) {
    let stream = "esim.status:takeover";
    assert_eq!(enqueue(live, "held-by-live", 1).await, Enqueued::Stored);
    assert_eq!(lease_eventually(live, 1, LONG).await.len(), 1);
    let serial = |at| Some(Order::new(stream, at, true));
    assert_eq!(
        enqueue_ordered(&*gone, "held-by-gone", 2, serial(1)).await,
        Enqueued::Stored
    );
    assert_eq!(
        enqueue_ordered(&*gone, "waits-behind-gone", 3, serial(2)).await,
        Enqueued::Stored
    );
    assert_eq!(
        gone.lease(10, LONG).await.expect("lease").len(),
        1,
        "one delivery of the serial stream"
    );
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
    let next = lease_eventually(live, 1, LONG).await.remove(0);
    assert_eq!(
        next.key, "waits-behind-gone",
        "the serial stream's next delivery, once the taken-back one is settled"
    );
    assert!(settle(live, &next, Resolution::Completed).await);
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
    enqueue_ordered(store, key, n, None).await
}

/// Enqueues [`body`]`(n)` under `key` at `order`'s place in its stream.
///
/// # Panics
/// When the store fails.
pub async fn enqueue_ordered(
    store: &dyn Store,
    key: &str,
    n: u32,
    order: Option<Order>,
) -> Enqueued {
    store
        .enqueue(Incoming::new(key, body(n)).ordered(order))
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
