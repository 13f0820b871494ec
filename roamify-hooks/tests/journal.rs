//! The journal store on real files: what it keeps across a reopen, segments turning over under a
//! stream, a write torn by a crash, a snapshot interrupted by one, the directory's lock, and a
//! view read from the files while a store holds them.
//! (The promises every store keeps are in `store_conformance.rs`; a server killed with SIGKILL
//! mid-stream is in the workspace's `tests/crash.rs`.)

use std::path::Path;
use std::time::Duration;

use roamify_hooks::delivery::{
    Admin, Enqueued, Incoming, Job, JournalDamaged, JournalOptions, JournalStore, JournalView,
    Queue, Resolution, Settlement, StoreCounts, StoreLimits,
};

const LONG: Duration = Duration::from_secs(3600);
const WINDOW: Duration = Duration::from_secs(86_400);

fn small() -> JournalOptions {
    JournalOptions::default()
        .segment_size(64 << 10)
        .limits(StoreLimits::default().window(WINDOW).capacity(1_000_000))
}

fn body(key: &str) -> Vec<u8> {
    format!(r#"{{"event_category":"partner","event_type":"top_up","data":{{"key":"{key}"}}}}"#)
        .into_bytes()
}

async fn enqueue(store: &JournalStore, key: &str) -> Enqueued {
    store
        .enqueue(Incoming::new(key.to_owned(), body(key)))
        .await
        .expect("enqueue")
}

async fn lease_all(store: &JournalStore) -> Vec<Job> {
    store.lease(1_000_000, LONG).await.expect("lease")
}

async fn settle(store: &JournalStore, job: &Job, resolution: Resolution) {
    let applied = store
        .settle(vec![Settlement::new(job, resolution)])
        .await
        .expect("settle");
    assert_eq!(applied, [true]);
}

fn keys(jobs: &[Job]) -> Vec<&str> {
    let mut keys: Vec<&str> = jobs.iter().map(|job| job.key.as_str()).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_journal_holds_every_state_and_key_it_had() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = JournalStore::open_with(dir.path(), small()).expect("open");
        for key in [
            "done",
            "dead",
            "retrying",
            "replayed",
            "discarded",
            "waiting",
        ] {
            assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
        }
        let jobs = lease_all(&store).await;
        let job = |key: &str| jobs.iter().find(|j| j.key == key).expect("leased");
        let dead = |error: &str| Resolution::Dead {
            error: error.to_owned(),
        };
        settle(&store, job("done"), Resolution::Completed).await;
        settle(&store, job("dead"), dead("gave up")).await;
        settle(&store, job("replayed"), dead("replay me")).await;
        settle(&store, job("discarded"), dead("drop me")).await;
        let later = Resolution::Retry {
            after: LONG,
            error: "later".to_owned(),
        };
        settle(&store, job("retrying"), later).await;
        settle(&store, job("waiting"), Resolution::Released).await;
        assert!(store.replay("replayed".to_owned()).await.expect("replay"));
        assert!(
            store
                .discard("discarded".to_owned())
                .await
                .expect("discard")
        );
    }
    let store = JournalStore::open_with(dir.path(), small()).expect("reopen");
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        (counts.ready, counts.leased, counts.retrying, counts.dead),
        (2, 0, 1, 1),
        "{counts}"
    );
    let dead = store.dead_letters().await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].key.as_str(),
            dead[0].attempts,
            dead[0].error.as_str()
        ),
        ("dead", 1, "gave up")
    );
    assert_eq!(dead[0].body, body("dead"), "the body, byte for byte");
    let ready = lease_all(&store).await;
    assert_eq!(keys(&ready), ["replayed", "waiting"]);
    for job in &ready {
        assert_eq!(
            job.attempts, 0,
            "{}: replayed resets, released counts none",
            job.key
        );
        assert_eq!(job.body, body(&job.key));
    }
    for key in [
        "done",
        "dead",
        "retrying",
        "replayed",
        "discarded",
        "waiting",
    ] {
        assert_eq!(
            enqueue(&store, key).await,
            Enqueued::Duplicate,
            "{key} stays known"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_turn_over_under_a_stream_and_the_newest_is_recovered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut left = std::collections::BTreeSet::new();
    {
        let store = JournalStore::open_with(dir.path(), small()).expect("open");
        // About 200 bytes a delivery: 64 KiB segments turn over dozens of times.
        for round in 0..40 {
            for n in 0..100 {
                let key = format!("k-{round}-{n}");
                assert_eq!(enqueue(&store, &key).await, Enqueued::Stored);
            }
            for job in lease_all(&store).await {
                if job.key.ends_with("-7") {
                    left.insert(job.key.clone());
                    settle(&store, &job, Resolution::Released).await;
                } else {
                    settle(&store, &job, Resolution::Completed).await;
                }
            }
        }
        assert_eq!(store.counts().await.expect("counts").pending(), left.len());
    }
    let mut generations = Vec::new();
    for name in ["journal.0", "journal.1"] {
        let bytes = std::fs::read(dir.path().join(name)).expect("segment");
        assert!(
            bytes.len() <= 256 << 10,
            "{name}: {} bytes, bounded by the segment size",
            bytes.len()
        );
        // The header: magic, version, then the generation (little-endian).
        generations.push(u64::from_le_bytes(
            bytes[16..24].try_into().expect("header"),
        ));
    }
    assert!(
        generations.iter().max() > Some(&5),
        "the segments turned over: generations {generations:?}"
    );
    let store = JournalStore::open_with(dir.path(), small()).expect("reopen");
    let jobs = lease_all(&store).await;
    assert_eq!(
        keys(&jobs),
        left.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(enqueue(&store, "k-0-1").await, Enqueued::Duplicate);
    assert_eq!(enqueue(&store, "k-39-99").await, Enqueued::Duplicate);
}

/// The segment file holding `needle`, and where.
fn find(dir: &Path, needle: &[u8]) -> (std::path::PathBuf, usize) {
    for name in ["journal.0", "journal.1"] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).expect("read segment");
        if let Some(at) = bytes.windows(needle.len()).rposition(|w| w == needle) {
            return (path, at);
        }
    }
    panic!("{} not found", String::from_utf8_lossy(needle));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_write_ends_the_journal_where_it_tore() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = JournalStore::open_with(dir.path(), small()).expect("open");
        for key in ["first", "second", "torn"] {
            assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
        }
    }
    // A crash mid-write: one byte of the last write's record never reached the disk, nor did
    // anything written after it (the mark the store writes once idle).
    let (path, at) = find(dir.path(), br#""key":"torn""#);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[at] ^= 0xff;
    bytes[(at / 4096 + 1) * 4096..].fill(0);
    std::fs::write(&path, bytes).expect("write");

    let store = JournalStore::open_with(dir.path(), small()).expect("reopen");
    assert_eq!(keys(&lease_all(&store).await), ["first", "second"]);
    assert_eq!(
        enqueue(&store, "torn").await,
        Enqueued::Stored,
        "a delivery whose flush never returned was never acknowledged"
    );
    assert_eq!(enqueue(&store, "first").await, Enqueued::Duplicate);
}

