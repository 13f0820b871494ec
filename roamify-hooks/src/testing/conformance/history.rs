//! The delivery history's bound, under a stream of distinct deliveries.

use std::sync::Arc;

use serde_json::json;

use crate::catalog::EventKind;
use crate::delivery::{Filter, Incoming, Page, Resolution, Store};
use crate::testing::sample_with;

use super::{LONG, settle};

/// Checks that the history of `store` keeps at most its bound
/// ([`StoreLimits::history`](crate::delivery::StoreLimits::history), whose `entries` must be
/// between 1 and 100) under a stream of three times as many distinct deliveries, each run to
/// its end: the newest are kept, the oldest dropped. `store` must be empty.
///
/// # Panics
/// When more deliveries are kept than the bound, or the newest is not among them.
pub async fn check_history_bound(name: &str, store: Arc<dyn Store>) {
    let bound = store.limits().history.entries;
    assert!(
        (1..=100).contains(&bound),
        "{name}: a bound from 1 to 100, not {bound}"
    );
    for n in 0..bound * 3 {
        let key = format!("bounded-{n:04}");
        let body = sample_with(EventKind::EsimStatus, |v| {
            v["data"]["iccid"] = json!(format!("{n:019}"));
        });
        store
            .enqueue(Incoming::new(&key, body))
            .await
            .expect("enqueue");
        for job in store.lease(10, LONG).await.expect("lease") {
            assert!(settle(&*store, &job, Resolution::Completed).await, "{name}");
        }
    }
    let all = Page::new(0, 1000);
    let page = store
        .history(Filter::default(), all)
        .await
        .expect("history");
    assert!(
        (1..=bound).contains(&page.total) && page.items.len() == page.total,
        "{name}: {} deliveries kept, bound {bound}",
        page.total
    );
    let newest = format!("bounded-{:04}", bound * 3 - 1);
    assert_eq!(page.items[0].key, newest, "{name}: the newest first");
    let oldest = store.delivery("bounded-0000".to_owned()).await;
    assert!(
        oldest.expect("delivery").is_none(),
        "{name}: the oldest dropped"
    );
}
