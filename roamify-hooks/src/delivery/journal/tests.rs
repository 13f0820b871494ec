//! The journal's unit tests: a failing disk, and snapshots that do not grow memory.

use crate::delivery::Incoming;
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
    block_on(store.enqueue(Incoming::new(key.to_owned(), key.as_bytes().to_vec())))
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
        inner.state.enqueue(Incoming::new(key, body), now);
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

/// Snapshots are bounded in bytes: pending bodies past `pending_bytes` are refused as full
/// (unless nothing is pending), and dead letters past `dead_letter_bytes` push the oldest out;
/// both bounds hold after a reopen.
#[test]
fn pending_and_dead_bodies_are_bounded_in_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = JournalOptions::default()
        .segment_size(MIN_SEGMENT_SIZE)
        .pending_bytes(3000)
        .dead_letter_bytes(2500);
    let store = JournalStore::open_with(dir.path(), options.clone()).expect("open");
    let body = |n: usize| vec![b'x'; n];
    let put = |key: &str, n: usize| block_on(store.enqueue(Incoming::new(key.to_owned(), body(n))));
    assert_eq!(
        put("big", 5000).expect("enqueue"),
        Enqueued::Stored,
        "alone"
    );
    assert_eq!(put("more", 10).expect("enqueue"), Enqueued::Full);
    let jobs = block_on(store.lease(10, LONG)).expect("lease");
    let done = jobs
        .iter()
        .map(|j| Settlement::new(j, Resolution::Completed));
    block_on(store.settle(done.collect())).expect("settle");
    for key in ["a", "b", "c"] {
        assert_eq!(put(key, 1000).expect("enqueue"), Enqueued::Stored);
    }
    assert_eq!(
        put("d", 1000).expect("enqueue"),
        Enqueued::Full,
        "3000 bytes pending"
    );
    let jobs = block_on(store.lease(10, LONG)).expect("lease");
    let dead = jobs.iter().map(|j| {
        let error = "gave up".to_owned();
        Settlement::new(j, Resolution::Dead { error })
    });
    block_on(store.settle(dead.collect())).expect("settle");
    let kept = |store: &JournalStore| -> Vec<String> {
        let letters = block_on(store.dead_letters()).expect("dead letters");
        letters.into_iter().map(|letter| letter.key).collect()
    };
    assert_eq!(kept(&store), ["b", "c"], "the oldest pushed out by bytes");
    assert_eq!(
        put("e", 3000).expect("enqueue"),
        Enqueued::Stored,
        "dead bytes are apart"
    );
    drop(store);
    let store = JournalStore::open_with(dir.path(), options).expect("reopen");
    assert_eq!(kept(&store), ["b", "c"]);
    assert_eq!(pending(&store), 1);
    assert_eq!(enqueue(&store, "f").expect("enqueue"), Enqueued::Full);
}

/// A segment file a large snapshot grew is brought back to the segment size once a smaller
/// segment starts in it.
#[test]
fn segment_files_come_back_to_size_after_a_large_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Few dedupe keys, so later snapshots are small.
    let options = JournalOptions::default()
        .segment_size(MIN_SEGMENT_SIZE)
        .dedupe_keys(100);
    let store = JournalStore::open_with(dir.path(), options).expect("open");
    let sizes = || {
        ["journal.0", "journal.1"].map(|name| {
            let path = dir.path().join(name);
            std::fs::metadata(path).expect("segment").len()
        })
    };
    let run_all = |store: &JournalStore| {
        let jobs = block_on(store.lease(usize::MAX, LONG)).expect("lease");
        let done = jobs
            .iter()
            .map(|j| Settlement::new(j, Resolution::Completed));
        block_on(store.settle(done.collect())).expect("settle");
    };
    // 300 pending deliveries of 2 KB: snapshots of about 600 KB.
    for n in 0..1500 {
        let key = format!("big-{n}");
        block_on(store.enqueue(Incoming::new(key, vec![b'x'; 2000]))).expect("enqueue");
        if n % 300 == 299 && n < 1200 {
            run_all(&store);
        }
    }
    let grown = sizes();
    assert!(
        grown.iter().any(|&len| len > 4 * MIN_SEGMENT_SIZE),
        "large snapshots grew a file: {grown:?}"
    );
    run_all(&store);
    for n in 0..20_000 {
        block_on(store.enqueue(Incoming::new(format!("small-{n}"), b"{}".to_vec())))
            .expect("enqueue");
        run_all(&store);
        if sizes().iter().all(|&len| len <= MIN_SEGMENT_SIZE) {
            return;
        }
    }
    panic!("the files stayed large: {:?} (grown to {grown:?})", sizes());
}

/// Marks and serial gates survive a restart, read from records and from a snapshot alike: a
/// stream's mark still judges an older delivery stale, and a serial stream's waiting delivery
/// still waits for the one before it.
#[test]
fn ordering_survives_a_restart_from_records_and_from_a_snapshot() {
    use crate::ordering::Order;
    let ordered = |key: &str, stream: &str, at: i64, serial: bool| {
        Incoming::new(key, b"{}".to_vec()).ordered(Some(Order::new(stream, at, serial)))
    };
    for snapshot in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = JournalOptions::default().segment_size(MIN_SEGMENT_SIZE);
        let store = JournalStore::open_with(dir.path(), options.clone()).expect("open");
        for delivery in [
            ordered("newest", "latest:1", 20, false),
            ordered("first", "serial:1", 1, true),
            ordered("second", "serial:1", 2, true),
        ] {
            assert_eq!(
                block_on(store.enqueue(delivery)).expect("enqueue"),
                Enqueued::Stored
            );
        }
        let jobs = block_on(store.lease(10, LONG)).expect("lease");
        let mut keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["first", "newest"], "second waits behind first");
        let newest = jobs.iter().find(|j| j.key == "newest").expect("newest");
        let settled = block_on(store.settle(vec![Settlement::new(newest, Resolution::Completed)]));
        assert_eq!(settled.expect("settle"), [true]);
        if snapshot {
            // Enough records to fill the segment: the next one starts with a snapshot.
            for n in 0..200 {
                let key = format!("filler-{n}");
                block_on(store.enqueue(Incoming::new(key, vec![b'x'; 600]))).expect("filler");
            }
        }
        drop(store);

        let store = JournalStore::open_with(dir.path(), options).expect("reopen");
        assert_eq!(
            block_on(store.enqueue(ordered("older", "latest:1", 10, false))).expect("enqueue"),
            Enqueued::Stored
        );
        let jobs = block_on(store.lease(1000, LONG)).expect("lease");
        let find = |key: &str| jobs.iter().find(|j| j.key == key);
        assert_eq!(
            find("older").and_then(|j| j.stale),
            Some(20),
            "snapshot {snapshot}: the mark survived"
        );
        assert!(
            find("first").is_some(),
            "snapshot {snapshot}: first is due again"
        );
        assert!(
            find("second").is_none(),
            "snapshot {snapshot}: second still waits behind first"
        );
        let first = find("first").expect("first");
        let settled = block_on(store.settle(vec![Settlement::new(first, Resolution::Completed)]));
        assert_eq!(settled.expect("settle"), [true]);
        let next = block_on(store.lease(10, LONG)).expect("lease");
        assert_eq!(
            next.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(),
            ["second"],
            "snapshot {snapshot}"
        );
    }
}
