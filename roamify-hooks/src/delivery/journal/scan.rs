//! Reading one segment file: its batches and frames, in order, told apart from a torn tail and
//! from damage.
//!
//! A frame that is not whole and valid ends the segment when nothing after it proves that a
//! later flush returned: it is the torn tail of the last write, whose flush never returned, so
//! of nothing acknowledged. When a valid Batch frame of the same segment follows it, the damaged
//! frame was part of a flush that did return: reading it as a torn tail would silently drop
//! acknowledged deliveries, so the scan stops with [`Stop::Damaged`]. Damage within the last
//! batch cannot be told from a torn write, and is read as one (the store writes an empty batch,
//! a mark, once idle, so that the last batch is rarely one that holds records).

use std::io;

use super::disk::{Segment, read_exact_at};
use super::frame::{self, BATCH_FRAME, Decoded, FRAME_HEAD, Header, PAGE, Record};

/// Why a strict scan stopped before the end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The frame (or Batch frame) at `offset` is damaged, and a later flush's batch follows.
    Damaged { offset: u64 },
    /// The valid frame at `offset` holds a record of a kind this release does not know.
    Newer { offset: u64, kind: u8 },
}

/// How a scan goes past damage.
#[derive(Debug)]
pub(super) enum Mode<'a> {
    /// Stop ([`Stop`]) at damage followed by later batches; end at a torn tail.
    Strict,
    /// Skip what cannot be read, noting each range, and go on with what follows.
    Salvage(&'a mut Vec<(u64, u64)>),
}

/// What a scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scanned {
    /// The segment's snapshot was read to its end.
    pub(super) complete: bool,
    /// Records read (snapshot pieces included).
    pub(super) records: u64,
}

/// Reads the segment of `header` in `file`, giving each record to `apply` in order.
pub(super) fn scan(
    file: &dyn Segment,
    header: Header,
    mut mode: Mode<'_>,
    apply: &mut dyn FnMut(Record<'_>),
) -> io::Result<Result<Scanned, Stop>> {
    let mut reader = Frames::new(file, header)?;
    let mut scanned = Scanned {
        complete: false,
        records: 0,
    };
    let Header::V2 { generation, salt } = header else {
        // Format 1: no batches; the first frame that is not valid ends the segment.
        let mut at = header.len();
        while let Some((end, payload)) = reader.frame(at, reader.len)? {
            match frame::decode(payload) {
                Some(Decoded::Record(record)) => {
                    scanned.complete |= record == Record::SnapshotEnd;
                    scanned.records += 1;
                    apply(record);
                }
                _ => break,
            }
            at = end;
        }
        return Ok(Ok(scanned));
    };
    let mut at = header.len();
    'batches: loop {
        let batch_end = match reader.batch(at, generation, salt)? {
            Some(len) if len >= BATCH_FRAME as u64 => at + len,
            _ => {
                let later = same_segment_after(file, at, reader.len, generation, salt)?;
                match (&mut mode, later) {
                    (Mode::Strict, None) => break,
                    (Mode::Strict, Some(_)) => return Ok(Err(Stop::Damaged { offset: at })),
                    (Mode::Salvage(skipped), later) => {
                        // The batch's frames may have survived its Batch frame.
                        let limit = later.unwrap_or(reader.len);
                        let first = at + BATCH_FRAME as u64;
                        if reader.frame(first, limit)?.is_some() {
                            skipped.push((at, first));
                            limit
                        } else if let Some(later) = later {
                            skipped.push((at, later));
                            at = later;
                            continue;
                        } else {
                            break;
                        }
                    }
                }
            }
        };
        let mut x = at + BATCH_FRAME as u64;
        while x < batch_end {
            let Some((end, payload)) = reader.frame(x, batch_end)? else {
                let later = same_segment_after(file, x, reader.len, generation, salt)?;
                match (&mut mode, later) {
                    (Mode::Strict, Some(_)) => return Ok(Err(Stop::Damaged { offset: x })),
                    (Mode::Strict, None) => break 'batches,
                    (Mode::Salvage(_), None) if reader.zeros(x)? => break 'batches,
                    (Mode::Salvage(skipped), later) => {
                        // A frame whose length survived is skipped alone, if the next reads.
                        if let Some(next) = reader.length_end(x, batch_end)?
                            && (next == batch_end || reader.frame(next, batch_end)?.is_some())
                        {
                            skipped.push((x, next));
                            x = next;
                            continue;
                        }
                        // Its length did not survive: the next frame that reads (a valid
                        // checksum at some later byte of this batch) resumes the batch, so a
                        // damaged length loses one frame, not the rest of a snapshot.
                        if let Some(next) = reader.next_frame(x + 1, batch_end)? {
                            skipped.push((x, next));
                            x = next;
                            continue;
                        }
                        skipped.push((x, later.unwrap_or(batch_end)));
                        match later {
                            Some(later) => {
                                at = later;
                                continue 'batches;
                            }
                            None => break 'batches,
                        }
                    }
                }
            };
            match frame::decode(payload) {
                Some(Decoded::Record(Record::Batch { .. })) => {}
                Some(Decoded::Record(record)) => {
                    scanned.complete |= record == Record::SnapshotEnd;
                    scanned.records += 1;
                    apply(record);
                }
                unknown => match &mut mode {
                    Mode::Strict => {
                        let kind = match unknown {
                            Some(Decoded::Unknown(kind)) => kind,
                            _ => payload.first().copied().unwrap_or(0),
                        };
                        return Ok(Err(Stop::Newer { offset: x, kind }));
                    }
                    Mode::Salvage(skipped) => skipped.push((x, end)),
                },
            }
            x = end;
        }
        at = batch_end.div_ceil(PAGE) * PAGE;
    }
    Ok(Ok(scanned))
}

