//! The frame format's unit tests.

use super::*;

fn frame(seed: u64, record: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out, seed, record);
    out
}

fn read(seed: u64, frame: &[u8]) -> Option<Record<'_>> {
    let head: &[u8; FRAME_HEAD] = frame[..FRAME_HEAD].try_into().ok()?;
    let (length, check) = read_head(head);
    let payload = frame.get(FRAME_HEAD..FRAME_HEAD + length)?;
    match checks(payload, check, seed)
        .then(|| decode(payload))
        .flatten()?
    {
        Decoded::Record(record) => Some(record),
        Decoded::Unknown(_) => None,
    }
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
            order: None,
        },
        Record::Enqueued {
            key: "ordered",
            received_ms: 1,
            body: b"{}",
            order: Some(("esim.status:89", 1_700_000_000, true)),
        },
        Record::Mark {
            stream: "esim.usage:89",
            at: -4,
            moved_ms: 1_700_000_000_999,
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
            order: None,
        },
        Record::Job {
            key: "j2",
            body: &[],
            attempts: 0,
            due_ms: 9,
            order: Some(("s", 2, false)),
        },
        Record::DeadLetter {
            key: "d",
            body: b"x",
            attempts: 7,
            dead_at: 11,
            error: "é",
            order: None,
        },
        Record::DeadLetter {
            key: "d2",
            body: b"y",
            attempts: 1,
            dead_at: 12,
            error: "",
            order: Some(("partner.balance:", 3, true)),
        },
        Record::SnapshotEnd,
        Record::Batch {
            generation: 4,
            salt: 5,
            len: 6,
        },
    ];
    for record in &records {
        assert_eq!(read(7, &frame(7, record)).as_ref(), Some(record));
    }
    let entries: Vec<_> = seen_entries(&seen).collect();
    assert_eq!(entries, [(u128::MAX - 7, -3), (42, 1_700_000_000_000)]);
}

#[test]
fn a_frame_of_another_seed_or_damaged_is_refused() {
    let record = Record::Completed { key: "key" };
    let good = frame(3, &record);
    assert_eq!(read(3, &good), Some(record));
    assert_eq!(read(5, &good), None, "another segment's seed");
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
fn batch_frames_name_their_segment_and_reject_damage() {
    let mut slot = [0; BATCH_FRAME];
    fill_batch(&mut slot, 9, 0xdead_beef, 4096);
    assert_eq!(read_batch(&slot), Some((9, 0xdead_beef, 4096)));
    for i in 0..BATCH_FRAME {
        let mut bad = slot;
        bad[i] ^= 1;
        assert_eq!(read_batch(&bad), None, "byte {i}");
    }
    assert_eq!(read_batch(&[0; BATCH_FRAME]), None);
}

#[test]
fn headers_carry_their_version_generation_and_salt_and_reject_damage() {
    let h = header(12, 34);
    let parsed = read_header(&h);
    assert_eq!(
        parsed,
        Some(Header::V2 {
            generation: 12,
            salt: 34
        })
    );
    assert_ne!(seed(12, 34), seed(12, 35), "the salt changes the seed");
    for i in 0..HEADER_LEN {
        let mut bad = h;
        bad[i] ^= 1;
        assert_eq!(read_header(&bad), None, "byte {i}");
    }
    assert_eq!(read_header(&[0; HEADER_LEN]), None);
    // A newer format's header, valid: told apart from damage.
    let mut newer = h;
    newer[8..12].copy_from_slice(&3u32.to_le_bytes());
    let check = xxh3_64_with_seed(&newer[..32], 0);
    newer[32..].copy_from_slice(&check.to_le_bytes());
    assert_eq!(read_header(&newer), Some(Header::Newer { version: 3 }));
    // Format 1.
    let mut v1 = [0; HEADER_LEN];
    v1[..8].copy_from_slice(MAGIC_V1);
    v1[8..16].copy_from_slice(&5u64.to_le_bytes());
    let check = xxh3_64_with_seed(&v1[..16], 0);
    v1[16..24].copy_from_slice(&check.to_le_bytes());
    assert_eq!(read_header(&v1), Some(Header::V1 { generation: 5 }));
}

#[test]
fn truncated_or_unknown_payloads_are_told_apart() {
    let f = frame(
        1,
        &Record::Retry {
            key: "abc",
            due_ms: 1,
        },
    );
    let payload = &f[FRAME_HEAD..];
    for end in 1..payload.len() {
        assert_eq!(decode(&payload[..end]), None, "cut at {end}");
    }
    assert_eq!(decode(&[99]), Some(Decoded::Unknown(99)));
    let mut longer = payload.to_vec();
    longer.push(0);
    assert_eq!(decode(&longer), None, "trailing bytes");
}
