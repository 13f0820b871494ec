//! The operator's way out of a damaged journal, as the issue that found it tried it: a journal
//! holding 3,000 acknowledged deliveries not yet handled, one byte flipped at 10 %, 30 % and
//! 50 % of its newest segment's written region. The store refuses to open, naming the file, the
//! offset and the command; `roamify-hooks journal salvage <dir>` recovers every delivery whose
//! record still reads, and the journal opens again.

use roamify_hooks::delivery::Incoming;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use roamify_hooks::delivery::{
    Admin, Enqueued, JournalDamaged, JournalOptions, JournalStore, Queue,
};

const DELIVERIES: usize = 3000;

/// A body shaped like Roamify's (about 300 bytes), distinct per delivery.
fn body(n: usize) -> Vec<u8> {
    format!(
        r#"{{"category":"esim","type":"status","timestamp":"2026-12-07T10:00:00Z","data":{{"iccid":"89{n:017}","status":"ACTIVATED","order_id":"ord-{n}","package":"europe-10gb","note":"{pad}"}}}}"#,
        pad = "x".repeat(120)
    )
    .into_bytes()
}

/// Writes the journal: 3,000 deliveries enqueued at once (group commits), none handled.
async fn write(dir: &Path) {
    let options = JournalOptions::default().segment_size(1 << 20);
    let store = Arc::new(JournalStore::open_with(dir, options).expect("open"));
    let tasks: Vec<_> = (0..DELIVERIES)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .enqueue(Incoming::new(format!("delivery-{n}"), body(n)))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.expect("task").expect("enqueue"),
            Enqueued::Stored
        );
    }
}

/// The newest segment (highest generation in its header) and where its written bytes end.
fn newest(dir: &Path) -> (PathBuf, usize) {
    let mut best = None;
    for name in ["journal.0", "journal.1"] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).expect("segment");
        let generation = u64::from_le_bytes(bytes[16..24].try_into().expect("header"));
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |at| at + 1);
        if best.as_ref().is_none_or(|(g, _, _)| generation > *g) {
            best = Some((generation, path, end));
        }
    }
    let (_, path, end) = best.expect("segments");
    (path, end)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for name in ["journal.0", "journal.1"] {
        std::fs::copy(from.join(name), to.join(name)).expect("copy");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_journal_is_refused_loudly_then_salvaged_by_the_cli() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let original = scratch.path().join("original");
    write(&original).await;
    for percent in [10, 30, 50] {
        let dir = scratch.path().join(format!("flipped-{percent}"));
        copy_dir(&original, &dir);
        let (segment, end) = newest(&dir);
        let mut bytes = std::fs::read(&segment).expect("read");
        let at = end * percent / 100;
        bytes[at] ^= 0x5a;
        std::fs::write(&segment, &bytes).expect("write");

        let error = JournalStore::open(&dir).expect_err("a damaged journal is refused");
        let report = error.report();
        let Some(JournalDamaged::Corrupt { file, offset, .. }) =
            error.backend_error::<JournalDamaged>()
        else {
            panic!("{percent} %: {report}");
        };
        assert_eq!(file, &segment, "{report}");
        assert!(
            (*offset as usize) <= at && at - *offset as usize <= 400,
            "{percent} %: offset {offset} for the byte at {at}"
        );
        let command = format!("roamify-hooks journal salvage {}", dir.display());
        assert!(report.contains(&command), "{report}");
        assert_eq!(
            std::fs::read(&segment).expect("read"),
            bytes,
            "the refusal changed nothing"
        );

        let output = Command::new(env!("CARGO_BIN_EXE_roamify-hooks"))
            .args(["journal", "salvage"])
            .arg(&dir)
            .output()
            .expect("run roamify-hooks");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{said} {output:?}");
        assert!(said.contains("could not read"), "{said}");
        assert!(said.contains("damaged files are kept in"), "{said}");

        let store = JournalStore::open(&dir).expect("opens after the salvage");
        let pending = store.counts().await.expect("counts").pending();
        // The damaged frame's delivery (if the byte was in one) is all that is lost: a
        // snapshot record holds one delivery, a stored record one.
        assert!(
            (DELIVERIES - 1..=DELIVERIES).contains(&pending),
            "{percent} %: {pending} of {DELIVERIES} recovered; {said}"
        );
        let jobs = store
            .lease(DELIVERIES, std::time::Duration::from_secs(60))
            .await
            .expect("lease");
        for job in &jobs {
            let n: usize = job.key["delivery-".len()..].parse().expect("key");
            assert_eq!(job.body, body(n), "{} came back whole", job.key);
        }
        let aside: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("damaged-"))
            .collect();
        assert_eq!(aside.len(), 1, "the damaged files are kept aside");
        assert_eq!(
            std::fs::read(aside[0].path().join(segment.file_name().expect("name"))).expect("kept"),
            bytes,
            "kept as they were"
        );
    }
}
