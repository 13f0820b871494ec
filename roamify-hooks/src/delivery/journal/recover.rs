//! Opening a journal: the directory's lock, the two segment files, and the state replayed from
//! the newest segment whose snapshot is complete.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::frame::{self, FRAME_HEAD, HEADER_LEN, Record};
use super::{Clocks, JournalInUse, JournalOptions};
use crate::delivery::StoreError;
use crate::delivery::memory::{State, fingerprint};
use crate::delivery::store::{DeadLetter, Job};
use crate::time::UnixTime;

/// What [`open`] found.
pub(super) struct Opened {
    pub(super) state: State,
    /// The highest generation of any segment header (the next segment's is one more).
    pub(super) generation: u64,
    /// The file the state was recovered from (`None`: a new journal).
    pub(super) valid: Option<usize>,
    pub(super) files: [File; 2],
    pub(super) lock: File,
}

/// The name of segment file `index`.
fn segment_name(index: usize) -> String {
    format!("journal.{index}")
}

/// Locks `dir` (creating it), opens (creating and zero-filling) both segment files and replays
/// the newest complete segment.
pub(super) fn open(
    dir: &Path,
    segment_size: u64,
    options: &JournalOptions,
) -> Result<Opened, StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::backend("create the journal's directory", e))?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(|e| StoreError::backend("open the journal's lock file", e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::backend(
                "open the journal",
                JournalInUse {
                    dir: dir.to_path_buf(),
                },
            ));
        }
        Err(TryLockError::Error(e)) => {
            return Err(StoreError::backend("lock the journal's directory", e));
        }
    }
    let mut created = false;
    let files = [
        segment(dir, 0, segment_size, &mut created)?,
        segment(dir, 1, segment_size, &mut created)?,
    ];
    if created {
        sync_dir(dir).map_err(|e| StoreError::backend("sync the journal's directory", e))?;
    }
    let found = newest_complete([Some(&files[0]), Some(&files[1])], options)
        .map_err(|e| StoreError::backend("read the journal", e))?;
    let (state, valid) = match found.state {
        Some((index, state)) => (state, Some(index)),
        None => (
            State::new(options.limits, options.dedupe_keys, options.dead_letters),
            None,
        ),
    };
    Ok(Opened {
        state,
        generation: found.generation,
        valid,
        files,
        lock,
    })
}

/// What the segment files hold: the highest generation of any header, and the state of the
/// newest segment whose snapshot is complete, with that file's index.
struct Found {
    generation: u64,
    state: Option<(usize, State)>,
}

/// Replays the newest complete segment among `files` (`None`: a file that does not exist).
fn newest_complete(files: [Option<&File>; 2], options: &JournalOptions) -> std::io::Result<Found> {
    let mut headers = [None, None];
    for (header_of, file) in headers.iter_mut().zip(files) {
        if let Some(file) = file {
            *header_of = header(file)?;
        }
    }
    let generation = headers.iter().flatten().copied().max().unwrap_or(0);
    let mut newest_first: Vec<(usize, u64)> = headers
        .iter()
        .enumerate()
        .filter_map(|(index, generation)| generation.map(|g| (index, g)))
        .collect();
    newest_first.sort_by_key(|(_, generation)| Reverse(*generation));
    for (index, segment_generation) in newest_first {
        let Some(file) = files[index] else { continue };
        if let Some(state) = replay(file, segment_generation, options)? {
            return Ok(Found {
                generation,
                state: Some((index, state)),
            });
        }
    }
    Ok(Found {
        generation,
        state: None,
    })
}

/// The state of the journal in `dir` as its files hold it, read without its lock and without
/// writing anything: `None` when no segment holds a complete snapshot.
///
/// A server may be appending meanwhile: a record it is writing fails its checksum and ends the
/// replay there, as a torn write does, so what is read is the state as of some moment of the
/// server's life (the end of one of its flushes).
pub(super) fn read(dir: &Path, options: &JournalOptions) -> Result<Option<State>, StoreError> {
    let fail = |e| StoreError::backend("read the journal", e);
    let mut files = [None, None];
    for (index, file) in files.iter_mut().enumerate() {
        *file = match File::open(dir.join(segment_name(index))) {
            Ok(file) => Some(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail(e)),
        };
    }
    if files.iter().all(Option::is_none) {
        return Err(fail(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} holds no journal (no segment files)", dir.display()),
        )));
    }
    let found = newest_complete([files[0].as_ref(), files[1].as_ref()], options).map_err(fail)?;
    Ok(found.state.map(|(_, state)| state))
}

