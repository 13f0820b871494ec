//! [`JournalOptions`]: the journal's sizes and bounds.

use super::super::dedupe::DEFAULT_DEDUPE_CAPACITY;
use super::super::memory::{DEFAULT_DEAD_LETTER_CAPACITY, State};
#[cfg(doc)]
use super::super::store::Enqueued;
use super::super::store::StoreLimits;
#[cfg(doc)]
use super::JournalStore;

/// The default size of a segment file: 64 MiB (two are kept).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// The smallest segment size [`JournalOptions::segment_size`] accepts: 64 KiB.
pub(super) const MIN_SEGMENT_SIZE: u64 = 64 << 10;

/// Options of [`JournalStore::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalOptions {
    /// The dedupe window and the capacity.
    pub limits: StoreLimits,
    /// How large a segment grows before the next one starts with a snapshot, in bytes (at least
    /// 64 KiB). Two segment files are kept, each filled with zeros to this size when created.
    /// A segment also grows to at least twice its snapshot, so a large state is not
    /// snapshotted over and over. Default [`DEFAULT_SEGMENT_SIZE`] (64 MiB).
    pub segment_size: u64,
    /// Keys remembered for deduplication, at most; at the bound the oldest is forgotten before
    /// its window ends (a redelivery of it would run again). Each costs 24 bytes in every
    /// snapshot. Default [`DEFAULT_DEDUPE_CAPACITY`].
    pub dedupe_keys: usize,
    /// Dead letters kept, at most; at the bound the oldest is dropped, logged at ERROR with its
    /// key. Default [`DEFAULT_DEAD_LETTER_CAPACITY`].
    pub dead_letters: usize,
    /// Bytes of the dead letters' bodies, at most; the oldest are dropped (logged at ERROR) to
    /// stay within. Default [`DEFAULT_DEAD_LETTER_BYTES`] (64 MiB).
    pub dead_letter_bytes: usize,
    /// Bytes of the pending deliveries' bodies, at most: a delivery that would cross it is
    /// [`Enqueued::Full`] (503; Roamify retries), unless nothing is pending. With
    /// [`dead_letter_bytes`](Self::dead_letter_bytes) and the dedupe keys, it bounds a snapshot
    /// in bytes. Default [`DEFAULT_PENDING_BYTES`] (256 MiB).
    pub pending_bytes: usize,
}

/// The default of [`JournalOptions::dead_letter_bytes`]: 64 MiB.
pub const DEFAULT_DEAD_LETTER_BYTES: usize = 64 << 20;

/// The default of [`JournalOptions::pending_bytes`]: 256 MiB.
pub const DEFAULT_PENDING_BYTES: usize = 256 << 20;

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            limits: StoreLimits::default(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            dedupe_keys: DEFAULT_DEDUPE_CAPACITY,
            dead_letters: DEFAULT_DEAD_LETTER_CAPACITY,
            dead_letter_bytes: DEFAULT_DEAD_LETTER_BYTES,
            pending_bytes: DEFAULT_PENDING_BYTES,
        }
    }
}

impl JournalOptions {
    /// Sets [`JournalOptions::limits`].
    #[must_use]
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`JournalOptions::segment_size`], in bytes.
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets [`JournalOptions::dedupe_keys`].
    #[must_use]
    pub fn dedupe_keys(mut self, keys: usize) -> Self {
        self.dedupe_keys = keys;
        self
    }

    /// Sets [`JournalOptions::dead_letters`].
    #[must_use]
    pub fn dead_letters(mut self, dead_letters: usize) -> Self {
        self.dead_letters = dead_letters;
        self
    }

    /// Sets [`JournalOptions::dead_letter_bytes`].
    #[must_use]
    pub fn dead_letter_bytes(mut self, bytes: usize) -> Self {
        self.dead_letter_bytes = bytes;
        self
    }

    /// Sets [`JournalOptions::pending_bytes`].
    #[must_use]
    pub fn pending_bytes(mut self, bytes: usize) -> Self {
        self.pending_bytes = bytes;
        self
    }

    /// An empty state with these options' limits and bounds.
    pub(super) fn state(&self) -> State {
        State::new(self.limits, self.dedupe_keys, self.dead_letters)
            .with_byte_bounds(self.pending_bytes, self.dead_letter_bytes)
    }
}
