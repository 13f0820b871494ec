//! The journal store: deliveries in memory, every change appended to a file and flushed before a
//! delivery is acknowledged.
//!
//! State lives in memory exactly as in [`MemoryStore`](super::MemoryStore); each change to it
//! (a delivery stored, an outcome, a replay) is also encoded as one checksummed record and
//! appended to the current *segment*, a file written sequentially and flushed (`fdatasync`) by
//! one thread for everything appended since its last flush (group commit: one *batch* a flush,
//! starting on a page of its own). A delivery is answered [`Enqueued::Stored`] only once the
//! flush holding its record has returned.
//!
//! Two segment files are used in turn. When the current one has grown past
//! [`JournalOptions::segment_size`], the flusher thread starts the next with a *snapshot* of the
//! whole state (the pending deliveries with their bodies, the dead letters, the keys known for
//! deduplication), after which the previous segment is no longer needed and is overwritten at
//! the following turn. Both files are filled with zeros when created, so later flushes
//! overwrite allocated blocks instead of growing the file (on ext4, a flush that grows a file
//! also commits the filesystem's journal: about twice as slow).
//!
//! Opening replays the newest segment whose snapshot is complete, up to its last whole record (a
//! write torn by a crash ends it), and starts the other file with a fresh snapshot. A record that
//! does not read although records of a later flush follow it is damage, not a torn write: the
//! open is refused ([`JournalDamaged`]) and nothing is changed.
//!
//! How it is proven: its file I/O goes through one seam (`disk.rs`), and its tests run the real
//! store on a simulated disk that loses or tears unsynced data at simulated power cuts
//! (`sim.rs`), against a model (`model.rs`), and damage every byte of a journal (`sweeps.rs`).

mod clocks;
mod disk;
mod errors;
mod flush;
mod frame;
mod log;
mod options;
mod recover;
mod replay;
mod salvage;
mod scan;
mod view;

use disk::{Disk, OsDisk};
use log::{Log, claimed_buffer};

pub use errors::{JournalDamaged, JournalInUse};
use options::MIN_SEGMENT_SIZE;
pub use options::{
    DEFAULT_DEAD_LETTER_BYTES, DEFAULT_PENDING_BYTES, DEFAULT_SEGMENT_SIZE, JournalOptions,
};
pub use salvage::Salvaged;
pub use view::JournalView;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use self::clocks::{Clocks, unix_ms};
use self::frame::Record;
use super::StoreError;
use super::filter::Filter;
use super::history::{Delivery, HistoryPage, Page};
use super::memory::State;
use super::store::{
    Admin, DeadLetter, Enqueued, Incoming, Job, Queue, Settlement, StoreCounts, StoreFuture,
    StoreLimits,
};

