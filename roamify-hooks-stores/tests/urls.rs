//! Store URLs: each kind parsed, bad ones refused with what to write instead, and a store
//! opened from its URL (SQLite and the journal here; PostgreSQL and Redis through the example
//! servers' end-to-end tests).

use roamify_hooks::delivery::Incoming;
use roamify_hooks::delivery::{Enqueued, StoreLimits};
use roamify_hooks_stores::{OpenError, Reader, StoreConfig, StoreUrl};

#[test]
fn every_kind_of_url_parses() {
    let parse = |url: &str| url.parse::<StoreUrl>();
    assert_eq!(
        parse("durable:/var/lib/app/hooks.sqlite").expect("sqlite"),
        StoreUrl::Sqlite("/var/lib/app/hooks.sqlite".into())
    );
    assert_eq!(
        parse("journal:/var/lib/app/journal").expect("journal"),
        StoreUrl::Journal("/var/lib/app/journal".into())
    );
    for url in ["postgres://app@db/app", "postgresql://app@db/app"] {
        assert_eq!(parse(url).expect(url), StoreUrl::Postgres(url.to_owned()));
    }
    for url in ["redis://cache:6379/0", "rediss://cache:6380/0"] {
        assert_eq!(parse(url).expect(url), StoreUrl::Redis(url.to_owned()));
    }
    let invalid = parse("mysql://db/app").expect_err("not a store");
    assert!(matches!(invalid, OpenError::Invalid(_)), "{invalid}");
    assert!(invalid.to_string().contains("durable:<path>"), "{invalid}");
    let memory = parse("queued").expect_err("in memory");
    assert!(matches!(memory, OpenError::InMemory(_)), "{memory}");
    assert!(parse("durable:").is_err(), "a path is needed");
}

#[tokio::test(flavor = "multi_thread")]
async fn stores_open_from_their_url_and_missing_ones_are_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hooks.sqlite");
    let url: StoreUrl = format!("durable:{}", path.display()).parse().expect("url");
    let config = StoreConfig::new(url).limits(StoreLimits::default().capacity(5));
    let Err(missing) = config.open().await else {
        panic!("opened a file that does not exist");
    };
    assert!(matches!(missing, OpenError::Missing(_)), "{missing}");
    assert!(!path.exists(), "opening for an operator creates nothing");
    drop(roamify_hooks::delivery::SqliteStore::open(&path).expect("created by a server"));
    let store = config.open().await.expect("open");
    assert_eq!(
        store.limits().capacity,
        5,
        "opened with the config's limits"
    );
    let stored = store
        .enqueue(Incoming::new("k".to_owned(), b"{}".to_vec()))
        .await;
    assert_eq!(stored.expect("enqueue"), Enqueued::Stored);
    drop(store);
    let read = config.read().await.expect("read");
    assert_eq!(read.counts().await.expect("counts").pending(), 1);

    let journal = dir.path().join("journal");
    drop(roamify_hooks::delivery::JournalStore::open(&journal).expect("a journal"));
    let url: StoreUrl = format!("journal:{}", journal.display())
        .parse()
        .expect("url");
    let view = StoreConfig::new(url).read().await.expect("read");
    assert!(matches!(view, Reader::Journal(_)), "read without its lock");
}
