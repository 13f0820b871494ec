//! Who holds leases: each open store registers as a *holder* with a file of its own, locked
//! while it lives, in the directory `<database>.holders`; a holder whose file is no longer
//! locked is gone, and its leases are taken back.
//!
//! The lock is the operating system's (`flock` on Linux, through [`File::try_lock`]): it is
//! released when the process ends, however it ends (SIGKILL, a crash, a power cut), so a dead
//! holder is told apart from a slow one at once, with no clock and no heartbeat. A holder alive
//! but stuck keeps its lock: its leases end with their visibility timeout, as before.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::delivery::StoreError;

/// How often a live store looks for holders that are gone (every store also looks when it
/// opens): at most this long after a process sharing the file died, its leases are due again.
pub const TAKEOVER_EVERY: Duration = Duration::from_secs(2);

/// This store's registration.
#[derive(Debug)]
pub(super) struct Holder {
    /// The id recorded on the rows it leases (never 0).
    pub(super) id: i64,
    dir: PathBuf,
    /// Held for the store's life.
    _lock: File,
    /// When to look for holders that are gone next (Unix ms); 0: at the first transaction.
    next_look: i64,
}

/// A holder that is gone; its file's lock, held until it is forgotten.
#[derive(Debug)]
pub(super) struct Gone {
    pub(super) id: i64,
    path: PathBuf,
    _lock: File,
}

impl Holder {
    /// Registers a new holder of the database at `db`.
    pub(super) fn register(db: &Path) -> Result<Self, StoreError> {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".holders");
        let dir = PathBuf::from(dir);
        let fail = |e| StoreError::backend("register as a holder of the database's leases", e);
        fs::create_dir_all(&dir).map_err(fail)?;
        loop {
            let id = fastrand::i64(1..);
            let path = dir.join(id.to_string());
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(fail(e)),
            };
            file.try_lock().map_err(|e| fail(std::io::Error::from(e)))?;
            if let Ok(synced) = File::open(&dir) {
                // The directory entry need not survive a power cut (nothing leased survives one
                // either), so a failed sync only costs a stale file, cleaned up as a gone holder.
                let _ = synced.sync_all();
            }
            return Ok(Self {
                id,
                dir,
                _lock: file,
                next_look: 0,
            });
        }
    }

    /// Whether it is time to look for holders that are gone.
    pub(super) fn due(&mut self, now: i64) -> bool {
        if now < self.next_look {
            return false;
        }
        let every = i64::try_from(TAKEOVER_EVERY.as_millis()).unwrap_or(i64::MAX);
        self.next_look = now.saturating_add(every);
        true
    }

    /// The holders whose file is not locked: their process is gone. Each stays locked by this
    /// store until [`forget`](Self::forget), so two stores never take back the same holder's
    /// leases at once. Files that are not a holder's are left alone; errors reading the directory
    /// leave the leases to their visibility timeout.
    pub(super) fn gone(&self) -> Vec<Gone> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let id: i64 = entry.file_name().to_str()?.parse().ok()?;
                if id == self.id {
                    return None;
                }
                let path = entry.path();
                let file = OpenOptions::new().write(true).open(&path).ok()?;
                match file.try_lock() {
                    Ok(()) => Some(Gone {
                        id,
                        path,
                        _lock: file,
                    }),
                    Err(TryLockError::WouldBlock | TryLockError::Error(_)) => None,
                }
            })
            .collect()
    }

    /// Deletes a gone holder's file once its leases were taken back (and committed with them:
    /// should the deletion be lost, the next look finds it again and takes back nothing).
    pub(super) fn forget(&self, gone: Gone) {
        let _ = fs::remove_file(&gone.path);
    }
}