/// Deliveries in memory, made durable by an append-only journal in a directory: acknowledged
/// only once on disk, resumed after a restart, for one process at a time.
///
/// The fastest durable store: each delivery is written once, sequentially, with the others that
/// arrived during the previous flush, and is never rewritten when it is leased or settled
/// (an outcome is a record of a few dozen bytes). See `BENCHMARKS.md` for it beside
/// [`SqliteStore`](super::SqliteStore).
///
/// What it promises, and what it does not:
/// - **Durability.** [`Enqueued::Stored`] means the delivery's record has been flushed with
///   `fdatasync`: it survives a crash of the process or of the machine. A duplicate is answered
///   only once what was written before it is flushed too. Outcomes are flushed with the next
///   group but not waited for: an outcome lost to a crash means the delivery runs again (at
///   least once). Replays and discards are answered once flushed.
/// - **One process.** The directory is locked (`lock`, an OS file lock released when the process
///   exits, however it exits); a second open fails while it is held ([`JournalView`] reads the
///   files meanwhile, without the lock, to inspect them). Several processes on one
///   machine need [`SqliteStore`](super::SqliteStore); several machines, `PgStore` or
///   `RedisStore`. Leases live in memory: a restart makes every unfinished delivery due at once.
/// - **Power loss and damage.** A power cut loses at most what was written since the last
///   flush returned, which no one was told was stored; a write it tears is cut off at the last
///   whole record. Each flush starts on a page of its own, so it never rewrites a page an earlier
///   one made durable. A record that does not read although records of later flushes follow it
///   (a disk's damage, not a crash) makes [`open`](Self::open) refuse, with a [`JournalDamaged`]
///   error naming the file, the offset and the command that salvages the journal
///   ([`JournalStore::salvage`], `roamify-hooks journal salvage <dir>`). Once idle for 100 ms
///   after a flush, and when dropped, the store writes an empty batch (a mark), so the flushes
///   before it are not the last: only damage to a flush in the 100 ms before a crash cannot be
///   told from a torn write, and is read as one.
/// - **Bounded.** Memory holds the pending deliveries (at most the queue's capacity and
///   [`JournalOptions::pending_bytes`] of bodies), the dead letters
///   ([`JournalOptions::dead_letters`], [`JournalOptions::dead_letter_bytes`]), the dedupe keys
///   ([`JournalOptions::dedupe_keys`]) and the ordering marks (at most
///   [`DEFAULT_MARKS`](crate::ordering::DEFAULT_MARKS) streams), with their bodies, and two write
///   buffers, each claimed at open with room for a snapshot of a full dedupe index (about 27
///   bytes per key: 5.4 MB by default, at most 16 MiB; marks, about 40 bytes and their stream
///   each, are not counted in it, so a snapshot holding many grows its buffer once), so memory
///   does not step up once snapshots reach that size; the
///   directory holds two segments of [`JournalOptions::segment_size`] (more only while a
///   snapshot is larger).
/// - **Failures.** When a write or a flush fails (a full disk, an I/O error), the deliveries
///   waiting on it and every new one are answered with the error (503) while workers keep
///   running what is stored; every 200 ms the store tries to write a fresh snapshot to the
///   other segment, and accepts deliveries again once one is on disk.
/// - **One thread of its own**, `roamify-journal`, which writes and flushes. On Linux (glibc) it
///   runs under `SCHED_BATCH`: same nice value and share of CPU time, but its wake-ups do not
///   preempt the thread serving HTTP, which on a busy core lets each flush take larger groups
///   (about a fifth more deliveries per second on one core, `BENCHMARKS.md`).
///
/// Files in the directory: `lock`, `journal.0`, `journal.1` (see the module's source for the
/// format, version 2; a journal of version 1 opens, and is rewritten in version 2). Opening
/// replays the newest complete segment; records after a torn write are those of a flush that
/// never returned, so of no acknowledged delivery.
#[derive(Debug)]
pub struct JournalStore {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    dir: PathBuf,
    /// Held for the store's life: the directory's OS lock.
    _lock: Box<dyn std::fmt::Debug + Send + Sync>,
}

/// What the store's callers and its flusher thread share.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the flusher: something to write, or closing.
    wake: Condvar,
    /// Tests: every write fails while set.
    #[cfg(test)]
    fail_writes: std::sync::atomic::AtomicBool,
    /// Tests: the flusher answers once a batch is written, before `fdatasync` returns (a
    /// defect the power-cut tests must catch).
    #[cfg(test)]
    answer_before_sync: std::sync::atomic::AtomicBool,
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// The state and what of it is not yet on disk; one lock, so records are appended in the order
/// their changes were made.
#[derive(Debug)]
struct Inner {
    state: State,
    log: Log,
    /// Callers waiting until the flush of record number `.0` returns.
    waiters: Vec<(u64, Waiter)>,
    /// Why the last write or flush failed, until a fresh snapshot is on disk.
    broken: Option<StoreError>,
    closing: bool,
    flusher_idle: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is changed only by short, panic-free sections; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// After changes: wakes the flusher (which starts the next segment when this one is full).
    fn appended_then(&mut self, wake: &Condvar) {
        if self.flusher_idle {
            self.flusher_idle = false;
            wake.notify_one();
        }
    }

