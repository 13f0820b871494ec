//! The ordering promises ([`crate::ordering`]): marks judge stale deliveries at lease time, and
//! serial streams hold their later deliveries until the earlier one is finished for good.

use std::time::Duration;

use super::{LONG, enqueue, enqueue_ordered, lease_eventually, pending, settle};
use crate::delivery::{Enqueued, Job, Resolution, Store};
use crate::ordering::Order;

fn latest(stream: &str, at: i64) -> Option<Order> {
    Some(Order::new(stream, at, false))
}

fn serial(stream: &str, at: i64) -> Option<Order> {
    Some(Order::new(stream, at, true))
}

fn keys(jobs: &[Job]) -> Vec<&str> {
    let mut keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    keys.sort_unstable();
    keys
}

/// Leases everything leasable now (several calls, for stores that lease in pieces).
async fn lease_now(store: &dyn Store) -> Vec<Job> {
    store.lease(50, LONG).await.expect("lease")
}

pub(super) async fn older_deliveries_are_leased_as_stale(name: &str, store: &dyn Store) {
    let stream = "esim.status:8900000000000000001";
    for (key, at) in [("newer", 20), ("older", 10)] {
        assert_eq!(
            enqueue_ordered(store, key, 1, latest(stream, at)).await,
            Enqueued::Stored,
            "{name}"
        );
    }
    // Leased together, in arrival order: the newer first moves the mark, the older is stale.
    let jobs = lease_eventually(store, 2, LONG).await;
    let newer = jobs.iter().find(|j| j.key == "newer").expect("newer");
    let older = jobs.iter().find(|j| j.key == "older").expect("older");
    assert_eq!(newer.stale, None, "{name}: the newer delivery runs");
    assert_eq!(
        newer.order,
        latest(stream, 20),
        "{name}: a job keeps its order"
    );
    assert_eq!(
        older.stale,
        Some(20),
        "{name}: an older delivery is leased as stale, with the newest timestamp started"
    );
    assert!(settle(store, older, Resolution::Stale).await, "{name}");
    assert!(settle(store, newer, Resolution::Completed).await, "{name}");
    assert_eq!(pending(store).await, 0, "{name}: stale is final");
    assert_eq!(
        enqueue_ordered(store, "older", 1, latest(stream, 10)).await,
        Enqueued::Duplicate,
        "{name}: a stale delivery's key stays known"
    );
    // Equal timestamps both run; another stream and an unordered delivery are not judged.
    assert_eq!(
        enqueue_ordered(store, "equal", 2, latest(stream, 20)).await,
        Enqueued::Stored
    );
    assert_eq!(
        enqueue_ordered(store, "other", 3, latest("esim.status:2", 1)).await,
        Enqueued::Stored
    );
    assert_eq!(enqueue(store, "plain", 4).await, Enqueued::Stored);
    let jobs = lease_eventually(store, 3, LONG).await;
    assert!(
        jobs.iter().all(|j| j.stale.is_none()),
        "{name}: equal timestamps, other streams and unordered deliveries run: {jobs:?}"
    );
    assert_eq!(
        jobs.iter()
            .find(|j| j.key == "plain")
            .and_then(|j| j.order.clone()),
        None,
        "{name}"
    );
    // An older delivery arriving after the newer one was settled is stale too: the mark stays.
    assert_eq!(
        enqueue_ordered(store, "late", 5, latest(stream, 19)).await,
        Enqueued::Stored
    );
    let late = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(late.stale, Some(20), "{name}: the mark outlives the jobs");
}

