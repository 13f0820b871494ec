//! Salvaging a damaged journal: every record that validates, before and after the damage, in
//! a fresh journal; the damaged files kept aside.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::disk::{Disk, OsDisk, Segment, read_exact_at};
use super::frame::{self, BATCH_FRAME, Header};
use super::recover::{file_error, header, segment_name};
use super::replay::Replay;
use super::scan::{self, Mode};
use super::{JournalDamaged, JournalInUse, JournalOptions, JournalStore};
use crate::delivery::StoreError;
use crate::delivery::store::StoreCounts;

/// What [`JournalStore::salvage`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Salvaged {
    /// Records read from the damaged files (snapshot pieces included).
    pub records: u64,
    /// What the fresh journal holds.
    pub counts: StoreCounts,
    /// Byte ranges that did not read, as (file, from, to): the records in them are lost (a
    /// delivery whose record is lost is not handled; an outcome whose record is lost means its
    /// delivery runs again).
    pub unreadable: Vec<(PathBuf, u64, u64)>,
    /// The directory the damaged files were moved to.
    pub kept_aside: PathBuf,
}

impl JournalStore {
    /// Salvages the journal in `dir`, written with `options`, which [`open`](Self::open)
    /// refused as damaged ([`JournalDamaged`]): reads every record that validates in both
    /// segment files, before and after the damage (older segment first), writes a fresh
    /// journal holding the state they make, and moves the damaged files into a
    /// `damaged-<unix seconds>` directory beside them. Operators run it as
    /// `roamify-hooks journal salvage <dir>`.
    ///
    /// Safe to run again if interrupted: the damaged files are linked aside before the fresh
    /// ones replace them, one at a time, and a fresh segment always outranks a damaged one.
    ///
    /// # Errors
    /// When the journal is in use (its server runs), holds no segment file, was written by a
    /// newer release, or a file cannot be read or written.
    pub fn salvage(
        dir: impl AsRef<Path>,
        options: &JournalOptions,
    ) -> Result<Salvaged, StoreError> {
        let dir = dir.as_ref();
        let disk = OsDisk;
        let fail = |what, e| StoreError::backend(what, e);
        let lock = disk
            .lock(dir)
            .map_err(|e| fail("lock the journal's directory", e))?;
        let Some(lock) = lock else {
            let in_use = JournalInUse {
                dir: dir.to_path_buf(),
            };
            return Err(StoreError::backend("salvage the journal", in_use));
        };
        let mut found = Vec::new();
        for index in 0..2 {
            let path = dir.join(segment_name(index));
            if let Some(file) = disk.open(&path, false).map_err(|e| fail("open", e))? {
                let header = identify(&*file).map_err(|e| fail("read the journal", e))?;
                if let Some(Header::Newer { version }) = header {
                    let newer = JournalDamaged::Newer {
                        file: path,
                        offset: 0,
                        what: format!("format version {version}"),
                    };
                    return Err(StoreError::backend("salvage the journal", newer));
                }
                found.push((path, file, header));
            }
        }
        if found.is_empty() {
            let none = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} holds no journal (no segment files)", dir.display()),
            );
            return Err(fail("salvage the journal", none));
        }
        found.sort_by_key(|(_, _, header)| header.map_or(0, Header::generation));
        let mut replay = Replay::new(options);
        replay.merge = true;
        let mut records = 0;
        let mut unreadable = Vec::new();
        for (path, file, header) in &found {
            let Some(header) = header else {
                // Never written (zeros) or nothing in it reads.
                let written = written_len(&**file).map_err(|e| fail("read the journal", e))?;
                if written > 0 {
                    unreadable.push((path.clone(), 0, written));
                }
                continue;
            };
            let mut skipped = Vec::new();
            let scanned = scan::scan(&**file, *header, Mode::Salvage(&mut skipped), &mut |r| {
                replay.apply(r);
            })
            .map_err(|e| fail("read the journal", e))?;
            if let Ok(scanned) = scanned {
                records += scanned.records;
            }
            unreadable.extend(skipped.into_iter().map(|(a, b)| (path.clone(), a, b)));
        }
        let generation = found
            .iter()
            .filter_map(|(_, _, header)| header.map(Header::generation))
            .max()
            .unwrap_or(0);
        let state = replay.finish();
        let counts = state.counts(Instant::now());
        drop(found);
        let kept_aside = replace(dir, options, state, generation)?;
        drop(lock);
        Ok(Salvaged {
            records,
            counts,
            unreadable,
            kept_aside,
        })
    }
}

