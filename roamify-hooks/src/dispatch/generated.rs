//! The functions `#[on_event]` and `handlers![…]` expansions call: taking an event's payload for
//! a handler, calling it under `catch_unwind`, and the compile-time checks of a table. Not
//! public API: generated code reaches them through `__private`.
// Events are handed back by value, not boxed (see `Taken`).
#![allow(clippy::result_large_err)]

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;

use super::handler::sealed::Registration;
use super::handler::{FallbackHandler, Handler, Taken};
use super::{BoxDispatch, BoxError, Dispatched, HandlerError};
use crate::catalog::{BY_NAME, Event, ParseError};
use crate::events::UnknownEvent;

/// The key the generated `match` switches on.
#[inline]
#[must_use]
pub fn route_key(event: &Event) -> u16 {
    event.route_key()
}

/// Runs `H` on `event` when it is `H`'s (handlers found by name, and the fallback).
///
/// # Errors
/// Gives the event back when it is not `H`'s.
pub async fn run<H: Handler>(event: Event, state: &H::State) -> Result<Dispatched, Event> {
    match H::take(event) {
        Ok(payload) => Ok(called::<H>(call::<H>(payload, state.clone()).await)),
        Err(Taken::NotMine(event)) => Err(event),
        Err(Taken::Invalid(error)) => Ok(Dispatched::Invalid(error)),
    }
}

/// [`run`], boxed on its own: `H`'s run when the event is `H`'s (`dispatch_boxed`'s handlers
/// found by name, and its fallback).
///
/// # Errors
/// Gives the event back when it is not `H`'s.
pub fn run_boxed<H: Handler>(
    event: Event,
    state: &H::State,
) -> Result<BoxDispatch<'static>, Event> {
    match H::take(event) {
        Ok(payload) => Ok(call_boxed::<H>(payload, state.clone())),
        Err(Taken::NotMine(event)) => Err(event),
        Err(Taken::Invalid(error)) => Ok(done(Dispatched::Invalid(error))),
    }
}

/// Takes `H`'s payload out of an event routed to it (a generated `match` arm).
///
/// # Errors
/// The outcome to report when the event does not fit.
#[inline]
pub fn take<H: Handler>(event: Event) -> Result<H::Payload, Dispatched> {
    match H::take(event) {
        Ok(payload) => Ok(payload),
        Err(Taken::NotMine(_)) => Err(Dispatched::NoHandler),
        Err(Taken::Invalid(error)) => Err(Dispatched::Invalid(error)),
    }
}

/// Calls `H` under `catch_unwind`; [`called`] turns what it gives into a [`Dispatched`]. The
/// arm awaits this and calls [`called`] itself: the handler's own future is wrapped in place,
/// with no `async` block or mapping layer around it (each would copy the payload once more).
#[inline]
pub fn call<H: Handler>(
    payload: H::Payload,
    state: H::State,
) -> impl Future<Output = std::thread::Result<Result<(), BoxError>>> + Send + 'static {
    AssertUnwindSafe(H::call(payload, state)).catch_unwind()
}

/// [`call`] then [`called`], boxed: a `dispatch_boxed` arm, whose box is the size of `H`'s own
/// future.
#[inline]
pub fn call_boxed<H: Handler>(payload: H::Payload, state: H::State) -> BoxDispatch<'static> {
    Box::pin(call::<H>(payload, state).map(called::<H>))
}

/// An outcome known without running a handler, as `dispatch_boxed`'s future: an event that did
/// not fit its handler, or that no handler took.
#[inline]
pub fn done(outcome: Dispatched) -> BoxDispatch<'static> {
    Box::pin(core::future::ready(outcome))
}

/// Calls `H`'s synchronous body (its [`Handler::CALL_NOW`]) under `catch_unwind`.
#[inline(always)]
pub fn call_now<H: Handler>(
    call: fn(H::Payload, H::State) -> Result<(), BoxError>,
    payload: H::Payload,
    state: H::State,
) -> Dispatched {
    called::<H>(std::panic::catch_unwind(AssertUnwindSafe(move || {
        call(payload, state)
    })))
}

/// What a call of `H` did, an error or a panic becoming [`Dispatched::Failed`].
#[inline]
pub fn called<H: Handler>(result: std::thread::Result<Result<(), BoxError>>) -> Dispatched {
    match result {
        Ok(Ok(())) => Dispatched::Handled { handler: H::NAME },
        Ok(Err(source)) => Dispatched::Failed(HandlerError::Failed {
            handler: H::NAME,
            source,
        }),
        Err(panic) => Dispatched::Failed(HandlerError::Panicked {
            handler: H::NAME,
            message: panic_message(&*panic),
        }),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-string panic payload)".to_owned()
    }
}

