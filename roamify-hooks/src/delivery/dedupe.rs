//! In-memory idempotency: delivery fingerprints seen within a window, at most `capacity` of them.
//!
//! The index holds 128-bit xxh3 fingerprints of the idempotency key's source (the `event_id`, or
//! the verified body) rather than SHA-256 strings: hashing a body with xxh3 costs a few percent of
//! SHA-256 and nothing is allocated per delivery. Only bodies Roamify signed reach it, so a
//! collision cannot be engineered, and an accidental one among 2^128 values is out of reach.
//!
//! Memory is bounded: at most `capacity` fingerprints are kept (about 100 bytes each at the
//! bound, the map's room for churn included; it is allocated at once and never grows). When a
//! new one arrives at the bound, the oldest is forgotten before its window ends; a redelivery of
//! that oldest event would then run its handler again. With the default capacity
//! ([`DEFAULT_DEDUPE_CAPACITY`]) that happens only above about 2.3 distinct deliveries per second
//! sustained over a whole 24 h window, and then only for redeliveries arriving later than
//! `capacity / rate` (about 33 minutes at 100 deliveries per second).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default number of delivery fingerprints the in-memory index keeps: 200 000 (about
/// 20 MB at the bound).
pub const DEFAULT_DEDUPE_CAPACITY: usize = 200_000;

/// How far back a key's insertion time may lie (see [`Recent::new`]).
const RECOVERED_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The map is given room for twice its bound at once (up to this many keys), so that the churn
/// of a full index (one key out, one in) is absorbed by rehashing in place: a map sized only for
/// its bound doubles once its deleted slots run out, a sudden jump in memory.
const PREALLOCATED_KEYS: usize = 2 << 20;

/// A map whose keys are hashes already (fingerprints) or unique numbers (lease tokens).
pub(super) type PrehashedMap<K, V> = HashMap<K, V, BuildHasherDefault<Prehashed>>;

/// Hashes keys that need no SipHash: a fingerprint (xxh3) is folded to 64 bits; other keys, such
/// as sequential lease numbers, are mixed by a multiplication (Fibonacci hashing), which spreads
/// them over both the bits the map indexes with and the bits it tags entries with. Neither kind of
/// key is chosen by a sender: fingerprints are of signed bodies, lease numbers are counted here.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0_u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    #[allow(clippy::cast_possible_truncation)] // folding the halves truncates on purpose
    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Keys seen within `window`, forgotten in arrival order once older, or once `capacity` newer
/// keys arrived. Thread-safe; inline mode's index.
#[derive(Debug)]
pub(crate) struct Deduper {
    window: Duration,
    recent: Mutex<Recent>,
}

/// The index itself, for callers that hold their own lock (the in-memory store).
#[derive(Debug)]
pub(crate) struct Recent {
    capacity: usize,
    /// When the index started: times are kept as milliseconds since (8 bytes instead of 16).
    start: Instant,
    /// Fingerprints as two `u64` halves: 24-byte entries instead of the 32 a `u128` (aligned to
    /// 16) would take.
    at: PrehashedMap<[u64; 2], u64>,
    /// Arrival order; an entry whose key was forgotten (or seen again later) is stale and skipped.
    /// Every key in `at` has an entry here, so `at.len() <= order.len() <= capacity`.
    order: VecDeque<(u64, [u64; 2])>,
    /// Keys forgotten before their window ended because the index was full.
    evicted_early: u64,
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let now = Instant::now();
        Self {
            capacity,
            // Backdated, so keys a journal recovers with the time they arrived before this
            // process started keep their own age (up to this much).
            start: now.checked_sub(RECOVERED_AGE).unwrap_or(now),
            at: PrehashedMap::with_capacity_and_hasher(
                capacity.saturating_mul(2).min(PREALLOCATED_KEYS),
                BuildHasherDefault::default(),
            ),
            order: VecDeque::new(),
            evicted_early: 0,
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether `key` was inserted less than `window` ago (forgetting what is older).
    pub(crate) fn contains(&mut self, key: u128, window: Duration, now: Instant) -> bool {
        let now = self.millis(now);
        let window = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        while let Some((at, _)) = self.order.front() {
            if now.saturating_sub(*at) < window {
                break;
            }
            self.pop_oldest();
        }
        self.at.contains_key(&halves(key))
    }

    /// Records `key` as seen at `now`, forgetting the oldest key at the bound.
    pub(crate) fn insert(&mut self, key: u128, now: Instant) {
        let now = self.millis(now);
        while self.order.len() >= self.capacity {
            if self.pop_oldest() {
                self.evicted_early += 1;
            }
        }
        self.at.insert(halves(key), now);
        self.order.push_back((now, halves(key)));
    }

    /// The keys remembered, oldest first, with when each was inserted (the journal store's
    /// snapshot). Keys past a window are included until a lookup with that window drops them.
    #[cfg(feature = "durable")]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u128, Instant)> + '_ {
        self.order
            .iter()
            .filter(|(at, key)| self.at.get(key) == Some(at))
            .map(|(at, [high, low])| {
                (
                    (u128::from(*high) << 64) | u128::from(*low),
                    self.start + Duration::from_millis(*at),
                )
            })
    }

