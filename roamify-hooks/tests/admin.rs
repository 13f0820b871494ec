//! The admin API (`roamify_hooks::admin`) on every store of this crate — memory, journal,
//! SQLite — and on a store written outside it: the conformance kit's `check_admin` (tokens, each
//! filter, pages, replay and discard by keys and by filter). The PostgreSQL and Redis stores run
//! it in their own crates; the adapters' tests reach it over HTTP.

mod user_store;

use std::sync::Arc;

use roamify_hooks::delivery::{
    JournalOptions, JournalStore, MemoryStore, SqliteStore, Store, StoreLimits,
};
use roamify_hooks::testing::conformance::check_admin;

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

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_on_a_user_written_store() {
    let store: Arc<dyn Store> = Arc::new(user_store::VecStore::new(StoreLimits::default()));
    check_admin("user", store).await;
}
