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
