//! One delivery's run, whoever asks for it: the inline path answering a request, or a worker
//! running a stored job. Everything that surrounds a handler is here, once: the span it runs in,
//! running it in place or awaiting it (within a timeout, in the workers), the duration metric,
//! the `handled` counter, the `on_handled` hook, and the log record of how the run ended.
//!
//! A run is three steps so that the inline path can run a synchronous handler with no future
//! around it: [`Runner::begin`] (span, then the handler in place when it is synchronous),
//! awaiting what is left ([`Runner::awaited`] inline; boxed and within the timeout in
//! [`Runner::run`]), and [`Runner::finish`]. The workers call [`Runner::run`], which also parses
//! a stored body when no parsed event came with it; the inline path calls the three steps
//! itself. Both leave the same records: the message, level and fields of a run's record depend
//! on how it ended, not on who ran it, except for what only one side knows (`secret` and
//! `latency_us` for a request; `attempt` for a job; `key` where it is known).

use std::sync::Arc;
#[cfg(feature = "queue")]
use std::time::Duration;
use std::time::Instant;

use tracing::field::{DisplayValue, display};
use tracing::{Instrument as _, Span};

use crate::catalog::{Event, EventName, ParseError};
use crate::dispatch::{Dispatch, Dispatched, HandlerError};
use crate::stats::Counters;
use crate::{logs, meter};

/// A delivery whose handler succeeded, as seen by
/// [`ReceiverBuilder::on_handled`](crate::receiver::ReceiverBuilder::on_handled): inline, when
/// its request is answered; in a queued mode, when a worker's run succeeds.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled<'a> {
    /// The delivery's idempotency key
    /// ([`idempotency_key`](crate::delivery::idempotency_key)).
    pub key: &'a str,
    /// The event.
    pub event: &'a EventName,
    /// The handler that ran.
    pub handler: &'static str,
}

/// The hook of [`ReceiverBuilder::on_handled`](crate::receiver::ReceiverBuilder::on_handled).
pub(crate) type OnHandled = Arc<dyn Fn(&Handled<'_>) + Send + Sync>;

/// Runs handlers from a bound table, with what surrounds every run. Cheap to clone.
pub(crate) struct Runner<D> {
    pub(crate) table: Arc<D>,
    pub(crate) counters: Arc<Counters>,
    on_handled: Option<OnHandled>,
}

impl<D> Clone for Runner<D> {
    fn clone(&self) -> Self {
        Self {
            table: Arc::clone(&self.table),
            counters: Arc::clone(&self.counters),
            on_handled: self.on_handled.clone(),
        }
    }
}

/// A request answered after its run (inline mode): what its records carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    /// The index of the secret that matched.
    pub(crate) secret_index: usize,
    /// When the request arrived; `None` when nothing records INFO.
    pub(crate) started: Option<Instant>,
}

/// Who asked for a run: what its record carries besides the event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// A request, answered after the run.
    Request(Request),
    /// A stored job run by a worker: its attempt, counting from 1.
    #[cfg(feature = "queue")]
    Job { attempt: u32 },
}

/// A run under way: the handler's result when it ran in place, or the event to await it with.
pub(crate) struct Begun {
    pub(crate) now: Result<Dispatched, Event>,
    pub(crate) span: Option<Span>,
    pub(crate) ran_at: meter::Started,
}

/// How a run ended, as [`Runner::run`] reports it to a worker. Errors keep their types until
/// the worker stores them.
#[cfg(feature = "queue")]
#[derive(Debug)]
pub(crate) enum Ran {
    /// A handler ran and succeeded.
    Handled,
    /// No handler takes this event: acknowledged, nothing ran.
    NoHandler,
    /// The stored body or its payload does not fit: retrying cannot help.
    Invalid(ParseError),
    /// The handler failed or panicked.
    Failed(HandlerError),
    /// The handler was still running after this long (workers only).
    TimedOut(Duration),
}

