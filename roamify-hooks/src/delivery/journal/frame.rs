//! The journal's bytes: a segment header, then checksummed frames, each one record.
//!
//! ```text
//! header  "RMFYJNL1" | generation: u64 | xxh3(magic ‖ generation): u64          (24 bytes)
//! frame   length: u32 | xxh3(record, seed = generation): u64 | record            (12 + length)
//! ```
//!
//! Integers are little-endian; a string or a body is a `u32` length and its bytes. A frame whose
//! length is zero or runs past the file, or whose checksum does not match, ends the segment: it
//! is the torn tail of the last write, or what an older generation left in a reused file (its
//! frames were checksummed with another seed).

use xxhash_rust::xxh3::xxh3_64_with_seed;

pub(super) const MAGIC: &[u8; 8] = b"RMFYJNL1";
pub(super) const HEADER_LEN: usize = 24;
pub(super) const FRAME_HEAD: usize = 12;

/// One change to the store, or one piece of a snapshot of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record<'a> {
    /// A delivery stored, ready now.
    Enqueued {
        key: &'a str,
        received_ms: i64,
        body: &'a [u8],
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
    },
    /// Snapshot: a dead letter.
    DeadLetter {
        key: &'a str,
        body: &'a [u8],
        attempts: u32,
        dead_at: i64,
        error: &'a str,
    },
    /// The snapshot is complete: the segment may be recovered from.
    SnapshotEnd,
}

/// Bytes of one [`Record::Seen`] entry.
pub(super) const SEEN_ENTRY: usize = 24;

const ENQUEUED: u8 = 1;
const COMPLETED: u8 = 2;
const RETRY: u8 = 3;
const DEAD: u8 = 4;
const REPLAYED: u8 = 5;
const DISCARDED: u8 = 6;
const SEEN: u8 = 10;
const JOB: u8 = 11;
const DEAD_LETTER: u8 = 12;
const SNAPSHOT_END: u8 = 13;

/// The header of a segment of `generation`.
pub(super) fn header(generation: u64) -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&generation.to_le_bytes());
    let check = xxh3_64_with_seed(&out[..16], 0);
    out[16..].copy_from_slice(&check.to_le_bytes());
    out
}

/// The generation of a valid header.
pub(super) fn read_header(bytes: &[u8; HEADER_LEN]) -> Option<u64> {
    let check = u64::from_le_bytes(bytes[16..].try_into().ok()?);
    (&bytes[..8] == MAGIC && xxh3_64_with_seed(&bytes[..16], 0) == check)
        .then(|| u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default()))
}

/// Appends `record` to `out` as a frame of `generation`.
pub(super) fn encode(out: &mut Vec<u8>, generation: u64, record: &Record<'_>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEAD]);
    match record {
        Record::Enqueued {
            key,
            received_ms,
            body,
        } => {
            out.push(ENQUEUED);
            bytes(out, key.as_bytes());
            out.extend_from_slice(&received_ms.to_le_bytes());
            bytes(out, body);
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
        } => {
            out.push(JOB);
            bytes(out, key.as_bytes());
            bytes(out, body);
            out.extend_from_slice(&attempts.to_le_bytes());
            out.extend_from_slice(&due_ms.to_le_bytes());
        }
        Record::DeadLetter {
            key,
            body,
            attempts,
            dead_at,
            error,
        } => {
            out.push(DEAD_LETTER);
            bytes(out, key.as_bytes());
            bytes(out, body);
            out.extend_from_slice(&attempts.to_le_bytes());
            out.extend_from_slice(&dead_at.to_le_bytes());
            bytes(out, error.as_bytes());
        }
        Record::SnapshotEnd => out.push(SNAPSHOT_END),
    }
    let payload = &out[start + FRAME_HEAD..];
    let check = xxh3_64_with_seed(payload, generation);
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + FRAME_HEAD].copy_from_slice(&check.to_le_bytes());
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