    /// A receiver for the end of the flush that covers every record appended so far; `None`
    /// when that flush has already returned.
    fn wait_for_flush(&mut self) -> Option<oneshot::Receiver<Result<(), StoreError>>> {
        if self.log.synced >= self.log.appended {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push((self.log.appended, tx));
        Some(rx)
    }
}

/// Awaits `flushed` (if any), then gives `value`.
fn after_flush<T: Send + 'static>(
    flushed: Option<oneshot::Receiver<Result<(), StoreError>>>,
    value: T,
) -> StoreFuture<'static, T> {
    match flushed {
        None => Box::pin(std::future::ready(Ok(value))),
        Some(rx) => Box::pin(async move {
            match rx.await {
                Ok(result) => result.map(|()| value),
                Err(_) => Err(StoreError::Closed),
            }
        }),
    }
}

impl JournalStore {
    /// Opens (or creates) the journal in directory `dir` with the default options, replaying
    /// what it holds.
    ///
    /// # Errors
    /// When the directory or its files cannot be created, read or written, or another process
    /// holds the directory's lock.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, JournalOptions::default())
    }

    /// [`open`](Self::open) with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Self, StoreError> {
        Self::open_on(Arc::new(OsDisk), dir.as_ref(), options, None)
    }

    /// Opens the journal in `dir` on `disk`; `start` replaces what the files hold and the
    /// generation to follow (a salvaged state, written to fresh files).
    fn open_on(
        disk: Arc<dyn Disk>,
        dir: &Path,
        options: JournalOptions,
        start: Option<(State, u64)>,
    ) -> Result<Self, StoreError> {
        let segment_size = options.segment_size.max(MIN_SEGMENT_SIZE);
        let mut opened = recover::open(&*disk, dir, segment_size, &options)?;
        if let Some((state, generation)) = start {
            opened.state = state;
            opened.generation = opened.generation.max(generation);
        }
        let mut log = Log::new(opened.generation, segment_size);
        // The other file starts with a snapshot of what was recovered, written before this
        // returns: appending to a segment that may end in a torn write would hide what follows.
        let target = opened.valid.map_or(0, |valid| 1 - valid);
        // Every key recovered is kept in this first snapshot, whatever the window: the window
        // of the process that wrote them may have been longer than this one's.
        log.start_segment(target, &opened.state, Duration::ZERO);
        let mut bytes = claimed_buffer(options.dedupe_keys);
        let batch = log.take(&mut bytes);
        log::seal(&mut bytes, batch);
        let files = opened.files;
        flush::write(&*files[target], 0, &bytes)
            .map_err(|e| StoreError::backend("write the journal's first snapshot", e))?;
        let offset = bytes.len() as u64;
        bytes.clear();
        log.buf = claimed_buffer(options.dedupe_keys);
        log.synced = log.appended;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state: opened.state,
                log,
                waiters: Vec::new(),
                broken: None,
                closing: false,
                flusher_idle: false,
            }),
            wake: Condvar::new(),
            #[cfg(test)]
            fail_writes: std::sync::atomic::AtomicBool::new(false),
            #[cfg(test)]
            answer_before_sync: std::sync::atomic::AtomicBool::new(false),
        });
        let flusher = flush::start(files, target, offset, bytes, Arc::clone(&shared))?;
        Ok(Self {
            shared,
            flusher: Some(flusher),
            dir: dir.to_path_buf(),
            _lock: opened.lock,
        })
    }

    /// The journal's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read<T: Send + 'static>(&self, f: impl FnOnce(&State) -> T) -> StoreFuture<'_, T> {
        let inner = self.shared.lock();
        Box::pin(std::future::ready(Ok(f(&inner.state))))
    }

    /// A change of the state that writes nothing to the journal (a pause, kept in memory: a
    /// restart resumes every kind).
    fn change<T: Send + 'static>(&self, f: impl FnOnce(&mut State) -> T) -> StoreFuture<'_, T> {
        let answer = f(&mut self.shared.lock().state);
        Box::pin(std::future::ready(Ok(answer)))
    }

    /// An operator's change (`replay`, `discard`) of the dead letter `key`, journaled when
    /// `apply` made it, answered once on disk. Refused while the journal is broken.
    fn operate(
        &self,
        key: &str,
        apply: fn(&mut State, &str) -> bool,
        record: for<'a> fn(&'a str) -> Record<'a>,
    ) -> StoreFuture<'_, bool> {
        let mut inner = self.shared.lock();
        if let Some(error) = &inner.broken {
            return Box::pin(std::future::ready(Err(error.clone())));
        }
        let done = apply(&mut inner.state, key);
        if !done {
            return Box::pin(std::future::ready(Ok(false)));
        }
        inner.log.append(&record(key));
        inner.appended_then(&self.shared.wake);
        after_flush(inner.wait_for_flush(), true)
    }
}

