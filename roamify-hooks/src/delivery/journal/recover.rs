//! Opening a journal: the directory's lock, the two segment files, and the state replayed from
//! the newest segment whose snapshot is complete, or a refusal that changes nothing when the
//! files are damaged or written by a newer release.

use std::path::{Path, PathBuf};

use super::disk::{Disk, Segment};
use super::frame::{self, HEADER_LEN, Header};
use super::replay::Replay;
use super::scan::{self, Mode, Stop};
use super::{JournalDamaged, JournalInUse, JournalOptions};
use crate::delivery::StoreError;
use crate::delivery::memory::State;

/// What [`open`] found.
pub(super) struct Opened {
    pub(super) state: State,
    /// The generation of the segment recovered from (0 when none: the next is 1).
    pub(super) generation: u64,
    /// The file the state was recovered from (`None`: a new journal).
    pub(super) valid: Option<usize>,
    pub(super) files: [Box<dyn Segment>; 2],
    pub(super) lock: Box<dyn std::fmt::Debug + Send + Sync>,
}

/// The name of segment file `index`.
pub(super) fn segment_name(index: usize) -> String {
    format!("journal.{index}")
}

/// Locks `dir` (creating it), opens (creating) both segment files and replays the newest
/// complete segment; then fills the files with zeros up to `segment_size` and syncs the
/// directory and its parent. When the files are damaged, nothing is written.
pub(super) fn open(
    disk: &dyn Disk,
    dir: &Path,
    segment_size: u64,
    options: &JournalOptions,
) -> Result<Opened, StoreError> {
    let created = disk
        .create_dir_all(dir)
        .map_err(|e| StoreError::backend("create the journal's directory", e))?;
    let lock = match disk.lock(dir) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            let in_use = JournalInUse {
                dir: dir.to_path_buf(),
            };
            return Err(StoreError::backend("open the journal", in_use));
        }
        Err(e) => return Err(StoreError::backend("lock the journal's directory", e)),
    };
    // Read first, created only once the journal is known to be sound: a refusal creates
    // nothing.
    let mut found_files = [None, None];
    for (index, file) in found_files.iter_mut().enumerate() {
        let path = dir.join(segment_name(index));
        *file = disk
            .open(&path, false)
            .map_err(|e| file_error("open the journal's segment files", &path, e))?;
    }
    let found = newest_complete(
        dir,
        [found_files[0].as_deref(), found_files[1].as_deref()],
        options,
    )?;
    let [first, second] = found_files;
    let open_or_create = |file: Option<Box<dyn Segment>>, index: usize| match file {
        Some(file) => Ok(file),
        None => {
            let path = dir.join(segment_name(index));
            disk.open(&path, true)
                .and_then(|file| file.ok_or_else(|| std::io::ErrorKind::NotFound.into()))
                .map_err(|e| file_error("create the journal's segment files", &path, e))
        }
    };
    let files = [open_or_create(first, 0)?, open_or_create(second, 1)?];
    for (index, file) in files.iter().enumerate() {
        let path = dir.join(segment_name(index));
        fill(&**file, segment_size).map_err(|e| file_error("fill a segment file", &path, e))?;
    }
    // The names of the files (and of the directory, when it was created) made durable.
    let mut dirs: Vec<PathBuf> = created
        .iter()
        .filter_map(|created| created.parent().map(Path::to_path_buf))
        .collect();
    dirs.push(dir.to_path_buf());
    for synced in dirs {
        disk.sync_dir(&synced)
            .map_err(|e| file_error("sync the journal's directory", &synced, e))?;
    }
    let (state, valid, generation) = match found {
        Some((index, generation, state)) => (state, Some(index), generation),
        None => (options.state(), None, 0),
    };
    Ok(Opened {
        state,
        generation,
        valid,
        files,
        lock,
    })
}

pub(super) fn file_error(what: &'static str, path: &Path, e: std::io::Error) -> StoreError {
    // The file's path with the system's error, which names none.
    StoreError::backend(
        what,
        std::io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    )
}

