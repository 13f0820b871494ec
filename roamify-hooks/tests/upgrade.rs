//! The embedded stores open what the previous release wrote (`tests/fixtures/upgrade`: a SQLite
//! file of schema version 2, a journal of format 1) with every acknowledged delivery, dedupe key
//! and dead letter intact; the SQLite file is migrated in place.

#[path = "../../tests/support/upgrade.rs"]
mod upgrade;

use roamify_hooks::delivery::{
    JournalOptions, JournalStore, SqliteOptions, SqliteStore, StoreLimits,
};

/// The fixtures' window (100 years): the journal applies the window of the process that opens
/// it to the keys it recovers, so a shorter one would forget them as the fixture ages.
fn limits() -> StoreLimits {
    StoreLimits::default().window(upgrade::WINDOW)
}

/// Copies a fixture into a directory of the test's own: opening migrates and writes.
fn copied(name: &str, into: &std::path::Path) -> std::path::PathBuf {
    let from = upgrade::fixture(name);
    let to = into.join(name);
    if from.is_dir() {
        std::fs::create_dir(&to).expect("mkdir");
        for entry in std::fs::read_dir(&from).expect("read the fixture") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    } else {
        std::fs::copy(&from, &to).expect("copy");
    }
    to
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_opens_a_file_written_by_the_previous_release_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = copied("sqlite-v2.sqlite", dir.path());
    let options = SqliteOptions::default().limits(limits());
    let store = SqliteStore::open_with(&path, options.clone()).expect("migrate");
    upgrade::upgraded(&store).await;
    drop(store);
    let version: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("version");
    assert_eq!(version, 5, "migrated in place");
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_opens_a_directory_written_by_the_previous_release_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = copied("journal-v1", dir.path());
    let options = JournalOptions::default()
        .segment_size(64 * 1024)
        .limits(limits());
    let store = JournalStore::open_with(&path, options).expect("open");
    upgrade::upgraded(&store).await;
}