    pub(crate) fn remove(&mut self, key: u128) {
        self.at.remove(&halves(key));
    }

    /// Drops the oldest entry; `true` when it still counted (not stale).
    fn pop_oldest(&mut self) -> bool {
        match self.order.pop_front() {
            Some((at, old)) if self.at.get(&old) == Some(&at) => {
                self.at.remove(&old);
                true
            }
            _ => false,
        }
    }

    /// Keys forgotten before their window ended because the index was full.
    #[cfg(test)]
    fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.at.len(), self.order.len())
    }
}

#[allow(clippy::cast_possible_truncation)] // splitting in halves truncates on purpose
fn halves(key: u128) -> [u64; 2] {
    [(key >> 64) as u64, key as u64]
}

impl Deduper {
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            recent: Mutex::new(Recent::new(capacity)),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `key`; `false` when it was already seen within the window.
    pub(crate) fn first_time(&self, key: u128) -> bool {
        let now = Instant::now();
        let mut recent = self.recent();
        if recent.contains(key, self.window, now) {
            return false;
        }
        recent.insert(key, now);
        true
    }

    /// Forgets `key` (its handler failed; a redelivery must run it again).
    pub(crate) fn forget(&self, key: u128) {
        self.recent().remove(key);
    }

    #[cfg(test)]
    fn evicted_early(&self) -> u64 {
        self.recent().evicted_early()
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        self.recent().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_window_only() {
        let d = Deduper::new(Duration::from_millis(50), 100);
        assert!(d.first_time(1));
        assert!(!d.first_time(1));
        d.forget(1);
        assert!(d.first_time(1));
        std::thread::sleep(Duration::from_millis(60));
        assert!(d.first_time(1), "expired");
        assert!(d.first_time(2));
    }

    #[test]
    fn holds_at_most_capacity_keys_forgetting_the_oldest() {
        let d = Deduper::new(Duration::from_secs(3600), 3);
        for key in 1..=3 {
            assert!(d.first_time(key));
        }
        assert!(d.first_time(4), "a new key at the bound is accepted");
        assert_eq!(d.evicted_early(), 1);
        assert!(d.first_time(1), "the oldest was forgotten");
        assert!(!d.first_time(3), "newer keys are still known");
        assert!(!d.first_time(4));
        for key in 5..10_000 {
            d.first_time(key);
        }
        assert_eq!(d.len(), (3, 3));
    }

    #[test]
    fn the_prehashed_hasher_tells_keys_apart() {
        let hash = |write: &dyn Fn(&mut Prehashed)| {
            let mut hasher = Prehashed::default();
            write(&mut hasher);
            hasher.finish()
        };
        assert_ne!(hash(&|h| h.write(b"a")), hash(&|h| h.write(b"b")));
        assert_eq!(hash(&|h| h.write(b"abc")), hash(&|h| h.write(b"abc")));
        assert_ne!(hash(&|h| h.write_u128(1)), hash(&|h| h.write_u128(2)));
        // Sequential numbers differ in the low bits (the map's index) and the top 7 (its tags).
        let tags: std::collections::HashSet<u64> = (0..64_u64)
            .map(|n| hash(&|h| h.write_u64(n)) >> 57)
            .collect();
        assert!(tags.len() > 32, "{} distinct tags", tags.len());
    }

    #[test]
    fn forgotten_keys_do_not_grow_the_order() {
        let d = Deduper::new(Duration::from_secs(3600), 4);
        for _ in 0..1000 {
            assert!(d.first_time(7));
            d.forget(7);
        }
        let (keys, order) = d.len();
        assert!(keys <= 1 && order <= 4, "{keys} keys, {order} in order");
    }
}