/// A damaged record followed by records of later flushes is corruption, not a torn tail: the
/// journal refuses to open (naming the file, the offset and the command), changes nothing, and
/// the salvage brings back every record that reads.
#[tokio::test(flavor = "multi_thread")]
async fn damage_before_later_flushes_is_refused_then_salvaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = JournalStore::open_with(dir.path(), small()).expect("open");
        for key in ["first", "second", "damaged", "after"] {
            assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
        }
    }
    let (path, at) = find(dir.path(), br#""key":"damaged""#);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let before = [0, 1].map(|i| std::fs::read(dir.path().join(format!("journal.{i}"))).unwrap());

    let error = JournalStore::open_with(dir.path(), small()).expect_err("refused");
    let damaged = error
        .backend_error::<JournalDamaged>()
        .expect("a JournalDamaged");
    let JournalDamaged::Corrupt { file, offset, .. } = damaged else {
        panic!("{damaged:?}");
    };
    assert_eq!(file, &path);
    assert!(
        (*offset as usize) < at && at - (*offset as usize) < 200,
        "{offset} names the damaged record's frame (its body is at {at})"
    );
    let report = error.report();
    assert!(
        report.contains(&format!(
            "roamify-hooks journal salvage {}",
            dir.path().display()
        )),
        "{report}"
    );
    let after = [0, 1].map(|i| std::fs::read(dir.path().join(format!("journal.{i}"))).unwrap());
    assert!(before == after, "a refused open changes no file");

    let salvaged = JournalStore::salvage(dir.path(), &small()).expect("salvage");
    assert_eq!(salvaged.counts.pending(), 3, "{salvaged:?}");
    assert_eq!(salvaged.unreadable.len(), 1, "{salvaged:?}");
    assert!(salvaged.kept_aside.join(path.file_name().unwrap()).exists());
    let store = JournalStore::open_with(dir.path(), small()).expect("opens after salvage");
    assert_eq!(keys(&lease_all(&store).await), ["after", "first", "second"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_snapshot_leaves_the_previous_segment_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = JournalStore::open_with(dir.path(), small()).expect("open");
        for key in ["a", "b"] {
            assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
        }
    }
    // The reopen writes its snapshot to the other file; a crash during that write left its
    // header but not the rest.
    drop(JournalStore::open_with(dir.path(), small()).expect("reopen"));
    let (newest, _) = find(dir.path(), br#""key":"b""#);
    let mut bytes = std::fs::read(&newest).expect("read");
    bytes[24..].fill(0);
    std::fs::write(&newest, bytes).expect("write");

    let store = JournalStore::open_with(dir.path(), small()).expect("open after the crash");
    assert_eq!(keys(&lease_all(&store).await), ["a", "b"]);
    assert_eq!(enqueue(&store, "c").await, Enqueued::Stored);
    drop(store);
    let store = JournalStore::open_with(dir.path(), small()).expect("open again");
    assert_eq!(keys(&lease_all(&store).await), ["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_process_at_a_time_holds_a_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = JournalStore::open_with(dir.path(), small()).expect("open");
    let error = JournalStore::open_with(dir.path(), small()).expect_err("locked");
    assert!(
        error.report().contains("in use by another process"),
        "{}",
        error.report()
    );
    // Told apart by type, not by message.
    let in_use = error
        .backend_error::<roamify_hooks::delivery::JournalInUse>()
        .expect("a JournalInUse");
    assert_eq!(in_use.dir, dir.path());
    assert!(error.backend_error::<std::io::Error>().is_none());
    drop(store);
    JournalStore::open_with(dir.path(), small()).expect("free once the first is dropped");
}

/// The view's counts beside the store's own: leases are not journaled, so a leased job reads as
/// ready.
async fn store_counts_unleased(store: &JournalStore) -> StoreCounts {
    let mut counts = store.counts().await.expect("counts");
    counts.ready += counts.leased;
    counts.leased = 0;
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_reads_a_journal_its_store_holds_while_segments_turn_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(JournalStore::open_with(dir.path(), small()).expect("open"));
    for key in ["dead", "retrying", "ready-1", "ready-2"] {
        assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
    }
    for job in lease_all(&store).await {
        let resolution = match job.key.as_str() {
            "dead" => Resolution::Dead {
                error: "ledger unavailable".to_owned(),
            },
            "retrying" => Resolution::Retry {
                after: LONG,
                error: "timeout".to_owned(),
            },
            _ => Resolution::Released,
        };
        settle(&store, &job, resolution).await;
    }
    // Outcomes are flushed with the next group: this delivery's answer waits for them.
    assert_eq!(enqueue(&store, "fresh").await, Enqueued::Stored);

    let view = JournalView::read_with(dir.path(), &small()).expect("view while held");
    let counts = view.counts();
    assert_eq!(
        (counts.ready, counts.leased, counts.retrying, counts.dead),
        (3, 0, 1, 1)
    );
    assert_eq!(counts, store_counts_unleased(&store).await);
    let dead = view.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "dead");
    assert_eq!(dead[0].error, "ledger unavailable");
    assert_eq!(dead[0].body, body("dead"));

    // Read again and again while a stream turns the 64 KiB segments over: every view is whole
    // (the dead letter and the retry are in each snapshot), never an error.
    let writer = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            for round in 0..30 {
                for n in 0..100 {
                    let key = format!("k-{round}-{n}");
                    assert_eq!(enqueue(&store, &key).await, Enqueued::Stored);
                }
                for job in lease_all(&store).await {
                    let resolution = if job.key.starts_with("k-") {
                        Resolution::Completed
                    } else {
                        Resolution::Released
                    };
                    settle(&store, &job, resolution).await;
                }
            }
        })
    };
    let path = dir.path().to_path_buf();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reading = std::sync::Arc::clone(&done);
    let views = tokio::task::spawn_blocking(move || {
        let mut views = 0;
        while !reading.load(std::sync::atomic::Ordering::Acquire) {
            let view = JournalView::read_with(&path, &small()).expect("view while written");
            assert_eq!(view.counts().dead, 1, "{view:?}");
            assert_eq!(view.dead_letters()[0].key, "dead");
            assert_eq!(view.counts().retrying, 1, "{view:?}");
            views += 1;
        }
        views
    });
    writer.await.expect("writer");
    done.store(true, std::sync::atomic::Ordering::Release);
    let views = views.await.expect("views");
    assert!(views > 0, "read while the stream was written");
    assert_eq!(enqueue(&store, "last").await, Enqueued::Stored);
    let view = JournalView::read_with(dir.path(), &small()).expect("final view");
    assert_eq!(view.counts(), store_counts_unleased(&store).await);
}