/// Opens segment file `index`, filling it with zeros up to `size` if it is shorter.
fn segment(dir: &Path, index: usize, size: u64, created: &mut bool) -> Result<File, StoreError> {
    let path = dir.join(segment_name(index));
    // The file's path with the system's error, which names none.
    let fail = |e: std::io::Error| {
        StoreError::backend(
            "create the journal's segment files",
            std::io::Error::new(e.kind(), format!("{}: {e}", path.display())),
        )
    };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(fail)?;
    let len = file.metadata().map_err(fail)?.len();
    *created |= len == 0;
    if len < size {
        let zeros = vec![0; 1 << 20];
        file.seek(SeekFrom::Start(len)).map_err(fail)?;
        let mut left = size - len;
        while left > 0 {
            let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
            file.write_all(&zeros[..n]).map_err(fail)?;
            left -= n as u64;
        }
        file.sync_all().map_err(fail)?;
    }
    Ok(file)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The generation of `file`'s header, if it has a valid one.
fn header(mut file: &File) -> std::io::Result<Option<u64>> {
    let mut bytes = [0; HEADER_LEN];
    file.seek(SeekFrom::Start(0))?;
    match file.read_exact(&mut bytes) {
        Ok(()) => Ok(frame::read_header(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replays the segment in `file` (of `generation`) up to its first frame that is not whole and
/// valid; the state, if the segment's snapshot is complete.
fn replay(
    mut file: &File,
    generation: u64,
    options: &JournalOptions,
) -> std::io::Result<Option<State>> {
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(HEADER_LEN as u64))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut at = HEADER_LEN as u64;
    let mut replay = Replay::new(options);
    let mut complete = false;
    let mut payload = Vec::new();
    while at + FRAME_HEAD as u64 <= len {
        let mut head = [0; FRAME_HEAD];
        reader.read_exact(&mut head)?;
        let (length, check) = frame::read_head(&head);
        let end = at + FRAME_HEAD as u64 + length as u64;
        if length == 0 || end > len {
            break;
        }
        payload.resize(length, 0);
        reader.read_exact(&mut payload)?;
        if !frame::checks(&payload, check, generation) {
            break;
        }
        match frame::decode(&payload) {
            Some(Record::SnapshotEnd) => complete = true,
            Some(record) => replay.apply(record),
            None => break,
        }
        at = end;
    }
    Ok(complete.then(|| replay.finish()))
}

/// A pending job while replaying: in arrival order, due at `due_ms` (0: now).
struct Pending {
    order: u64,
    job: Job,
    due_ms: i64,
}

struct Replay {
    state: State,
    pending: HashMap<String, Pending>,
    next: u64,
    clocks: Clocks,
}

impl Replay {
    fn new(options: &JournalOptions) -> Self {
        Self {
            state: State::new(options.limits, options.dedupe_keys, options.dead_letters),
            pending: HashMap::new(),
            next: 0,
            clocks: Clocks::now(),
        }
    }

    fn pend(&mut self, key: &str, body: Vec<u8>, attempts: u32, due_ms: i64) {
        self.next += 1;
        let job = Job {
            key: key.to_owned(),
            body,
            attempts,
            lease: 0,
        };
        let pending = Pending {
            order: self.next,
            job,
            due_ms,
        };
        self.pending.insert(key.to_owned(), pending);
    }

    fn apply(&mut self, record: Record<'_>) {
        match record {
            Record::Seen { entries } => {
                for (print, at) in frame::seen_entries(entries) {
                    self.state.seen.insert(print, self.clocks.to_instant(at));
                }
            }
            Record::Enqueued {
                key,
                received_ms,
                body,
            } => {
                let at = self.clocks.to_instant(received_ms);
                self.state.seen.insert(fingerprint(key), at);
                self.pend(key, body.to_vec(), 0, 0);
            }
            Record::Job {
                key,
                body,
                attempts,
                due_ms,
            } => self.pend(key, body.to_vec(), attempts, due_ms),
            Record::DeadLetter {
                key,
                body,
                attempts,
                dead_at,
                error,
            } => self.state.bury(DeadLetter {
                key: key.to_owned(),
                body: body.to_vec(),
                attempts,
                error: error.to_owned(),
                dead_at: UnixTime::from_secs(dead_at),
            }),
            Record::Completed { key } => {
                self.pending.remove(key);
            }
            Record::Retry { key, due_ms } => {
                if let Some(pending) = self.pending.get_mut(key) {
                    pending.job.attempts += 1;
                    pending.due_ms = due_ms;
                }
            }
            Record::Dead {
                key,
                dead_at,
                error,
            } => {
                if let Some(Pending { job, .. }) = self.pending.remove(key) {
                    self.state.bury(DeadLetter {
                        key: job.key,
                        body: job.body,
                        attempts: job.attempts + 1,
                        error: error.to_owned(),
                        dead_at: UnixTime::from_secs(dead_at),
                    });
                }
            }
            Record::Replayed { key } => {
                if let Some(dead) = self.state.take_dead(key) {
                    self.pend(key, dead.body, 0, 0);
                }
            }
            Record::Discarded { key } => {
                self.state.discard(key);
            }
            Record::SnapshotEnd => {}
        }
    }

    /// The state: pending jobs in arrival order, due now or at their retry time.
    fn finish(mut self) -> State {
        let mut pending: Vec<Pending> = self.pending.into_values().collect();
        pending.sort_by_key(|p| p.order);
        for Pending { job, due_ms, .. } in pending {
            if due_ms <= self.clocks.unix_ms {
                self.state.ready.push_back(job);
            } else {
                let seq = self.state.next_lease();
                let due = self.clocks.to_instant(due_ms);
                self.state.later.insert((due, seq), job);
            }
        }
        self.state
    }
}
