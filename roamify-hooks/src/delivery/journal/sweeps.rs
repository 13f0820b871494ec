//! Damage at every byte: a journal cut at any byte of its written region opens with exactly the
//! records before the cut; one byte flipped anywhere either opens with everything (padding),
//! opens with the records before it (the last flush, which a torn write looks like), or is
//! refused naming the damaged frame. Then one test for each way the format 1 journal could
//! replay what it should not.

use crate::delivery::Incoming;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::frame::{self, BATCH_FRAME, FRAME_HEAD, HEADER_LEN, PAGE, Record};
use super::sim::{Cut, SimDisk};
use super::{JournalDamaged, JournalOptions, JournalStore, MIN_SEGMENT_SIZE, recover};
use crate::delivery::memory::fingerprint;
use crate::delivery::store::{Enqueued, Queue, Resolution, Settlement, StoreLimits};
use crate::delivery::{StoreError, memory::State};

const DIR: &str = "/data/journal";
const LONG: Duration = Duration::from_secs(3600);

fn options() -> JournalOptions {
    JournalOptions::default()
        .segment_size(MIN_SEGMENT_SIZE)
        .limits(StoreLimits::default().window(LONG))
}

fn segment(index: usize) -> PathBuf {
    Path::new(DIR).join(format!("journal.{index}"))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// A frame as laid out in a segment, read with no checksum checked (the test's own reading of
/// the format, independent of the journal's).
#[derive(Debug)]
struct Laid {
    start: u64,
    end: u64,
    kind: u8,
    key: String,
    /// The batch it is in (0: the first, with the snapshot).
    batch: usize,
}

/// The frames of an intact format-2 segment, Batch frames included, and where its written
/// region ends.
fn lay_out(bytes: &[u8]) -> (Vec<Laid>, u64) {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
    let mut frames = Vec::new();
    let mut at = HEADER_LEN;
    let mut end = at;
    let mut batch = 0;
    while at + BATCH_FRAME <= bytes.len() && u32_at(at) == 25 {
        let len = u64::from_le_bytes(bytes[at + 29..at + 37].try_into().expect("8"));
        let batch_end = at + usize::try_from(len).expect("len");
        let mut x = at;
        while x < batch_end {
            let length = u32_at(x) as usize;
            let payload = &bytes[x + FRAME_HEAD..x + FRAME_HEAD + length];
            let key = if matches!(payload[0], 1 | 2) {
                let n = u32::from_le_bytes(payload[1..5].try_into().expect("4")) as usize;
                String::from_utf8(payload[5..5 + n].to_vec()).expect("key")
            } else {
                String::new()
            };
            let frame_end = x + FRAME_HEAD + length;
            frames.push(Laid {
                start: x as u64,
                end: frame_end as u64,
                kind: payload[0],
                key,
                batch,
            });
            x = frame_end;
        }
        end = batch_end;
        at = batch_end.div_ceil(PAGE as usize) * PAGE as usize;
        batch += 1;
    }
    (frames, end as u64)
}

/// A journal of eight deliveries and two outcomes, each flush its own batch, on a simulated
/// disk: the disk, and the bytes of its segment.
fn written() -> (SimDisk, Vec<u8>) {
    let disk = SimDisk::default();
    let store = JournalStore::open_on(Arc::new(disk.clone()), Path::new(DIR), options(), None)
        .expect("open");
    for n in 0..8 {
        let stored =
            block_on(store.enqueue(Incoming::new(format!("k{n}"), vec![b'x'; 20 + n * 7])));
        assert_eq!(stored.expect("enqueue"), Enqueued::Stored);
        if n == 3 || n == 6 {
            let jobs = block_on(store.lease(10, LONG)).expect("lease");
            let done = jobs
                .iter()
                .filter(|job| job.key == format!("k{}", n - 2))
                .map(|job| Settlement::new(job, Resolution::Completed))
                .collect();
            block_on(store.settle(done)).expect("settle");
            let back = jobs
                .iter()
                .filter(|job| job.key != format!("k{}", n - 2))
                .map(|job| Settlement::new(job, Resolution::Released))
                .collect();
            block_on(store.settle(back)).expect("release");
        }
    }
    drop(store);
    let bytes = disk.read(&segment(0)).expect("journal.0");
    (disk, bytes)
}

/// Opens (recovery only) the journal of `disk` with segment 0 replaced by `bytes`.
fn reopen(disk: &SimDisk, bytes: Vec<u8>) -> Result<State, StoreError> {
    let mut rng = fastrand::Rng::with_seed(0);
    let copy = disk.after_power_cut(Cut::Everything, &mut rng);
    copy.replace(&segment(0), bytes);
    recover::open(&copy, Path::new(DIR), MIN_SEGMENT_SIZE, &options()).map(|opened| opened.state)
}

/// The pending keys and the keys known for deduplication that the frames ending by `cut` make.
fn expected(frames: &[Laid], cut: u64) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let snapshot_end = frames
        .iter()
        .find(|f| f.kind == 13)
        .expect("snapshot end")
        .end;
    if cut < snapshot_end {
        return None;
    }
    let mut pending = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for frame in frames.iter().filter(|f| f.end <= cut) {
        match frame.kind {
            1 => {
                pending.insert(frame.key.clone());
                seen.insert(frame.key.clone());
            }
            2 => {
                pending.remove(&frame.key);
            }
            _ => {}
        }
    }
    Some((pending, seen))
}

