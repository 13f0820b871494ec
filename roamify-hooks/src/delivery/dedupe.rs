//! In-memory idempotency: keys seen within a window.

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
    at: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl Deduper {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records `key`; `false` when it was already seen within the window.
    pub(crate) fn first_time(&self, key: &str) -> bool {
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
        if seen.at.contains_key(key) {
            return false;
        }
        seen.at.insert(key.to_owned(), now);
        seen.order.push_back((now, key.to_owned()));
        true
    }

    /// Forgets `key` (its handler failed; a redelivery must run it again).
    pub(crate) fn forget(&self, key: &str) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.at.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_the_window_only() {
        let d = Deduper::new(Duration::from_millis(50));
        assert!(d.first_time("a"));
        assert!(!d.first_time("a"));
        d.forget("a");
        assert!(d.first_time("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(d.first_time("a"), "expired");
        assert!(d.first_time("b"));
    }
}