/// A run's end, borrowed for its record.
#[derive(Clone, Copy)]
enum End<'a> {
    Handled(&'static str),
    NoHandler,
    Invalid(&'a ParseError),
    Failed(&'a HandlerError),
    #[cfg(feature = "queue")]
    TimedOut(Duration),
}

impl<'a> From<&'a Dispatched> for End<'a> {
    fn from(dispatched: &'a Dispatched) -> Self {
        match dispatched {
            Dispatched::Handled { handler } => Self::Handled(handler),
            Dispatched::NoHandler => Self::NoHandler,
            Dispatched::Invalid(error) => Self::Invalid(error),
            Dispatched::Failed(error) => Self::Failed(error),
        }
    }
}

impl<D: Dispatch> Runner<D> {
    pub(crate) fn new(
        table: Arc<D>,
        counters: Arc<Counters>,
        on_handled: Option<OnHandled>,
    ) -> Self {
        Self {
            table,
            counters,
            on_handled,
        }
    }

    /// Whether the `on_handled` hook is set (the inline path computes a delivery's key only
    /// for it).
    pub(crate) fn shows_keys(&self) -> bool {
        self.on_handled.is_some()
    }

    /// Starts a run: the span (when INFO is recorded), then the handler in place when it is
    /// synchronous. `key` is the delivery's key when known (its span and record carry it).
    #[inline]
    pub(crate) fn begin(
        &self,
        event: Event,
        name: &EventName,
        key: Option<&str>,
        origin: Origin,
    ) -> Begun {
        let span = span(name, key, origin);
        let ran_at = meter::start();
        let now = {
            let _entered = span.as_ref().map(Span::enter);
            self.table.dispatch_now(event)
        };
        Begun { now, span, ran_at }
    }

    /// Awaits a handler that did not run in place, in its span, unboxed (the inline path: the
    /// request's future holds it).
    pub(crate) async fn awaited(&self, event: Event, span: Option<Span>) -> Dispatched {
        let dispatch = std::pin::pin!(self.table.dispatch(event));
        match span {
            Some(span) => dispatch.instrument(span).await,
            None => dispatch.await,
        }
    }

    /// Ends a run: the handler's duration, the `handled` counter and the `on_handled` hook after
    /// a success, and the run's log record.
    #[inline]
    pub(crate) fn finish(
        &self,
        name: &EventName,
        dispatched: &Dispatched,
        ran_at: meter::Started,
        key: Option<&str>,
        origin: Origin,
    ) {
        self.ended(name, End::from(dispatched), ran_at, key, origin);
    }

    fn ended(
        &self,
        name: &EventName,
        end: End<'_>,
        ran_at: meter::Started,
        key: Option<&str>,
        origin: Origin,
    ) {
        match end {
            End::Handled(handler) => {
                meter::handler_ran(name, ran_at, true);
                Counters::bump(&self.counters.handled);
                if let (Some(hook), Some(key)) = (&self.on_handled, key) {
                    hook(&Handled {
                        key,
                        event: name,
                        handler,
                    });
                }
            }
            End::Failed(_) => meter::handler_ran(name, ran_at, false),
            #[cfg(feature = "queue")]
            End::TimedOut(_) => meter::handler_ran(name, ran_at, false),
            End::NoHandler | End::Invalid(_) => {}
        }
        record(Some(name), end, key, origin);
    }

    /// A worker's whole run of a stored job: parses `body` when no parsed `event` came with it,
    /// then [`begin`](Self::begin), the rest awaited within `timeout` (boxed: only the chosen
    /// handler's future, see [`Dispatch::dispatch_boxed`]), and [`finish`](Self::finish). Gives
    /// the event's name (`None` when the body is not an event) with how the run ended, for the
    /// lines the worker logs once the outcome is recorded.
    #[cfg(feature = "queue")]
    pub(crate) async fn run(
        &self,
        event: Option<Event>,
        body: &[u8],
        key: &str,
        attempt: u32,
        timeout: Duration,
    ) -> (Option<EventName>, Ran) {
        let origin = Origin::Job { attempt };
        let event = match event.map_or_else(|| crate::parse::parse(body), Ok) {
            Ok(event) => event,
            Err(error) => {
                record(None, End::Invalid(&error), Some(key), origin);
                return (None, Ran::Invalid(error));
            }
        };
        let name = EventName::of(&event);
        let Begun { now, span, ran_at } = self.begin(event, &name, Some(key), origin);
        let dispatched = match now {
            Ok(dispatched) => dispatched,
            Err(event) => {
                let dispatch = self.table.dispatch_boxed(event);
                let awaited = match span {
                    Some(span) => ready_or_within(timeout, dispatch.instrument(span)).await,
                    None => ready_or_within(timeout, dispatch).await,
                };
                match awaited {
                    Ok(dispatched) => dispatched,
                    Err(_) => {
                        self.ended(&name, End::TimedOut(timeout), ran_at, Some(key), origin);
                        return (Some(name), Ran::TimedOut(timeout));
                    }
                }
            }
        };
        self.finish(&name, &dispatched, ran_at, Some(key), origin);
        let ran = match dispatched {
            Dispatched::Handled { .. } => Ran::Handled,
            Dispatched::NoHandler => Ran::NoHandler,
            Dispatched::Invalid(error) => Ran::Invalid(error),
            Dispatched::Failed(error) => Ran::Failed(error),
        };
        (Some(name), ran)
    }
}

/// The span a handler runs in, named from the start: created with its fields (formatted once),
/// never recorded into afterwards. `None` when nothing would see it: no `tracing` subscriber
/// and no `log` logger enabled at INFO (creating, entering and leaving a span that only the
/// `log` fallback could record costs as much as routing the event).
fn span(name: &EventName, key: Option<&str>, origin: Origin) -> Option<Span> {
    let attempt = match origin {
        // The request path read the clock only if INFO is seen (see `logs::started`).
        Origin::Request(Request { started, .. }) => {
            started?;
            None::<u32>
        }
        #[cfg(feature = "queue")]
        Origin::Job { attempt } => {
            if !logs::info_seen() {
                return None;
            }
            Some(attempt)
        }
    };
    Some(tracing::info_span!(
        "roamify_delivery",
        category = %name.category(),
        kind = %name.kind(),
        key = key.map(display),
        attempt,
    ))
}

/// Logs how a run ended, once, every field on the record itself: INFO when handled or without
/// a handler, WARN when the payload does not fit, ERROR when the handler failed or timed out.
/// `name` is `None` for a stored body that is not an event.
fn record(name: Option<&EventName>, end: End<'_>, key: Option<&str>, origin: Origin) {
    let (secret, latency_us, attempt) = match origin {
        Origin::Request(Request {
            secret_index,
            started,
        }) => {
            if started.is_none() && matches!(end, End::Handled(_) | End::NoHandler) {
                // Logged at INFO, which nothing records.
                return;
            }
            let latency = started
                .map(|started| u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            (Some(secret_index), latency, None::<u32>)
        }
        #[cfg(feature = "queue")]
        Origin::Job { attempt } => (None, None, Some(attempt)),
    };
    let (category, kind) = name.map_or(("", ""), |name| (name.category(), name.kind()));
    let key: Option<DisplayValue<&str>> = key.map(display);
    match end {
        End::Handled(handler) => {
            tracing::info!(target: logs::TARGET, %category, %kind, handler, key, secret, latency_us, attempt, "delivery handled");
        }
        End::NoHandler => {
            tracing::info!(target: logs::TARGET, %category, %kind, key, secret, latency_us, attempt, "acknowledged, no handler");
        }
        End::Invalid(error) => {
            tracing::warn!(target: logs::TARGET, %category, %kind, key, secret, attempt, cause = %error, "malformed event: the payload does not fit its handler");
        }
        End::Failed(error) => {
            tracing::error!(target: logs::TARGET, %category, %kind, key, secret, attempt, handler = error.handler(), cause = %error.report(), "handler failed");
        }
        #[cfg(feature = "queue")]
        End::TimedOut(after) => {
            tracing::error!(target: logs::TARGET, %category, %kind, key, attempt, timeout = ?after, "handler failed: timed out");
        }
    }
}

/// `future`'s output, or `Err` when it is still pending after `limit`. The timer is armed only
/// if the first poll does not finish it: most handlers (synchronous ones, and asynchronous ones
/// that do not wait) finish there, and skip registering and cancelling a timer.
#[cfg(feature = "queue")]
async fn ready_or_within<F: std::future::Future>(
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut future = std::pin::pin!(future);
    // Always ready at once: `Some` with the output, or `None` when the future is pending (its
    // waker is this task's, and the timeout below polls it again).
    let ready = std::future::poll_fn(|context| match future.as_mut().poll(context) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await;
    match ready {
        Some(output) => Ok(output),
        None => tokio::time::timeout(limit, future).await,
    }
}
