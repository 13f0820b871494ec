//! The journal's bytes: a segment header, then batches of checksummed frames, each frame one
//! record.
//!
//! ```text
//! header  "RMFYJRNL" | version: u32 = 2 | 0: u32 | generation: u64 | salt: u64
//!         | xxh3(the 32 bytes before): u64                                       (40 bytes)
//! batch   Batch frame | frames…  then zeros up to the next multiple of 4096
//! frame   length: u32 | xxh3(record, seed = xxh3(generation ‖ salt)): u64 | record
//! Batch   kind 20 | generation: u64 | salt: u64 | the batch's length: u64
//! ```
//!
//! Integers are little-endian; a string or a body is a `u32` length and its bytes. A delivery
//! with an order ([`crate::ordering`]) is written as its kind plus 64, its fields followed by
//! the stream (a string), the timestamp (`i64`) and whether it is serial (one byte).
//!
//! - Each flush writes one batch. The first starts right after the header, the others at a
//!   multiple of [`PAGE`]: a flush never rewrites a page an earlier flush made durable, so a
//!   power cut during a write can tear only that write's own pages.
//! - The salt is drawn at random for each use of a file, so frames left by an older use of the
//!   same file (even of the same generation, after a crash in the middle of a segment switch)
//!   never validate.
//! - A Batch frame names its segment (generation and salt), so one found beyond a damaged
//!   frame proves that a later flush returned after the damaged one: corruption, not the torn
//!   tail of the last write.
//!
//! Format 1 (`"RMFYJNL1" | generation | xxh3`, 24 bytes, then frames seeded with the generation
//! alone, no batches) is still read; a journal in it is rewritten in format 2 when opened.

use xxhash_rust::xxh3::xxh3_64_with_seed;

mod reader;

use reader::Reader;

/// Format 1's header magic.
const MAGIC_V1: &[u8; 8] = b"RMFYJNL1";
const HEADER_LEN_V1: usize = 24;
/// The header magic of format 2 and later (the version follows).
const MAGIC: &[u8; 8] = b"RMFYJRNL";
/// The format this release writes.
pub(super) const VERSION: u32 = 2;
pub(super) const HEADER_LEN: usize = 40;
pub(super) const FRAME_HEAD: usize = 12;
/// Batches start at multiples of this (other than the first, right after the header).
pub(super) const PAGE: u64 = 4096;
/// Bytes of a Batch frame.
pub(super) const BATCH_FRAME: usize = FRAME_HEAD + 25;

/// A segment file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Header {
    /// Format 1: frames seeded with the generation, no batches.
    V1 { generation: u64 },
    /// Format 2.
    V2 { generation: u64, salt: u64 },
    /// A valid header of a format this release does not know: written by a newer version.
    Newer { version: u32 },
}

impl Header {
    /// The generation (0 for a newer format).
    pub(super) fn generation(self) -> u64 {
        match self {
            Self::V1 { generation } | Self::V2 { generation, .. } => generation,
            Self::Newer { .. } => 0,
        }
    }

    /// Where the first frame starts.
    pub(super) fn len(self) -> u64 {
        match self {
            Self::V1 { .. } => HEADER_LEN_V1 as u64,
            _ => HEADER_LEN as u64,
        }
    }

    /// The checksum seed of the segment's frames.
    pub(super) fn seed(self) -> u64 {
        match self {
            Self::V1 { generation } => generation,
            Self::V2 { generation, salt } => seed(generation, salt),
            Self::Newer { .. } => 0,
        }
    }
}

/// The checksum seed of a format-2 segment.
pub(super) fn seed(generation: u64, salt: u64) -> u64 {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&generation.to_le_bytes());
    bytes[8..].copy_from_slice(&salt.to_le_bytes());
    xxh3_64_with_seed(&bytes, 0)
}

/// A delivery's order, as written: stream, timestamp, serial.
pub(super) type Placed<'a> = (&'a str, i64, bool);