fn holds(state: &mut State, every: &[String]) -> (BTreeSet<String>, BTreeSet<String>) {
    let pending = state.ready.iter().map(|job| job.key.clone()).collect();
    let now = Instant::now();
    let seen = every
        .iter()
        .filter(|key| state.seen.contains(fingerprint(key), LONG, now))
        .cloned()
        .collect();
    (pending, seen)
}

fn check_holds(state: Result<State, StoreError>, frames: &[Laid], cut: u64, what: &str) {
    let every: Vec<String> = (0..8).map(|n| format!("k{n}")).collect();
    let mut state = state.unwrap_or_else(|e| panic!("{what}: {}", e.report()));
    let held = holds(&mut state, &every);
    let empty = (BTreeSet::new(), BTreeSet::new());
    let want = expected(frames, cut).unwrap_or(empty);
    assert_eq!(held, want, "{what}");
}

#[test]
fn a_journal_cut_at_any_byte_opens_with_exactly_the_records_before_the_cut() {
    let (disk, bytes) = written();
    let (frames, end) = lay_out(&bytes);
    assert_eq!(frames.iter().filter(|f| f.kind == 1).count(), 8);
    assert!(
        frames.iter().map(|f| f.batch).max() >= Some(8),
        "one batch a flush: {frames:?}"
    );
    for cut in 0..=end {
        let cut_bytes = bytes[..usize::try_from(cut).expect("cut")].to_vec();
        check_holds(
            reopen(&disk, cut_bytes),
            &frames,
            cut,
            &format!("cut at {cut}"),
        );
    }
}

#[test]
fn a_byte_flipped_anywhere_is_read_as_a_torn_tail_only_in_the_last_flush_and_else_refused() {
    let (disk, bytes) = written();
    let (frames, end) = lay_out(&bytes);
    let last = frames.iter().map(|f| f.batch).max().expect("batches");
    let mut refused = 0;
    for at in 0..end {
        let mut damaged = bytes.clone();
        damaged[usize::try_from(at).expect("at")] ^= 0x10;
        let result = reopen(&disk, damaged);
        let what = format!("byte {at} flipped");
        if at < HEADER_LEN as u64 {
            assert_corrupt(result, 0, &what);
            refused += 1;
            continue;
        }
        match frames.iter().find(|f| f.start <= at && at < f.end) {
            // Padding between batches: never read.
            None => check_holds(result, &frames, end, &what),
            Some(frame) if frame.batch == last => {
                check_holds(result, &frames, frame.start, &what);
            }
            Some(frame) => {
                assert_corrupt(result, frame.start, &what);
                refused += 1;
            }
        }
    }
    assert!(refused > 300, "{refused} refusals");
}

fn assert_corrupt(result: Result<State, StoreError>, offset: u64, what: &str) {
    let error = result.err().unwrap_or_else(|| panic!("{what}: opened"));
    match error.backend_error::<JournalDamaged>() {
        Some(JournalDamaged::Corrupt {
            offset: found,
            file,
            ..
        }) => {
            assert_eq!(
                (*found, file.as_path()),
                (offset, segment(0).as_path()),
                "{what}"
            );
        }
        _ => panic!("{what}: {}", error.report()),
    }
}

