//! One delivery's path: verify, parse, then run its handler (inline) or store it (queued).

use std::time::Duration;

use tracing::Instrument as _;

use super::{Mode, Receiver};
use crate::catalog::{Event, EventName};
use crate::delivery::{Counters, Handled, fingerprint, idempotency_key, key_from};
#[cfg(feature = "queue")]
use crate::delivery::{Engine, Unavailable};
use crate::dispatch::{Dispatch, Dispatched};
use crate::outcome::Outcome;
use crate::{meter, observe};

impl<D: Dispatch> Receiver<D> {
    /// Handles one delivery: verifies `body` against the `X-Roamify-Signature` value(s), parses
    /// it, and — per the delivery mode — runs its handler or stores it for the workers.
    ///
    /// Logs the outcome once (target `roamify_hooks`), with `category`, `kind`, `secret` (the
    /// matching secret's index), `latency_us`, and `handler` or `key` where they apply: at
    /// `info` when handled, acknowledged, stored or a duplicate; at `warn` for a refusal (bad
    /// signature, malformed, too old, 503) with its `cause`; at `error` when a handler failed,
    /// with the whole cause chain. A handler runs in a span `roamify_delivery` with `category`
    /// and `kind`, so its own log lines carry them. Secrets and bodies are never logged.
    pub async fn receive<I>(&self, signatures: I, body: &[u8]) -> Outcome
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let started = observe::started();
        let mut key = None;
        let outcome = match self.verify_and_parse(signatures, body, &mut key) {
            Err(refused) => refused,
            Ok((event, secret_index)) => {
                let name = EventName::of(&event);
                // The synchronous steps are plain calls and the handler is awaited here, not in
                // a nested `async fn`: each future layer would hold (and copy) the event again.
                match self.admit(&event, &name, body, secret_index, &mut key) {
                    Admitted::Refused(outcome) => outcome,
                    #[cfg(feature = "queue")]
                    Admitted::Enqueue(engine) => {
                        self.enqueue(engine, &event, name, body, secret_index).await
                    }
                    #[cfg(not(feature = "queue"))]
                    Admitted::Never(never, _) => match never {},
                    Admitted::Run(admitted) => {
                        let ran_at = meter::start();
                        let dispatch = std::pin::pin!(self.inner.table.dispatch(event));
                        let dispatched = match observe::delivery_span(&name, started) {
                            Some(span) => dispatch.instrument(span).await,
                            None => dispatch.await,
                        };
                        meter::handler_ran(
                            &name,
                            ran_at,
                            !matches!(dispatched, Dispatched::Failed(_)),
                        );
                        self.ran(name, dispatched, admitted, body, secret_index, &mut key)
                    }
                }
            }
        };
        observe::ended(&outcome, key.as_deref(), started);
        outcome
    }

    /// The event in a verified body, and the matching secret's index; or why not. `failed_key`
    /// is set for a verified body that does not parse (for the log line).
    #[inline]
    fn verify_and_parse<I>(
        &self,
        signatures: I,
        body: &[u8],
        failed_key: &mut Option<String>,
    ) -> Result<(Event, usize), Outcome>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let verified = self
            .inner
            .secrets
            .verify(signatures, body)
            .map_err(Outcome::BadSignature)?;
        let secret_index = verified.secret_index();
        match Event::parse(&verified) {
            Ok(event) => Ok((event, secret_index)),
            Err(error) => {
                *failed_key = Some(key_from(None, body));
                Err(Outcome::Malformed {
                    error,
                    secret_index,
                })
            }
        }
    }

    /// What to do with a verified, parsed delivery: refuse it (too old), acknowledge it as a
    /// duplicate, store it (queued modes) or run its handler now. `failed_key` is set to its
    /// idempotency key when it is refused (for the log line).
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
        let dedupe = match &self.inner.mode {
            Mode::Inline { dedupe } => dedupe.as_ref(),
            #[cfg(feature = "queue")]
            Mode::Queue(engine) => return Admitted::Enqueue(engine),
        };
        let fingerprint = dedupe.map(|dedupe| (dedupe, fingerprint(event, body)));
        if let Some((dedupe, fingerprint)) = fingerprint
            && !dedupe.first_time(fingerprint)
        {
            Counters::bump(&self.inner.counters.deduplicated);
            return Admitted::Refused(Outcome::Duplicate {
                event: name.clone(),
                secret_index,
            });
        }
        // The visible key (SHA-256) is computed only for the hook that shows it; a failure's
        // log line reads it later.
        let key = self
            .inner
            .on_handled
            .as_ref()
            .map(|_| idempotency_key(event, body));
        Admitted::Run(Run {
            fingerprint: fingerprint.map(|(_, fingerprint)| fingerprint),
            key,
        })
    }

    /// The outcome of a handler's run, with what follows it: the `on_handled` hook after a
    /// success; after a failure, the key for the log line and the delivery forgotten by the
    /// deduplication index (Roamify retries a failed delivery: it must run again).
    fn ran(
        &self,
        name: EventName,
        dispatched: Dispatched,
        run: Run,
        body: &[u8],
        secret_index: usize,
        failed_key: &mut Option<String>,
    ) -> Outcome {
        let outcome = self.outcome(name, dispatched, secret_index);
        match &outcome {
            Outcome::Handled { event, handler, .. } => {
                if let (Some(hook), Some(key)) = (&self.inner.on_handled, &run.key) {
                    hook(&Handled {
                        key,
                        event,
                        handler,
                    });
                }
            }
            Outcome::HandlerFailed { .. } => {
                // The event moved into its handler; a failure is rare enough to read the key
                // (a refund's `event_id`) again rather than copy it on every delivery.
                *failed_key = Some(run.key.unwrap_or_else(|| match crate::parse::parse(body) {
                    Ok(event) => idempotency_key(&event, body),
                    Err(_) => key_from(None, body),
                }));
                if let (
                    Mode::Inline {
                        dedupe: Some(dedupe),
                    },
                    Some(fingerprint),
                ) = (&self.inner.mode, run.fingerprint)
                {
                    dedupe.forget(fingerprint);
                }
            }
            _ => {}
        }
        outcome
    }

    fn too_old(&self, event: &Event) -> Option<Duration> {
        let max_age = self.inner.max_age?;
        let sent = event.timestamp()?;
        let age = u64::try_from(
            crate::UnixTime::now()
                .as_secs()
                .saturating_sub(sent.as_secs()),
        )
        .unwrap_or(0);
        let age = Duration::from_secs(age);
        (age > max_age).then_some(age)
    }

    #[cfg(feature = "queue")]
    async fn enqueue(
        &self,
        engine: &Engine,
        event: &Event,
        name: EventName,
        body: &[u8],
        secret_index: usize,
    ) -> Outcome {
        use crate::delivery::Accepted;
        let key = idempotency_key(event, body);
        match engine.accept(key.clone(), body).await {
            Accepted::Stored => {
                Counters::bump(&self.inner.counters.queued);
                Outcome::Queued {
                    event: name,
                    key,
                    secret_index,
                }
            }
            Accepted::Duplicate => {
                Counters::bump(&self.inner.counters.deduplicated);
                Outcome::Duplicate {
                    event: name,
                    secret_index,
                }
            }
            Accepted::Full => {
                Counters::bump(&self.inner.counters.refused_full);
                Outcome::Unavailable {
                    reason: Unavailable::QueueFull,
                }
            }
            Accepted::Unavailable(error) => {
                Counters::bump(&self.inner.counters.refused_unavailable);
                Outcome::Unavailable {
                    reason: Unavailable::Store(error),
                }
            }
            Accepted::ShuttingDown => {
                Counters::bump(&self.inner.counters.refused_shutting_down);
                Outcome::ShuttingDown
            }
            Accepted::WorkerOnly => Outcome::Unavailable {
                reason: Unavailable::WorkerOnly,
            },
        }
    }

    /// Runs the handler of an already verified and parsed event, now.
    pub async fn dispatch(&self, event: Event, secret_index: usize) -> Outcome {
        let name = EventName::of(&event);
        let dispatched = self.inner.table.dispatch(event).await;
        self.outcome(name, dispatched, secret_index)
    }

    fn outcome(&self, name: EventName, dispatched: Dispatched, secret_index: usize) -> Outcome {
        match dispatched {
            Dispatched::Handled { handler } => {
                Counters::bump(&self.inner.counters.handled);
                Outcome::Handled {
                    event: name,
                    handler,
                    secret_index,
                }
            }
            Dispatched::NoHandler => Outcome::Acknowledged {
                event: name,
                secret_index,
            },
            Dispatched::Invalid(error) => Outcome::Malformed {
                error,
                secret_index,
            },
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

/// A delivery admitted to run inline: its deduplication fingerprint (when deduplicating) and
/// visible key (when the `on_handled` hook shows it).
struct Run {
    fingerprint: Option<u128>,
    key: Option<String>,
}