/// One change to the store, or one piece of a snapshot of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record<'a> {
    /// A delivery stored, ready now.
    Enqueued {
        key: &'a str,
        received_ms: i64,
        body: &'a [u8],
        order: Option<Placed<'a>>,
    },
    /// A stream's mark moved to `at` (or, in a snapshot, stands there), at `moved_ms`.
    Mark {
        stream: &'a str,
        at: i64,
        moved_ms: i64,
    },
    /// A job's handler succeeded.
    Completed { key: &'a str },
    /// A job's handler failed; it is due again at `due_ms`.
    Retry { key: &'a str, due_ms: i64 },
    /// A job's handler failed for good.
    Dead {
        key: &'a str,
        dead_at: i64,
        error: &'a str,
    },
    /// A dead letter went back to the queue, attempts reset.
    Replayed { key: &'a str },
    /// A dead letter was deleted.
    Discarded { key: &'a str },
    /// Snapshot: keys known for deduplication, as (fingerprint, received at, Unix ms) pairs.
    Seen { entries: &'a [u8] },
    /// Snapshot: a pending job (due at `due_ms`; 0 for now).
    Job {
        key: &'a str,
        body: &'a [u8],
        attempts: u32,
        due_ms: i64,
        order: Option<Placed<'a>>,
    },
    /// Snapshot: a dead letter.
    DeadLetter {
        key: &'a str,
        body: &'a [u8],
        attempts: u32,
        dead_at: i64,
        error: &'a str,
        order: Option<Placed<'a>>,
    },
    /// The snapshot is complete: the segment may be recovered from.
    SnapshotEnd,
    /// The start of a batch (one flush) of `len` bytes, this frame included, in the segment of
    /// `generation` and `salt`.
    Batch {
        generation: u64,
        salt: u64,
        len: u64,
    },
}

/// Bytes of one [`Record::Seen`] entry.
pub(super) const SEEN_ENTRY: usize = 24;

const ENQUEUED: u8 = 1;
const COMPLETED: u8 = 2;
const RETRY: u8 = 3;
const DEAD: u8 = 4;
const REPLAYED: u8 = 5;
const DISCARDED: u8 = 6;
const MARK: u8 = 7;
/// Added to the kind of a delivery's record when an order follows its fields.
const ORDERED: u8 = 64;
const SEEN: u8 = 10;
const JOB: u8 = 11;
const DEAD_LETTER: u8 = 12;
const SNAPSHOT_END: u8 = 13;
const BATCH: u8 = 20;

/// The header of a format-2 segment.
pub(super) fn header(generation: u64, salt: u64) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&generation.to_le_bytes());
    out[24..32].copy_from_slice(&salt.to_le_bytes());
    let check = xxh3_64_with_seed(&out[..32], 0);
    out[32..].copy_from_slice(&check.to_le_bytes());
    out
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(out)
}

/// A valid header, of any format; `None` when damaged or never written.
pub(super) fn read_header(bytes: &[u8; HEADER_LEN]) -> Option<Header> {
    if &bytes[..8] == MAGIC_V1 {
        let valid = xxh3_64_with_seed(&bytes[..16], 0) == u64_at(bytes, 16);
        return valid.then(|| Header::V1 {
            generation: u64_at(bytes, 8),
        });
    }
    if &bytes[..8] != MAGIC || xxh3_64_with_seed(&bytes[..32], 0) != u64_at(bytes, 32) {
        return None;
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    Some(match version {
        VERSION => Header::V2 {
            generation: u64_at(bytes, 16),
            salt: u64_at(bytes, 24),
        },
        version => Header::Newer { version },
    })
}

/// Appends `record` to `out` as a frame checksummed with `seed` (the segment's).
pub(super) fn encode(out: &mut Vec<u8>, seed: u64, record: &Record<'_>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEAD]);
    match record {
        Record::Enqueued {
            key,
            received_ms,
            body,
            order,
        } => {
            out.push(ENQUEUED + if order.is_some() { ORDERED } else { 0 });
            bytes(out, key.as_bytes());
            out.extend_from_slice(&received_ms.to_le_bytes());
            bytes(out, body);
            placed(out, *order);
        }
        Record::Mark {
            stream,
            at,
            moved_ms,
        } => {
            out.push(MARK);
            bytes(out, stream.as_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&moved_ms.to_le_bytes());
        }
        Record::Completed { key } => {
            out.push(COMPLETED);
            bytes(out, key.as_bytes());
        }
        Record::Retry { key, due_ms } => {
            out.push(RETRY);
            bytes(out, key.as_bytes());
            out.extend_from_slice(&due_ms.to_le_bytes());
        }
        Record::Dead {
            key,
            dead_at,
            error,
        } => {
            out.push(DEAD);
            bytes(out, key.as_bytes());
            out.extend_from_slice(&dead_at.to_le_bytes());
            bytes(out, error.as_bytes());
        }
        Record::Replayed { key } => {
            out.push(REPLAYED);
            bytes(out, key.as_bytes());
        }
        Record::Discarded { key } => {
            out.push(DISCARDED);
            bytes(out, key.as_bytes());
        }
        Record::Seen { entries } => {
            out.push(SEEN);
            bytes(out, entries);
        }
        Record::Job {
            key,
            body,
            attempts,
            due_ms,
            order,
        } => {
            out.push(JOB + if order.is_some() { ORDERED } else { 0 });
            bytes(out, key.as_bytes());
            bytes(out, body);
            out.extend_from_slice(&attempts.to_le_bytes());
            out.extend_from_slice(&due_ms.to_le_bytes());
            placed(out, *order);
        }
        Record::DeadLetter {
            key,
            body,
            attempts,
            dead_at,
            error,
            order,
        } => {
            out.push(DEAD_LETTER + if order.is_some() { ORDERED } else { 0 });
            bytes(out, key.as_bytes());
            bytes(out, body);
            out.extend_from_slice(&attempts.to_le_bytes());
            out.extend_from_slice(&dead_at.to_le_bytes());
            bytes(out, error.as_bytes());
            placed(out, *order);
        }
        Record::SnapshotEnd => out.push(SNAPSHOT_END),
        Record::Batch {
            generation,
            salt,
            len,
        } => {
            out.push(BATCH);
            out.extend_from_slice(&generation.to_le_bytes());
            out.extend_from_slice(&salt.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
    }
    let payload = &out[start + FRAME_HEAD..];
    let check = xxh3_64_with_seed(payload, seed);
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + FRAME_HEAD].copy_from_slice(&check.to_le_bytes());
}

/// A delivery's order after its fields, if it has one.
fn placed(out: &mut Vec<u8>, order: Option<Placed<'_>>) {
    if let Some((stream, at, serial)) = order {
        bytes(out, stream.as_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.push(u8::from(serial));
    }
}

fn bytes(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(value);
}

/// A frame's head: the record's length, if the frame may be valid, and its checksum.
pub(super) fn read_head(head: &[u8; FRAME_HEAD]) -> (usize, u64) {
    let length = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let mut check = [0; 8];
    check.copy_from_slice(&head[4..]);
    (
        usize::try_from(length).unwrap_or(usize::MAX),
        u64::from_le_bytes(check),
    )
}

/// Whether `record` (a frame's payload) has checksum `check` with `seed`.
pub(super) fn checks(record: &[u8], check: u64, seed: u64) -> bool {
    xxh3_64_with_seed(record, seed) == check
}

/// Fills `slot` (a batch's first [`BATCH_FRAME`] bytes) with its Batch frame.
pub(super) fn fill_batch(slot: &mut [u8], generation: u64, salt: u64, len: u64) {
    let mut frame = Vec::with_capacity(BATCH_FRAME);
    let record = Record::Batch {
        generation,
        salt,
        len,
    };
    encode(&mut frame, seed(generation, salt), &record);
    slot.copy_from_slice(&frame);
}

/// A valid Batch frame's generation, salt and batch length; it is checked with the seed it
/// names, so it is recognised without its segment's header.
pub(super) fn read_batch(bytes: &[u8; BATCH_FRAME]) -> Option<(u64, u64, u64)> {
    let (length, check) = read_head(bytes[..FRAME_HEAD].try_into().ok()?);
    let payload = &bytes[FRAME_HEAD..];
    if length != payload.len() || payload[0] != BATCH {
        return None;
    }
    let (generation, salt) = (u64_at(payload, 1), u64_at(payload, 9));
    checks(payload, check, seed(generation, salt)).then(|| (generation, salt, u64_at(payload, 17)))
}

/// A frame's payload as read: a record, or a kind this release does not know (a record written
/// by a newer version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decoded<'a> {
    Record(Record<'a>),
    Unknown(u8),
}

/// Reads one record from a frame's payload (checksum already verified); `None` if its kind is
/// known but its fields do not read as that kind's.
pub(super) fn decode(payload: &[u8]) -> Option<Decoded<'_>> {
    let (&kind, rest) = payload.split_first()?;
    let mut r = Reader(rest);
    let ordered = kind >= ORDERED && matches!(kind - ORDERED, ENQUEUED | JOB | DEAD_LETTER);
    let kind = if ordered { kind - ORDERED } else { kind };
    let record = match kind {
        ENQUEUED => Record::Enqueued {
            key: r.str()?,
            received_ms: r.i64()?,
            body: r.bytes()?,
            order: r.placed(ordered)?,
        },
        MARK => Record::Mark {
            stream: r.str()?,
            at: r.i64()?,
            moved_ms: r.i64()?,
        },
        COMPLETED => Record::Completed { key: r.str()? },
        RETRY => Record::Retry {
            key: r.str()?,
            due_ms: r.i64()?,
        },
        DEAD => Record::Dead {
            key: r.str()?,
            dead_at: r.i64()?,
            error: r.str()?,
        },
        REPLAYED => Record::Replayed { key: r.str()? },
        DISCARDED => Record::Discarded { key: r.str()? },
        SEEN => Record::Seen {
            entries: r.bytes()?,
        },
        JOB => Record::Job {
            key: r.str()?,
            body: r.bytes()?,
            attempts: r.u32()?,
            due_ms: r.i64()?,
            order: r.placed(ordered)?,
        },
        DEAD_LETTER => Record::DeadLetter {
            key: r.str()?,
            body: r.bytes()?,
            attempts: r.u32()?,
            dead_at: r.i64()?,
            error: r.str()?,
            order: r.placed(ordered)?,
        },
        SNAPSHOT_END => Record::SnapshotEnd,
        BATCH => Record::Batch {
            generation: r.u64()?,
            salt: r.u64()?,
            len: r.u64()?,
        },
        kind => return Some(Decoded::Unknown(kind)),
    };
    r.0.is_empty().then_some(Decoded::Record(record))
}

/// One [`Record::Seen`] entry.
pub(super) fn seen_entry(out: &mut Vec<u8>, fingerprint: u128, at_ms: i64) {
    out.extend_from_slice(&fingerprint.to_le_bytes());
    out.extend_from_slice(&at_ms.to_le_bytes());
}

/// The entries of a [`Record::Seen`].
pub(super) fn seen_entries(entries: &[u8]) -> impl Iterator<Item = (u128, i64)> + '_ {
    entries.chunks_exact(SEEN_ENTRY).map(|entry| {
        let mut print = [0; 16];
        print.copy_from_slice(&entry[..16]);
        let mut at = [0; 8];
        at.copy_from_slice(&entry[16..]);
        (u128::from_le_bytes(print), i64::from_le_bytes(at))
    })
}

#[cfg(test)]
mod tests;