/// Fills `file` with zeros up to `size` if it is shorter, and syncs it: later flushes then
/// overwrite allocated blocks instead of growing the file (on ext4, a flush that grows a file
/// also commits the filesystem's journal: about twice as slow).
fn fill(file: &dyn Segment, size: u64) -> std::io::Result<()> {
    let len = file.len()?;
    if len >= size {
        return Ok(());
    }
    let zeros = vec![0; 1 << 20];
    let mut at = len;
    while at < size {
        let n = usize::try_from((size - at).min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

/// The state of the journal in `dir` as its files hold it, read without its lock and without
/// writing anything: `None` when no segment holds a complete snapshot.
///
/// A server may be appending meanwhile: a record it is writing fails its checksum and ends the
/// replay there, as a torn write does, so what is read is the state as of some moment of the
/// server's life (the end of one of its flushes). What reads as damage is read again (up to 20
/// times, 10 ms apart) before it is reported: it may be a write under way.
pub(super) fn read(
    disk: &dyn Disk,
    dir: &Path,
    options: &JournalOptions,
) -> Result<Option<State>, StoreError> {
    let fail = |e| StoreError::backend("read the journal", e);
    let mut files = [None, None];
    for (index, file) in files.iter_mut().enumerate() {
        *file = disk
            .open(&dir.join(segment_name(index)), false)
            .map_err(fail)?;
    }
    if files.iter().all(Option::is_none) {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} holds no journal (no segment files)", dir.display()),
        )));
    }
    // A write under way reads as damage when a later batch is read after it was written; it
    // is gone once the write is: read again before saying the journal is damaged.
    let mut tries = 0;
    loop {
        match newest_complete(dir, [files[0].as_deref(), files[1].as_deref()], options) {
            Ok(found) => return Ok(found.map(|(_, _, state)| state)),
            Err(error) if tries < 20 && error.backend_error::<JournalDamaged>().is_some() => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(error) => return Err(error),
        }
    }
}

/// The header of `file`, if valid.
pub(super) fn header(file: &dyn Segment) -> std::io::Result<Option<Header>> {
    let mut bytes = [0; HEADER_LEN];
    // Format 1's header is shorter: a file of format 1 may hold only its 24 bytes.
    let n = file.read_at(&mut bytes, 0)?;
    Ok(if n >= 24 {
        frame::read_header(&bytes)
    } else {
        None
    })
}

/// Replays the newest complete segment among `files` (`None`: a file that does not exist): its
/// index, its generation and the state. An error when a segment is damaged beyond a torn tail
/// or written by a newer release.
fn newest_complete(
    dir: &Path,
    files: [Option<&dyn Segment>; 2],
    options: &JournalOptions,
) -> Result<Option<(usize, u64, State)>, StoreError> {
    let io = |e| StoreError::backend("read the journal", e);
    let damaged = |index: usize, offset: u64| {
        let error = JournalDamaged::Corrupt {
            dir: dir.to_path_buf(),
            file: dir.join(segment_name(index)),
            offset,
        };
        StoreError::backend("open the journal", error)
    };
    let newer = |index: usize, offset: u64, what: String| {
        let error = JournalDamaged::Newer {
            file: dir.join(segment_name(index)),
            offset,
            what,
        };
        StoreError::backend("open the journal", error)
    };
    let mut headers = [None, None];
    for (index, file) in files.iter().enumerate() {
        if let Some(file) = file {
            headers[index] = header(*file).map_err(io)?;
        }
        if let Some(Header::Newer { version }) = headers[index] {
            return Err(newer(index, 0, format!("format version {version}")));
        }
    }
    let newest = headers.iter().flatten().map(|h| h.generation()).max();
    // A file whose header does not read, yet holds batches of a newer segment than any that
    // does: its header is damaged (a torn header write leaves no later batch behind it).
    for (index, file) in files.iter().enumerate() {
        if let (Some(file), None) = (file, headers[index]) {
            let len = file.len().map_err(io)?;
            let floor = newest.unwrap_or(0);
            if scan::later_batch(*file, 0, len, |generation, _| generation > floor)
                .map_err(io)?
                .is_some()
            {
                return Err(damaged(index, 0));
            }
        }
    }
    let mut order: Vec<(usize, Header)> = headers
        .iter()
        .enumerate()
        .filter_map(|(index, header)| header.map(|h| (index, h)))
        .collect();
    order.sort_by_key(|(_, header)| std::cmp::Reverse(header.generation()));
    for (index, header) in &order {
        let Some(file) = files[*index] else { continue };
        let mut replay = Replay::new(options);
        let scanned = scan::scan(file, *header, Mode::Strict, &mut |record| {
            replay.apply(record);
        })
        .map_err(io)?;
        match scanned {
            Err(Stop::Damaged { offset }) => return Err(damaged(*index, offset)),
            Err(Stop::Newer { offset, kind }) => {
                return Err(newer(*index, offset, format!("a record of kind {kind}")));
            }
            Ok(scanned) if scanned.complete => {
                if *index != order[0].0 {
                    tracing::warn!(
                        incomplete = %dir.join(segment_name(order[0].0)).display(),
                        recovered = %dir.join(segment_name(*index)).display(),
                        "the newest journal segment's snapshot is incomplete (a segment switch \
                         a crash cut short): recovered from the previous segment"
                    );
                }
                return Ok(Some((*index, header.generation(), replay.finish())));
            }
            Ok(_) => {}
        }
    }
    match order.first() {
        // Only the first snapshot of a new journal can be cut short with nothing before it.
        Some((index, header)) if header.generation() > 1 => Err(damaged(*index, header.len())),
        _ => Ok(None),
    }
}
