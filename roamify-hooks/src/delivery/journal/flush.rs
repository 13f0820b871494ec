//! The flusher thread: writes what callers appended, `fdatasync`s it, answers those waiting.
//!
//! It takes everything appended since its last turn at once (group commit), so while it waits
//! for the disk, callers keep appending what its next turn writes. After a failed write or
//! flush it answers every waiter with the error and, while the store refuses deliveries, tries
//! every [`RETRY_PAUSE`] to start a new segment with a snapshot in the file that does not hold
//! the last complete segment.

#[cfg(test)]
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::disk::Segment;
use super::frame::BATCH_FRAME;
use super::log::{Batch, seal};
use super::{Shared, Waiter};
use crate::delivery::StoreError;

/// How long a broken journal waits between attempts to write a fresh snapshot.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// How long the flusher waits, idle after a flush, before it writes a *mark*: an empty batch
/// after the last one. Damage in a segment's last batch cannot be told from a torn write (and
/// is read as one); with a mark after it, that batch is no longer the last, so damage to it is
/// refused instead. A mark is also written when the store is dropped.
const MARK_AFTER: Duration = Duration::from_millis(100);

/// A write buffer keeps its capacity between turns up to this size, so snapshots of a usual size
/// (the default dedupe bound's is 4.8 MB) reuse the same two buffers instead of allocating
/// anew each time (which the allocator may not give back at once); a larger one's is released.
pub(super) const KEPT_CAPACITY: usize = 16 << 20;

/// Writes `bytes` at `offset` of `file` and flushes them to the disk.
pub(super) fn write(file: &dyn Segment, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    file.write_at(bytes, offset)?;
    file.sync_data()
}