/// Whether `record` (a frame's payload) has checksum `check` in `generation`.
pub(super) fn checks(record: &[u8], check: u64, generation: u64) -> bool {
    xxh3_64_with_seed(record, generation) == check
}

/// Reads one record from a frame's payload (checksum already verified); `None` if it is not a
/// record this release writes.
pub(super) fn decode(payload: &[u8]) -> Option<Record<'_>> {
    let (&kind, rest) = payload.split_first()?;
    let mut r = Reader(rest);
    let record = match kind {
        ENQUEUED => Record::Enqueued {
            key: r.str()?,
            received_ms: r.i64()?,
            body: r.bytes()?,
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
        },
        DEAD_LETTER => Record::DeadLetter {
            key: r.str()?,
            body: r.bytes()?,
            attempts: r.u32()?,
            dead_at: r.i64()?,
            error: r.str()?,
        },
        SNAPSHOT_END => Record::SnapshotEnd,
        _ => return None,
    };
    r.0.is_empty().then_some(record)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
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
mod tests {
    use super::*;

    fn frame(generation: u64, record: &Record<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, generation, record);
        out
    }

    fn read(generation: u64, frame: &[u8]) -> Option<Record<'_>> {
        let head: &[u8; FRAME_HEAD] = frame[..FRAME_HEAD].try_into().ok()?;
        let (length, check) = read_head(head);
        let payload = frame.get(FRAME_HEAD..FRAME_HEAD + length)?;
        checks(payload, check, generation)
            .then(|| decode(payload))
            .flatten()
    }

    #[test]
    fn every_record_reads_back_as_written() {
        let mut seen = Vec::new();
        seen_entry(&mut seen, u128::MAX - 7, -3);
        seen_entry(&mut seen, 42, 1_700_000_000_000);
        let records = [
            Record::Enqueued {
                key: "k",
                received_ms: 1_700_000_000_123,
                body: b"{}",
            },
            Record::Completed { key: "k" },
            Record::Retry {
                key: "k",
                due_ms: 5,
            },
            Record::Dead {
                key: "k",
                dead_at: 9,
                error: "boom",
            },
            Record::Replayed { key: "k" },
            Record::Discarded { key: "" },
            Record::Seen { entries: &seen },
            Record::Job {
                key: "j",
                body: &[0, 1, 2],
                attempts: 3,
                due_ms: 0,
            },
            Record::DeadLetter {
                key: "d",
                body: b"x",
                attempts: 7,
                dead_at: 11,
                error: "é",
            },
            Record::SnapshotEnd,
        ];
        for record in &records {
            assert_eq!(read(7, &frame(7, record)).as_ref(), Some(record));
        }
        let entries: Vec<_> = seen_entries(&seen).collect();
        assert_eq!(entries, [(u128::MAX - 7, -3), (42, 1_700_000_000_000)]);
    }

    #[test]
    fn a_frame_of_another_generation_or_damaged_is_refused() {
        let record = Record::Completed { key: "key" };
        let good = frame(3, &record);
        assert_eq!(read(3, &good), Some(record));
        assert_eq!(read(5, &good), None, "another generation's seed");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert_ne!(
                read(3, &bad),
                Some(Record::Completed { key: "key" }),
                "byte {i}"
            );
        }
    }

    #[test]
    fn headers_carry_their_generation_and_reject_damage() {
        let h = header(12);
        assert_eq!(read_header(&h), Some(12));
        let mut bad = h;
        bad[9] ^= 1;
        assert_eq!(read_header(&bad), None);
        assert_eq!(read_header(&[0; HEADER_LEN]), None);
    }

    #[test]
    fn truncated_or_unknown_payloads_decode_to_nothing() {
        let f = frame(
            1,
            &Record::Retry {
                key: "abc",
                due_ms: 1,
            },
        );
        let payload = &f[FRAME_HEAD..];
        for end in 0..payload.len() {
            assert_eq!(decode(&payload[..end]), None, "cut at {end}");
        }
        assert_eq!(decode(&[99]), None);
        let mut longer = payload.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer), None, "trailing bytes");
    }
}
