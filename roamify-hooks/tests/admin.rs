//! The admin API (`roamify_hooks::admin`) on every store of this crate — memory, journal,
//! SQLite — and on a store written outside it: the conformance kit's `check_admin` (tokens, each
//! filter, pages, replay and discard by keys and by filter). The PostgreSQL and Redis stores run
//! it in their own crates; the adapters' tests reach it over HTTP.

mod user_store;

use std::sync::Arc;

use std::time::Duration;

use roamify_hooks::delivery::{
    HistoryLimits, JournalOptions, JournalStore, MemoryOptions, MemoryStore, SqliteOptions,
    SqliteStore, Store, StoreLimits,
};
use roamify_hooks::testing::conformance::{check_admin, check_history_bound};

/// Limits keeping a history of 25 deliveries.
fn bounded() -> StoreLimits {
    StoreLimits::default().history(HistoryLimits::new(25, Duration::from_secs(3600)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_the_memory_store() {
    check_admin("memory", Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_the_journal_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions::default().segment_size(1 << 16);
    let store = JournalStore::open_with(dir.path().join("journal"), options).expect("open");
    check_admin("journal", Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_the_sqlite_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("admin.sqlite")).expect("open");
    check_admin("sqlite", Arc::new(store)).await;
}

/// A store keeping no history (this one does not implement it) answers an empty one.
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_a_user_written_store() {
    let limits = StoreLimits::default().history(HistoryLimits::off());
    let store: Arc<dyn Store> = Arc::new(user_store::VecStore::new(limits));
    check_admin("user", store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_history_stays_within_its_bound_on_every_store_of_this_crate() {
    let options = MemoryOptions::default().limits(bounded());
    check_history_bound("memory", Arc::new(MemoryStore::with_options(options))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions::default()
        .segment_size(1 << 16)
        .limits(bounded());
    let journal = JournalStore::open_with(dir.path().join("journal"), options).expect("open");
    check_history_bound("journal", Arc::new(journal)).await;
    let options = SqliteOptions::default().limits(bounded());
    let sqlite = SqliteStore::open_with(dir.path().join("bound.sqlite"), options).expect("open");
    check_history_bound("sqlite", Arc::new(sqlite)).await;
}

/// With history off, nothing is kept (and the store's own work is unchanged).
#[tokio::test(flavor = "multi_thread")]
async fn a_store_with_history_off_keeps_none() {
    let limits = StoreLimits::default().history(HistoryLimits::off());
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqliteOptions::default().limits(limits);
    let stores: [Arc<dyn Store>; 2] = [
        Arc::new(MemoryStore::with_options(
            MemoryOptions::default().limits(limits),
        )),
        Arc::new(SqliteStore::open_with(dir.path().join("off.sqlite"), options).expect("open")),
    ];
    for store in stores {
        let body = roamify_hooks::testing::sample(roamify_hooks::EventKind::EsimStatus);
        let incoming = roamify_hooks::delivery::Incoming::new("k", body.to_vec());
        store.enqueue(incoming).await.expect("enqueue");
        let page = store
            .history(
                Default::default(),
                roamify_hooks::delivery::Page::new(0, 10),
            )
            .await
            .expect("history");
        assert_eq!(page.total, 0);
        assert!(
            store
                .delivery("k".to_owned())
                .await
                .expect("delivery")
                .is_none()
        );
    }
}