/// The header of `file`; for one whose header does not read, the segment its first Batch frame
/// names (its frames then read as far as they validate).
fn identify(file: &dyn Segment) -> std::io::Result<Option<Header>> {
    if let Some(header) = header(file)? {
        return Ok(Some(header));
    }
    // The first batch (right after the header), then one on any page.
    let mut bytes = [0; BATCH_FRAME];
    if read_exact_at(file, &mut bytes, frame::HEADER_LEN as u64)?
        && let Some((generation, salt, _)) = frame::read_batch(&bytes)
    {
        return Ok(Some(Header::V2 { generation, salt }));
    }
    let later = scan::later_batch(file, 0, file.len()?, |_, _| true)?;
    Ok(later.map(|(_, generation, salt)| Header::V2 { generation, salt }))
}

/// Where the last byte that is not zero of `file` ends.
fn written_len(file: &dyn Segment) -> std::io::Result<u64> {
    let len = file.len()?;
    let mut chunk = vec![0; 1 << 20];
    let mut at = 0;
    let mut end = 0;
    while at < len {
        let n = file.read_at(&mut chunk, at)?;
        if n == 0 {
            break;
        }
        if let Some(last) = chunk[..n].iter().rposition(|&b| b != 0) {
            end = at + last as u64 + 1;
        }
        at += n as u64;
    }
    Ok(end)
}

/// Writes a fresh journal holding `state` in a directory beside the files, links the damaged
/// files into `damaged-<unix seconds>`, then moves the fresh files over them, syncing each
/// directory after each step; the directory the damaged files are in.
fn replace(
    dir: &Path,
    options: &JournalOptions,
    state: crate::delivery::memory::State,
    generation: u64,
) -> Result<PathBuf, StoreError> {
    let disk = OsDisk;
    let staging = dir.join("salvage.tmp");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|e| file_error("remove an earlier salvage's files", &staging, e))?;
    }
    // A generation above the damaged files': after a partial replacement, the fresh segment
    // is the newest.
    let store = JournalStore::open_on(
        std::sync::Arc::new(OsDisk),
        &staging,
        options.clone(),
        Some((state, generation)),
    )?;
    drop(store);
    let secs = crate::time::UnixTime::now().as_secs();
    let mut aside = dir.join(format!("damaged-{secs}"));
    let mut n = 1;
    while aside.exists() {
        aside = dir.join(format!("damaged-{secs}-{n}"));
        n += 1;
    }
    std::fs::create_dir(&aside).map_err(|e| file_error("create a directory", &aside, e))?;
    for index in 0..2 {
        let name = segment_name(index);
        let from = dir.join(&name);
        if from.exists() {
            std::fs::hard_link(&from, aside.join(&name))
                .map_err(|e| file_error("keep a damaged file aside", &from, e))?;
        }
    }
    for synced in [&aside, dir] {
        disk.sync_dir(synced)
            .map_err(|e| file_error("sync a directory", synced, e))?;
    }
    for index in 0..2 {
        let name = segment_name(index);
        std::fs::rename(staging.join(&name), dir.join(&name))
            .map_err(|e| file_error("move a fresh segment in place", &dir.join(&name), e))?;
        disk.sync_dir(dir)
            .map_err(|e| file_error("sync a directory", dir, e))?;
    }
    std::fs::remove_dir_all(&staging).map_err(|e| file_error("remove a directory", &staging, e))?;
    Ok(aside)
}
