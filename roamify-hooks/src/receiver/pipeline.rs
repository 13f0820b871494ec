//! One delivery's path: verify, parse, then run its handler (inline) or store it (queued).

use std::time::Duration;

use super::{Mode, Receiver};
use crate::catalog::{Event, EventName};
#[cfg(feature = "queue")]
use crate::delivery::{Engine, Unavailable};
use crate::delivery::{fingerprint, idempotency_key, key_from};
use crate::dispatch::{Dispatch, Dispatched};
use crate::outcome::Outcome;
use crate::run::{Begun, Origin, Request};
use crate::stats::Counters;
use crate::{logs, meter, observe};

impl<D: Dispatch> Receiver<D> {
    /// Handles one delivery: verifies `body` against the `X-Roamify-Signature` value(s), parses
    /// it, and — per the delivery mode — runs its handler or stores it for the workers.
    ///
    /// Logs the outcome once (target `roamify_hooks`), with `category`, `kind`, `secret` (the
    /// matching secret's index), `latency_us`, and `handler` or `key` where they apply: at
    /// `info` when handled, acknowledged, stored or a duplicate; at `warn` for a refusal (bad
    /// signature, malformed, too old, 503) with its `cause`; at `error` when a handler failed,
    /// with the whole cause chain. A handler runs in a span `roamify_delivery` with `category`
    /// and `kind` (and `key` when the `on_handled` hook is set), so its own log lines carry them;
    /// a queued mode's workers log each run the same way. Secrets and bodies are never logged.
    pub async fn receive<I>(&self, signatures: I, body: &[u8]) -> Outcome
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        // Everything up to a synchronous handler's return is one plain call; only a handler
        // that must be awaited, or a store, makes this future wait. The awaited part stays in
        // this future rather than boxed: an allocation per delivery costs async handlers more
        // than a larger future costs synchronous ones (BENCHMARKS.md, 2026-12-02).
        match self.receive_now(signatures, body) {
            Step::Done(outcome) => outcome,
            Step::Await(awaited) => self.receive_awaited(awaited, body).await,
            #[cfg(feature = "queue")]
            Step::Enqueue(enqueued) => self.enqueue(enqueued, body).await,
            #[cfg(not(feature = "queue"))]
            Step::Never(never, _) => match never {},
        }
    }

    /// The part of [`receive`](Self::receive) that never waits: verification, parse,
    /// admission, and a synchronous handler's run, with the outcome logged.
    fn receive_now<I>(&self, signatures: I, body: &[u8]) -> Step<'_>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let started = logs::started();
        let mut key = None;
        // Verified, then parsed from `body` itself, not from the verification's result: reading
        // the body's address back out of that result would make the parse wait for the HMAC to
        // complete, where the processor can otherwise start it while the last SHA-256 rounds
        // finish. The event is then matched in place, not moved between values before its
        // handler takes it: a copy right after the parse wrote it waits for those writes.
        let outcome = 'done: {
            let secret_index = match self.inner.secrets.verify(signatures, body) {
                Ok(verified) => verified.secret_index(),
                Err(refused) => break 'done Outcome::BadSignature(refused),
            };
            let event = match crate::parse::parse(body) {
                Ok(event) => event,
                Err(error) => {
                    key = Some(key_from(None, body));
                    break 'done Outcome::Malformed {
                        error,
                        secret_index,
                    };
                }
            };
            let name = EventName::of(&event);
            match self.admit(&event, &name, body, secret_index, &mut key) {
                Admitted::Refused(outcome) => outcome,
                #[cfg(feature = "queue")]
                Admitted::Enqueue(engine) => {
                    return Step::Enqueue(Enqueued {
                        engine,
                        event,
                        name,
                        secret_index,
                        started,
                    });
                }
                #[cfg(not(feature = "queue"))]
                Admitted::Never(never, _) => match never {},
                Admitted::Run(run) => {
                    let request = Request {
                        secret_index,
                        started,
                    };
                    let Begun { now, span, ran_at } = self.inner.runner.begin(
                        event,
                        &name,
                        run.key.as_deref(),
                        Origin::Request(request),
                    );
                    return match now {
                        Ok(dispatched) => {
                            Step::Done(self.ran(name, dispatched, run, ran_at, body, request))
                        }
                        Err(event) => Step::Await(Awaited {
                            event,
                            name,
                            run,
                            ran_at,
                            request,
                            span,
                        }),
                    };
                }
            }
        };
        let counters = &self.inner.runner.counters;
        match &outcome {
            Outcome::BadSignature(_) => Counters::bump(&counters.refused_bad_signature),
            Outcome::Malformed { .. } => Counters::bump(&counters.refused_malformed),
            Outcome::TooOld { .. } => Counters::bump(&counters.refused_too_old),
            Outcome::Stale { .. } => Counters::bump(&counters.stale),
            _ => {}
        }
        observe::ended(&outcome, key.as_deref(), started);
        Step::Done(outcome)
    }

    /// The rest of a delivery whose handler must be awaited.
    async fn receive_awaited(&self, awaited: Awaited, body: &[u8]) -> Outcome {
        let dispatched = self.inner.runner.awaited(awaited.event, awaited.span).await;
        self.ran(
            awaited.name,
            dispatched,
            awaited.run,
            awaited.ran_at,
            body,
            awaited.request,
        )
    }

    /// What to do with a verified, parsed delivery: refuse it (too old), acknowledge it as a
    /// duplicate, store it (queued modes) or run its handler now. `failed_key` is set to its
    /// idempotency key when it is refused (for the log line).
    #[inline]
    fn admit(
        &self,
        event: &Event,
        name: &EventName,
        body: &[u8],
        secret_index: usize,
        failed_key: &mut Option<String>,
    ) -> Admitted<'_> {
        if let Some(age) = self.too_old(event) {
            *failed_key = Some(idempotency_key(event, body));
            return Admitted::Refused(Outcome::TooOld {
                event: name.clone(),
                age,
                secret_index,
            });
        }
        let (dedupe, marks) = match &self.inner.mode {
            Mode::Inline { dedupe, marks } => (dedupe.as_ref(), marks.as_ref()),
            #[cfg(feature = "queue")]
            Mode::Queue(engine) => return Admitted::Enqueue(engine),
        };
        let fingerprint = dedupe.map(|dedupe| (dedupe, fingerprint(event, body)));
        if let Some((dedupe, fingerprint)) = fingerprint
            && !dedupe.first_time(fingerprint)
        {
            Counters::bump(&self.inner.runner.counters.deduplicated);
            return Admitted::Refused(Outcome::Duplicate {
                event: name.clone(),
                secret_index,
            });
        }
        if let Some(marks) = marks
            && let Some(order) = self.inner.plan.as_ref().and_then(|p| p.order(event))
            && let Some(newer) = marks.advance(&order.stream, order.at)
        {
            *failed_key = Some(idempotency_key(event, body));
            return Admitted::Refused(Outcome::Stale {
                event: name.clone(),
                stream: order.stream,
                timestamp: order.at,
                newer,
                secret_index,
            });
        }
        // The visible key (SHA-256) is computed only for the hook that shows it; a failure's
        // log line reads it later.
        let key = self
            .inner
            .runner
            .shows_keys()
            .then(|| idempotency_key(event, body));
        Admitted::Run(Run {
            fingerprint: fingerprint.map(|(_, fingerprint)| fingerprint),
            key,
        })
    }

    /// The end of a handler's run, inline: the key for a failure's record (read again from the
    /// body, rare enough not to copy it on every delivery) and the delivery forgotten by the
    /// deduplication index (Roamify retries a failed delivery: it must run again); then the
    /// run's end ([`Runner::finish`](crate::run::Runner::finish)) and the outcome, counted.
    #[inline]
    fn ran(
        &self,
        name: EventName,
        dispatched: Dispatched,
        run: Run,
        ran_at: meter::Started,
        body: &[u8],
        request: Request,
    ) -> Outcome {
        let failed_key;
        let key = match &dispatched {
            Dispatched::Failed(_) => {
                if let (
                    Mode::Inline {
                        dedupe: Some(dedupe),
                        ..
                    },
                    Some(fingerprint),
                ) = (&self.inner.mode, run.fingerprint)
                {
                    dedupe.forget(fingerprint);
                }
                // The event moved into its handler: its key (a refund's `event_id`) is read again.
                failed_key = run.key.unwrap_or_else(|| match crate::parse::parse(body) {
                    Ok(event) => idempotency_key(&event, body),
                    Err(_) => key_from(None, body),
                });
                Some(failed_key.as_str())
            }
            _ => run.key.as_deref(),
        };
        self.inner
            .runner
            .finish(&name, &dispatched, ran_at, key, Origin::Request(request));
        // The outcome is built last, where it is returned: built earlier, it would be copied out
        // right after being written, and wait for it.
        let outcome = self.outcome(name, dispatched, request.secret_index);
        observe::counted(&outcome);
        outcome
    }

    fn too_old(&self, event: &Event) -> Option<Duration> {
        let max_age = self.inner.max_age?;
        let sent = event.timestamp()?;
        let age = u64::try_from(
            crate::time::UnixTime::now()
                .as_secs()
                .saturating_sub(sent.as_secs()),
        )
        .unwrap_or(0);
        let age = Duration::from_secs(age);
        (age > max_age).then_some(age)
    }

    /// Stores a delivery for the workers, and logs how that went (a refusal with its key).
    #[cfg(feature = "queue")]
    async fn enqueue(&self, enqueued: Enqueued<'_>, body: &[u8]) -> Outcome {
        use crate::delivery::Accepted;
        let Enqueued {
            engine,
            event,
            name,
            secret_index,
            started,
        } = enqueued;
        let key = idempotency_key(&event, body);
        let order = self.inner.plan.as_ref().and_then(|plan| plan.order(&event));
        let counters = &self.inner.runner.counters;
        let outcome = match engine.accept(key.clone(), body, event, order).await {
            Accepted::Stored => {
                Counters::bump(&counters.queued);
                let outcome = Outcome::Queued {
                    event: name,
                    key,
                    secret_index,
                };
                observe::ended(&outcome, None, started);
                return outcome;
            }
            Accepted::Duplicate => {
                Counters::bump(&counters.deduplicated);
                Outcome::Duplicate {
                    event: name,
                    secret_index,
                }
            }
            Accepted::Full => {
                Counters::bump(&counters.refused_full);
                Outcome::Unavailable {
                    event: name,
                    reason: Unavailable::QueueFull,
                }
            }
            Accepted::Unavailable(error) => {
                Counters::bump(&counters.refused_unavailable);
                Outcome::Unavailable {
                    event: name,
                    reason: Unavailable::Store(error),
                }
            }
            Accepted::ShuttingDown => {
                Counters::bump(&counters.refused_shutting_down);
                Outcome::ShuttingDown
            }
            Accepted::WorkerOnly => Outcome::Unavailable {
                event: name,
                reason: Unavailable::WorkerOnly,
            },
        };
        observe::ended(&outcome, Some(&key), started);
        outcome
    }

    #[inline]
    fn outcome(&self, name: EventName, dispatched: Dispatched, secret_index: usize) -> Outcome {
        match dispatched {
            Dispatched::Handled { handler } => Outcome::Handled {
                event: name,
                handler,
                secret_index,
            },
            Dispatched::NoHandler => Outcome::Acknowledged {
                event: name,
                secret_index,
            },
            Dispatched::Invalid(error) => {
                Counters::bump(&self.inner.runner.counters.refused_malformed);
                Outcome::Malformed {
                    error,
                    secret_index,
                }
            }
            Dispatched::Failed(error) => Outcome::HandlerFailed {
                event: name,
                error,
                secret_index,
            },
        }
    }
}

