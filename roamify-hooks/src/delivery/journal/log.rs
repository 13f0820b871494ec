//! The journal's write side: records appended in memory until the flusher takes them, segment
//! switches, and snapshots of the whole state.

use std::time::Duration;

use super::flush;
use super::frame::{self, Placed, Record};
use super::{Clocks, State};
use crate::delivery::store::{Job, Resolution, Settlement};
use crate::ordering::Order;

/// The records not yet handed to the flusher, and where they go.
#[derive(Debug)]
pub(super) struct Log {
    /// The generation and salt of the segment being appended to, and its frames' checksum seed.
    pub(super) generation: u64,
    pub(super) salt: u64,
    seed: u64,
    /// The next batch: a Batch frame's room (filled by [`seal`]), then frames; empty when
    /// there is nothing to write.
    pub(super) buf: Vec<u8>,
    /// `Some(file)` when `buf` starts a new segment in that file (header and snapshot first).
    pub(super) switch: Option<usize>,
    /// Bytes of the latest snapshot.
    pub(super) snapshot_len: u64,
    pub(super) segment_size: u64,
    /// Records appended, and of those, how many the last flush covered.
    pub(super) appended: u64,
    pub(super) synced: u64,
}

/// What the flusher needs to write a batch: the segment's generation and salt, and the file a
/// new segment starts in (its header first, then the batch).
#[derive(Debug, Clone, Copy)]
pub(super) struct Batch {
    pub(super) generation: u64,
    pub(super) salt: u64,
    pub(super) switch: Option<usize>,
}

impl Batch {
    /// Where the Batch frame is in the bytes taken.
    fn at(self) -> usize {
        if self.switch.is_some() {
            frame::HEADER_LEN
        } else {
            0
        }
    }
}

/// Fills the Batch frame of `bytes` (a batch as [`Log`] builds it) and pads it with zeros to a
/// whole number of pages, so the next batch starts on a page of its own.
pub(super) fn seal(bytes: &mut Vec<u8>, batch: Batch) {
    let at = batch.at();
    let len = (bytes.len() - at) as u64;
    frame::fill_batch(
        &mut bytes[at..at + frame::BATCH_FRAME],
        batch.generation,
        batch.salt,
        len,
    );
    let page = frame::PAGE as usize;
    let padded = bytes.len().div_ceil(page) * page;
    bytes.resize(padded, 0);
}

/// A salt for a new use of a segment file: never the same twice in practice.
fn new_salt() -> u64 {
    fastrand::u64(..)
}

/// Keys per [`Record::Seen`] frame of a snapshot.
const SEEN_PER_FRAME: usize = 4096;

impl Log {
    /// A log of segments of `segment_size` bytes, the last written of `generation`.
    pub(super) fn new(generation: u64, segment_size: u64) -> Self {
        Self {
            generation,
            salt: 0,
            seed: 0,
            buf: Vec::new(),
            switch: None,
            snapshot_len: 0,
            segment_size,
            appended: 0,
            synced: 0,
        }
    }

    /// Appends one record to the current segment.
    pub(super) fn append(&mut self, record: &Record<'_>) {
        if self.buf.is_empty() {
            self.buf.extend_from_slice(&[0; frame::BATCH_FRAME]);
        }
        frame::encode(&mut self.buf, self.seed, record);
        self.appended += 1;
    }

    /// Takes the batch to write into `bytes` (which must be empty); what the flusher needs to
    /// write it.
    pub(super) fn take(&mut self, bytes: &mut Vec<u8>) -> Batch {
        std::mem::swap(&mut self.buf, bytes);
        Batch {
            generation: self.generation,
            salt: self.salt,
            switch: self.switch.take(),
        }
    }

    /// Whether a segment holding `len` bytes is full: past its size and twice its snapshot,
    /// so a large state is not snapshotted over and over.
    pub(super) fn full(&self, len: u64) -> bool {
        len > self.segment_size.max(self.snapshot_len.saturating_mul(2))
    }

    /// Replaces what is not yet written with the start of a new segment in `file`: its header
    /// and a snapshot of `state` (which includes every change of the frames dropped).
    pub(super) fn start_segment(&mut self, file: usize, state: &State, window: Duration) {
        self.generation += 1;
        self.salt = new_salt();
        self.seed = frame::seed(self.generation, self.salt);
        self.buf.clear();
        // Room for a snapshot like the last one, so it is written without reallocating.
        let last = usize::try_from(self.snapshot_len).unwrap_or(0);
        self.buf.reserve(last.saturating_add(last / 8));
        self.buf
            .extend_from_slice(&frame::header(self.generation, self.salt));
        self.buf.extend_from_slice(&[0; frame::BATCH_FRAME]);
        snapshot(&mut self.buf, self.seed, state, window);
        self.switch = Some(file);
        self.snapshot_len = self.buf.len() as u64;
        self.appended += 1;
    }