#[test]
fn a_view_of_a_directory_without_a_journal_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = JournalView::read(dir.path()).expect_err("no segments");
    assert!(
        error.report().contains("holds no journal"),
        "{}",
        error.report()
    );
}

/// A segment whose header is damaged, while batches of it follow: refused (the older segment
/// would be read instead, losing the newer one), and salvaged from its Batch frames.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_header_is_refused_and_salvaged_from_the_batches_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = JournalStore::open_with(dir.path(), small()).expect("open");
        for key in ["a", "b", "c"] {
            assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
        }
    }
    let (path, _) = find(dir.path(), br#""key":"c""#);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[20] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let error = JournalStore::open_with(dir.path(), small()).expect_err("refused");
    match error.backend_error::<JournalDamaged>() {
        Some(JournalDamaged::Corrupt { file, offset, .. }) => {
            assert_eq!((file, *offset), (&path, 0));
        }
        _ => panic!("{}", error.report()),
    }
    let salvaged = JournalStore::salvage(dir.path(), &small()).expect("salvage");
    assert!(salvaged.unreadable.is_empty(), "{salvaged:?}");
    let store = JournalStore::open_with(dir.path(), small()).expect("opens after salvage");
    assert_eq!(keys(&lease_all(&store).await), ["a", "b", "c"]);
}