/// What [`Receiver::admit`] decided for one delivery.
enum Admitted<'a> {
    /// Answered without running anything.
    Refused(Outcome),
    /// To be stored for the workers.
    #[cfg(feature = "queue")]
    Enqueue(&'a Engine),
    /// To be handled now.
    Run(Run),
    /// Without queued modes, nothing borrows the receiver (never constructed).
    #[allow(dead_code)]
    #[cfg(not(feature = "queue"))]
    Never(std::convert::Infallible, std::marker::PhantomData<&'a ()>),
}

/// How far [`Receiver::receive_now`] took a delivery. Its tag is a plain byte, not a niche in
/// the outcome: the caller reads it right after the call wrote it, and a niche would be
/// compared as a wider value than the writes that made it, which waits for those writes.
#[repr(u8)]
// Returned once and matched at once: boxing the large variants would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Step<'a> {
    /// To the end: its outcome, logged.
    Done(Outcome),
    /// To a handler that must be awaited.
    Await(Awaited),
    /// To the store (queued modes).
    #[cfg(feature = "queue")]
    Enqueue(Enqueued<'a>),
    /// Without queued modes, nothing borrows the receiver (never constructed).
    #[allow(dead_code)]
    #[cfg(not(feature = "queue"))]
    Never(std::convert::Infallible, std::marker::PhantomData<&'a ()>),
}

/// A delivery whose handler must be awaited, with what its run's end needs.
struct Awaited {
    event: Event,
    name: EventName,
    run: Run,
    ran_at: meter::Started,
    request: Request,
    span: Option<tracing::Span>,
}

/// A delivery to store for the workers.
#[cfg(feature = "queue")]
struct Enqueued<'a> {
    engine: &'a Engine,
    event: Event,
    name: EventName,
    secret_index: usize,
    started: Option<std::time::Instant>,
}

/// A delivery admitted to run inline: its deduplication fingerprint (when deduplicating) and
/// visible key (when the `on_handled` hook shows it).
struct Run {
    fingerprint: Option<u128>,
    key: Option<String>,
}
