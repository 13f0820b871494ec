//! The flusher thread: writes what callers appended, `fdatasync`s it, answers those waiting.
//!
//! It takes everything appended since its last turn at once (group commit), so while it waits
//! for the disk, callers keep appending what its next turn writes. After a failed write or
//! flush it answers every waiter with the error and, while the store refuses deliveries, tries
//! every [`RETRY_PAUSE`] to start a new segment with a snapshot in the file that does not hold
//! the last complete segment.

use std::fs::File;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Shared, Waiter};
use crate::delivery::StoreError;

/// How long a broken journal waits between attempts to write a fresh snapshot.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// A write buffer keeps its capacity between turns up to this size, so snapshots of a usual size
/// (the default dedupe bound's is 4.8 MB) reuse the same two buffers instead of allocating
/// anew each time (which the allocator may not give back at once); a larger one's is released.
pub(super) const KEPT_CAPACITY: usize = 16 << 20;

/// Writes `bytes` at `offset` of `file` and flushes them to the disk.
pub(super) fn write(file: &File, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    write_at(file, bytes, offset)?;
    file.sync_data()
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

/// Starts the flusher of `files`, appending to `current` at `offset`; `bytes` is its write
/// buffer.
pub(super) fn start(
    files: [File; 2],
    current: usize,
    offset: u64,
    bytes: Vec<u8>,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>, StoreError> {
    let flusher = Flusher {
        files,
        current,
        offset,
    };
    crate::delivery::sched::spawn_writer("roamify-journal", move || flusher.serve(&shared, bytes))
        .map_err(|e| StoreError::backend("start the journal's flusher", e))
}

struct Flusher {
    files: [File; 2],
    /// The segment being appended to, and where its next byte goes. It is also the newest
    /// segment whose snapshot is on disk (a new one becomes current only once its snapshot is),
    /// so it is never overwritten until another is.
    current: usize,
    offset: u64,
}

impl Flusher {
    fn serve(mut self, shared: &Shared, mut bytes: Vec<u8>) {
        while let Some((switch, upto)) = self.next(shared, &mut bytes) {
            let result = match switch {
                Some(file) => write(&self.files[file], 0, &bytes),
                None => write(&self.files[self.current], self.offset, &bytes),
            };
            #[cfg(test)]
            let result = if shared.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
                Err(std::io::Error::other("injected write failure"))
            } else {
                result
            };
            let written = bytes.len() as u64;
            bytes.clear();
            if bytes.capacity() > KEPT_CAPACITY {
                bytes = Vec::new();
            }
            let answered = self.done(shared, result, switch, written, upto);
            for (waiter, result) in answered {
                let _ = waiter.send(result);
            }
        }
    }

    /// Waits for something to write and swaps it into `bytes`; returns the file a new segment
    /// starts in (if it does) and the number of the last record taken. `None` once closing with
    /// nothing left to write.
    fn next(&self, shared: &Shared, bytes: &mut Vec<u8>) -> Option<(Option<usize>, u64)> {
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
                break;
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
        std::mem::swap(&mut inner.log.buf, bytes);
        Some((inner.log.switch.take(), inner.log.appended))
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
