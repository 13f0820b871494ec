//! What `#[on_event]` implements for each handler function, and the traits its checks rely on.
//! Not public API: generated code reaches these through `__private`.

use std::any::{TypeId, type_name};
use std::future::Future;
use std::sync::Arc;

use super::{BoxError, MissingState, State, States};
use crate::catalog::{Event, ParseError};

/// A handler function, as `#[on_event]` registers it.
///
/// Implemented by a hidden item beside each annotated function (the function itself stays an
/// ordinary function). Sealed: only `#[on_event]` implements it, so its meaning (a function,
/// its event, its payload) cannot drift from what the attribute checked. To route events in a
/// way `#[on_event]` cannot express, write a [`Dispatch`](super::Dispatch) table by hand.
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
    /// The ordering it asked for with `#[on_event(…, ordering = "…")]` (`None`: the receiver's).
    const ORDERING: Option<crate::ordering::Ordering> = None;
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