/// The first page boundary after `from` holding a valid Batch frame whose segment (generation
/// and salt) is `ours`: its offset, generation and salt.
pub(super) fn later_batch(
    file: &dyn Segment,
    from: u64,
    len: u64,
    ours: impl Fn(u64, u64) -> bool,
) -> io::Result<Option<(u64, u64, u64)>> {
    let mut at = (from / PAGE + 1) * PAGE;
    let mut bytes = [0; BATCH_FRAME];
    while at + BATCH_FRAME as u64 <= len {
        if read_exact_at(file, &mut bytes, at)?
            && let Some((generation, salt, _)) = frame::read_batch(&bytes)
            && ours(generation, salt)
        {
            return Ok(Some((at, generation, salt)));
        }
        at += PAGE;
    }
    Ok(None)
}

/// [`later_batch`] of the segment of `generation` and `salt`: its offset.
fn same_segment_after(
    file: &dyn Segment,
    from: u64,
    len: u64,
    generation: u64,
    salt: u64,
) -> io::Result<Option<u64>> {
    let ours = |g, s| g == generation && s == salt;
    Ok(later_batch(file, from, len, ours)?.map(|(at, ..)| at))
}

/// A segment's bytes, read through a window of about a mebibyte.
struct Frames<'f> {
    file: &'f dyn Segment,
    len: u64,
    seed: u64,
    window: Vec<u8>,
    /// The file offset of `window[0]`.
    start: u64,
}

impl<'f> Frames<'f> {
    fn new(file: &'f dyn Segment, header: Header) -> io::Result<Self> {
        Ok(Self {
            file,
            len: file.len()?,
            seed: header.seed(),
            window: Vec::new(),
            start: 0,
        })
    }

    /// `n` bytes at `at`, or `None` past the end of the file.
    fn bytes(&mut self, at: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let end = at.saturating_add(n as u64);
        if end > self.len {
            return Ok(None);
        }
        if at < self.start || end > self.start + self.window.len() as u64 {
            let want = n
                .max(1 << 20)
                .min(usize::try_from(self.len - at).unwrap_or(n));
            self.window.resize(want, 0);
            let got = self.file.read_at(&mut self.window, at)?;
            self.window.truncate(got);
            self.start = at;
            if got < n {
                return Ok(None);
            }
        }
        let from = usize::try_from(at - self.start).unwrap_or(usize::MAX);
        Ok(self.window.get(from..from + n))
    }

    /// Whether the frame head at `at` is all zeros (or past the end): never-written space.
    fn zeros(&mut self, at: u64) -> io::Result<bool> {
        Ok(self
            .bytes(at, FRAME_HEAD)?
            .is_none_or(|head| head.iter().all(|&b| b == 0)))
    }

    /// The head of the frame at `at` if its length fits by `limit`: where the frame ends, its
    /// payload's length and its checksum.
    fn head(&mut self, at: u64, limit: u64) -> io::Result<Option<(u64, usize, u64)>> {
        let Some(head) = self.bytes(at, FRAME_HEAD)? else {
            return Ok(None);
        };
        let head: [u8; FRAME_HEAD] = head.try_into().unwrap_or([0; FRAME_HEAD]);
        let (length, check) = frame::read_head(&head);
        let end = at + FRAME_HEAD as u64 + length as u64;
        Ok((length > 0 && end <= limit.min(self.len)).then_some((end, length, check)))
    }

    /// Where the frame at `at` would end by its length field, if within `limit`.
    fn length_end(&mut self, at: u64, limit: u64) -> io::Result<Option<u64>> {
        Ok(self.head(at, limit)?.map(|(end, ..)| end))
    }

    /// The valid frame at `at` ending by `limit`: its end and its payload.
    /// The first offset in `from..limit` where a frame reads (salvage's resynchronisation after
    /// a frame whose length was damaged).
    fn next_frame(&mut self, from: u64, limit: u64) -> io::Result<Option<u64>> {
        for at in from..limit {
            if self.frame(at, limit)?.is_some() {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    fn frame(&mut self, at: u64, limit: u64) -> io::Result<Option<(u64, &[u8])>> {
        let Some((end, length, check)) = self.head(at, limit)? else {
            return Ok(None);
        };
        let seed = self.seed;
        let Some(payload) = self.bytes(at + FRAME_HEAD as u64, length)? else {
            return Ok(None);
        };
        Ok(frame::checks(payload, check, seed).then_some((end, payload)))
    }

    /// The length of the valid Batch frame of this segment at `at`.
    fn batch(&mut self, at: u64, generation: u64, salt: u64) -> io::Result<Option<u64>> {
        let Some(bytes) = self.bytes(at, BATCH_FRAME)? else {
            return Ok(None);
        };
        let bytes: [u8; BATCH_FRAME] = bytes.try_into().unwrap_or([0; BATCH_FRAME]);
        Ok(frame::read_batch(&bytes)
            .filter(|&(g, s, _)| g == generation && s == salt)
            .map(|(_, _, len)| len))
    }
}
