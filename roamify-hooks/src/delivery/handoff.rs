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

/// A ticket for an event left with [`Handoff::offer`], to take it back if its delivery was not
/// stored.
#[derive(Debug)]
pub(super) struct Ticket(u128);

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
    /// the delivery is stored (a worker may lease it at once); `None` when it was not kept (an
    /// event for the same body is already waiting, or the bound is reached).
    pub(super) fn offer(&self, body: &[u8], event: Event) -> Option<Ticket> {
        let print = fingerprint(body);
        let mut events = self.events();
        if events.len() >= self.capacity {
            return None;
        }
        match events.entry(print) {
            // Another delivery of the same body: its event stays, and so does its job's claim.
            Entry::Occupied(_) => None,
            Entry::Vacant(vacant) => {
                vacant.insert(event);
                Some(Ticket(print))
            }
        }
    }

    /// Takes back an offered event whose delivery was not stored (a duplicate, a full queue, a
    /// failing store), unless a worker took it already.
    pub(super) fn withdraw(&self, ticket: Ticket) {
        let dropped = self.events().remove(&ticket.0);
        drop(dropped);
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
        assert!(handoff.offer(&low, event(&low)).is_some());
        assert!(handoff.take(&other).is_none(), "another body takes nothing");
        assert_eq!(handoff.take(&low), Some(event(&low)));
        assert!(handoff.take(&low).is_none(), "taken once");
        assert_eq!(handoff.len(), 0);
    }

    #[test]
    fn a_second_offer_of_the_same_body_is_not_kept() {
        let (low, _) = bodies();
        let handoff = Handoff::new(10);
        let first = handoff.offer(&low, event(&low)).expect("kept");
        assert!(
            handoff.offer(&low, event(&low)).is_none(),
            "the first stays"
        );
        assert_eq!(handoff.len(), 1);
        handoff.withdraw(first);
        assert_eq!(handoff.len(), 0);
    }

    #[test]
    fn holds_at_most_capacity_events() {
        let (low, other) = bodies();
        let handoff = Handoff::new(1);
        assert!(handoff.offer(&low, event(&low)).is_some());
        assert!(
            handoff.offer(&other, event(&other)).is_none(),
            "at the bound"
        );
        assert!(handoff.take(&other).is_none());
        assert!(handoff.take(&low).is_some());
        assert!(handoff.offer(&other, event(&other)).is_some(), "room again");
    }
}
