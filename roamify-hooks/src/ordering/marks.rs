//! The newest timestamp started per stream: bounded in count, each mark forgotten once it has not
//! moved for its retention (the dedupe window's).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Streams whose newest timestamp an in-process index keeps at most: 100 000 (inline mode, the
/// in-memory and journal stores). At the bound the stream advanced longest ago is forgotten, so a
/// delivery of it older than its last one would run again.
pub const DEFAULT_MARKS: usize = 100_000;

/// One mark: the newest timestamp started, its place in the eviction order, when it last moved.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: i64,
    seq: u64,
    moved: Instant,
}

/// Marks by stream, with the order they last moved in (oldest first).
#[derive(Debug)]
pub(crate) struct MarkIndex {
    marks: HashMap<String, Mark>,
    moved: BTreeMap<u64, String>,
    next: u64,
    capacity: usize,
}

impl MarkIndex {
    /// Empty, keeping at most `capacity` marks (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            marks: HashMap::new(),
            moved: BTreeMap::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// Compares `at` with the newest timestamp started for `stream` and, unless it is older,
    /// moves the mark to it: `None` when the delivery may start, `Some(newest)` when it is stale.
    /// Marks that have not moved for `retention` are forgotten first.
    pub(crate) fn advance(
        &mut self,
        stream: &str,
        at: i64,
        retention: Duration,
        now: Instant,
    ) -> Option<i64> {
        self.expire(retention, now);
        if let Some(mark) = self.marks.get(stream)
            && mark.at > at
        {
            return Some(mark.at);
        }
        self.put(stream, at, now);
        None
    }

    /// Sets `stream`'s mark to `at` (moved at `moved`), evicting the oldest at the bound.
    pub(crate) fn put(&mut self, stream: &str, at: i64, moved: Instant) {
        self.next += 1;
        let seq = self.next;
        let mark = Mark { at, seq, moved };
        if let Some(old) = self.marks.get_mut(stream) {
            self.moved.remove(&old.seq);
            *old = mark;
        } else {
            while self.marks.len() >= self.capacity
                && let Some((_, evicted)) = self.moved.pop_first()
            {
                self.marks.remove(&evicted);
            }
            self.marks.insert(stream.to_owned(), mark);
        }
        self.moved.insert(seq, stream.to_owned());
    }

    /// Forgets the marks that have not moved for `retention`.
    fn expire(&mut self, retention: Duration, now: Instant) {
        while let Some(entry) = self.moved.first_entry() {
            let stream = entry.get();
            let Some(mark) = self.marks.get(stream) else {
                entry.remove();
                continue;
            };
            if now.saturating_duration_since(mark.moved) < retention {
                break;
            }
            let stream = entry.remove();
            self.marks.remove(&stream);
        }
    }

    /// Every mark, oldest first: stream, newest timestamp, when it moved.
    #[cfg(any(test, feature = "durable"))]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, i64, Instant)> + '_ {
        self.moved.values().filter_map(|stream| {
            self.marks
                .get(stream)
                .map(|mark| (stream.as_str(), mark.at, mark.moved))
        })
    }

    /// How many marks are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.marks.len()
    }
}

/// A [`MarkIndex`] behind a lock, with its retention: inline mode's.
#[derive(Debug)]
pub(crate) struct Marks {
    index: Mutex<MarkIndex>,
    retention: Duration,
}

impl Marks {
    pub(crate) fn new(capacity: usize, retention: Duration) -> Self {
        Self {
            index: Mutex::new(MarkIndex::new(capacity)),
            retention,
        }
    }

    /// [`MarkIndex::advance`], now.
    pub(crate) fn advance(&self, stream: &str, at: i64) -> Option<i64> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .advance(stream, at, self.retention, Instant::now())
    }
}