    /// The record of a settlement `state` has just applied (none for a release: leases are not
    /// journaled).
    pub(super) fn settled(&mut self, settlement: &Settlement, state: &State, clocks: Clocks) {
        let key = settlement.key.as_str();
        let record = match &settlement.resolution {
            // A stale job is finished as a completed one is.
            Resolution::Completed | Resolution::Stale => Record::Completed { key },
            Resolution::Retry { after, .. } => Record::Retry {
                key,
                due_ms: clocks.to_unix_ms(clocks.instant + *after),
            },
            // The dead letter it has just buried, with the time it was given.
            Resolution::Dead { .. } => match state.dead.back() {
                Some(dead) => Record::Dead {
                    key,
                    dead_at: dead.dead_at.as_secs(),
                    error: &dead.error,
                },
                None => return,
            },
            Resolution::Released => return,
        };
        self.append(&record);
    }
}

/// One of the two write buffers (the callers' and the flusher's, swapped at each flush), with
/// room for a snapshot of a full dedupe index (and the headroom `start_segment` reserves) and
/// written once, so its pages are resident: a store kept busy for a while reaches this
/// footprint anyway, once its snapshots are full-size; claiming it at open keeps its memory flat
/// instead of stepping up then. At most [`flush::KEPT_CAPACITY`].
pub(super) fn claimed_buffer(dedupe_keys: usize) -> Vec<u8> {
    let frames = dedupe_keys.div_ceil(SEEN_PER_FRAME) + 1;
    let snapshot = dedupe_keys
        .saturating_mul(frame::SEEN_ENTRY)
        .saturating_add(frames.saturating_mul(frame::FRAME_HEAD + 8))
        .saturating_add(frame::HEADER_LEN);
    let len = snapshot
        .saturating_add(snapshot / 8)
        .saturating_add(64 << 10)
        .min(flush::KEPT_CAPACITY);
    // Written, not only reserved: a fresh allocation's pages are mapped only once touched. Not
    // with zeros, which the compiler may turn into an allocation of pages the system zeroes
    // lazily (`calloc`), untouched.
    let mut buf = Vec::with_capacity(len);
    buf.extend(std::iter::repeat_n(0xff, len));
    std::hint::black_box(buf.as_slice());
    buf.clear();
    buf
}

/// Appends a snapshot of `state` to `buf`: the keys known within `window` (all of them if it is
/// zero), the pending jobs (leased ones as due now), the dead letters, and the end mark.
fn snapshot(buf: &mut Vec<u8>, seed: u64, state: &State, window: Duration) {
    let clocks = Clocks::now();
    let mut seen = Vec::with_capacity(SEEN_PER_FRAME * frame::SEEN_ENTRY);
    for (print, at) in state.seen.entries() {
        if !window.is_zero() && clocks.instant.saturating_duration_since(at) >= window {
            continue;
        }
        frame::seen_entry(&mut seen, print, clocks.to_unix_ms(at));
        if seen.len() >= SEEN_PER_FRAME * frame::SEEN_ENTRY {
            frame::encode(buf, seed, &Record::Seen { entries: &seen });
            seen.clear();
        }
    }
    if !seen.is_empty() {
        frame::encode(buf, seed, &Record::Seen { entries: &seen });
    }
    for (stream, at, moved) in state.marks.entries() {
        let record = Record::Mark {
            stream,
            at,
            moved_ms: clocks.to_unix_ms(moved),
        };
        frame::encode(buf, seed, &record);
    }
    let job = |buf: &mut Vec<u8>, job: &Job, due_ms: i64| {
        let record = Record::Job {
            key: &job.key,
            body: &job.body,
            attempts: job.attempts,
            due_ms,
            order: placed(job.order.as_ref()),
        };
        frame::encode(buf, seed, &record);
    };
    for (_, leased) in state.leased.values() {
        job(buf, leased, 0);
    }
    for ready in &state.ready {
        job(buf, ready, 0);
    }
    for ((due, _), later) in &state.later {
        job(buf, later, clocks.to_unix_ms(*due));
    }
    // Behind their stream's gate, in arrival order: replayed after the job holding it.
    for waiting in state.gates.values() {
        for parked in waiting {
            job(buf, parked, 0);
        }
    }
    for dead in &state.dead {
        let record = Record::DeadLetter {
            key: &dead.key,
            body: &dead.body,
            attempts: dead.attempts,
            dead_at: dead.dead_at.as_secs(),
            error: &dead.error,
            order: placed(dead.order.as_ref()),
        };
        frame::encode(buf, seed, &record);
    }
    frame::encode(buf, seed, &Record::SnapshotEnd);
}

/// An order as a record holds it.
pub(super) fn placed(order: Option<&Order>) -> Option<Placed<'_>> {
    order.map(|o| (o.stream.as_str(), o.at, o.serial))
}