/// Starts the flusher of `files`, appending to `current` at `offset`; `bytes` is its write
/// buffer.
pub(super) fn start(
    files: [Box<dyn Segment>; 2],
    current: usize,
    offset: u64,
    bytes: Vec<u8>,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>, StoreError> {
    let flusher = Flusher {
        files,
        current,
        offset,
        sealed: false,
    };
    crate::delivery::sched::spawn_writer("roamify-journal", move || flusher.serve(&shared, bytes))
        .map_err(|e| StoreError::backend("start the journal's flusher", e))
}

struct Flusher {
    files: [Box<dyn Segment>; 2],
    /// The segment being appended to, and where its next byte goes. It is also the newest
    /// segment whose snapshot is on disk (a new one becomes current only once its snapshot is),
    /// so it is never overwritten until another is.
    current: usize,
    offset: u64,
    /// The last batch written is a mark (nothing to seal).
    sealed: bool,
}

impl Flusher {
    fn serve(mut self, shared: &Shared, mut bytes: Vec<u8>) {
        while let Some((batch, upto)) = self.next(shared, &mut bytes) {
            let mark = batch.switch.is_none() && bytes.len() == BATCH_FRAME;
            seal(&mut bytes, batch);
            let (file, at) = match batch.switch {
                Some(file) => (file, 0),
                None => (self.current, self.offset),
            };
            let segment = &*self.files[file];
            let result = segment.write_at(&bytes, at);
            #[cfg(test)]
            if result.is_ok() && shared.answer_before_sync.load(Ordering::Relaxed) {
                // Tests only: the defect the power-cut tests must catch.
                release_early(shared, upto);
            }
            let result = result.and_then(|()| segment.sync_data());
            #[cfg(test)]
            let result = if shared.fail_writes.load(Ordering::SeqCst) {
                Err(std::io::Error::other("injected write failure"))
            } else {
                result
            };
            if result.is_ok()
                && let Some(file) = batch.switch
            {
                self.shrink(file, bytes.len() as u64, shared);
            }
            if result.is_ok() {
                self.sealed = mark;
            }
            let written = bytes.len() as u64;
            bytes.clear();
            if bytes.capacity() > KEPT_CAPACITY {
                bytes = Vec::new();
            }
            // Answered outside the lock.
            for (waiter, result) in self.done(shared, result, batch.switch, written, upto) {
                let _ = waiter.send(result);
            }
        }
    }

    /// After a new segment of `written` bytes started in `file`: a file a larger snapshot grew
    /// past the segment size is brought back to it (what follows the new segment is an older
    /// use's bytes, never read again).
    fn shrink(&self, file: usize, written: u64, shared: &Shared) {
        let keep = written.max(shared.lock().log.segment_size);
        let segment = &*self.files[file];
        if segment.len().is_ok_and(|len| len > keep)
            && let Err(error) = segment.truncate(keep)
        {
            tracing::warn!(%error, "could not bring a journal segment back to its size");
        }
    }

    /// Waits for something to write and swaps it into `bytes`, starting a new segment first
    /// when the current one is full; returns the batch and the number of the last record taken.
    /// `None` once closing with nothing left to write.
    fn next(&self, shared: &Shared, bytes: &mut Vec<u8>) -> Option<(Batch, u64)> {
        let mut inner = shared.lock();
        loop {
            if inner.broken.is_some() {
                if inner.closing {
                    return None;
                }
                inner = shared
                    .wake
                    .wait_timeout(inner, RETRY_PAUSE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                if inner.closing {
                    return None;
                }
                let inner = &mut *inner;
                inner
                    .log
                    .start_segment(1 - self.current, &inner.state, inner.state.limits.window);
                break;
            }
            if !inner.log.buf.is_empty() {
                let len = self.offset + inner.log.buf.len() as u64;
                if inner.log.switch.is_none() && inner.log.full(len) {
                    // The snapshot is built here, on this thread, not on the one that appended.
                    let inner = &mut *inner;
                    let window = inner.state.limits.window;
                    inner
                        .log
                        .start_segment(1 - self.current, &inner.state, window);
                }
                break;
            }
            if !self.sealed {
                // Idle after a flush: a mark once idle for MARK_AFTER, or at once when closing.
                if !inner.closing {
                    inner.flusher_idle = true;
                    let (guard, waited) = shared
                        .wake
                        .wait_timeout(inner, MARK_AFTER)
                        .unwrap_or_else(PoisonError::into_inner);
                    inner = guard;
                    inner.flusher_idle = false;
                    if !waited.timed_out() {
                        continue;
                    }
                }
                if inner.log.buf.is_empty() && inner.broken.is_none() {
                    inner.log.buf.extend_from_slice(&[0; BATCH_FRAME]);
                    break;
                }
                continue;
            }
            if inner.closing {
                return None;
            }
            inner.flusher_idle = true;
            inner = shared
                .wake
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            inner.flusher_idle = false;
        }
        let batch = inner.log.take(bytes);
        Some((batch, inner.log.appended))
    }

    /// Records the turn's result; returns the answers to send (outside the lock).
    fn done(
        &mut self,
        shared: &Shared,
        result: std::io::Result<()>,
        switch: Option<usize>,
        written: u64,
        upto: u64,
    ) -> Vec<(Waiter, Result<(), StoreError>)> {
        let mut inner = shared.lock();
        let waiters = std::mem::take(&mut inner.waiters);
        match result {
            Ok(()) => {
                match switch {
                    Some(file) => {
                        self.current = file;
                        self.offset = written;
                    }
                    None => self.offset += written,
                }
                inner.log.synced = upto;
                if let Some(error) = inner.broken.take() {
                    tracing::warn!(
                        after = %error.report(),
                        "the delivery journal is writable again: accepting deliveries"
                    );
                }
                let mut answered = Vec::with_capacity(waiters.len());
                for (number, waiter) in waiters {
                    if number <= upto {
                        answered.push((waiter, Ok(())));
                    } else {
                        inner.waiters.push((number, waiter));
                    }
                }
                answered
            }
            Err(error) => {
                let error = StoreError::backend("write the delivery journal", error);
                if inner.broken.is_none() {
                    tracing::error!(
                        error = %error.report(),
                        "the delivery journal failed: refusing deliveries until a snapshot is written"
                    );
                }
                inner.broken = Some(error.clone());
                // Nothing taken after the failure will be written: the next snapshot holds it.
                inner.log.buf.clear();
                inner.log.switch = None;
                inner.log.synced = inner.log.appended;
                waiters
                    .into_iter()
                    .map(|(_, waiter)| (waiter, Err(error.clone())))
                    .collect()
            }
        }
    }
}

/// Tests only: answers the waiters of records up to `upto` as if their flush had returned.
#[cfg(test)]
fn release_early(shared: &Shared, upto: u64) {
    let mut inner = shared.lock();
    let waiters = std::mem::take(&mut inner.waiters);
    let mut released = Vec::new();
    for (number, waiter) in waiters {
        if number <= upto {
            released.push(waiter);
        } else {
            inner.waiters.push((number, waiter));
        }
    }
    drop(inner);
    for waiter in released {
        let _ = waiter.send(Ok(()));
    }
}
