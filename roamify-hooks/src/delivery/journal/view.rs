//! Reading a journal without its lock: [`JournalView`].

use std::path::Path;
use std::time::Instant;

#[cfg(doc)]
use super::JournalStore;
use super::disk::OsDisk;
use super::{JournalOptions, recover};
use crate::delivery::StoreError;
use crate::delivery::store::{DeadLetter, StoreCounts};

/// A journal's contents as its files hold them, read without taking its directory's lock and
/// without writing anything: to inspect the journal of a running server (the operator CLI's
/// `stats` and `dead-letters list`/`show` do this), which [`JournalStore::open`] refuses while
/// the server holds the lock.
///
/// It is a copy, as of the end of one of the server's flushes: later changes are not seen, and
/// it changes nothing (replaying or discarding a dead letter needs the [`JournalStore`], so the
/// server stopped). Leases are not journaled, so deliveries a worker is running count as ready.
///
/// ```
/// use roamify_hooks::delivery::{JournalStore, JournalView};
///
/// let dir = tempfile::tempdir()?;
/// let store = JournalStore::open(dir.path())?;
/// // While `store` holds the directory, a second `JournalStore::open` fails; a view reads it.
/// assert!(JournalStore::open(dir.path()).is_err());
/// let view = JournalView::read(dir.path())?;
/// assert_eq!(view.counts().pending(), 0);
/// assert!(view.dead_letters().is_empty());
/// # drop(store);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JournalView {
    counts: StoreCounts,
    dead: Vec<DeadLetter>,
}

impl JournalView {
    /// Reads the journal in `dir`, written with the default [`JournalOptions`].
    ///
    /// # Errors
    /// When `dir` holds no segment file, or one cannot be read.
    pub fn read(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::read_with(dir, &JournalOptions::default())
    }

    /// [`read`](Self::read) for a journal written with `options` (only
    /// [`JournalOptions::dead_letters`] matters: the bound applied while replaying).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_with(dir: impl AsRef<Path>, options: &JournalOptions) -> Result<Self, StoreError> {
        // The view keeps no dedupe index: one key is enough to replay the records that fill it.
        let options = JournalOptions {
            dedupe_keys: 1,
            ..options.clone()
        };
        // No complete snapshot: created but never written past its first one, so empty.
        let state =
            recover::read(&OsDisk, dir.as_ref(), &options)?.unwrap_or_else(|| options.state());
        Ok(Self {
            counts: state.counts(Instant::now()),
            dead: state.dead.into_iter().collect(),
        })
    }

    /// What the journal held: pending (ready and retrying; `leased` is always 0) and dead.
    #[must_use]
    pub fn counts(&self) -> StoreCounts {
        self.counts
    }

    /// The dead letters, oldest first.
    #[must_use]
    pub fn dead_letters(&self) -> &[DeadLetter] {
        &self.dead
    }
}
