//! The journal's unit tests: a failing disk, and snapshots that do not grow memory.

use std::sync::atomic::Ordering;

use super::*;
use crate::delivery::store::Resolution;

const WINDOW: Duration = Duration::from_secs(3600);
const LONG: Duration = Duration::from_secs(3600);

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn enqueue(store: &JournalStore, key: &str) -> Result<Enqueued, StoreError> {
    block_on(store.enqueue(key.to_owned(), key.as_bytes().to_vec()))
}

fn pending(store: &JournalStore) -> usize {
    block_on(store.counts()).expect("counts").pending()
}

/// A failing disk: the delivery whose flush failed and every later one are refused with the
/// error while the failure lasts; what was stored stays leasable; once writes succeed again,
/// a fresh snapshot (holding everything in memory) is written and deliveries are accepted.
#[test]
fn a_failing_disk_refuses_deliveries_then_recovers_with_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions::default().segment_size(MIN_SEGMENT_SIZE);
    let store = JournalStore::open_with(dir.path(), options.clone()).expect("open");
    assert_eq!(
        enqueue(&store, "stored").expect("enqueue"),
        Enqueued::Stored
    );

    store.shared.fail_writes.store(true, Ordering::SeqCst);
    let error = enqueue(&store, "flush-failed").expect_err("the flush failed");
    assert!(
        error.report().contains("injected write failure"),
        "{}",
        error.report()
    );
    let error = enqueue(&store, "refused").expect_err("broken");
    assert!(
        error.report().contains("injected write failure"),
        "{}",
        error.report()
    );
    assert_eq!(pending(&store), 2, "the refused delivery was not kept");
    let jobs = block_on(store.lease(10, LONG)).expect("lease");
    assert_eq!(jobs.len(), 2, "what is in memory still runs");
    let done: Vec<_> = jobs
        .iter()
        .filter(|job| job.key == "stored")
        .map(|job| Settlement::new(job, Resolution::Completed))
        .collect();
    assert_eq!(block_on(store.settle(done)).expect("settle"), [true]);

    store.shared.fail_writes.store(false, Ordering::SeqCst);
    let mut accepted = None;
    for _ in 0..500 {
        match enqueue(&store, "after") {
            Ok(result) => {
                accepted = Some(result);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert_eq!(accepted, Some(Enqueued::Stored), "accepted again");
    drop(store);

    let store = JournalStore::open_with(dir.path(), options).expect("reopen");
    let mut keys: Vec<String> = block_on(store.lease(10, LONG))
        .expect("lease")
        .into_iter()
        .map(|job| job.key)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["after", "flush-failed"],
        "the recovery snapshot held both"
    );
    assert_eq!(
        enqueue(&store, "stored").expect("enqueue"),
        Enqueued::Duplicate
    );
    assert_eq!(
        enqueue(&store, "refused").expect("enqueue"),
        Enqueued::Stored
    );
}

/// The write buffers claimed at open hold a snapshot of a full dedupe index without
/// growing, so a busy store's memory does not step up when its snapshots reach full size.
#[test]
fn a_full_dedupe_snapshot_fits_the_buffers_claimed_at_open() {
    const KEYS: usize = 20_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions::default()
        .dedupe_keys(KEYS)
        .limits(StoreLimits::default().window(WINDOW).capacity(KEYS));
    let store = JournalStore::open_with(dir.path(), options).expect("open");
    let mut inner = store.shared.lock();
    let claimed = inner.log.buf.capacity();
    assert!(
        claimed >= KEYS * frame::SEEN_ENTRY,
        "claimed {claimed} bytes"
    );
    let now = Instant::now();
    for n in 0..KEYS {
        let key = format!("delivery-{n}");
        let body = key.clone().into_bytes();
        inner.state.enqueue(key, body, now);
    }
    for job in inner.state.lease(KEYS, LONG, now) {
        assert!(
            inner
                .state
                .settle(&Settlement::new(&job, Resolution::Completed))
        );
    }
    let inner = &mut *inner;
    inner.log.start_segment(1, &inner.state, WINDOW);
    assert!(
        inner.log.buf.len() > KEYS * frame::SEEN_ENTRY,
        "the snapshot holds every key"
    );
    assert_eq!(inner.log.buf.capacity(), claimed, "written without growing");
    // And the next one, which reserves room for one like it.
    inner.log.start_segment(0, &inner.state, WINDOW);
    assert_eq!(inner.log.buf.capacity(), claimed, "written without growing");
}