/// Takes the payload of an uncatalogued `category`/`kind` event, read into `T`.
///
/// # Errors
/// [`Taken::NotMine`] for other events; [`Taken::Invalid`] when the fields do not fit `T`.
pub fn take_uncatalogued<T: DeserializeOwned>(
    event: Event,
    category: &str,
    kind: &str,
) -> Result<T, Taken> {
    match event {
        Event::Unknown(unknown) if unknown.is(category, kind) => {
            unknown.payload::<T>().map_err(|e| {
                Taken::Invalid(ParseError::InvalidUncatalogued {
                    category: category.to_owned(),
                    kind: kind.to_owned(),
                    message: e.to_string(),
                })
            })
        }
        other => Err(Taken::NotMine(other)),
    }
}

/// Takes an event no handler took for a fallback handler whose argument is `P`.
///
/// # Errors
/// [`Taken::NotMine`] when `P` does not take this event (a known event, for `UnknownEvent`).
pub fn take_unhandled<P: FallbackPayload>(event: Event) -> Result<P, Taken> {
    P::from_unhandled(event).map_err(Taken::NotMine)
}

/// Whether two handlers handle the same event (for the duplicate check of `handlers![…]`).
#[must_use]
pub const fn same_route<A: Handler, B: Handler>() -> bool {
    if A::ROUTE_KEY != B::ROUTE_KEY {
        return false;
    }
    A::ROUTE_KEY != BY_NAME || (str_eq(A::CATEGORY, B::CATEGORY) && str_eq(A::KIND, B::KIND))
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks, at compile time, that a function is a fallback handler.
pub const fn assert_fallback<H: FallbackHandler>() {}

/// What a fallback handler's argument may be: [`UnknownEvent`] (unknown events only) or
/// [`Event`] (every event no handler takes).
#[diagnostic::on_unimplemented(
    message = "a fallback handler takes `UnknownEvent` or `Event`, not `{Self}`",
    label = "expected `roamify_hooks::UnknownEvent` or `roamify_hooks::Event`",
    note = "write `#[on_event(fallback)] fn unknown(event: UnknownEvent)` for unknown events, or `fn unhandled(event: Event)` for every event without a handler"
)]
pub trait FallbackPayload: Sized {
    /// Converts an event no handler took.
    ///
    /// # Errors
    /// Gives the event back when this argument type does not take it.
    fn from_unhandled(event: Event) -> Result<Self, Event>;
}

impl FallbackPayload for UnknownEvent {
    fn from_unhandled(event: Event) -> Result<Self, Event> {
        match event {
            Event::Unknown(unknown) => Ok(unknown),
            known => Err(known),
        }
    }
}

impl FallbackPayload for Event {
    fn from_unhandled(event: Event) -> Result<Self, Event> {
        Ok(event)
    }
}

/// Stand-ins for `handlers![…]` entries that name a plain function: a glob import of this module
/// gives each entry's alias a type when the function has no registration, so the table reports
/// "add `#[on_event]`" rather than "expected type, found function".
pub mod unregistered {
    macro_rules! stand_ins {
        ($($name:ident)*) => {$(
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            pub enum $name {}
            impl super::Registration for $name {
                const REGISTERED: bool = false;
            }
            impl super::Handler for $name {
                const NAME: &'static str = "";
                const CATEGORY: &'static str = "";
                const KIND: &'static str = stringify!($name);
                const ROUTE_KEY: u16 = super::BY_NAME;
                type Payload = ();
                type State = ();
                fn take(event: super::Event) -> Result<(), super::Taken> {
                    Err(super::Taken::NotMine(event))
                }
                fn call(
                    _: (),
                    _: (),
                ) -> impl Future<Output = Result<(), super::BoxError>> + Send + 'static {
                    async { Ok(()) }
                }
            }
        )*};
    }
    stand_ins! {
        __roamify_handler_0 __roamify_handler_1 __roamify_handler_2 __roamify_handler_3
        __roamify_handler_4 __roamify_handler_5 __roamify_handler_6 __roamify_handler_7
        __roamify_handler_8 __roamify_handler_9 __roamify_handler_10 __roamify_handler_11
        __roamify_handler_12 __roamify_handler_13 __roamify_handler_14 __roamify_handler_15
        __roamify_handler_16 __roamify_handler_17 __roamify_handler_18 __roamify_handler_19
        __roamify_handler_20 __roamify_handler_21 __roamify_handler_22 __roamify_handler_23
        __roamify_handler_24 __roamify_handler_25 __roamify_handler_26 __roamify_handler_27
        __roamify_handler_28 __roamify_handler_29 __roamify_handler_30 __roamify_handler_31
    }
}