/// Once idle, the journal writes an empty batch after its last flush: damage to the newest
/// acknowledged delivery is then refused, not read as a torn tail (which would lose it).
#[tokio::test(flavor = "multi_thread")]
async fn damage_to_the_newest_delivery_of_an_idle_journal_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = JournalStore::open_with(dir.path(), small()).expect("open");
    for key in ["older", "newest"] {
        assert_eq!(enqueue(&store, key).await, Enqueued::Stored);
    }
    // Idle: the mark is written meanwhile, so closing the store writes nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (path, at) = find(dir.path(), br#""key":"newest""#);
    let idle = std::fs::read(&path).expect("read");
    drop(store);
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(
        idle == bytes,
        "the mark was written while idle, not at close"
    );
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let error = JournalStore::open_with(dir.path(), small()).expect_err("refused");
    assert!(
        error.backend_error::<JournalDamaged>().is_some(),
        "{}",
        error.report()
    );
}

/// A frame whose length field is damaged in the middle of a snapshot (one batch) loses that
/// frame only: salvage resumes at the next frame that reads, not at the next batch, which for a
/// snapshot would be the rest of the segment.
#[tokio::test(flavor = "multi_thread")]
async fn salvage_resumes_after_a_damaged_length_inside_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = JournalStore::open_with(dir.path(), small()).expect("open");
    for n in 0..200 {
        assert_eq!(enqueue(&store, &format!("d{n}")).await, Enqueued::Stored);
    }
    drop(store);
    // Reopening writes everything pending, as one snapshot, to the other segment.
    drop(JournalStore::open_with(dir.path(), small()).expect("reopen"));
    let generation = |name: &str| {
        let bytes = std::fs::read(dir.path().join(name)).expect("read");
        u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"))
    };
    let newest = if generation("journal.0") > generation("journal.1") {
        "journal.0"
    } else {
        "journal.1"
    };
    let path = dir.path().join(newest);
    let mut bytes = std::fs::read(&path).expect("read");
    // The header (40 bytes), the Batch frame (37), then the snapshot's first frame: its length.
    bytes[77..81].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).expect("damage");

    let salvaged = JournalStore::salvage(dir.path(), &small()).expect("salvage");
    assert_eq!(salvaged.unreadable.len(), 1, "{salvaged:?}");
    let (_, from, to) = &salvaged.unreadable[0];
    assert!(
        *to - *from < 10_000,
        "one frame lost, not the rest: {salvaged:?}"
    );
    let store = JournalStore::open_with(dir.path(), small()).expect("opens after the salvage");
    let pending = store.counts().await.expect("counts").pending();
    assert!((199..=200).contains(&pending), "{pending} of 200 recovered");
}
