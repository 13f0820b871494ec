//! Durability without stalling: the owner thread commits with `synchronous=NORMAL` (no fsync);
//! the flusher thread makes the write-ahead log durable with `fdatasync` and only then answers
//! the enqueues of what it flushed. While it waits for the disk, the owner runs the next
//! transaction, whose enqueues the next `fdatasync` releases: one flush covers every
//! transaction committed before it began.
//!
//! The guarantee for deliveries is `synchronous=FULL`'s: no delivery is answered "stored"
//! before the WAL frames holding it reached the disk. Leases, settlements and reads are answered
//! as soon as they commit: losing one of those to a power cut only means a delivery runs again
//! (at least once), which a crash of the process means anyway.
//!
//! # Why this is as durable as `synchronous=FULL`
//!
//! The argument rests on what SQLite documents of WAL mode, and this store keeps `FULL`'s
//! configuration otherwise (it was chosen over switching to `FULL`, which would put one
//! `fsync` per transaction on the owner thread, serialising every commit behind the disk):
//!
//! 1. *What `FULL` adds.* "In WAL mode when synchronous is NORMAL, the WAL file is synchronized
//!    before each checkpoint and the database file is synchronized after each completed
//!    checkpoint and the WAL file header is synchronized when a WAL file begins to be reused
//!    after a checkpoint, but no sync operations occur during most transactions. With
//!    synchronous=FULL in WAL mode, an additional sync operation of the WAL file happens after
//!    each transaction commit" (<https://sqlite.org/pragma.html#pragma_synchronous>). So `FULL`
//!    is `NORMAL` plus a sync of the WAL after a commit, before the commit returns. Here the
//!    same sync (of the same file) happens after the commit and before any delivery of it is
//!    answered; what is made durable, and in what order relative to checkpoints, is the same —
//!    only who waits differs (the HTTP answer, not the next transaction).
//! 2. *Same file.* The `fdatasync` is of the WAL's inode through a descriptor of its own. SQLite
//!    deletes the WAL only when the last connection to the database closes; the owner's
//!    connection stays open for the store's life. A checkpoint resets the WAL to its start
//!    (writing a new header with new salts) and `journal_size_limit` may truncate it: both keep
//!    the inode, and both happen only after the checkpoint synced the database file (1).
//! 3. *Recovery reads what was synced.* On open SQLite replays WAL frames whose salts match the
//!    header and whose cumulative checksums hold, up to the last commit frame
//!    (<https://sqlite.org/fileformat2.html#walformat>). Frames after a torn write fail the
//!    checksum and are dropped: they belong to transactions whose deliveries were not answered.
//!    `fdatasync` writes the file's data and the metadata needed to read it back (its size).
//! 4. *Power-safe overwrite.* A commit's first frame may share a sector with the previous
//!    commit's last frame. SQLite assumes, by default (`SQLITE_POWERSAFE_OVERWRITE`), that
//!    rewriting a sector cannot damage its other bytes at a power cut, and pads WAL commits to a
//!    sector only when the file system says it does not hold (<https://sqlite.org/psow.html>);
//!    `FULL` relies on the same assumption, so this store does too. (The journal store does not:
//!    each of its flushes starts on a page of its own.)
//!
//! Not tested by simulation: that would need a SQLite VFS shim (`unsafe` FFI); the journal's
//! simulated disk covers the journal only. Tests kill the process (`SIGKILL`) mid-load.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::{Answer, Reply};
use crate::delivery::StoreError;

/// One committed transaction's answers that wait for the disk.
pub(super) type Committed = Vec<(Reply, Answer)>;

/// Starts the flusher of the database at `db`; returns where the owner sends committed answers.
pub(super) fn start(db: &Path) -> Result<mpsc::Sender<Committed>, StoreError> {
    let mut wal_path = db.as_os_str().to_owned();
    wal_path.push("-wal");
    let mut flusher = Flusher {
        wal_path: wal_path.into(),
        wal: None,
    };
    let (committed, to_flush) = mpsc::channel::<Committed>();
    crate::delivery::sched::spawn_writer("roamify-sqlite-flush", move || flusher.serve(&to_flush))
        .map_err(|e| StoreError::backend("start the SQLite threads", e))?;
    Ok(committed)
}

struct Flusher {
    wal_path: PathBuf,
    wal: Option<File>,
}

impl Flusher {
    fn serve(&mut self, committed: &mpsc::Receiver<Committed>) {
        while let Ok(first) = committed.recv() {
            let mut batch = vec![first];
            batch.extend(committed.try_iter());
            let result = self.flush();
            if let Err(error) = &result {
                tracing::error!(error = %error.report(), "could not flush the SQLite write-ahead log");
            }
            for (reply, answer) in batch.into_iter().flatten() {
                reply(result.clone().map(|()| answer));
            }
        }
    }

    /// `fdatasync` of the WAL: every frame written before this call is on disk after it. (The
    /// WAL file is never deleted while the owner's connection is open; a checkpoint only reuses
    /// or truncates it, after syncing the database file.)
    fn flush(&mut self) -> Result<(), StoreError> {
        let fail = |e: std::io::Error| StoreError::backend("flush the write-ahead log", e);
        if self.wal.is_none() {
            self.wal = Some(File::open(&self.wal_path).map_err(fail)?);
        }
        match &self.wal {
            Some(wal) => wal.sync_data().map_err(fail),
            None => Ok(()),
        }
    }
}
