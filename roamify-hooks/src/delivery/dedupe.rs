//! In-memory idempotency: delivery fingerprints seen within a window.
//!
//! The index holds 128-bit xxh3 fingerprints of the idempotency key's source (the `event_id`, or
//! the verified body) rather than SHA-256 strings: hashing a body with xxh3 costs a few percent of
//! SHA-256 and nothing is allocated per delivery. Only bodies Roamify signed reach it, so a
//! collision cannot be engineered, and an accidental one among 2^128 values is out of reach.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys seen within `window`, forgotten in arrival order once older.
#[derive(Debug)]
pub(crate) struct Deduper {
    window: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    at: HashMap<u128, Instant>,
    order: VecDeque<(Instant, u128)>,
}

impl Deduper {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records `key`; `false` when it was already seen within the window.
    pub(crate) fn first_time(&self, key: u128) -> bool {
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((at, _)) = seen.order.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            if let Some((at, old)) = seen.order.pop_front()
                && seen.at.get(&old) == Some(&at)
            {
                seen.at.remove(&old);
            }
        }
        if seen.at.contains_key(&key) {
            return false;
        }
        seen.at.insert(key, now);
        seen.order.push_back((now, key));
        true
    }

    /// Forgets `key` (its handler failed; a redelivery must run it again).
    pub(crate) fn forget(&self, key: u128) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.at.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_window_only() {
        let d = Deduper::new(Duration::from_millis(50));
        assert!(d.first_time(1));
        assert!(!d.first_time(1));
        d.forget(1);
        assert!(d.first_time(1));
        std::thread::sleep(Duration::from_millis(60));
        assert!(d.first_time(1), "expired");
        assert!(d.first_time(2));
    }
}