impl Drop for JournalStore {
    /// Flushes what was appended, then stops the flusher thread (so the files are closed and the
    /// lock released when this returns).
    fn drop(&mut self) {
        {
            let mut inner = self.shared.lock();
            inner.closing = true;
        }
        self.shared.wake.notify_all();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

impl Queue for JournalStore {
    fn enqueue(&self, delivery: Incoming) -> StoreFuture<'_, Enqueued> {
        let mut inner = self.shared.lock();
        if let Some(error) = &inner.broken {
            return Box::pin(std::future::ready(Err(error.clone())));
        }
        let now = Instant::now();
        let gate = delivery
            .order
            .as_ref()
            .filter(|o| o.serial)
            .map(|o| o.stream.clone());
        let result = inner.state.enqueue(delivery, now);
        if result == Enqueued::Stored {
            let inner = &mut *inner;
            if let Some(job) = inner.state.newest(gate.as_deref()) {
                inner.log.append(&Record::Enqueued {
                    key: &job.key,
                    received_ms: unix_ms(SystemTime::now()),
                    body: &job.body,
                    order: log::placed(job.order.as_ref()),
                });
            }
            inner.appended_then(&self.shared.wake);
        }
        match result {
            // Refused: nothing to wait for.
            Enqueued::Full => Box::pin(std::future::ready(Ok(result))),
            // A duplicate too waits for what is not yet on disk: its first delivery may be in it.
            _ => after_flush(inner.wait_for_flush(), result),
        }
    }

    fn lease(&self, max: usize, visibility: Duration) -> StoreFuture<'_, Vec<Job>> {
        let mut inner = self.shared.lock();
        let clocks = Clocks::now();
        let jobs = inner.state.lease(max, visibility, clocks.instant);
        // Marks moved by this lease, journaled with the next flush (not awaited, as outcomes:
        // a mark lost to a crash is moved again by its job, which is still pending then, since
        // its outcome is journaled after it).
        if inner.broken.is_none() {
            let mut moved = false;
            for job in &jobs {
                if let (Some(order), None) = (&job.order, job.stale) {
                    inner.log.append(&Record::Mark {
                        stream: &order.stream,
                        at: order.at,
                        moved_ms: clocks.unix_ms,
                    });
                    moved = true;
                }
            }
            if moved {
                inner.appended_then(&self.shared.wake);
            }
        }
        Box::pin(std::future::ready(Ok(jobs)))
    }

    fn settle(&self, batch: Vec<Settlement>) -> StoreFuture<'_, Vec<bool>> {
        let mut inner = self.shared.lock();
        let clocks = Clocks::now();
        let journaled = inner.broken.is_none();
        let mut applied = Vec::with_capacity(batch.len());
        let mut changed = false;
        let Inner { state, log, .. } = &mut *inner;
        for settlement in &batch {
            let done = state.settle(settlement);
            if done && journaled {
                log.settled(settlement, state, clocks);
                changed = true;
            }
            applied.push(done);
        }
        if changed {
            inner.appended_then(&self.shared.wake);
        }
        Box::pin(std::future::ready(Ok(applied)))
    }

    fn limits(&self) -> StoreLimits {
        self.shared.lock().state.limits
    }
}

impl Admin for JournalStore {
    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.read(|state| state.dead.iter().cloned().collect())
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.operate(&key, State::replay, |key| Record::Replayed { key })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.read(|state| state.counts(Instant::now()))
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.operate(&key, State::discard, |key| Record::Discarded { key })
    }

    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        self.read(move |state| state.history.search(&filter, page))
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        self.read(move |state| state.history.get(&key))
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        self.change(move |state| state.pauses.pause(kind))
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        self.change(move |state| state.resume(&kind))
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        self.read(|state| state.pauses.paused())
    }
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sweeps;
#[cfg(test)]
mod tests;
