//! Handlers, dispatch tables and application state.
//!
//! `#[on_event]` implements [`Handler`] for each annotated function, and `handlers![…]` builds a
//! table implementing [`Handlers`] (then, once bound to the application's state, [`Dispatch`])
//! whose `dispatch` is one `match` on the event's kind. Its `dispatch_now` is the same `match` for
//! synchronous handlers, which the receiver then calls in place, with no future around them; its
//! `dispatch_boxed` is the same `match` again, boxing only the chosen handler's future, which a
//! queued mode's worker awaits. Both traits are ordinary and documented: a table can be written
//! by hand (see [`Dispatch`]).

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::catalog::Event;
use crate::parse::ParseError;

/// A boxed error, what handlers' errors are converted into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A handler's run as a boxed future: what [`Dispatch::dispatch_boxed`] returns.
pub type BoxDispatch<'a> = Pin<Box<dyn Future<Output = Dispatched> + Send + 'a>>;

/// A handler function, as `#[on_event]` registers it.
///
/// Implemented by a hidden item beside each annotated function (the function itself stays an
/// ordinary function). Sealed: only `#[on_event]` implements it, so its meaning (a function,
/// its event, its payload) cannot drift from what the attribute checked. To route events in a
/// way `#[on_event]` cannot express, write a [`Dispatch`] table by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Roamify handler",
    label = "not registered with `#[on_event]`",
    note = "annotate the function with `#[on_event(category = \"…\", kind = \"…\")]`"
)]
pub trait Handler: sealed::Registration + 'static {
    /// The function's name, for logs and errors.
    const NAME: &'static str;
    /// The `event_category` it handles.
    const CATEGORY: &'static str;
    /// The `event_type` it handles (canonical spelling).
    const KIND: &'static str;
    /// What the generated `match` switches on: `EventKind as u16` for catalog kinds, one
    /// never-matching key for handlers found by name (uncatalogued events, fallbacks).
    const ROUTE_KEY: u16;
    /// Whether this is a fallback handler (`#[on_event(fallback)]`), listed as `fallback = …`.
    const FALLBACK: bool = false;
    /// The function's body as a plain call when the function is synchronous (`None` for an
    /// `async fn`): a table calls it in place, with no future around it.
    #[allow(clippy::type_complexity)]
    const CALL_NOW: Option<fn(Self::Payload, Self::State) -> Result<(), BoxError>> = None;
    /// The payload the function takes.
    type Payload: Send + 'static;
    /// The state the function takes (`()` for none).
    type State: StateArg;

    /// Takes this handler's payload out of `event`.
    ///
    /// # Errors
    /// [`Taken::NotMine`] gives the event back when it is not this handler's;
    /// [`Taken::Invalid`] when it is, but its fields do not fit the payload type.
    #[allow(clippy::result_large_err)] // See `Taken`.
    fn take(event: Event) -> Result<Self::Payload, Taken>;

    /// Runs the function.
    fn call(
        payload: Self::Payload,
        state: Self::State,
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'static;
}

/// Why [`Handler::take`] gave no payload.
///
/// Events are handed back by value rather than boxed: boxing would cost an allocation per
/// delivery on the hot path.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Taken {
    /// The event is not this handler's.
    NotMine(Event),
    /// The event is this handler's, but its fields do not fit the payload type.
    Invalid(ParseError),
}

pub(crate) mod sealed {
    /// The seal of [`Handler`](super::Handler): implemented beside each `#[on_event]` function.
    pub trait Registration {
        /// `false` only for the stand-ins `handlers![…]` finds for a plain function.
        const REGISTERED: bool = true;
    }
}

/// A fallback handler (`#[on_event(fallback)]`): takes [`UnknownEvent`](crate::UnknownEvent)
/// to receive the unknown events no handler takes, or [`Event`] to receive every event no
/// handler takes, known or unknown.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a fallback handler",
    label = "not annotated `#[on_event(fallback)]`",
    note = "a fallback handler is a function `fn(UnknownEvent [, State<T>])` or `fn(Event [, State<T>])` annotated `#[on_event(fallback)]`"
)]
pub trait FallbackHandler: Handler {}

/// A table of handlers before it is bound to application state: what `handlers![…]` returns.
pub trait Handlers: Send + 'static {
    /// The table once bound.
    type Bound: Dispatch;
    /// Resolves every handler's state from `states`, once, when the receiver is built.
    ///
    /// # Errors
    /// [`MissingState`] when a handler needs state that was not registered.
    fn bind(self, states: &States) -> Result<Self::Bound, MissingState>;
}

