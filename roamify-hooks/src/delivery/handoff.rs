//! Events parsed on the way in, handed to the worker that runs them, so a delivery stored in a
//! store only this process reads (the in-memory store, the journal) is parsed once, not twice.
//!
//! The HTTP side has verified and parsed each delivery before storing it; the worker that leases
//! it would parse the same bytes again (a third of a worker's instructions per delivery, measured
//! with callgrind). Instead, the parsed event waits here, under the fingerprint of its body, and
//! the worker takes it back when it leases a job with that body; a job it does not find here (a
//! retry, a job recovered by the journal after a restart, an entry left out at the bound) is
//! parsed from its body as before. The body stored is what decides what runs: an event is only
//! taken for a body with the same 128-bit fingerprint.
//!
//! Bounded: at most `capacity` events (the queue's capacity, which bounds the jobs waiting for a
//! first run); at the bound, a new event is not kept and its job is parsed by its worker.

use std::collections::hash_map::Entry;
use std::sync::Mutex;

use super::dedupe::PrehashedMap;

use crate::catalog::Event;

/// Parsed events by the fingerprint of their body.
#[derive(Debug)]
pub(super) struct Handoff {
    capacity: usize,
    events: Mutex<PrehashedMap<u128, Event>>,
}

/// An event left with [`Handoff::offer`]: taken back when this is dropped, unless
/// [`keep`](Offered::keep) was called once its delivery was stored. So an event whose delivery
/// was not stored (a duplicate, a full queue, a failing store), or whose request was dropped
/// while the store worked, does not stay behind.
#[derive(Debug)]
pub(super) struct Offered<'a> {
    handoff: &'a Handoff,
    /// The fingerprint it was left under; `None` when it was not kept, or is kept for good.
    print: Option<u128>,
}

impl Offered<'_> {
    /// The delivery was stored: the event stays for its worker.
    pub(super) fn keep(mut self) {
        self.print = None;
    }
}

impl Drop for Offered<'_> {
    fn drop(&mut self) {
        if let Some(print) = self.print.take() {
            // Unless a worker took it already. Dropped after the lock is released.
            let event = self.handoff.events().remove(&print);
            drop(event);
        }
    }
}

impl Handoff {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            events: Mutex::new(PrehashedMap::default()),
        }
    }

    fn events(&self) -> std::sync::MutexGuard<'_, PrehashedMap<u128, Event>> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves `event`, parsed from `body`, for the worker that will lease `body`. Called before
    /// the delivery is stored (a worker may lease it at once). Not kept when an event for the
    /// same body is already waiting (it stays, for its own job), or at the bound.
    pub(super) fn offer(&self, body: &[u8], event: Event) -> Offered<'_> {
        let print = fingerprint(body);
        let mut events = self.events();
        let kept = events.len() < self.capacity
            && match events.entry(print) {
                Entry::Occupied(_) => false,
                Entry::Vacant(vacant) => {
                    vacant.insert(event);
                    true
                }
            };
        Offered {
            handoff: self,
            print: kept.then_some(print),
        }
    }

    /// The event parsed from `body` on its way in, if it is still here.
    pub(super) fn take(&self, body: &[u8]) -> Option<Event> {
        let print = fingerprint(body);
        self.events().remove(&print)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.events().len()
    }
}

fn fingerprint(body: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(body)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn event(body: &[u8]) -> Event {
        crate::parse::parse(body).expect("a sample parses")
    }

    /// Two bodies of the same kind that differ in one field.
    pub(in crate::delivery) fn bodies() -> (Vec<u8>, Vec<u8>) {
        let low = include_bytes!("../samples/partner_low_balance.json").to_vec();
        let other = String::from_utf8(low.clone())
            .expect("UTF-8")
            .replace("\"balance\": 50.00", "\"balance\": 1.50")
            .into_bytes();
        assert_ne!(low, other);
        (low, other)
    }

    #[test]
    fn a_worker_takes_the_event_of_the_body_it_leased_once() {
        let (low, other) = bodies();
        let handoff = Handoff::new(10);
        handoff.offer(&low, event(&low)).keep();
        assert!(handoff.take(&other).is_none(), "another body takes nothing");
        assert_eq!(handoff.take(&low), Some(event(&low)));
        assert!(handoff.take(&low).is_none(), "taken once");
        assert_eq!(handoff.len(), 0);
    }

    #[test]
    fn a_second_offer_of_the_same_body_is_not_kept_and_does_not_take_the_first_back() {
        let (low, _) = bodies();
        let handoff = Handoff::new(10);
        let first = handoff.offer(&low, event(&low));
        drop(handoff.offer(&low, event(&low)));
        assert_eq!(handoff.len(), 1, "the first stays");
        first.keep();
        assert_eq!(handoff.len(), 1);
    }

    /// Dropped without `keep` (not stored, or the request dropped while the store worked).
    #[test]
    fn an_offer_not_kept_is_taken_back_when_dropped() {
        let (low, _) = bodies();
        let handoff = Handoff::new(10);
        drop(handoff.offer(&low, event(&low)));
        assert_eq!(handoff.len(), 0);
        // A worker took it before the offer was dropped: nothing to take back.
        let offered = handoff.offer(&low, event(&low));
        assert!(handoff.take(&low).is_some());
        drop(offered);
        assert_eq!(handoff.len(), 0);
    }

    #[test]
    fn holds_at_most_capacity_events() {
        let (low, other) = bodies();
        let handoff = Handoff::new(1);
        handoff.offer(&low, event(&low)).keep();
        handoff.offer(&other, event(&other)).keep();
        assert_eq!(handoff.len(), 1, "at the bound");
        assert!(handoff.take(&other).is_none());
        assert!(handoff.take(&low).is_some());
        handoff.offer(&other, event(&other)).keep();
        assert!(handoff.take(&other).is_some(), "room again");
    }
}