/// Frames left in a file by an older use of the same generation (a crash during a segment
/// switch can make the next open reuse it) are never replayed: each use has its own salt.
#[test]
fn frames_of_an_older_use_of_the_file_and_generation_are_never_replayed() {
    let write = |keys: &[&str]| {
        let disk = SimDisk::default();
        let store = JournalStore::open_on(Arc::new(disk.clone()), Path::new(DIR), options(), None)
            .expect("open");
        for key in keys {
            block_on(store.enqueue(Incoming::new((*key).to_owned(), b"{}".to_vec())))
                .expect("enqueue");
        }
        drop(store);
        let bytes = disk.read(&segment(0)).expect("segment");
        (disk, bytes)
    };
    let (_, older) = write(&["a", "b", "ghost"]);
    let (disk, newer) = write(&["a", "b"]);
    let (_, end) = lay_out(&newer);
    // The file as the newer use leaves it: its own bytes, then the older use's.
    let mut file = older.clone();
    file[..usize::try_from(end).expect("end")].copy_from_slice(&newer[..end as usize]);
    let (older_frames, _) = lay_out(&older);
    let ghost = older_frames
        .iter()
        .find(|f| f.key == "ghost")
        .expect("ghost");
    assert!(
        ghost.start >= end,
        "the ghost's frame is past the newer use's end"
    );
    let mut state = reopen(&disk, file).expect("opens");
    let keys: Vec<&str> = state.ready.iter().map(|job| job.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert!(
        !state
            .seen
            .contains(fingerprint("ghost"), LONG, Instant::now())
    );
}

/// A record of a kind this release does not know, in the last flush, is refused as written by
/// a newer release, not cut off as a torn tail.
#[test]
fn a_record_of_an_unknown_kind_is_refused_as_newer_not_truncated() {
    let (disk, mut bytes) = written();
    let (_, end) = lay_out(&bytes);
    let header: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().expect("header");
    let Some(frame::Header::V2 { generation, salt }) = frame::read_header(&header) else {
        panic!("format 2");
    };
    let at = usize::try_from(end.div_ceil(PAGE) * PAGE).expect("at");
    let mut batch = vec![0; BATCH_FRAME];
    let mut record = vec![0; FRAME_HEAD];
    record.extend_from_slice(&[99, 1, 2, 3]);
    let check =
        xxhash_rust::xxh3::xxh3_64_with_seed(&record[FRAME_HEAD..], frame::seed(generation, salt));
    record[..4].copy_from_slice(&4u32.to_le_bytes());
    record[4..12].copy_from_slice(&check.to_le_bytes());
    batch.extend_from_slice(&record);
    let len = batch.len() as u64;
    frame::fill_batch(&mut batch[..BATCH_FRAME], generation, salt, len);
    bytes[at..at + batch.len()].copy_from_slice(&batch);
    let error = reopen(&disk, bytes).expect_err("refused");
    match error.backend_error::<JournalDamaged>() {
        Some(JournalDamaged::Newer { offset, what, .. }) => {
            assert_eq!(*offset, (at + BATCH_FRAME) as u64);
            assert!(what.contains("99"), "{what}");
        }
        _ => panic!("{}", error.report()),
    }
    let _ = Record::SnapshotEnd;
}

/// Opening creates the directory and its parent: both names are synced, so a power cut right
/// after the first acknowledged delivery keeps it.
#[test]
fn the_directory_and_its_parent_are_synced_when_created() {
    let disk = SimDisk::default();
    let store = JournalStore::open_on(Arc::new(disk.clone()), Path::new(DIR), options(), None)
        .expect("open");
    let stored =
        block_on(store.enqueue(Incoming::new("kept".to_owned(), b"{}".to_vec()))).expect("enqueue");
    assert_eq!(stored, Enqueued::Stored);
    let synced = disk.dir_syncs();
    for dir in ["/", "/data", DIR] {
        assert!(
            synced.contains(&PathBuf::from(dir)),
            "{dir} synced: {synced:?}"
        );
    }
    disk.cut_power();
    drop(store);
    let mut rng = fastrand::Rng::with_seed(1);
    let back = disk.after_power_cut(Cut::Nothing, &mut rng);
    let state = recover::open(&back, Path::new(DIR), MIN_SEGMENT_SIZE, &options()).expect("open");
    let keys: Vec<&str> = state
        .state
        .ready
        .iter()
        .map(|job| job.key.as_str())
        .collect();
    assert_eq!(keys, ["kept"]);
}