/// A bound dispatch table: routes one event to its handler.
///
/// ```
/// use roamify_hooks::{Dispatch, Dispatched, Event, Handlers, MissingState, States};
///
/// /// A hand-written table that counts partner events and acknowledges the rest.
/// struct Counter(std::sync::atomic::AtomicUsize);
///
/// impl Dispatch for Counter {
///     async fn dispatch(&self, event: Event) -> Dispatched {
///         match event {
///             Event::PartnerLowBalance(_) | Event::PartnerTopUp(_) => {
///                 self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///                 Dispatched::Handled { handler: "counter" }
///             }
///             _ => Dispatched::NoHandler,
///         }
///     }
/// }
///
/// impl Handlers for Counter {
///     type Bound = Self;
///     fn bind(self, _: &States) -> Result<Self, MissingState> {
///         Ok(self)
///     }
/// }
/// ```
pub trait Dispatch: Send + Sync + 'static {
    /// Routes `event` to its handler and runs it.
    fn dispatch(&self, event: Event) -> impl Future<Output = Dispatched> + Send + '_;

    /// Routes `event` and runs its handler now, when that needs no awaiting (a synchronous
    /// handler, or no handler at all); gives the event back otherwise, and the receiver then
    /// awaits [`dispatch`](Self::dispatch). Whatever this returns must be what `dispatch` would
    /// have given. The default gives every event back.
    ///
    /// # Errors
    /// The event, untouched, when its handler must be awaited.
    #[allow(clippy::result_large_err)] // The event is handed back by value, as in `Taken`.
    fn dispatch_now(&self, event: Event) -> Result<Dispatched, Event> {
        Err(event)
    }

    /// Routes `event` and returns its handler's run as a boxed future, which can be moved
    /// (into a task, say) without copying it: what the queued and durable modes' workers await
    /// when [`dispatch_now`](Self::dispatch_now) gave the event back. Whatever it resolves to
    /// must be what [`dispatch`](Self::dispatch) would have given.
    ///
    /// The default boxes `dispatch`'s future, which is as large as the table's largest handler's
    /// future. A table made by `handlers![…]` boxes only the future of the handler the event goes
    /// to: a small handler's run takes a small allocation, however large the table's other
    /// handlers' futures are.
    fn dispatch_boxed(&self, event: Event) -> BoxDispatch<'_> {
        Box::pin(self.dispatch(event))
    }
}

/// What [`Dispatch::dispatch`] did with one event.
#[derive(Debug)]
#[non_exhaustive]
pub enum Dispatched {
    /// A handler ran and succeeded.
    Handled {
        /// The handler's name.
        handler: &'static str,
    },
    /// No handler is registered for this event (and, for unknown events, no fallback).
    NoHandler,
    /// The handler of an uncatalogued event could not read its payload.
    Invalid(ParseError),
    /// The handler returned an error or panicked.
    Failed(HandlerError),
}

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The handler returned an error.
    #[error("handler `{handler}` failed")]
    Failed {
        /// The handler's name.
        handler: &'static str,
        /// Its error.
        #[source]
        source: BoxError,
    },
    /// The handler panicked.
    #[error("handler `{handler}` panicked: {message}")]
    Panicked {
        /// The handler's name.
        handler: &'static str,
        /// The panic's message, when it was a string.
        message: String,
    },
}

impl HandlerError {
    /// The error and its whole cause chain on one line: `handler `x` failed: cause: cause`.
    #[must_use]
    pub fn report(&self) -> String {
        crate::report(self)
    }

    /// The failing handler's name.
    #[must_use]
    pub fn handler(&self) -> &'static str {
        match self {
            Self::Failed { handler, .. } | Self::Panicked { handler, .. } => handler,
        }
    }
}

/// What a handler function may return: `()` or `Result<(), E>` with `E` convertible into a
/// [`BoxError`] (any `std::error::Error + Send + Sync + 'static`, `anyhow::Error`, `String`, …).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a Roamify handler",
    label = "handlers return `()` or `Result<(), E>`",
    note = "`E` must convert into `Box<dyn std::error::Error + Send + Sync>`"
)]
pub trait IntoHandlerResult {
    /// Converts the return value.
    ///
    /// # Errors
    /// The handler's error, boxed.
    fn into_handler_result(self) -> Result<(), BoxError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Shared application state handed to handlers that take a second argument `State<T>`.
///
/// Register a value with [`ReceiverBuilder::state`](crate::ReceiverBuilder::state); it is
/// resolved once, when the receiver is built, and each call gets a cheap clone (an `Arc`).
/// Dereferences to `T`; build one with [`State::new`] to call a handler directly.
pub struct State<T: ?Sized>(Arc<T>);

impl<T> State<T> {
    /// Wraps `value`, e.g. to call a handler directly in a test.
    pub fn new(value: T) -> Self {
        Self(Arc::new(value))
    }
}

impl<T: ?Sized> State<T> {
    /// Wraps a value that is already shared.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self(value)
    }

    /// The shared value.
    #[must_use]
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> std::ops::Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// What a handler's state argument may be: `()` (no state) or [`State<T>`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a Roamify handler's state argument",
    label = "the second argument must be `State<T>`",
    note = "handlers take `(payload)` or `(payload, roamify_hooks::State<T>)`"
)]
pub trait StateArg: Clone + Send + Sync + 'static {
    /// Finds the state among the registered ones.
    ///
    /// # Errors
    /// [`MissingState`] when it was not registered.
    fn resolve(states: &States, handler: &'static str) -> Result<Self, MissingState>;
}

impl StateArg for () {
    fn resolve(_: &States, _: &'static str) -> Result<Self, MissingState> {
        Ok(())
    }
}

impl<T: Send + Sync + 'static> StateArg for State<T> {
    fn resolve(states: &States, handler: &'static str) -> Result<Self, MissingState> {
        states
            .map
            .get(&TypeId::of::<T>())
            .and_then(|any| Arc::clone(any).downcast::<T>().ok())
            .map(State)
            .ok_or(MissingState {
                handler,
                type_name: type_name::<T>(),
            })
    }
}

/// The application states registered on a receiver, one per type.
#[derive(Default, Clone)]
pub struct States {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl States {
    /// Registers `value` (replacing an earlier value of the same type).
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.insert_arc(Arc::new(value));
    }

    /// Registers a value that is already shared.
    pub fn insert_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.map.insert(TypeId::of::<T>(), value);
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "States({} registered)", self.map.len())
    }
}

/// A handler needs state that was never registered.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "handler `{handler}` takes `State<{type_name}>`, but no `{type_name}` was registered (call `.state(…)` on the receiver builder)"
)]
pub struct MissingState {
    /// The handler.
    pub handler: &'static str,
    /// The state type it needs.
    pub type_name: &'static str,
}

crate::debug_as_report!(MissingState);
