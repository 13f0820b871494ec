//! The upgrade fixtures (`tests/fixtures/upgrade`): where they are, and what a store that opened
//! one must hold. Used by each store's upgrade test.
#![allow(dead_code, unreachable_pub)]

use roamify_hooks::delivery::Incoming;
use std::path::PathBuf;
use std::time::Duration;

use roamify_hooks::delivery::{Enqueued, Resolution, Settlement, Store};

const LONG: Duration = Duration::from_secs(3600);

/// The dedupe window the fixtures were written with: 100 years.
pub const WINDOW: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The fixture `name` (a file or a directory).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/upgrade")
        .join(name)
}

/// What every upgrade fixture holds (`tests/fixtures/upgrade/README.md`), checked on the store
/// that opened it.
pub async fn upgraded(store: &dyn Store) {
    for key in ["a", "b", "c", "d", "e", "f"] {
        let again = store
            .enqueue(Incoming::new(key.to_owned(), b"{}".to_vec()))
            .await;
        assert_eq!(
            again.expect("enqueue"),
            Enqueued::Duplicate,
            "{key} is still known"
        );
    }
    let dead = store.dead_letters().await.expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].key, "b");
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(dead[0].error, "boom: the handler failed");
    assert_eq!(dead[0].body, fixture_body("b"));
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.pending(), counts.dead), (4, 1), "{counts}");
    // c, d and e are due; f was leased for an hour by a process of the old release, which the
    // store cannot tell apart from a live one: due once that hour is over.
    let mut jobs = store.lease(10, LONG).await.expect("lease");
    jobs.sort_by(|x, y| x.key.cmp(&y.key));
    let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    assert!(
        keys == ["c", "d", "e", "f"] || (keys == ["c", "d", "e"] && counts.leased == 1),
        "{keys:?} {counts}"
    );
    for job in &jobs {
        assert_eq!(
            job.body,
            fixture_body(&job.key),
            "{}: the exact bytes",
            job.key
        );
        let failed_before = u32::from(job.key == "c");
        assert_eq!(job.attempts, failed_before, "{}", job.key);
    }
    let done: Vec<Settlement> = jobs
        .iter()
        .map(|job| Settlement::new(job, Resolution::Completed))
        .collect();
    assert!(
        store
            .settle(done)
            .await
            .expect("settle")
            .iter()
            .all(|&done| done)
    );
    assert_eq!(
        store.counts().await.expect("counts").pending(),
        4 - jobs.len()
    );
}

fn fixture_body(key: &str) -> Vec<u8> {
    format!(r#"{{"fixture":"{key}","amount":-5.00}}"#).into_bytes()
}