pub(super) async fn serial_streams_hold_later_deliveries(name: &str, store: &dyn Store) {
    let s = "esim.status:serial";
    for (key, at) in [("s1", 1), ("s2", 2), ("s3", 3)] {
        assert_eq!(
            enqueue_ordered(store, key, 1, serial(s, at)).await,
            Enqueued::Stored,
            "{name}"
        );
    }
    assert_eq!(
        enqueue_ordered(store, "t1", 2, serial("esim.status:other", 1)).await,
        Enqueued::Stored
    );
    assert_eq!(enqueue(store, "plain", 3).await, Enqueued::Stored);
    assert_eq!(
        pending(store).await,
        5,
        "{name}: waiting deliveries are pending"
    );
    let first = lease_now(store).await;
    assert_eq!(
        keys(&first),
        ["plain", "s1", "t1"],
        "{name}: one delivery per serial stream is leased; other streams flow"
    );
    let get = |jobs: &[Job], key: &str| jobs.iter().find(|j| j.key == key).cloned().expect(key);
    let s1 = get(&first, "s1");
    // A retry keeps the stream held: s2 waits through it.
    let retry = Resolution::Retry {
        after: Duration::from_millis(300),
        error: "try again".to_owned(),
    };
    assert!(settle(store, &s1, retry).await, "{name}");
    assert!(settle(store, &get(&first, "t1"), Resolution::Completed).await);
    assert!(settle(store, &get(&first, "plain"), Resolution::Completed).await);
    assert!(
        lease_now(store).await.is_empty(),
        "{name}: nothing of a stream whose delivery is retrying"
    );
    let again = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(
        (again.key.as_str(), again.attempts),
        ("s1", 1),
        "{name}: the retry comes first"
    );
    assert!(settle(store, &again, Resolution::Completed).await);
    let s2 = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(s2.key, "s2", "{name}: the next once the first is handled");
    assert!(lease_now(store).await.is_empty(), "{name}: s3 still waits");
    let dead = Resolution::Dead {
        error: "no".to_owned(),
    };
    assert!(settle(store, &s2, dead).await);
    let s3 = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(s3.key, "s3", "{name}: the next once the one before is dead");
    // A replayed dead letter waits its turn behind the stream's pending delivery…
    assert!(store.replay("s2".to_owned()).await.expect("replay"));
    assert!(
        lease_now(store).await.is_empty(),
        "{name}: a replay waits its turn"
    );
    assert!(settle(store, &s3, Resolution::Completed).await);
    // …and, older than what has started since, is stale.
    let replayed = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(
        (replayed.key.as_str(), replayed.stale),
        ("s2", Some(3)),
        "{name}"
    );
    assert!(settle(store, &replayed, Resolution::Stale).await);
    assert_eq!(pending(store).await, 0, "{name}");
}

pub(super) async fn serial_streams_survive_lost_leases(name: &str, store: &dyn Store) {
    let s = "esim.usage:lost";
    for (key, at) in [("l1", 1), ("l2", 2)] {
        assert_eq!(
            enqueue_ordered(store, key, 1, serial(s, at)).await,
            Enqueued::Stored
        );
    }
    let short = Duration::from_millis(200);
    let held = store.lease(10, short).await.expect("lease");
    assert_eq!(keys(&held), ["l1"], "{name}");
    // The holder is stuck: its lease times out, and the same delivery comes back, not the next.
    let retaken = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(
        retaken.key, "l1",
        "{name}: a timed-out lease gives the stream back to its delivery"
    );
    assert!(
        !settle(store, &held[0], Resolution::Completed).await,
        "{name}: the stuck holder's settlement is fenced off"
    );
    assert!(lease_now(store).await.is_empty(), "{name}: l2 still waits");
    // Released (a shutdown) keeps the stream held too.
    assert!(settle(store, &retaken, Resolution::Released).await);
    let released = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!(released.key, "l1", "{name}");
    assert!(settle(store, &released, Resolution::Completed).await);
    let next = lease_eventually(store, 1, LONG).await.remove(0);
    assert_eq!((next.key.as_str(), next.stale), ("l2", None), "{name}");
    assert!(settle(store, &next, Resolution::Completed).await);
}

/// Marks and gates are shared: a delivery started through one store judges the others'.
pub(super) async fn ordering_is_shared(a: &dyn Store, b: &dyn Store, c: &dyn Store) {
    let s = "esim.status:shared";
    assert_eq!(
        enqueue_ordered(a, "shared-new", 1, serial(s, 50)).await,
        Enqueued::Stored
    );
    assert_eq!(
        enqueue_ordered(b, "shared-old", 2, serial(s, 40)).await,
        Enqueued::Stored
    );
    let first = lease_eventually(c, 1, LONG).await.remove(0);
    assert_eq!(first.key, "shared-new");
    assert!(
        a.lease(10, LONG).await.expect("lease").is_empty()
            && b.lease(10, LONG).await.expect("lease").is_empty(),
        "a serial stream is held across receivers"
    );
    assert!(settle(b, &first, Resolution::Completed).await);
    let second = lease_eventually(a, 1, LONG).await.remove(0);
    assert_eq!(
        (second.key.as_str(), second.stale),
        ("shared-old", Some(50)),
        "the mark moved through one receiver judges another's lease"
    );
    assert!(settle(c, &second, Resolution::Stale).await);
}
