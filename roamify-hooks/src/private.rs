//! Not public API. Used by generated code.
//!
//! Everything `#[on_event]` and `handlers![…]` expansions name is re-exported here, so they use
//! only `::roamify_hooks::__private::…` (or the path given with `crate = …`) and `::core::…`.
// Events are handed back by value, not boxed (see `Taken`).
#![allow(clippy::result_large_err)]

pub use core::future::Future;
pub use core::marker::{Send, Sync};
pub use core::option::Option::{self, None, Some};
pub use core::result::Result::{self, Err, Ok};
pub use std::boxed::Box;

pub use serde::de::DeserializeOwned;

pub use crate::catalog::{Event, kind, payload_of};
pub use crate::dispatch::{
    BY_NAME, BoxError, CatalogKind, Dispatch, Dispatched, FallbackHandler, Handler, Handlers,
    IntoHandlerResult, MissingState, StateArg, States, Taken, UNCATALOGUED, call, run, take,
};
pub use crate::events::UnknownEvent;
pub use crate::parse::ParseError;

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

/// Takes an unknown event for a fallback handler.
///
/// # Errors
/// [`Taken::NotMine`] for known events.
pub fn take_unknown(event: Event) -> Result<UnknownEvent, Taken> {
    match event {
        Event::Unknown(unknown) => Ok(unknown),
        other => Err(Taken::NotMine(other)),
    }
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

/// What a fallback handler's argument may be: [`UnknownEvent`].
#[diagnostic::on_unimplemented(
    message = "a fallback handler takes `UnknownEvent`, not `{Self}`",
    label = "expected `roamify_hooks::UnknownEvent`",
    note = "write `#[on_event(fallback)] fn unknown(event: UnknownEvent)`"
)]
pub trait FallbackPayload: Sized {
    /// Converts the unknown event.
    fn from_unknown(event: UnknownEvent) -> Self;
}

impl FallbackPayload for UnknownEvent {
    fn from_unknown(event: UnknownEvent) -> Self {
        event
    }
}
